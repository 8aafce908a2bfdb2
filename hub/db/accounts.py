"""Queries on the accounts tables (users, sessions, API tokens, login attempts) for the admin API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import psycopg
from psycopg.rows import class_row


class UserRow(msgspec.Struct, frozen=True):
    """One account as stored (the password hash included: callers must not pass it on)."""

    user_id: int
    username: str
    display_name: str
    password_hash: str
    role: str
    municipality_code: str | None
    venue_id: str | None
    prefecture_code: str | None
    disabled: bool


class ApiTokenRow(msgspec.Struct, frozen=True):
    """An API token's public facts (never the token)."""

    token_id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


_USER_COLUMNS = (
    "u.user_id, u.username, u.display_name, u.password_hash, u.role, u.municipality_code, u.venue_id, "
    "u.prefecture_code, u.disabled"
)



def create_user(
    conn: psycopg.Connection[Any],
    *,
    username: str,
    display_name: str,
    password_hash: str,
    role: str,
    municipality_code: str | None,
    venue_id: str | None,
    prefecture_code: str | None,
) -> int:
    """Insert an account; raises psycopg.errors.UniqueViolation when the name is taken."""
    row = conn.execute(
        "INSERT INTO users (username, display_name, password_hash, role, municipality_code, venue_id,"
        " prefecture_code) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING user_id",
        (username, display_name, password_hash, role, municipality_code, venue_id, prefecture_code),
    ).fetchone()
    assert row is not None
    return int(row[0])


def set_password(conn: psycopg.Connection[Any], username: str, password_hash: str) -> bool:
    """Replace a user's password hash and end its sessions; False when there is no such user."""
    cur = conn.execute(
        "UPDATE users SET password_hash = %s WHERE username = %s RETURNING user_id", (password_hash, username)
    )
    row = cur.fetchone()
    if row is None:
        return False
    conn.execute("DELETE FROM sessions WHERE user_id = %s", (row[0],))
    return True


