"""Password hashing with argon2id; the hash string carries its own parameters, so they can change later."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Moderate parameters: a login costs ~30 ms on this class of machine, which throttling makes affordable.
_HASHER = PasswordHasher(time_cost=2, memory_cost=32 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 10

# Verified against when the user does not exist, so a missing name costs the same time as a wrong password.
_DUMMY_HASH = _HASHER.hash("not-a-real-password-used-for-timing")


def hash_password(password: str) -> str:
    """Argon2id hash of the password (PHC string)."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when the password matches; a missing user (None) still spends the time of one check."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why the password is not acceptable for a new account, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    return None
