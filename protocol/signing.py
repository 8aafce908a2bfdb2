"""JWS compact signatures (RFC 7515) over record batches and hub acks, with alg "Ed25519" (RFC 9864).

Only the fully-specified "Ed25519" is ever produced or accepted: the polymorphic "EdDSA", "none", HMAC
and every other alg are refused before any key is touched, so an attacker cannot choose how a token is
checked. The protected header must be exactly {alg, kid, typ}; anything else (crit, b64, jwk, jku, x5u
...) is refused, because each of those changes how a verifier would read the token.

With one alg and one header shape the compact form is written and read here directly, and the signature
itself is made and checked by libsodium: a general JOSE library's key and header machinery cost the hub
as much as the Ed25519 check itself, once for every live scan, and libsodium's check is twice as fast as
OpenSSL's (it also releases the GIL, so the ingest's network thread keeps reading meanwhile). Keys stay
`cryptography` objects at the edges (PEM files, JWKs).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Sequence
from typing import Any, Final

import msgspec
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_sign, crypto_sign_BYTES, crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError

from protocol.errors import KeyFormatError, SignatureError
from protocol.records import MAX_TOKEN_BYTES, Ack, Batch, decode_ack, decode_batch, encode_ack
from protocol.topics import is_valid_device_id

ALG: Final = "Ed25519"
RECORDS_TYP: Final = "vrs-records+json"
ACK_TYP: Final = "vrs-ack+json"
HUB_KID: Final = "hub"
_MAX_HEADER_BYTES: Final = 512
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class _Header(msgspec.Struct, forbid_unknown_fields=True):
    alg: str
    kid: str
    typ: str


# --- keys ---------------------------------------------------------------------------------------


def generate_key() -> Ed25519PrivateKey:
    """A new Ed25519 signing key."""
    return Ed25519PrivateKey.generate()


def private_key_to_pem(private_key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the file's permissions protect it on the station and the hub."""
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key_pem(data: bytes) -> Ed25519PrivateKey:
    """Read a private key written by private_key_to_pem, or raise KeyFormatError."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise KeyFormatError(f"not an unencrypted PEM private key: {error}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


def public_key_to_pem(public_key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM."""
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key_pem(data: bytes) -> Ed25519PublicKey:
    """Read a public key written by public_key_to_pem, or raise KeyFormatError."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise KeyFormatError(f"not a PEM public key: {error}") from error
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFormatError(f"expected an Ed25519 public key, got {type(key).__name__}")
    return key


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 section 2); ValueError on anything else."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as error:
        raise ValueError("not base64url") from error


def public_jwk(public_key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    """The public key as an OKP JWK (RFC 8037) naming its kid and its one alg."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url_encode(raw), "kid": kid, "alg": ALG, "use": "sig"}


def public_key_from_jwk(jwk: dict[str, Any]) -> Ed25519PublicKey:
    """Read an OKP Ed25519 public JWK, or raise KeyFormatError (also for a JWK that holds a private key)."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise KeyFormatError("expected a JWK with kty OKP and crv Ed25519")
    if "d" in jwk:
        raise KeyFormatError("this JWK holds a private key; only public keys are exchanged")
    if jwk.get("alg", ALG) != ALG:
        raise KeyFormatError(f"JWK is for alg {jwk.get('alg')!r}, not {ALG}")
    x = jwk.get("x")
    try:
        raw = _b64url_decode(x) if isinstance(x, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise KeyFormatError("JWK member x is not a base64url 32-byte Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


# --- tokens -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _libsodium_secret(seed: bytes) -> bytes:
    """libsodium's 64-byte signing key (seed and public key) for a 32-byte private key."""
    return bytes(crypto_sign_seed_keypair(seed)[1])


@functools.lru_cache(maxsize=1024)
def _encoded_header(kid: str, typ: str) -> bytes:
    return _b64url_encode(msgspec.json.encode(_Header(alg=ALG, kid=kid, typ=typ))).encode("ascii")


def _sign(payload: bytes, private_key: Ed25519PrivateKey, kid: str, typ: str) -> str:
    signing_input = _encoded_header(kid, typ) + b"." + _b64url_encode(payload).encode("ascii")
    signed = crypto_sign(signing_input, _libsodium_secret(private_key.private_bytes_raw()))
    return (signing_input + b"." + _b64url_encode(signed[:crypto_sign_BYTES]).encode("ascii")).decode("ascii")


