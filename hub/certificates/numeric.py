"""The `shc:/` numeric form of a JWS that a QR code carries: each character becomes ord(c) - 45 as two digits.

Chunked QR codes (`shc:/2/3/...`) were deprecated by the specification; we never make them and refuse them.
"""

from __future__ import annotations

import re

from hub.certificates.errors import CardRejected

PREFIX = "shc:/"
OFFSET = 45
# The largest JWS a single version-22 QR code holds in numeric mode (the specification's figure).
MAX_SINGLE_JWS = 1195
_CHUNKED = re.compile(r"^shc:/(\d+)/(\d+)/")


def encode(jws: str) -> str:
    """`shc:/` followed by two digits per JWS character."""
    digits = []
    for ch in jws:
        value = ord(ch) - OFFSET
        if not 0 <= value <= 77:
            raise ValueError(f"character {ch!r} cannot be in a compact JWS")
        digits.append(f"{value:02d}")
    return PREFIX + "".join(digits)


def digits_of(text: str) -> str:
    """The numeric part of a single-chunk `shc:/` text, after the checks a QR's content must pass."""
    if text != text.strip():
        raise CardRejected("trailing_chars", "the QR content has leading or trailing whitespace")
    if not text.startswith(PREFIX):
        raise CardRejected("bad_qr_header", f"QR content must start with {PREFIX!r}, it starts with {text[:6]!r}")
    chunked = _CHUNKED.match(text)
    if chunked:
        raise CardRejected("multi_chunk_qr", f"this is chunk {chunked.group(1)} of {chunked.group(2)}; chunked QR "
                                             "codes are deprecated and not accepted (one QR code per card)")
    digits = text[len(PREFIX):]
    if not digits.isascii() or not digits.isdigit():
        raise CardRejected("bad_numeric", "after shc:/ a QR holds digits only")
    if len(digits) % 2:
        raise CardRejected("bad_numeric", f"the QR holds an odd number of digits ({len(digits)})")
    return digits


def decode(text: str) -> str:
    """The JWS inside a `shc:/` text; CardRejected names what is wrong with it."""
    digits = digits_of(text)
    chars = []
    for i in range(0, len(digits), 2):
        value = int(digits[i:i + 2])
        if value > 77:
            raise CardRejected("bad_numeric", f"digit pair {digits[i:i + 2]} at position {i} is above 77 (no "
                                              "base64url character)")
        chars.append(chr(value + OFFSET))
    jws = "".join(chars)
    if len(jws) > MAX_SINGLE_JWS:
        raise CardRejected("jws_too_long", f"the JWS is {len(jws)} characters; one QR code holds at most "
                                           f"{MAX_SINGLE_JWS}")
    return jws
