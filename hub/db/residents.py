"""Residents of one municipality: bulk import (COPY into a staging table, then one upsert; a first import
COPY straight into the municipality's new tables), search, one resident with every dose and its history, and
coverage per dose.

Everything runs inside a transaction scoped to the municipality (hub.db.scoped); the explicit
municipality_code conditions are for the planner and a second line of defence, row-level security is
what keeps other municipalities out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

import msgspec
import psycopg
from psycopg import sql

Conn = psycopg.Connection[Any]

STAGE_COLUMNS = (
    "line", "atena_no", "voucher_no", "my_number_hmac", "name", "name_kana", "name_kana_norm", "birth_date", "sex",
    "address", "status", "status_date",
)

FIRST_RESIDENT_COLUMNS = (
    "municipality_code", "atena_no", "voucher_no", "name", "name_kana", "name_kana_norm", "birth_date", "sex",
    "address", "status", "status_date",
)
FIRST_DIGEST_COLUMNS = ("municipality_code", "atena_no", "hmac")

# What a binary COPY's data starts and ends with (signature, flags, header extension; a field count of -1);
# the rows between them are hub.files.resident_copy's.
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_BINARY_TRAILER = b"\xff\xff"

IMPORT_WORK_MEM = "64MB"
"""The memory of each sort or hash of an import's statements (PostgreSQL's work_mem), for its transaction."""

Route = Literal["new_tables", "insert", "upsert"]
"""How a file goes in (begin_import): COPY into the municipality's new tables (copy_first, attach_first);
staged, then inserted through the parents (insert_stage); staged, then upserted (apply_stage)."""


class ApplyCounts(msgspec.Struct, frozen=True):
    """What applying a staged file changed (or would change, in a dry run)."""

    inserted: int
    updated: int
    unchanged: int
    flagged_missing: int
    matched_records: int


class VoucherConflict(msgspec.Struct, frozen=True):
    """A voucher number in the file that another resident (not in the file) already holds."""

    line: int
    voucher_no: str
    held_by: str


def create_stage(conn: Conn) -> None:
    """A temporary staging table, dropped at the end of the transaction."""
    conn.execute(
        "CREATE TEMP TABLE resident_stage (line integer NOT NULL, atena_no text NOT NULL, voucher_no text NOT NULL,"
        " my_number_hmac bytea, name text NOT NULL, name_kana text NOT NULL, name_kana_norm text NOT NULL,"
        " birth_date date NOT NULL, sex smallint NOT NULL, address text NOT NULL, status text NOT NULL,"
        " status_date date) ON COMMIT DROP"
    )


def copy_into_stage(conn: Conn, batches: Iterable[bytes]) -> None:
    """COPY batches of binary rows (STAGE_COLUMNS, as hub.files.resident_copy writes them) into the staging
    table as they come: the file is never held in memory, and the server takes one batch in while the caller
    reads the next."""
    with conn.cursor() as cur, cur.copy(_copy_statement("resident_stage")) as copy:
        copy.write(_BINARY_HEADER)
        for rows in batches:
            copy.write(rows)
        copy.write(_BINARY_TRAILER)


# The bulk statements of an import run with prepare=False: psycopg prepares a statement once a pooled
# connection has run it five times, and PostgreSQL may then settle on a generic plan, made without the
# sizes of this file and this municipality, for statements that each touch every row of the import.


def _copy_statement(table: str, columns: tuple[str, ...] = STAGE_COLUMNS) -> sql.Composed:
    # Binary: the server neither parses CSV nor reads dates and numbers from text (COPY of 1,000,000 residents
    # took 2.2-2.3 s against 3.0-3.6 s as CSV).
    return sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))


def finish_stage(conn: Conn, municipality_code: str, *, full: bool) -> None:
    """Find the staged rows that are new or changed (into the temporary table resident_changes, in one pass
    over the file and the municipality's residents), for voucher_conflicts and apply_stage; for a file in
    `full` mode, in the same pass, the active residents it leaves out (rows of resident_changes with only
    ``missing_atena_no``).

    The staged rows get statistics of the columns the joins compare, from a small sample: enough for the
    planner to know the file is one row per resident (all columns at the usual sample size took 0.3-0.4 s
    of 200,000). They get no index: every statement that reads them is a hash join over the whole file.
    """
    conn.execute("ALTER TABLE resident_stage ALTER atena_no SET STATISTICS 10, ALTER voucher_no SET STATISTICS 10,"
                 " ALTER my_number_hmac SET STATISTICS 10")
    conn.execute("ANALYZE resident_stage (atena_no, voucher_no, my_number_hmac)")
    # lock_imports keeps new rows new until commit. A missing resident's row has no staged columns (line
    # NULL), so the statements that write new and changed rows never match it.
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE resident_changes ON COMMIT DROP AS"
            " SELECT s.*, r.atena_no IS NULL AS is_new,"
            "  CASE WHEN s.atena_no IS NULL THEN r.atena_no END AS missing_atena_no FROM resident_stage s"
            " {join} (SELECT * FROM residents WHERE municipality_code = %(m)s) r ON r.atena_no = s.atena_no"
            " WHERE r.atena_no IS NULL OR (s.atena_no IS NULL AND r.status = 'active')"
            " OR (s.atena_no IS NOT NULL AND (r.voucher_no, r.name, r.name_kana, r.birth_date, r.sex, r.address,"
            "  r.status, r.status_date) IS DISTINCT FROM (s.voucher_no, s.name, s.name_kana, s.birth_date, s.sex,"
            "  s.address, s.status, s.status_date))"
        ).format(join=sql.SQL("FULL JOIN" if full else "LEFT JOIN")),
        {"m": municipality_code},
        prepare=False,
    )


def voucher_conflicts(conn: Conn, municipality_code: str, limit: int = 100) -> list[VoucherConflict]:
    """Voucher numbers in the file already held by a resident the file does not also list (finish_stage
    first).

    Only a new or changed row can hold a voucher someone else has: a row whose resident has the same voucher
    already holds it alone (residents_voucher).
    """
    cur = conn.execute(
        "SELECT c.line, c.voucher_no, r.atena_no FROM resident_changes c"
        " JOIN residents r ON r.municipality_code = %(m)s AND r.voucher_no = c.voucher_no AND r.atena_no <> c.atena_no"
        " WHERE NOT EXISTS (SELECT 1 FROM resident_stage o WHERE o.atena_no = r.atena_no)"
        " ORDER BY c.line LIMIT %(limit)s",
        {"m": municipality_code, "limit": limit},
        prepare=False,
    )
    return [VoucherConflict(int(r[0]), str(r[1]), str(r[2])) for r in cur]


def begin_import(conn: Conn, municipality_code: str) -> Route:
    """Take the municipality's import lock (lock_imports) and decide, before its file is read, how the file
    goes in: into new tables of its own when it has no residents and no tables yet (opened here, bare, by
    vrs_resident_partition_open), else staged and inserted or upserted through the parents."""
    lock_imports(conn, municipality_code)
    # The joins of an import read the whole file and the municipality's residents; with the usual 4 MB
    # they spilled to disk in batches and took 1.3-2 times as long (200,000 residents). Until commit.
    conn.execute("SELECT set_config('work_mem', %s, true)", (IMPORT_WORK_MEM,))
    if has_residents(conn, municipality_code):
        return "upsert"
    row = conn.execute("SELECT vrs_resident_partition_open(%s)", (municipality_code,)).fetchone()
    return "new_tables" if row and row[0] else "insert"


def lock_imports(conn: Conn, municipality_code: str) -> None:
    """Wait for any other import into the municipality to end; held until this transaction ends.

    Whether the municipality has any residents yet (has_residents), and so which Route its file takes, stays
    true only while no other import can add some meanwhile. Taken before the file is read: the file then
    streams straight into new tables (copy_first) when the municipality has none.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('vrs_resident_import:' || %s, 0))",
                 (municipality_code,))
    # An import that may attach a partition (attach_first) also waits for any other that may: each reads the
    # DEFAULT partitions (has_residents) before attaching, and ATTACH needs them to itself, so two at once
    # would each wait for the other's commit. Taken before the file is read, this lock makes the first
    # imports of different municipalities (and imports into municipalities whose residents are in the DEFAULT
    # partition) run one after the other, their reading of the file included.
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('vrs_resident_partitions', 0))"
                 " WHERE to_regclass(%s) IS NULL", (f"public.{partition_name(municipality_code)}",))


