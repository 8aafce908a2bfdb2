"""Queries the admin needs around dose records beyond what the ingest uses: venue names, the reasons of
corrections, and the live (not voided) registrations of a key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import msgspec
import psycopg

from hub.db import vaccinations
from hub.db.versions import Key, Version

Conn = psycopg.Connection[Any]


def resolve_venues(conn: Conn, municipality_code: str, written: Iterable[str]) -> dict[str, str]:
    """Map each written 接種会場 that is a venue id or a registered venue's exact name to the venue id.

    A name registered by several municipalities resolves to the importing municipality's venue first.
    """
    values = sorted(set(written))
    if not values:
        return {}
    cur = conn.execute(
        "SELECT DISTINCT ON (w) w, v.venue_id FROM unnest(%s::text[]) AS w"
        " JOIN venues v ON v.venue_id = w OR v.name = w"
        " ORDER BY w, (v.venue_id = w) DESC, (v.municipality_code = %s) DESC, v.venue_id",
        (values, municipality_code),
    )
    return {str(r[0]): str(r[1]) for r in cur}


def live_registrations(conn: Conn, key: Key) -> list[Version]:
    """Registrations of `key` that no void names, oldest first."""
    regs = vaccinations.registrations_for_keys(conn, [key])()
    return sorted((v for v, voided in regs if not voided), key=lambda v: v.order)


def add_correction(conn: Conn, municipality_code: str, record_id: str, replaces_record_id: str | None, kind: str,
                   reason: str, actor: str, now: dt.datetime) -> None:
    conn.execute(
        "INSERT INTO record_corrections (municipality_code, record_id, replaces_record_id, kind, reason, actor,"
        " corrected_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (municipality_code, record_id, replaces_record_id, kind, reason, actor, now),
    )


class Correction(msgspec.Struct, frozen=True):
    """Why a history row was written by a person rather than a station."""

    record_id: str
    replaces_record_id: str | None
    kind: str
    reason: str
    actor: str
    corrected_at: dt.datetime


def corrections_for(conn: Conn, municipality_code: str, record_ids: Iterable[str]) -> dict[str, Correction]:
    ids = sorted(set(record_ids))
    if not ids:
        return {}
    cur = conn.execute(
        "SELECT record_id::text, replaces_record_id::text, kind, reason, actor, corrected_at FROM record_corrections"
        " WHERE municipality_code = %s AND record_id = ANY(%s::uuid[])",
        (municipality_code, ids),
    )
    return {str(r[0]): Correction(*r) for r in cur}


class VenueRecord(msgspec.Struct, frozen=True):
    """A record made at a venue, as the venue's own staff may see it (no resident data)."""

    municipality_code: str
    voucher_no: str
    dose: int
    status: str
    administered_on: dt.date
    maker: str
    lot: str
    doctor: str
    scanned_at: dt.datetime
    device_id: str | None


def records_at_venue(conn: Conn, venue_id: str, day: dt.date, limit: int = 5000) -> list[VenueRecord]:
    """Current records registered at `venue_id` on `day` (the venue scope's policy lets nothing else through)."""
    cur = conn.execute(
        "SELECT municipality_code, voucher_no, dose, status, administered_on, maker, lot, doctor, scanned_at,"
        " device_id FROM vaccinations WHERE venue_id = %s AND administered_on = %s ORDER BY scanned_at LIMIT %s",
        (venue_id, day, limit),
    )
    return [VenueRecord(*r) for r in cur]
