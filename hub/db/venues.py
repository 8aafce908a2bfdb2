"""Venues (会場): where stations stand, each belonging to one municipality."""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
from psycopg import errors

from hub.errors import ConflictError, InputError, NotFoundError

Conn = psycopg.Connection[Any]


class Venue(msgspec.Struct, frozen=True):
    """A registered venue."""

    venue_id: str
    municipality_code: str
    name: str


def add_venue(conn: Conn, venue_id: str, municipality_code: str, name: str) -> Venue:
    """Register a venue of a municipality (wards are not municipalities: use the city's code)."""
    with conn.transaction():
        row = conn.execute("SELECT is_ward FROM municipalities WHERE code = %s", (municipality_code,)).fetchone()
        if row is None or row[0]:
            raise NotFoundError(f"{municipality_code!r} is not a municipality code")
        try:
            with conn.transaction():
                conn.execute("INSERT INTO venues (venue_id, municipality_code, name) VALUES (%s, %s, %s)",
                             (venue_id, municipality_code, name))
        except errors.UniqueViolation:
            raise ConflictError(f"venue {venue_id!r} already exists") from None
        except errors.CheckViolation:
            raise InputError(f"venue id {venue_id!r} or name {name!r} is not acceptable") from None
    return Venue(venue_id, municipality_code, name)


def get_venue(conn: Conn, venue_id: str) -> Venue | None:
    """One venue, or None."""
    row = conn.execute("SELECT venue_id, municipality_code, name FROM venues WHERE venue_id = %s",
                       (venue_id,)).fetchone()
    return Venue(*row) if row else None
