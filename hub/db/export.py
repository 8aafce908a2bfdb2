"""Reading one municipality's current records for CSV export, streamed: as CSV straight from PostgreSQL
(``COPY (query) TO STDOUT``, the cells rendered in the query), or as rows from a server-side cursor.

A CP932 ledger is read as stored in CP932 (hub.db.ledger). The long layout's CP932 is converted by the
serving process (hub.files.export): its query is the busier side already, and testing every record's
texts on the server for what CP932 lacks (vrs_cp932, migration 0071) cost more than the conversion saves.

Call inside a transaction scoped to that municipality (hub.db.scoped): row-level security then makes
another municipality's rows unreachable whatever is asked.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import msgspec
import psycopg
from psycopg import sql

from hub.db.copy_out import copy_out_batches, copy_out_parts
from hub.db.scoped import Scope, set_scope
from protocol.records import MAKER_LABELS, STATUS_LABELS

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


def max_dose(conn: psycopg.Connection[Any], municipality_code: str, at_least: int = 0) -> int:
    """The highest dose number among the municipality's vaccinated, matched records, or `at_least` if that
    is higher (0 if none).

    Records of dose `at_least` or lower are dropped by the plain dose test before the row-level security
    policy's per-row test runs (that test was most of this query's cost); usually they are nearly all.
    """
    row = conn.execute(
        "SELECT greatest(%s, max(dose)) FROM vaccinations WHERE municipality_code = %s AND status = 'vaccinated'"
        " AND atena_no IS NOT NULL AND dose > %s",
        (at_least, municipality_code, at_least),
    ).fetchone()
    return int(row[0]) if row else at_least


# Cells a spreadsheet would run as a formula when they start with one of these (a leading "'" stops it).
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
COPY_BATCH_BYTES: Final = 1 << 18
# Rows of later parts held while an earlier one is handed over (copy_csv_parts).
COPY_AHEAD_BYTES: Final = 8 << 20
# Pages of the records table sampled to cut a ledger into parts (part_starts).
SAMPLE_PAGES: Final = 256
LEDGER_ZONE: Final = "Asia/Tokyo"
# What the queries' date and time cells are rendered under, for the export's transaction only.
RENDER_SETTINGS: Final = (("datestyle", "ISO, YMD"), ("timezone", LEDGER_ZONE))


def _cell(expr: sql.Composable) -> sql.Composable:
    """A text cell as the CSV shows it: formula-neutralised, and NULL when empty.

    COPY's CSV output quotes an empty string ("") but writes NULL as nothing, which is what Python's csv
    module writes for an empty cell; so empty becomes NULL and nothing else ever is NULL.
    """
    # ascii() of the first character: an integer test, cheaper than comparing one-character strings.
    starts = sql.SQL(", ").join(sql.Literal(ord(c)) for c in FORMULA_START)
    return sql.SQL("nullif(CASE WHEN ascii({e}) IN ({starts}) THEN '''' || {e} ELSE {e} END, '')").format(
        e=expr, starts=starts)


def label_cell(expr: sql.Composable, labels: dict[str, str]) -> sql.Composable:
    whens = sql.SQL(" ").join(sql.SQL("WHEN {} THEN {}").format(sql.Literal(k), sql.Literal(v))
                             for k, v in labels.items())
    return sql.SQL("CASE {e} {whens} ELSE {e} END").format(e=expr, whens=whens)


# Cells that the tables' CHECK constraints keep to digits (codes, numbers, dates) or to a label never start
# a formula and are never empty, so they skip _cell: it is most of the query's cost on a large export.
# FM: no zero padding of the year, as Python's strftime("%Y") writes it. A date of a four-digit year is
# the ISO text (RENDER_SETTINGS) without its dashes, which costs a third of to_char; other years keep to_char.
_DAY = sql.SQL("CASE WHEN v.administered_on BETWEEN '1000-01-01' AND '9999-12-31'"
               " THEN replace(v.administered_on::text, '-', '') ELSE to_char(v.administered_on, 'FMYYYYMMDD') END")
_MAKER = label_cell(sql.SQL("v.maker"), {str(k): v for k, v in MAKER_LABELS.items()})
_STATUS = label_cell(sql.SQL("v.status"), {str(k): v for k, v in STATUS_LABELS.items()})
_VENUE_NAME = _cell(sql.SQL("coalesce(ve.name, v.venue_id)"))
_LOT = _cell(sql.SQL("v.lot"))
_DOCTOR = _cell(sql.SQL("v.doctor"))
_FROM = sql.SQL("FROM vaccinations v LEFT JOIN venues ve ON ve.venue_id = v.venue_id"
                " WHERE v.municipality_code = {m}")


def long_query(municipality_code: str) -> sql.Composable:
    """The long layout's rows (no header) as one CSV-ready query: every current record, by voucher and dose."""
    cells = [sql.SQL("v.municipality_code"), sql.SQL("v.voucher_no"), sql.SQL("v.dose::text"), _STATUS, _DAY,
             _VENUE_NAME, _MAKER, _LOT, _DOCTOR]
    return sql.SQL("SELECT {cells} {frm} ORDER BY v.voucher_no, v.dose").format(
        cells=sql.SQL(", ").join(cells), frm=_FROM.format(m=sql.Literal(municipality_code)))


