"""Station enrollment tokens (stored as SHA-256 only, one use, expiring, revocable) and the station list
a municipality sees: its venues' stations with their last reported status."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import msgspec
import psycopg

from hub.db import devices
from hub.errors import InputError

Conn = psycopg.Connection[Any]


def token_hash(token: str) -> bytes:
    """What is stored of a token (the token itself is shown once, at creation)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenInfo(msgspec.Struct, frozen=True):
    """An enrollment token as the admin page lists it (never the token itself)."""

    token_id: int
    venue_id: str
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None
    used_by_device: str | None
    revoked_at: dt.datetime | None


def add_token(conn: Conn, token: str, venue_id: str, created_by: str, expires_at: dt.datetime) -> int:
    """Store a new token's hash for `venue_id`; returns its id."""
    row = conn.execute(
        "INSERT INTO enrollment_tokens (token_hash, venue_id, created_by, expires_at) VALUES (%s, %s, %s, %s)"
        " RETURNING token_id",
        (token_hash(token), venue_id, created_by, expires_at),
    ).fetchone()
    assert row is not None
    return int(row[0])


def tokens_of(conn: Conn, municipality_code: str, limit: int = 100) -> list[TokenInfo]:
    """The newest tokens of the municipality's venues."""
    cur = conn.execute(
        "SELECT t.token_id, t.venue_id, t.created_by, t.created_at, t.expires_at, t.used_at, t.used_by_device,"
        " t.revoked_at FROM enrollment_tokens t JOIN venues v USING (venue_id) WHERE v.municipality_code = %s"
        " ORDER BY t.created_at DESC, t.token_id DESC LIMIT %s",
        (municipality_code, limit),
    )
    return [TokenInfo(*r) for r in cur]


def revoke_token(conn: Conn, municipality_code: str, token_id: int) -> bool:
    """Revoke an unused token of the municipality; False when there is none such."""
    cur = conn.execute(
        "UPDATE enrollment_tokens t SET revoked_at = now() FROM venues v WHERE v.venue_id = t.venue_id"
        " AND v.municipality_code = %s AND t.token_id = %s AND t.used_at IS NULL AND t.revoked_at IS NULL",
        (municipality_code, token_id),
    )
    return cur.rowcount > 0


class Redeemed(msgspec.Struct, frozen=True):
    """A station registered by redeeming a token."""

    device_id: str
    venue_id: str
    municipality_code: str


def redeem(conn: Conn, token: str, device_id: str, public_key_pem: str, now: dt.datetime) -> Redeemed:
    """Use a token once to register `device_id` on the token's venue, in one transaction.

    InputError when the token is unknown, used, revoked or expired (all alike, so a guesser learns
    nothing); ConflictError when the device id is taken (the token is then not used up).
    """
    with conn.transaction():
        row = conn.execute(
            "UPDATE enrollment_tokens t SET used_at = %s, used_by_device = %s FROM venues v"
            " WHERE v.venue_id = t.venue_id AND t.token_hash = %s AND t.used_at IS NULL AND t.revoked_at IS NULL"
            " AND t.expires_at > %s RETURNING t.venue_id, v.municipality_code",
            (now, device_id, token_hash(token), now),
        ).fetchone()
        if row is None:
            raise InputError("enrollment token unknown, already used, revoked or expired")
        devices.add_device(conn, device_id, str(row[0]), public_key_pem)
    return Redeemed(device_id, str(row[0]), str(row[1]))


class StationRow(msgspec.Struct, frozen=True):
    """A station of one of the municipality's venues, with what it last reported."""

    device_id: str
    venue_id: str
    venue_name: str
    status: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_batch_seq: int | None
    last_batch_at: dt.datetime | None
    state: str | None
    queue_depth: int | None
    version: str | None
    last_seen_at: dt.datetime | None


def stations_of(conn: Conn, municipality_code: str) -> list[StationRow]:
    """Every station of the municipality's venues, by venue and id."""
    cur = conn.execute(
        "SELECT d.device_id, d.venue_id, v.name, d.status, d.created_at, d.revoked_at, d.last_batch_seq,"
        " d.last_batch_at, s.state, s.queue_depth, s.version, s.last_seen_at FROM devices d"
        " JOIN venues v USING (venue_id) LEFT JOIN device_status s USING (device_id)"
        " WHERE v.municipality_code = %s ORDER BY d.venue_id, d.device_id",
        (municipality_code,),
    )
    return [StationRow(*r) for r in cur]


def station_municipality(conn: Conn, device_id: str) -> str | None:
    """The municipality whose venue the station belongs to, or None."""
    row = conn.execute("SELECT v.municipality_code FROM devices d JOIN venues v USING (venue_id)"
                       " WHERE d.device_id = %s", (device_id,)).fetchone()
    return str(row[0]) if row else None


class VenueRow(msgspec.Struct, frozen=True):
    """A venue of the municipality with how many active stations it has."""

    venue_id: str
    name: str
    created_at: dt.datetime
    active_stations: int


def venues_of(conn: Conn, municipality_code: str) -> list[VenueRow]:
    """The municipality's venues, by id."""
    cur = conn.execute(
        "SELECT v.venue_id, v.name, v.created_at, count(d.device_id) FILTER (WHERE d.status = 'active')"
        " FROM venues v LEFT JOIN devices d USING (venue_id) WHERE v.municipality_code = %s"
        " GROUP BY v.venue_id ORDER BY v.venue_id",
        (municipality_code,),
    )
    return [VenueRow(*r) for r in cur]
