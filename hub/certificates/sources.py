"""Where a card to verify comes from: a `shc:/` text, a compact JWS, a `.smart-health-card` file, a FHIR
`$health-cards-issue` Parameters response (.json), a text file holding either, or a QR image.

A file may hold several cards; each becomes one CardSource, verified on its own.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import msgspec

from hub.certificates.card import FILE_SUFFIX
from hub.certificates.errors import CardRejected
from hub.certificates.qr import QrRead, check_read, read_image
from hub.certificates.verify import TrustStore, VerifiedCard, verify_text

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"})
TEXT_SUFFIXES = frozenset({".txt", ".jws", ".shc", ""})
MAX_FILE_BYTES = 16 * 1024 * 1024


class CardSource(msgspec.Struct, frozen=True):
    """One card's text (`shc:/` or JWS) and, for an image, what the QR code looked like."""

    origin: str
    text: str
    qr: QrRead | None = None


def from_argument(arg: str) -> list[CardSource]:
    """A command-line argument: `shc:/...`, a JWS, or the path of a file."""
    if arg.startswith("shc:") or (arg.count(".") == 2 and arg.startswith("ey")):
        return [CardSource(origin="argument", text=arg)]
    return from_file(Path(arg))


def _strip_final_newline(text: str) -> str:
    # Editors end files with one newline; anything more is the trailing characters the spec forbids.
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def from_bytes(name: str, data: bytes) -> list[CardSource]:
    """The cards of a file called `name` with content `data`."""
    suffix = Path(name).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        read = read_image(data)
        return [CardSource(origin=name, text=read.text, qr=read)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CardRejected("bad_file", f"{name} is neither UTF-8 text nor an image") from None
    text = _strip_final_newline(text)
    if suffix in TEXT_SUFFIXES:
        return [CardSource(origin=name, text=text)]
    if suffix not in (FILE_SUFFIX, ".json"):
        raise CardRejected("wrong_extension", f"{name}: a card file is named *{FILE_SUFFIX} (or .json, .txt, or "
                                              "an image)")
    if text != text.strip():
        raise CardRejected("trailing_chars", f"{name} has leading or trailing whitespace")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CardRejected("bad_file", f"{name} is not JSON: {exc}") from None
    tokens = _tokens(doc, name)
    if not tokens:
        raise CardRejected("bad_file", f"{name} holds no verifiableCredential")
    if len(tokens) == 1:
        return [CardSource(origin=name, text=tokens[0])]
    return [CardSource(origin=f"{name} #{i}", text=t) for i, t in enumerate(tokens, start=1)]


def _tokens(doc: Any, name: str) -> list[str]:
    if isinstance(doc, dict) and isinstance(doc.get("verifiableCredential"), list):
        found = doc["verifiableCredential"]
    elif isinstance(doc, dict) and doc.get("resourceType") == "Parameters" and isinstance(doc.get("parameter"), list):
        found = [p.get("valueString") for p in doc["parameter"]
                 if isinstance(p, dict) and p.get("name") == "verifiableCredential"]
    else:
        raise CardRejected("bad_file", f"{name} is neither a .smart-health-card file nor a FHIR Parameters resource")
    if not all(isinstance(t, str) for t in found):
        raise CardRejected("bad_file", f"{name}: every verifiableCredential must be a JWS string")
    return list(found)


def from_file(path: Path) -> list[CardSource]:
    """The cards of a file on disk."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CardRejected("bad_file", f"{path} is {size} bytes; a card file is a few kilobytes")
        data = path.read_bytes()
    except FileNotFoundError:
        raise CardRejected("bad_file", f"{path} does not exist (give a file, a QR image or shc:/...)") from None
    except OSError as exc:
        raise CardRejected("bad_file", f"cannot read {path}: {exc.strerror}") from None
    return from_bytes(path.name, data)


def verify_source(source: CardSource, trust: TrustStore, now: datetime.datetime) -> VerifiedCard:
    """Verify one card, including what its QR code itself must satisfy when it came from an image."""
    if source.qr is not None:
        check_read(source.qr)
    return verify_text(source.text, trust, now)
