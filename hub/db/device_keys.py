"""Replacing a station's key: the new key verifies at once, the old one until its retirement time, so the
batches its outbox signed before the change (or sends until its new key is installed) are not refused."""

from __future__ import annotations

import datetime
from typing import Any

import psycopg

from hub.errors import ConflictError, NotFoundError


def rotate_key(conn: psycopg.Connection[Any], device_id: str, public_key_pem: str,
               overlap: datetime.timedelta) -> datetime.datetime:
    """Make `public_key_pem` the station's key; the current key retires after `overlap`. Returns that time."""
    with conn.transaction():
        row = conn.execute("SELECT public_key_pem, status FROM devices WHERE device_id = %s FOR UPDATE",
                           (device_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"device {device_id!r} is not registered")
        if row[1] != "active":
            raise ConflictError(f"device {device_id!r} is revoked; enroll the station again under a new id")
        if row[0] == public_key_pem:
            raise ConflictError(f"that public key already is the key of {device_id!r}")
        retires = conn.execute(
            "UPDATE devices SET previous_public_key_pem = public_key_pem,"
            " previous_key_retires_at = now() + %s, public_key_pem = %s WHERE device_id = %s"
            " RETURNING previous_key_retires_at",
            (overlap, public_key_pem, device_id),
        ).fetchone()
    assert retires is not None  # the row was locked above
    when: datetime.datetime = retires[0]
    return when