def part_starts(conn: psycopg.Connection[Any], municipality_code: str, records_per_part: int,
                max_parts: int) -> list[str]:
    """宛名番号 that cut the ledger into parts of about `records_per_part` records each (at most `max_parts`),
    increasing; none for a municipality too small to cut.

    Estimated from a sample of the table's pages (about SAMPLE_PAGES of them, the same ones each time),
    not from its rows: a count or an ordered walk of a large municipality's records under row-level
    security costs a good part of the export itself. A municipality with few rows in the sample is not cut.
    """
    row = conn.execute("SELECT pg_relation_size('vaccinations') / current_setting('block_size')::int").fetchone()
    pages = int(row[0]) if row else 0
    if pages == 0:
        return []
    percent = min(100.0, 100.0 * SAMPLE_PAGES / pages)
    sample = [str(r[0]) for r in conn.execute(
        "SELECT atena_no FROM vaccinations TABLESAMPLE SYSTEM (%s) REPEATABLE (0) WHERE municipality_code = %s"
        " AND status = 'vaccinated' AND atena_no IS NOT NULL ORDER BY atena_no", (percent, municipality_code))]
    parts = min(max_parts, round(len(sample) * 100.0 / percent / records_per_part))
    return cut_points(sample, parts)


def cut_points(ordered: Sequence[str], parts: int) -> list[str]:
    """Values cutting `ordered` into `parts` runs of about equal length: the first value of each run but the
    first, increasing (fewer when values repeat)."""
    points: list[str] = []
    if not ordered:
        return points
    for i in range(1, parts):
        value = ordered[i * len(ordered) // parts]
        if value > (points[-1] if points else ordered[0]):
            points.append(value)
    return points


def render_settings(conn: psycopg.Connection[Any], workers: bool = True) -> None:
    """Render the queries' cells as the export writes them, until the transaction open on `conn` ends;
    without parallel workers unless `workers`."""
    settings = [*RENDER_SETTINGS, *([("client_encoding", "UTF8")] if conn.info.encoding != "utf-8" else []),
                *([] if workers else [("max_parallel_workers_per_gather", "0")])]
    conn.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(
        sql.SQL("set_config({}, {}, true)").format(sql.Literal(k), sql.Literal(v)) for k, v in settings)))


