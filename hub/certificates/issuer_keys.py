"""The hub's certificate issuer keys on disk, kept apart from the Ed25519 ack key: one ES256 (P-256) key
signs new cards; after a rotation the old keys' public halves stay so their cards still verify.

Layout of the key directory (created 0700, private keys 0600)::

    <kid>.pem        the private key currently signing (exactly one)
    <kid>.pub.pem    public keys of retired issuer keys, still published in the JWKS
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hub.certificates.errors import IssuerKeyError
from hub.certificates.jws import EcJwk, Jwks, public_jwk

_PRIVATE = ".pem"
_PUBLIC = ".pub.pem"


class IssuerKeys(msgspec.Struct, frozen=True):
    """The signing key and every public key to publish (the signing key's first)."""

    signing: ec.EllipticCurvePrivateKey
    kid: str
    published: list[EcJwk]

    def jwks(self, crl_versions: dict[str, int] | None = None) -> Jwks:
        """The JWKS to serve at /.well-known/jwks.json, with each key's CRL counter when it has a list."""
        versions = crl_versions or {}
        return Jwks(keys=[msgspec.structs.replace(k, crlVersion=versions.get(k.kid)) for k in self.published])


def _check_private_mode(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IssuerKeyError(f"issuer key {path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")


def _load_private(path: Path) -> ec.EllipticCurvePrivateKey:
    _check_private_mode(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise IssuerKeyError(f"issuer key {path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise IssuerKeyError(f"issuer key {path} is not a P-256 (ES256) key")
    return key


def _load_public(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (ValueError, TypeError):
        raise IssuerKeyError(f"retired issuer key {path} is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise IssuerKeyError(f"retired issuer key {path} is not a P-256 key")
    return key


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _new_key(directory: Path) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    kid = public_jwk(key.public_key()).kid
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _write(directory / f"{kid}{_PRIVATE}", pem, 0o600)
    return kid


def _signing_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob(f"*{_PRIVATE}") if not p.name.endswith(_PUBLIC))


def ensure(directory: Path) -> bool:
    """Create the directory and a first signing key unless one exists; True when a key was created."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _signing_files(directory):
        return False
    _new_key(directory)
    return True


def load(directory: Path) -> IssuerKeys:
    """The signing key and the published public keys; IssuerKeyError says what to fix."""
    if not directory.is_dir():
        raise IssuerKeyError(f"issuer key directory {directory} does not exist (run `vrs-hub certificate keys "
                             "init`, or `vrs-hub migrate`)")
    signing_files = _signing_files(directory)
    if len(signing_files) != 1:
        raise IssuerKeyError(f"issuer key directory {directory} must hold exactly one signing key (*.pem), "
                             f"found {len(signing_files)}")
    signing = _load_private(signing_files[0])
    current = public_jwk(signing.public_key())
    retired = [public_jwk(_load_public(p)) for p in sorted(directory.glob(f"*{_PUBLIC}"))]
    return IssuerKeys(signing=signing, kid=current.kid, published=[current, *(k for k in retired
                                                                              if k.kid != current.kid)])


def rotate(directory: Path) -> str:
    """Start signing with a new key; the old one keeps only its public half (still published). Returns the kid."""
    old = load(directory)
    old_path = directory / f"{old.kid}{_PRIVATE}"
    public_pem = old.signing.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    retired = directory / f"{old.kid}{_PUBLIC}"
    if not retired.exists():
        _write(retired, public_pem, 0o644)
    kid = _new_key(directory)
    old_path.unlink()
    return kid