def apply_stage(conn: Conn, municipality_code: str, *, today: dt.date) -> ApplyCounts:
    """Upsert the staged residents (finish_stage first; its resident_changes are the only rows written); for
    a file in full mode, flag the active residents missing from it (never delete).

    Then match the municipality's unmatched records whose voucher now belongs to a resident.
    """
    params = {"m": municipality_code, "today": today}
    # Free the voucher numbers that move between residents of the file, so the unique index never sees
    # a number twice halfway through the update.
    conn.execute(
        "UPDATE residents r SET voucher_no = NULL FROM resident_changes c WHERE NOT c.is_new"
        " AND r.municipality_code = %(m)s AND r.atena_no = c.atena_no AND r.voucher_no IS DISTINCT FROM c.voucher_no",
        params,
        prepare=False,
    )
    updated = conn.execute(
        "UPDATE residents r SET voucher_no = c.voucher_no, name = c.name, name_kana = c.name_kana,"
        " name_kana_norm = c.name_kana_norm, birth_date = c.birth_date, sex = c.sex, address = c.address,"
        " status = c.status, status_date = c.status_date, updated_at = now() FROM resident_changes c"
        " WHERE NOT c.is_new AND r.municipality_code = %(m)s AND r.atena_no = c.atena_no",
        params,
        prepare=False,
    ).rowcount
    inserted = conn.execute(
        "INSERT INTO residents (municipality_code, atena_no, voucher_no, name, name_kana, name_kana_norm,"
        " birth_date, sex, address, status, status_date, updated_at)"
        " SELECT %(m)s, atena_no, voucher_no, name, name_kana, name_kana_norm, birth_date, sex, address, status,"
        " status_date, now() FROM resident_changes WHERE is_new",
        params,
        prepare=False,
    ).rowcount
    row = conn.execute("SELECT count(*) FROM resident_stage", prepare=False).fetchone()
    assert row is not None
    staged = int(row[0])
    # New and changed digests are found before any is written, as the residents are: an INSERT that looks
    # for its rows in its own target table may be planned (on statistics that call the table empty) as a
    # loop reading the table again for every row, its own new rows included.
    conn.execute(
        "CREATE TEMP TABLE digest_changes ON COMMIT DROP AS"
        " SELECT s.atena_no, s.my_number_hmac FROM resident_stage s WHERE s.my_number_hmac IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM my_number_hashes h WHERE h.municipality_code = %(m)s"
        "  AND h.atena_no = s.atena_no AND h.hmac = s.my_number_hmac)",
        params,
        prepare=False,
    )
    conn.execute(
        "INSERT INTO my_number_hashes (municipality_code, atena_no, hmac)"
        " SELECT %(m)s, atena_no, my_number_hmac FROM digest_changes"
        " ON CONFLICT (municipality_code, atena_no) DO UPDATE SET hmac = excluded.hmac",
        params,
        prepare=False,
    )
    flagged = conn.execute(
        "UPDATE residents r SET status = 'missing_from_full_import', status_date = %(today)s, updated_at = now()"
        " FROM resident_changes c WHERE r.municipality_code = %(m)s AND r.atena_no = c.missing_atena_no",
        params,
        prepare=False,
    ).rowcount
    matched = match_unmatched_records(conn, municipality_code)
    forget_coverage(conn, municipality_code)
    return ApplyCounts(inserted=inserted, updated=updated, unchanged=staged - inserted - updated,
                       flagged_missing=flagged, matched_records=matched)


