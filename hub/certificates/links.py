"""Links a municipality hands to a resident for fetching their own certificate: `<municipality>.<secret>`.

The municipality code in the link says which tenant's scope to open; the secret (128 random bits) is
stored only as its SHA-256, like an API token. Pure: making and parsing; hub.db.certificates stores them.
"""

from __future__ import annotations

import hashlib
import re
import secrets

import msgspec

LINK_DAYS = 14
_LINK = re.compile(r"^([0-9]{6})\.([A-Za-z0-9_-]{22})$")


class Link(msgspec.Struct, frozen=True):
    """A parsed link: the tenant it belongs to and the hash it is stored under."""

    municipality_code: str
    link_hash: bytes


def new_link(municipality_code: str) -> tuple[str, Link]:
    """A fresh link text (shown once) and what is stored of it."""
    secret = secrets.token_urlsafe(16)
    text = f"{municipality_code}.{secret}"
    return text, Link(municipality_code, hashlib.sha256(secret.encode("ascii")).digest())


def parse_link(text: str) -> Link | None:
    """The link in `text`, or None when it is not one (never an error: a guessed link just finds nothing)."""
    m = _LINK.match(text)
    if m is None:
        return None
    return Link(m.group(1), hashlib.sha256(m.group(2).encode("ascii")).digest())
