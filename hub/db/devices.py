"""Stations: registration, revocation, the key the ingest verifies with, batch progress and status."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
import psycopg
from psycopg import errors

from hub.errors import ConflictError, NotFoundError

Conn = psycopg.Connection[Any]


class DeviceKey(msgspec.Struct, frozen=True):
    """What the hub knows of a station to check its batches."""

    device_id: str
    venue_id: str
    status: str
    public_key_pem: str
    # The key it had before `vrs-hub device rotate-key`, while that key has not retired (hub.db.device_keys).
    previous_public_key_pem: str | None = None


class Device(msgspec.Struct, frozen=True):
    """A registered station as `vrs-hub` commands show it."""

    device_id: str
    venue_id: str
    status: str
    last_batch_seq: int | None
    last_batch_at: datetime.datetime | None


def add_device(conn: Conn, device_id: str, venue_id: str, public_key_pem: str) -> None:
    """Register a station of a venue with its public key (ConflictError if the id is taken)."""
    try:
        with conn.transaction():
            conn.execute("INSERT INTO devices (device_id, venue_id, public_key_pem) VALUES (%s, %s, %s)",
                         (device_id, venue_id, public_key_pem))
    except errors.UniqueViolation:
        raise ConflictError(f"device {device_id!r} is already registered") from None
    except errors.ForeignKeyViolation:
        raise NotFoundError(f"venue {venue_id!r} does not exist (add it with `vrs-hub venue add`)") from None


def revoke_device(conn: Conn, device_id: str) -> bool:
    """Revoke a station: its later batches are refused. False if it was already revoked."""
    with conn.transaction():
        row = conn.execute("SELECT status FROM devices WHERE device_id = %s FOR UPDATE", (device_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"device {device_id!r} is not registered")
        if row[0] == "revoked":
            return False
        conn.execute("UPDATE devices SET status = 'revoked', revoked_at = now() WHERE device_id = %s", (device_id,))
    return True


def get_device(conn: Conn, device_id: str) -> Device | None:
    """One station, or None."""
    row = conn.execute(
        "SELECT device_id, venue_id, status, last_batch_seq, last_batch_at FROM devices WHERE device_id = %s",
        (device_id,),
    ).fetchone()
    return Device(*row) if row else None


def device_keys(conn: Conn, device_ids: Iterable[str]) -> dict[str, DeviceKey]:
    """The verification data of these stations (unknown ids are simply absent)."""
    return device_keys_later(conn, device_ids)()


def device_keys_later(conn: Conn, device_ids: Iterable[str]) -> Callable[[], dict[str, DeviceKey]]:
    """device_keys, sent now and read when the returned function is called (in pipeline mode, later
    statements go out meanwhile)."""
    ids = sorted(set(device_ids))
    if not ids:
        return dict
    cur = conn.execute(
        "SELECT device_id, venue_id, status, public_key_pem,"
        " CASE WHEN previous_key_retires_at > now() THEN previous_public_key_pem END"
        " FROM devices WHERE device_id = ANY(%s)", (ids,)
    )
    return lambda: {r[0]: DeviceKey(*r) for r in cur}


def note_batches(conn: Conn, last_seq: Mapping[str, int]) -> None:
    """Record the highest batch seq seen per station (an old seq resent never lowers it)."""
    if not last_seq:
        return
    items = sorted(last_seq.items())
    conn.execute(
        "UPDATE devices AS d SET last_batch_seq = GREATEST(coalesce(d.last_batch_seq, u.seq), u.seq),"
        " last_batch_at = now() FROM unnest(%s::text[], %s::bigint[]) AS u(id, seq) WHERE d.device_id = u.id",
        ([i[0] for i in items], [i[1] for i in items]),
    )


def record_status(
    conn: Conn,
    device_id: str,
    state: str,
    queue_depth: int,
    version: str,
    last_scan_at: datetime.datetime | None,
    sent_at: datetime.datetime | None,
) -> bool:
    """Store a station's latest status; False when the station is not registered (nothing stored)."""
    cur = conn.execute(
        "INSERT INTO device_status (device_id, state, queue_depth, version, last_scan_at, sent_at, last_seen_at)"
        " SELECT device_id, %s, %s, %s, %s, %s, now() FROM devices WHERE device_id = %s"
        " ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, queue_depth = excluded.queue_depth,"
        " version = CASE WHEN excluded.version = '' THEN device_status.version ELSE excluded.version END,"
        " last_scan_at = coalesce(excluded.last_scan_at, device_status.last_scan_at),"
        " sent_at = excluded.sent_at, last_seen_at = now()",
        (state, queue_depth, version, last_scan_at, sent_at, device_id),
    )
    return cur.rowcount > 0
