"""Rotation of the hub's ack-signing key without a moment in which stations ignore the hub's acks.

A station drops an outbox entry only on an ack it verifies, so it must know a key before the hub signs
with it. Rotation is therefore two steps, with the stations' configuration updated in between:

1. ``vrs-hub keys rotate --prepare`` creates the next key beside the current one (``<key>.next``, 0600);
   ``vrs-hub keys show --all`` now lists both: install that list on every station (hub_public_key).
2. ``vrs-hub keys rotate`` makes the next key current (running ingests notice the file within seconds); the
   old public key is kept in ``<key>.retired`` (PEM public keys) and stays in ``keys show --all`` for
   verifying acks already sent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.errors import KeyFileError
from hub.keys import ensure_hub_key, hub_public_jwk, load_hub_key
from protocol.signing import public_jwk

NEXT_SUFFIX = ".next"
RETIRED_SUFFIX = ".retired"


def next_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + NEXT_SUFFIX)


def retired_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + RETIRED_SUFFIX)


def prepare(key_file: Path) -> bool:
    """Create the next key unless one is waiting; True when it was created."""
    load_hub_key(key_file)  # the current key must be sound before a rotation starts
    return ensure_hub_key(next_path(key_file))


def _retired_keys(key_file: Path) -> list[Ed25519PublicKey]:
    path = retired_path(key_file)
    if not path.exists():
        return []
    keys = []
    for block in path.read_text(encoding="ascii").split("-----END PUBLIC KEY-----"):
        if block.strip():
            key = serialization.load_pem_public_key((block.strip() + "\n-----END PUBLIC KEY-----\n").encode())
            if not isinstance(key, Ed25519PublicKey):
                raise KeyFileError(f"{path} holds a key that is not Ed25519")
            keys.append(key)
    return keys


def activate(key_file: Path) -> None:
    """Sign with the prepared key from now on; the old public key is kept as retired."""
    nxt = next_path(key_file)
    if not nxt.exists():
        raise KeyFileError(f"no next key at {nxt}: run `vrs-hub keys rotate --prepare` first, then give every "
                           "station the output of `vrs-hub keys show --all`")
    load_hub_key(nxt)
    old = load_hub_key(key_file).public_key()
    pem = old.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with retired_path(key_file).open("ab") as f:
        f.write(pem)
    # rename() is atomic: the key file is always either the old or the new whole key.
    os.replace(nxt, key_file)


def published(key_file: Path) -> dict[str, list[dict[str, Any]]]:
    """A JWKS of the current key, the next one if prepared, and the retired ones (current first)."""
    keys: list[dict[str, Any]] = [hub_public_jwk(key_file)]
    nxt = next_path(key_file)
    if nxt.exists():
        keys.append(hub_public_jwk(nxt))
    for old in _retired_keys(key_file):
        keys.append(dict(public_jwk(old, "hub")))
    return {"keys": keys}