def has_residents(conn: Conn, municipality_code: str) -> bool:
    """Whether the municipality has any residents (lock_imports first, so the answer holds until commit)."""
    # Not prepared: a generic plan would lock every municipality's partition, and until commit.
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM residents WHERE municipality_code = %s)",
                       (municipality_code,), prepare=False).fetchone()
    return bool(row and row[0])


def insert_stage(conn: Conn, municipality_code: str) -> ApplyCounts:
    """A municipality's first rows when its tables exist already (begin_import's "insert": an earlier file
    without rows): every staged row is new, inserted through the parents.

    Plain inserts, without the upsert's look-up of each row and INSERT ... ON CONFLICT's probe of the
    unique indexes before each insert (together a fifth of the server's time for a large city's first
    file); no voucher can be held by anyone else, and the staged rows need no index or statistics.
    """
    params = {"m": municipality_code}
    inserted = conn.execute(
        "INSERT INTO residents (municipality_code, atena_no, voucher_no, name, name_kana, name_kana_norm,"
        " birth_date, sex, address, status, status_date, updated_at)"
        " SELECT %(m)s, atena_no, voucher_no, name, name_kana, name_kana_norm, birth_date, sex, address,"
        " status, status_date, now() FROM resident_stage",
        params,
        prepare=False,
    ).rowcount
    conn.execute(
        "INSERT INTO my_number_hashes (municipality_code, atena_no, hmac)"
        " SELECT %(m)s, atena_no, my_number_hmac FROM resident_stage WHERE my_number_hmac IS NOT NULL",
        params,
        prepare=False,
    )
    matched = match_unmatched_records(conn, municipality_code)
    forget_coverage(conn, municipality_code)
    return ApplyCounts(inserted=inserted, updated=0, unchanged=0, flagged_missing=0, matched_records=matched)


