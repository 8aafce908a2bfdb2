"""Reading one municipality's current records for CSV export, streamed with a server-side cursor.

Call inside a transaction scoped to that municipality (hub.db.scoped): row-level security then makes
another municipality's rows unreachable whatever is asked.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import psycopg

FETCH_ROWS = 2000


class ExportRecord(msgspec.Struct, frozen=True):
    """One current record with what the export layouts show of it."""

    municipality_code: str
    voucher_no: str
    dose: int
    status: str
    administered_on: datetime.date
    venue_name: str
    venue_municipality_code: str
    maker: str
    lot: str
    doctor: str
    registered_at: datetime.datetime
    atena_no: str | None


_SELECT = (
    "SELECT v.municipality_code, v.voucher_no, v.dose, v.status, v.administered_on,"
    " coalesce(ve.name, v.venue_id), coalesce(ve.municipality_code, v.municipality_code), v.maker, v.lot,"
    " v.doctor, v.registered_at, v.atena_no"
    " FROM vaccinations v LEFT JOIN venues ve ON ve.venue_id = v.venue_id WHERE v.municipality_code = %s"
)


def _stream(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> Iterator[ExportRecord]:
    with conn.cursor(name=f"export_{uuid.uuid4().hex[:8]}") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(query.encode(), params)
        for row in cur:
            yield ExportRecord(*row)


def current_records(conn: psycopg.Connection[Any], municipality_code: str) -> Iterator[ExportRecord]:
    """Every current record of the municipality (both statuses, matched or not), by voucher and dose."""
    return _stream(conn, _SELECT + " ORDER BY v.voucher_no, v.dose", (municipality_code,))


def ledger_records(conn: psycopg.Connection[Any], municipality_code: str) -> Iterator[ExportRecord]:
    """Vaccinated doses of residents matched to their voucher, by 宛名番号 then dose (latest first)."""
    return _stream(
        conn,
        _SELECT + " AND v.status = 'vaccinated' AND v.atena_no IS NOT NULL"
        " ORDER BY v.atena_no, v.dose, v.registered_at DESC",
        (municipality_code,),
    )


def max_dose(conn: psycopg.Connection[Any], municipality_code: str) -> int:
    """The highest dose number among the municipality's vaccinated, matched records (0 if none)."""
    row = conn.execute(
        "SELECT coalesce(max(dose), 0) FROM vaccinations WHERE municipality_code = %s AND status = 'vaccinated'"
        " AND atena_no IS NOT NULL",
        (municipality_code,),
    ).fetchone()
    return int(row[0]) if row else 0
