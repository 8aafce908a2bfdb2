"""Compact JWS as SMART Health Cards use it: ES256 over a raw-DEFLATE payload, `kid` = RFC 7638 thumbprint.

JOSE ES256 signatures are the raw 64-byte r||s pair (RFC 7518 3.4); a DER-encoded ECDSA signature is
invalid here even when it would verify, and is refused by name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zlib
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from hub.certificates.errors import CardRejected

ALG = "ES256"
ZIP = "DEF"
COORD_BYTES = 32
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
# A payload bigger than this after inflating is hostile: a card holds a few kilobytes at most.
MAX_INFLATED_BYTES = 1 << 20


class EcJwk(msgspec.Struct, frozen=True, omit_defaults=True):
    """A public P-256 key as published in a JWKS (extra members such as x5c are kept out)."""

    kty: str
    crv: str
    x: str
    y: str
    kid: str = ""
    use: str = ""
    alg: str = ""
    crlVersion: int | None = None  # the specification spells it so


class Jwks(msgspec.Struct, frozen=True):
    """A JSON Web Key Set; keys that are not P-256 public keys are skipped when read."""

    keys: list[EcJwk]


class ParsedJws(msgspec.Struct, frozen=True):
    """A compact JWS taken apart, payload inflated, signature not yet checked."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str) -> bytes:
    """Decode unpadded base64url; CardRejected names `what` when it is not."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise CardRejected("bad_jws", f"the {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CardRejected("bad_jws", f"the {what} is not base64url") from None


def public_jwk(key: ec.EllipticCurvePublicKey) -> EcJwk:
    """The JWK of a P-256 public key, with kid = its RFC 7638 thumbprint."""
    numbers = key.public_numbers()
    x = b64url(numbers.x.to_bytes(COORD_BYTES, "big"))
    y = b64url(numbers.y.to_bytes(COORD_BYTES, "big"))
    return EcJwk(kty="EC", crv="P-256", x=x, y=y, kid=thumbprint(x, y), use="sig", alg=ALG)


def thumbprint(x: str, y: str) -> str:
    """RFC 7638 thumbprint of an EC P-256 key: SHA-256 over the required members in lexical order."""
    canonical = json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def load_public(jwk: EcJwk) -> ec.EllipticCurvePublicKey:
    """The cryptography key of a JWK; CardRejected when it is not a valid P-256 point."""
    if jwk.kty != "EC" or jwk.crv != "P-256":
        raise CardRejected("bad_key", f"key {jwk.kid} is {jwk.kty}/{jwk.crv}, not EC P-256")
    try:
        x = int.from_bytes(b64url_decode(jwk.x, "key's x"), "big")
        y = int.from_bytes(b64url_decode(jwk.y, "key's y"), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except (ValueError, CardRejected):
        raise CardRejected("bad_key", f"key {jwk.kid} is not a point on P-256") from None


def sign(key: ec.EllipticCurvePrivateKey, kid: str, payload: bytes) -> str:
    """A compact JWS of `payload` (JSON bytes), raw-deflated, header {zip, alg, kid}."""
    header = json.dumps({"zip": ZIP, "alg": ALG, "kid": kid}, separators=(",", ":")).encode()
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(payload) + compressor.flush()
    signing_input = f"{b64url(header)}.{b64url(deflated)}".encode("ascii")
    der = key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input.decode('ascii')}.{b64url(r.to_bytes(COORD_BYTES, 'big') + s.to_bytes(COORD_BYTES, 'big'))}"


def inflate_raw(data: bytes) -> bytes:
    """Inflate raw DEFLATE (RFC 1951, no zlib or gzip wrapper); CardRejected says what is wrong."""
    if data[:1] == b"{":
        raise CardRejected("no_deflate", "the payload is plain JSON; SMART Health Cards compress it (zip DEF)")
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, MAX_INFLATED_BYTES)
    except zlib.error as exc:
        wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        hint = " (it has a zlib header: use raw DEFLATE, wbits -15)" if wrapped else ""
        raise CardRejected("bad_deflate", f"the payload does not inflate as raw DEFLATE{hint}: {exc}") from None
    if inflater.unconsumed_tail:
        raise CardRejected("bad_deflate", f"the payload inflates to more than {MAX_INFLATED_BYTES} bytes")
    if not inflater.eof:
        raise CardRejected("bad_deflate", "the payload's DEFLATE stream is truncated")
    if inflater.unused_data:
        raise CardRejected("bad_deflate", "bytes follow the end of the payload's DEFLATE stream")
    return out


def parse(jws: str) -> ParsedJws:
    """Take a compact JWS apart and inflate its payload; header checks are the verifier's."""
    if jws != jws.strip():
        raise CardRejected("trailing_chars", "the JWS has leading or trailing whitespace")
    parts = jws.split(".")
    if len(parts) != 3:
        raise CardRejected("bad_jws", f"a compact JWS has 3 parts separated by '.', this has {len(parts)}")
    try:
        header = json.loads(b64url_decode(parts[0], "header"))
    except (ValueError, RecursionError):  # deeply nested arrays exhaust json's recursion, not its parser
        raise CardRejected("bad_jws", "the JWS header is not JSON") from None
    if not isinstance(header, dict):
        raise CardRejected("bad_jws", "the JWS header is not a JSON object")
    raw_payload = b64url_decode(parts[1], "payload")
    if "zip" not in header and raw_payload[:1] == b"{":
        raise CardRejected("no_deflate", "the payload is not compressed and the header has no zip; SMART Health "
                                         "Cards need zip \"DEF\" with a raw-DEFLATE payload")
    if header.get("zip") != ZIP:
        found = "no zip header" if "zip" not in header else f"zip {header['zip']!r}"
        problem = "no_zip" if "zip" not in header else "bad_zip"
        raise CardRejected(problem, f"the JWS header has {found}; SMART Health Cards need zip \"DEF\"")
    payload = inflate_raw(raw_payload)
    return ParsedJws(header=header, payload=payload, signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
                     signature=b64url_decode(parts[2], "signature"))


def check_signature(parsed: ParsedJws, key: ec.EllipticCurvePublicKey) -> None:
    """Verify an ES256 raw r||s signature; a DER-encoded one is refused by name even if it verifies."""
    sig = parsed.signature
    if len(sig) != 2 * COORD_BYTES:
        if sig[:1] == b"\x30":
            raise CardRejected("der_signature", f"the signature is DER-encoded ({len(sig)} bytes); JOSE ES256 "
                                                "needs the raw 64-byte r||s form")
        raise CardRejected("bad_signature", f"an ES256 signature is 64 bytes, this one is {len(sig)}")
    der = encode_dss_signature(int.from_bytes(sig[:COORD_BYTES], "big"), int.from_bytes(sig[COORD_BYTES:], "big"))
    try:
        key.verify(der, parsed.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CardRejected("bad_signature", "the signature does not match the card's content and key") from None