def partition_name(municipality_code: str, table: str = "residents") -> str:
    """The table of the municipality's own rows of `table` (residents or my_number_hashes), once it has one."""
    return f"{table}_{municipality_code}"


def copy_first(conn: Conn, municipality_code: str, batches: Iterable[tuple[bytes, bytes]]) -> int:
    """COPY a municipality's first file into the bare tables begin_import opened ("new_tables"): batches of
    binary rows of residents (FIRST_RESIDENT_COLUMNS) and of their digests (FIRST_DIGEST_COLUMNS), as
    hub.files.resident_copy writes them; the number of residents.

    The residents go in as they come. Their digests are held back until about _DIGEST_SEGMENT bytes of
    them are held, then go in by a COPY of their own between two COPYs of residents, and the rest at the end:
    a caller that reads its batches ahead in another thread keeps reading the file while the server takes
    them in, and the digests of a large city are never all in memory. Rows go in as the caller, who may only
    insert into these tables until attach_first.
    """
    residents_copy = _copy_statement(partition_name(municipality_code), FIRST_RESIDENT_COLUMNS)
    digests_copy = _copy_statement(partition_name(municipality_code, "my_number_hashes"), FIRST_DIGEST_COLUMNS)
    remaining = iter(batches)
    inserted = 0
    held: list[bytes] = []
    with conn.cursor() as cur:
        more = True
        while more:
            more, held_size = False, 0
            with cur.copy(residents_copy) as copy:
                copy.write(_BINARY_HEADER)
                for residents_rows, digests_rows in remaining:
                    copy.write(residents_rows)
                    held.append(digests_rows)
                    held_size += len(digests_rows)
                    if held_size >= _DIGEST_SEGMENT:
                        more = True
                        break
                copy.write(_BINARY_TRAILER)
            inserted += cur.rowcount
            with cur.copy(digests_copy) as copy:
                copy.write(_BINARY_HEADER)
                for rows in held:
                    copy.write(rows)
                copy.write(_BINARY_TRAILER)
            held.clear()
    return inserted


_DIGEST_SEGMENT = 1 << 20


def attach_first(conn: Conn, municipality_code: str, inserted: int) -> ApplyCounts:
    """Index the tables copy_first filled and attach them to residents and my_number_hashes as the
    municipality's partitions (migration 0065): building an index over loaded rows costs a fraction of
    maintaining it row by row. Creating and attaching run as the schema owner, in database functions that
    check the caller's scope."""
    conn.execute("SELECT vrs_resident_partition_attach(%s)", (municipality_code,), prepare=False)
    matched = match_unmatched_records(conn, municipality_code)
    forget_coverage(conn, municipality_code)
    return ApplyCounts(inserted=inserted, updated=0, unchanged=0, flagged_missing=0, matched_records=matched)


