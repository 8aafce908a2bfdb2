"""The hub's two secrets on disk: the Ed25519 key that signs acks and the HMAC secret for My Numbers.

Both are created (mode 0600) by the first ``vrs-hub migrate`` when missing, and refused when group or
others can read them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import KeyFileError

SECRET_BYTES = 32
HUB_KID = "hub"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes creating the key at once must not both win with different keys.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _read_private(path: Path, what: str) -> bytes:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist (run `vrs-hub migrate` to create it)") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{what} {path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    return data


def ensure_hub_key(path: Path) -> bool:
    """Create the ack-signing key at `path` unless it exists; True when it was created."""
    if path.exists():
        load_hub_key(path)
        return False
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        _write_private(path, pem)
    except FileExistsError:
        return False
    return True


def load_hub_key(path: Path) -> Ed25519PrivateKey:
    """The hub's ack-signing private key."""
    data = _read_private(path, "hub key file")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"hub key file {path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"hub key file {path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def hub_public_jwk(path: Path) -> dict[str, str]:
    """The public half of the hub key as an OKP JWK (RFC 8037) with kid "hub", for stations to verify acks."""
    raw = load_hub_key(path).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": HUB_KID, "alg": "Ed25519", "use": "sig"}


def ensure_secret(path: Path) -> bool:
    """Create the HMAC secret at `path` unless it exists; True when it was created."""
    if path.exists():
        load_secret(path)
        return False
    try:
        _write_private(path, (secrets.token_hex(SECRET_BYTES) + "\n").encode())
    except FileExistsError:
        return False
    return True


def load_secret(path: Path) -> bytes:
    """The HMAC secret (hex in the file, at least 32 bytes)."""
    text = _read_private(path, "secret file").decode("ascii", errors="replace").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"secret file {path} must hold hex digits only") from None
    if len(secret) < SECRET_BYTES:
        raise KeyFileError(f"secret file {path} holds {len(secret)} bytes; at least {SECRET_BYTES} needed")
    return secret


def my_number_hmac(secret: bytes, my_number: str) -> bytes:
    """HMAC-SHA256 of a My Number under the hub secret (32 bytes): the only form ever stored."""
    return hmac.new(secret, my_number.encode("ascii"), hashlib.sha256).digest()
