"""Revocation as SMART Health Cards specify it: each card may carry `vc.rid`; each issuer key has a list
(`/.well-known/crl/{kid}.json`) of revoked rids, `rid` alone or `rid.timestamp` (revokes cards whose nbf is
before that time), and a counter `ctr` that rises with every change and is echoed as `crlVersion` in the JWKS.

Our rids are per certificate (64 random bits), so revoking one card never touches another.
"""

from __future__ import annotations

import base64
import secrets

import msgspec

RID_BYTES = 8
MAX_RID_CHARS = 24  # the specification's limit


class Crl(msgspec.Struct, frozen=True):
    """The revocation list of one issuer key."""

    kid: str
    ctr: int
    rids: list[str]
    method: str = "rid"


def new_rid() -> str:
    """A fresh revocation id: 64 random bits, base64url without padding (11 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(RID_BYTES)).rstrip(b"=").decode("ascii")


def revoked_by(crl: Crl, rid: str, nbf: float) -> str | None:
    """The CRL entry that revokes a card with `rid` issued at `nbf`, or None."""
    for entry in crl.rids:
        base, _, stamp = entry.partition(".")
        if base != rid:
            continue
        if not stamp:
            return entry
        if stamp.isdigit() and nbf < int(stamp):
            return entry
    return None
