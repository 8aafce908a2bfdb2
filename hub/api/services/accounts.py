"""Logging in and out, creating users and API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import psycopg

from hub.api.errors import InvalidInput, LoginThrottled
from hub.api.identity import binding_problem
from hub.api.services import passwords, throttle, tokens
from hub.db import accounts, audit

SESSION_LIFETIME = dt.timedelta(hours=12)


class LoginResult(msgspec.Struct, frozen=True):
    """A fresh session: its id goes into the cookie, nowhere else."""

    session_id: str
    user_id: int
    username: str
    role: str
    municipality_code: str | None


def login(conn: psycopg.Connection[Any], *, username: str, password: str, remote_addr: str,
          now: dt.datetime, idle: dt.timedelta) -> LoginResult | None:
    """Check the password and open a session; None when name or password is wrong.

    Raises LoginThrottled (without checking the password) when this name or address failed too often.
    Every attempt is remembered for throttling, and a success is an audit row.
    """
    username = username.strip()[:64]
    by_user, by_addr = accounts.recent_failures(conn, username, remote_addr, now - throttle.WINDOW)
    wait = throttle.retry_after(by_user, by_addr, now)
    if wait is not None:
        raise LoginThrottled(wait)
    user = accounts.user_by_name(conn, username)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled:
        accounts.record_login_attempt(conn, username, remote_addr, False, now)
        if user is not None and len(by_user) + 1 == throttle.MAX_FAILURES_PER_USER:
            # This failure locks the account for a while: the municipality sees it (someone guessing?).
            audit.write(conn, _chain_of(conn, user) or audit.SYSTEM_CHAIN, actor=user.username,
                        action="login.locked", details={"remote_addr": remote_addr,
                                                        "failures": throttle.MAX_FAILURES_PER_USER,
                                                        "minutes": int(throttle.WINDOW.total_seconds() // 60)})
        return None
    accounts.record_login_attempt(conn, username, remote_addr, True, now)
    session_id = tokens.new_secret()
    accounts.create_session(conn, tokens.token_hash(session_id), user.user_id, now,
                            min(now + idle, now + SESSION_LIFETIME), remote_addr)
    audit.write(conn, _chain_of(conn, user) or audit.SYSTEM_CHAIN, actor=user.username, action="login",
                details={"remote_addr": remote_addr, "role": user.role})
    return LoginResult(session_id=session_id, user_id=user.user_id, username=user.username, role=user.role,
                       municipality_code=user.municipality_code)


def _chain_of(conn: psycopg.Connection[Any], user: accounts.UserRow) -> str | None:
    """The audit chain of a user's municipality (a venue user's: the venue's), None for system users."""
    chain: str | None = user.municipality_code
    if chain is None and user.venue_id is not None:
        chain = accounts.venue_municipality(conn, user.venue_id)
    return chain


def logout(conn: psycopg.Connection[Any], session_id: str) -> None:
    accounts.delete_session(conn, tokens.token_hash(session_id))


def create_user(conn: psycopg.Connection[Any], *, username: str, password: str, role: str,
                display_name: str = "", municipality_code: str | None = None, venue_id: str | None = None,
                prefecture_code: str | None = None) -> int:
    """Create an account after checking its role binding and password; InvalidInput says what is wrong."""
    problems = []
    if problem := binding_problem(role, municipality_code, venue_id, prefecture_code):
        problems.append(problem)
    if problem := passwords.password_problem(password):
        problems.append(problem)
    if municipality_code is not None and not accounts.municipality_exists(conn, municipality_code):
        problems.append(f"municipality {municipality_code} is not a known municipality")
    if venue_id is not None and accounts.venue_municipality(conn, venue_id) is None:
        problems.append(f"venue {venue_id} does not exist (add it with `vrs-hub venue add`)")
    if problems:
        raise InvalidInput(problems)
    try:
        with conn.transaction():
            return accounts.create_user(
                conn, username=username, display_name=display_name, password_hash=passwords.hash_password(password),
                role=role, municipality_code=municipality_code, venue_id=venue_id, prefecture_code=prefecture_code,
            )
    except psycopg.errors.UniqueViolation:
        raise InvalidInput([f"user name {username!r} is already taken"]) from None
    except psycopg.errors.CheckViolation:
        raise InvalidInput([f"user name {username!r} must be 1-64 of A-Z a-z 0-9 . _ @ -"]) from None


class NewToken(msgspec.Struct, frozen=True):
    """A freshly made API token: the only time its text is ever shown."""

    token_id: int
    name: str
    token: str


def create_api_token(conn: psycopg.Connection[Any], user_id: int, name: str,
                     expires_at: dt.datetime | None) -> NewToken:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput(["token name must be 1-100 characters"])
    token = tokens.new_api_token()
    token_id = accounts.create_api_token(conn, user_id, tokens.token_hash(token), name, expires_at)
    return NewToken(token_id=token_id, name=name, token=token)