def match_unmatched_records(conn: Conn, municipality_code: str) -> int:
    """Give records flagged unmatched (no 宛名番号) the resident that now holds their voucher."""
    return conn.execute(
        "UPDATE vaccinations v SET atena_no = r.atena_no FROM residents r"
        " WHERE v.municipality_code = %(m)s AND v.atena_no IS NULL"
        " AND r.municipality_code = %(m)s AND r.voucher_no = v.voucher_no",
        {"m": municipality_code},
        prepare=False,
    ).rowcount


class ResidentSummary(msgspec.Struct, frozen=True):
    """A search hit / list row."""

    atena_no: str
    voucher_no: str | None
    name: str
    name_kana: str
    birth_date: dt.date | None
    sex: int | None
    status: str
    doses: int


class ResidentDetail(msgspec.Struct, frozen=True):
    """One resident as the resident page shows it (My Number only as 'registered or not')."""

    atena_no: str
    voucher_no: str | None
    name: str
    name_kana: str
    birth_date: dt.date | None
    sex: int | None
    address: str
    status: str
    status_date: dt.date | None
    updated_at: dt.datetime
    has_my_number: bool


class Dose(msgspec.Struct, frozen=True):
    """A current dose record."""

    record_id: str
    voucher_no: str
    dose: int
    status: str
    administered_on: dt.date
    venue_id: str
    venue_name: str | None
    maker: str
    lot: str
    doctor: str
    read_source: str
    scanned_at: dt.datetime
    registered_at: dt.datetime
    atena_no: str | None


class HistoryEntry(msgspec.Struct, frozen=True):
    """One version in the history (registrations and voids, oldest first)."""

    record_id: str
    op: str
    voucher_no: str
    dose: int
    status: str
    administered_on: dt.date
    venue_id: str
    maker: str
    lot: str
    doctor: str
    read_source: str
    scanned_at: dt.datetime
    recorded_at: dt.datetime
    voids_record_id: str | None
    device_id: str | None


def get(conn: Conn, municipality_code: str, atena_no: str) -> ResidentDetail | None:
    row = conn.execute(
        "SELECT r.atena_no, r.voucher_no, r.name, r.name_kana, r.birth_date, r.sex, r.address, r.status,"
        " r.status_date, r.updated_at, EXISTS (SELECT 1 FROM my_number_hashes h"
        "  WHERE h.municipality_code = r.municipality_code AND h.atena_no = r.atena_no)"
        " FROM residents r WHERE r.municipality_code = %s AND r.atena_no = %s",
        (municipality_code, atena_no),
    ).fetchone()
    return None if row is None else ResidentDetail(*row)


_DOSE_COLUMNS = (
    "v.record_id::text, v.voucher_no, v.dose, v.status, v.administered_on, v.venue_id, ve.name, v.maker, v.lot,"
    " v.doctor, v.read_source, v.scanned_at, v.registered_at, v.atena_no"
)


def doses_of(conn: Conn, municipality_code: str, atena_no: str, voucher_no: str | None) -> list[Dose]:
    """Current doses matched to the resident, or held on the resident's current voucher."""
    cur = conn.execute(
        f"SELECT {_DOSE_COLUMNS} FROM vaccinations v LEFT JOIN venues ve ON ve.venue_id = v.venue_id"
        " WHERE v.municipality_code = %(m)s AND (v.atena_no = %(a)s OR v.voucher_no = %(vn)s)"
        " ORDER BY v.dose, v.voucher_no",
        {"m": municipality_code, "a": atena_no, "vn": voucher_no},
    )
    return [Dose(*r) for r in cur]


def dose(conn: Conn, municipality_code: str, voucher_no: str, dose_no: int) -> Dose | None:
    """One current dose record by its key."""
    row = conn.execute(
        f"SELECT {_DOSE_COLUMNS} FROM vaccinations v LEFT JOIN venues ve ON ve.venue_id = v.venue_id"
        " WHERE v.municipality_code = %s AND v.voucher_no = %s AND v.dose = %s",
        (municipality_code, voucher_no, dose_no),
    ).fetchone()
    return None if row is None else Dose(*row)