def _header_of(token: str) -> _Header:
    """Read and check the protected header without verifying anything (SignatureError if unacceptable)."""
    if not isinstance(token, str):
        raise SignatureError("a JWS compact token is text")
    if len(token) > MAX_TOKEN_BYTES:
        raise SignatureError(f"token is {len(token)} bytes; the limit is {MAX_TOKEN_BYTES}")
    parts = token.split(".")
    if len(parts) != 3:
        raise SignatureError("not a JWS compact token (expected three dot-separated parts)")
    if len(parts[0]) > _MAX_HEADER_BYTES:
        raise SignatureError("JWS header is too long")
    try:
        header = msgspec.json.decode(_b64url_decode(parts[0]), type=_Header)
    except (ValueError, msgspec.MsgspecError) as error:
        raise SignatureError(f"JWS header must be exactly alg, kid and typ: {error}") from error
    if header.alg != ALG:
        raise SignatureError(f"alg {header.alg!r} is refused; only {ALG} is accepted")
    return header


def peek_kid(token: str) -> str:
    """The kid of a token, unverified: only to choose the key to verify with."""
    return _header_of(token).kid


def _verify(token: str, public_key: Ed25519PublicKey, kid: str, typ: str) -> bytes:
    header = _header_of(token)
    if header.kid != kid:
        raise SignatureError(f"token kid {header.kid!r} is not the expected {kid!r}")
    if header.typ != typ:
        raise SignatureError(f"token typ {header.typ!r} is not {typ!r}")
    encoded_header, encoded_payload, encoded_signature = token.split(".")
    try:
        signature = _b64url_decode(encoded_signature)
        payload = _b64url_decode(encoded_payload)
    except ValueError as error:
        raise SignatureError(f"signature does not verify: {error}") from error
    if len(signature) != crypto_sign_BYTES:
        raise SignatureError(f"signature does not verify: an Ed25519 signature is {crypto_sign_BYTES} bytes")
    # Both parts are base64url (checked above), so the signing input is ASCII as RFC 7515 requires.
    signing_input = f"{encoded_header}.{encoded_payload}".encode("ascii")
    try:
        crypto_sign_open(signature + signing_input, public_key.public_bytes_raw())
    except BadSignatureError as error:
        raise SignatureError("signature does not verify") from error
    return payload


def sign_batch(batch_payload: bytes, private_key: Ed25519PrivateKey, kid: str) -> str:
    """Sign an encoded batch as the station ``kid`` (its device id)."""
    if not is_valid_device_id(kid):
        raise SignatureError(f"kid {kid!r} is not a valid device id")
    decode_batch(batch_payload)  # never sign what a verifier would refuse to read
    return _sign(batch_payload, private_key, kid, RECORDS_TYP)


def verify_batch(token: str, public_key: Ed25519PublicKey, *, expected_kid: str) -> Batch:
    """Verify a station's batch and parse it.

    SignatureError when it is not signed with ``public_key`` as ``expected_kid``, or when the payload's
    device_id differs from the signer (a station may only speak for itself); BatchError when a validly
    signed payload is not a well-formed batch.
    """
    batch = decode_batch(_verify(token, public_key, expected_kid, RECORDS_TYP))
    if batch.device_id != expected_kid:
        raise SignatureError(f"batch claims device {batch.device_id!r} but is signed by {expected_kid!r}")
    return batch


def sign_ack(ack: Ack, hub_private_key: Ed25519PrivateKey) -> str:
    """Sign an ack with the hub's key (kid "hub")."""
    return _sign(encode_ack(ack), hub_private_key, HUB_KID, ACK_TYP)


def verify_ack(token: str, hub_public_keys: Sequence[Ed25519PublicKey]) -> Ack:
    """Verify an ack against the hub's current keys (more than one while a key is being rotated)."""
    if not hub_public_keys:
        raise SignatureError("no hub public key to verify the ack with")
    last_error: SignatureError | None = None
    for key in hub_public_keys:
        try:
            payload = _verify(token, key, HUB_KID, ACK_TYP)
        except SignatureError as error:
            last_error = error
            continue
        return decode_ack(payload)
    assert last_error is not None
    raise last_error