def copy_csv(conn: psycopg.Connection[Any], query: sql.Composable, batch_bytes: int = COPY_BATCH_BYTES, *,
             rendered: bool = False, cp932: bool = False) -> Iterator[bytes]:
    """The query's rows as PostgreSQL writes CSV (UTF-8, LF after each row), in batches of whole rows; with
    `rendered`, the query's one column is each row's CSV already (hub.db.ledger), text, or with `cp932`
    bytea of the row in CP932.

    COPY of a query obeys row-level security like the query itself. Call inside a transaction: the
    settings the cells are rendered under (RENDER_SETTINGS, UTF-8) last until it ends.
    """
    # Stored rows are only read and sorted: parallel workers would take the cores the download's own
    # processes need (alternating runs of the ledger download: 284,000-376,000 rows/s without, 197,000-290,000 with).
    render_settings(conn, workers=not rendered)
    return _rows(copy_out_batches(conn, _copy(query, rendered, cp932), batch_bytes, binary=cp932), rendered, cp932)


def copy_csv_parts(conns: Sequence[psycopg.Connection[Any]], queries: Sequence[sql.Composable],
                   batch_bytes: int = COPY_BATCH_BYTES, ahead_bytes: int = COPY_AHEAD_BYTES, *,
                   rendered: bool = False, cp932: bool = False) -> Iterator[bytes]:
    """The queries' rows, all of the first, then the second..., as copy_csv writes them, the queries running
    on the connections by turns (hub.db.copy_out.copy_out_parts).

    Call with each connection in a transaction of its own (export_transaction) that sees the same snapshot,
    so that the parts are cut from one state of the data. Over more than one connection the queries run
    without parallel workers: the connections' server processes already share the cores, and a part's
    workers would be started again for every part (a 2-core machine read a ledger of 400,000 records in
    2.5-3.7 s that way, 3.9-4.2 s over one connection with workers, in interleaved runs).
    """
    for conn in conns:
        render_settings(conn, workers=len(conns) == 1)
    statements = [_copy(q, rendered, cp932) for q in queries]
    return _rows(copy_out_parts(conns, statements, batch_bytes, ahead_bytes, binary=cp932), rendered, cp932)


def _copy(query: sql.Composable, rendered: bool, cp932: bool) -> sql.Composed:
    # A rendered row goes out in COPY's text format, which leaves commas and quotes as they are; bytes of
    # CP932 in its binary format, as they are (the text format would write bytea as hex).
    layout = "binary" if cp932 else "text" if rendered else "csv"
    return sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT {})").format(query, sql.SQL(layout))


def _rows(batches: Iterator[bytes], rendered: bool, cp932: bool) -> Iterator[bytes]:
    return unescape_text(batches) if rendered and not cp932 else batches


_ESCAPED: Final = re.compile(rb"\\(.)", re.DOTALL)
_UNESCAPES: Final = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v", b"\\": b"\\"}


def unescape_text(batches: Iterable[bytes]) -> Iterator[bytes]:
    """The rows of a one-column ``COPY ... (FORMAT text)`` as they were: COPY writes a backslash, and a
    control character that has a letter escape (a line feed in a quoted cell, say), as a backslash
    sequence, so that a raw line feed only ever ends a row."""
    for batch in batches:
        yield _ESCAPED.sub(lambda m: _UNESCAPES[m.group(1)], batch) if b"\\" in batch else batch


@contextmanager
def export_transaction(conn: psycopg.Connection[Any], scope: Scope, snapshot: str | None = None) -> Iterator[None]:
    """A repeatable-read transaction on `conn` acting for `scope` (hub.db.scoped's settings), reading the
    state of the data that `snapshot` (share_snapshot of another such transaction, still open) names.

    Repeatable read also keeps one export's header (max_dose) and rows consistent with each other.
    """
    scope.check()
    with conn.transaction():
        statement = sql.SQL("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ{}").format(
            sql.SQL("; SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)) if snapshot is not None
            else sql.SQL(""))
        conn.execute(statement)
        set_scope(conn, scope)
        yield


def share_snapshot(conn: psycopg.Connection[Any]) -> str:
    """The id of the snapshot of the export transaction open on `conn`, for others to read the same data."""
    row = conn.execute("SELECT pg_export_snapshot()").fetchone()
    if row is None:
        raise psycopg.errors.InternalError("pg_export_snapshot() returned no row")
    return str(row[0])