def user_by_name(conn: psycopg.Connection[Any], username: str) -> UserRow | None:
    with conn.cursor(row_factory=class_row(UserRow)) as cur:
        return cur.execute(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.username = %s", (username,)).fetchone()


def user_by_session(conn: psycopg.Connection[Any], session_hash: bytes, now: dt.datetime,
                    idle: dt.timedelta) -> UserRow | None:
    """The enabled user of a live session; None when there is none.

    The idle expiry slides forward, but the row is rewritten at most once a minute: a busy clerk's every
    click must not cost a write. And never waited for: when another request of the same session holds the
    row (it is sliding the expiry itself), this one skips the write instead of queueing behind that
    request's commit, so a burst of requests of one session cannot pile up on one row lock.
    """
    with conn.cursor(row_factory=class_row(UserRow)) as cur:
        return cur.execute(
            f"WITH live AS (SELECT {_USER_COLUMNS} FROM sessions s JOIN users u ON u.user_id = s.user_id"
            "  WHERE s.session_hash = %(h)s AND s.expires_at > %(now)s AND NOT u.disabled),"
            " touch AS (UPDATE sessions SET last_seen_at = %(now)s,"
            "  expires_at = least(created_at + interval '12 hours', %(now)s + %(idle)s)"
            "  WHERE session_hash = (SELECT session_hash FROM sessions WHERE session_hash = %(h)s"
            "   AND last_seen_at < %(now)s - interval '1 minute' FOR UPDATE SKIP LOCKED)"
            "  AND EXISTS (SELECT 1 FROM live))"
            " SELECT * FROM live",
            {"h": session_hash, "now": now, "idle": idle},
        ).fetchone()


def user_by_api_token(conn: psycopg.Connection[Any], token_hash: bytes, now: dt.datetime) -> UserRow | None:
    """The enabled user of a live (unexpired, unrevoked) API token, noting its use.

    The use is noted at most once a minute and never waited for (as for sessions): a script's parallel
    calls with one token would otherwise run one at a time, each waiting for the previous commit.
    """
    with conn.cursor(row_factory=class_row(UserRow)) as cur:
        return cur.execute(
            f"WITH live AS (SELECT {_USER_COLUMNS} FROM api_tokens t JOIN users u ON u.user_id = t.user_id"
            "  WHERE t.token_hash = %(h)s AND t.revoked_at IS NULL"
            "  AND (t.expires_at IS NULL OR t.expires_at > %(now)s) AND NOT u.disabled),"
            " touch AS (UPDATE api_tokens SET last_used_at = %(now)s"
            "  WHERE token_hash = (SELECT token_hash FROM api_tokens WHERE token_hash = %(h)s"
            "   AND (last_used_at IS NULL OR last_used_at < %(now)s - interval '1 minute') FOR UPDATE SKIP LOCKED)"
            "  AND EXISTS (SELECT 1 FROM live))"
            " SELECT * FROM live",
            {"h": token_hash, "now": now},
        ).fetchone()


def create_session(conn: psycopg.Connection[Any], session_hash: bytes, user_id: int, now: dt.datetime,
                   expires_at: dt.datetime, remote_addr: str) -> None:
    conn.execute(
        "INSERT INTO sessions (session_hash, user_id, created_at, last_seen_at, expires_at, remote_addr)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (session_hash, user_id, now, now, expires_at, remote_addr),
    )
    # Expired sessions are cleaned up opportunistically: no background job to run or forget.
    conn.execute("DELETE FROM sessions WHERE expires_at < %s - interval '1 day'", (now,))


def delete_session(conn: psycopg.Connection[Any], session_hash: bytes) -> None:
    conn.execute("DELETE FROM sessions WHERE session_hash = %s", (session_hash,))


def record_login_attempt(conn: psycopg.Connection[Any], username: str, remote_addr: str, succeeded: bool,
                         now: dt.datetime) -> None:
    conn.execute(
        "INSERT INTO login_attempts (username, remote_addr, succeeded, attempted_at) VALUES (%s, %s, %s, %s)",
        (username, remote_addr, succeeded, now),
    )


def recent_failures(conn: psycopg.Connection[Any], username: str, remote_addr: str, since: dt.datetime
                    ) -> tuple[list[dt.datetime], list[dt.datetime]]:
    """Times of failed logins since `since` for this name (after its last success) and for this address."""
    by_user = conn.execute(
        "SELECT attempted_at FROM login_attempts WHERE username = %(u)s AND NOT succeeded"
        " AND attempted_at >= greatest(%(since)s, coalesce((SELECT max(attempted_at) FROM login_attempts"
        "  WHERE username = %(u)s AND succeeded), %(since)s)) ORDER BY attempted_at",
        {"u": username, "since": since},
    ).fetchall()
    by_addr = conn.execute(
        "SELECT attempted_at FROM login_attempts WHERE remote_addr = %s AND NOT succeeded"
        " AND attempted_at >= %s ORDER BY attempted_at",
        (remote_addr, since),
    ).fetchall()
    return [r[0] for r in by_user], [r[0] for r in by_addr]


def create_api_token(conn: psycopg.Connection[Any], user_id: int, token_hash: bytes, name: str,
                     expires_at: dt.datetime | None) -> int:
    row = conn.execute(
        "INSERT INTO api_tokens (token_hash, user_id, name, expires_at) VALUES (%s, %s, %s, %s) RETURNING token_id",
        (token_hash, user_id, name, expires_at),
    ).fetchone()
    assert row is not None
    return int(row[0])


def list_api_tokens(conn: psycopg.Connection[Any], user_id: int) -> list[ApiTokenRow]:
    with conn.cursor(row_factory=class_row(ApiTokenRow)) as cur:
        return cur.execute(
            "SELECT token_id, name, created_at, last_used_at, expires_at, revoked_at FROM api_tokens"
            " WHERE user_id = %s ORDER BY token_id",
            (user_id,),
        ).fetchall()


def revoke_api_token(conn: psycopg.Connection[Any], user_id: int, token_id: int, now: dt.datetime) -> bool:
    """Revoke one of the user's own tokens; False when it is not theirs or does not exist."""
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, %s) WHERE token_id = %s AND user_id = %s",
        (now, token_id, user_id),
    )
    return cur.rowcount == 1


def venue_municipality(conn: psycopg.Connection[Any], venue_id: str) -> str | None:
    """The municipality a venue belongs to (a venue user's scope needs it for its audit rows)."""
    row = conn.execute("SELECT municipality_code FROM venues WHERE venue_id = %s", (venue_id,)).fetchone()
    return None if row is None else str(row[0])


def municipality_exists(conn: psycopg.Connection[Any], code: str) -> bool:
    """True for a municipality (wards are not: accounts belong to municipalities)."""
    row = conn.execute("SELECT 1 FROM municipalities WHERE code = %s AND NOT is_ward", (code,)).fetchone()
    return row is not None