def history_of(conn: Conn, municipality_code: str, vouchers: list[str]) -> list[HistoryEntry]:
    """Every version ever recorded for these vouchers, oldest first."""
    if not vouchers:
        return []
    cur = conn.execute(
        "SELECT record_id::text, op, voucher_no, dose, status, administered_on, venue_id, maker, lot, doctor,"
        " read_source, scanned_at, recorded_at, voids_record_id::text, device_id FROM vaccination_history"
        " WHERE municipality_code = %s AND voucher_no = ANY(%s) ORDER BY recorded_at, scanned_at, record_id",
        (municipality_code, vouchers),
    )
    return [HistoryEntry(*r) for r in cur]


class Coverage(msgspec.Struct, frozen=True):
    """Share of active residents with a vaccinated dose n, as computed at `computed_at`."""

    residents: int
    by_dose: list[tuple[int, int]]  # (dose, residents with that dose vaccinated)
    unmatched_records: int
    computed_at: dt.datetime


def coverage(conn: Conn, municipality_code: str, now: dt.datetime, max_age: dt.timedelta) -> Coverage:
    """Coverage from the cache when it is younger than `max_age`, else computed afresh and cached.

    When another request is already recomputing it, a stale copy is good enough for this one.
    """
    row = conn.execute(
        "SELECT residents, by_dose, unmatched_records, computed_at FROM coverage_cache WHERE municipality_code = %s",
        (municipality_code,),
    ).fetchone()
    cached = None if row is None else Coverage(int(row[0]), [(int(d), int(n)) for d, n in row[1]], int(row[2]),
                                               row[3])
    if cached is not None and now - cached.computed_at < max_age:
        return cached
    locked = conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended('vrs_coverage:' || %s, 0))",
                          (municipality_code,)).fetchone()
    if cached is not None and not (locked and locked[0]):
        return cached
    fresh = compute_coverage(conn, municipality_code, now)
    conn.execute(
        "INSERT INTO coverage_cache (municipality_code, computed_at, residents, by_dose, unmatched_records)"
        " VALUES (%s, %s, %s, %s::jsonb, %s) ON CONFLICT (municipality_code) DO UPDATE SET"
        " computed_at = excluded.computed_at, residents = excluded.residents, by_dose = excluded.by_dose,"
        " unmatched_records = excluded.unmatched_records",
        (municipality_code, fresh.computed_at, fresh.residents, msgspec.json.encode(fresh.by_dose).decode(),
         fresh.unmatched_records),
    )
    return fresh


def forget_coverage(conn: Conn, municipality_code: str) -> None:
    """Drop the cached coverage (after an import or a correction changed what it counts)."""
    conn.execute("DELETE FROM coverage_cache WHERE municipality_code = %s", (municipality_code,))


def compute_coverage(conn: Conn, municipality_code: str, now: dt.datetime) -> Coverage:
    total_row = conn.execute(
        "SELECT count(*) FROM residents WHERE municipality_code = %s AND status = 'active'", (municipality_code,)
    ).fetchone()
    by_dose = conn.execute(
        "SELECT v.dose, count(DISTINCT v.atena_no) FROM vaccinations v JOIN residents r"
        " ON r.municipality_code = v.municipality_code AND r.atena_no = v.atena_no AND r.status = 'active'"
        " WHERE v.municipality_code = %s AND v.status = 'vaccinated' GROUP BY v.dose ORDER BY v.dose",
        (municipality_code,),
    ).fetchall()
    unmatched = conn.execute(
        "SELECT count(*) FROM vaccinations WHERE municipality_code = %s AND atena_no IS NULL", (municipality_code,)
    ).fetchone()
    assert total_row is not None and unmatched is not None
    return Coverage(residents=int(total_row[0]), by_dose=[(int(d), int(n)) for d, n in by_dose],
                    unmatched_records=int(unmatched[0]), computed_at=now)


def count(conn: Conn, municipality_code: str) -> int:
    row = conn.execute("SELECT count(*) FROM residents WHERE municipality_code = %s", (municipality_code,)).fetchone()
    assert row is not None
    return int(row[0])
