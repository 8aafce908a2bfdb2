"""Session ids, API tokens and CSRF tokens: random secrets handed out once, stored only as hashes.

A CSRF token is derived from the session id with a keyed hash, so checking it needs no database read
and a token from one session is worthless in another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION_COOKIE = "vrs_session"
LOGIN_COOKIE = "vrs_login"  # pre-login cookie that the login form's CSRF token is bound to
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"
API_TOKEN_PREFIX = "vrs_"


def new_secret() -> str:
    """A fresh 256-bit secret, URL-safe text."""
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    """A fresh bearer token; the prefix lets secret scanners recognise leaked ones."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What the database keeps of a session id or API token (SHA-256; the tokens are random, not passwords)."""
    return hashlib.sha256(token.encode()).digest()


def csrf_token(key: bytes, bound_to: str) -> str:
    """The CSRF token of the session (or pre-login cookie) `bound_to`."""
    return hmac.new(key, b"csrf\x00" + bound_to.encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, bound_to: str | None, presented: str | None) -> bool:
    """True when `presented` is the CSRF token of `bound_to` (constant-time comparison)."""
    if not bound_to or not presented:
        return False
    return hmac.compare_digest(csrf_token(key, bound_to), presented)
