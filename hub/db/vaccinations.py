"""Queries over vaccination records: the dedup ledger, history, current state and resident matching.

Set-based: each function is one statement whatever the number of rows. Rows travel as one JSON document
per statement (encoded by msgspec, unpacked by ``json_to_recordset`` on the server), which costs far
less than binding thousands of array elements one by one. They run inside a transaction the caller
opened with hub.db.scoped.

Reads return a ``Later``: the statement is sent at once and the function returned reads its result.
Issue several, then read them, and in pipeline mode (``conn.pipeline()``) they share one round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

import msgspec
import psycopg

from hub.db.versions import Key, ResidentMatch, Version
from protocol.records import Record

Conn = psycopg.Connection[Any]
T = TypeVar("T")
Later = Callable[[], T]


def _ready(value: T) -> Later[T]:
    return lambda: value

_VERSION_COLUMNS = (
    "record_id::text, municipality_code, voucher_no, dose, ticket_kind, status, administered_on, venue_id,"
    " maker, lot, doctor, read_source, scanned_at, device_id"
)
_KEY_SET = "json_to_recordset(%s::json) AS k(m text, v text, d smallint)"
_VOUCHER_SET = "json_to_recordset(%s::json) AS k(m text, v text)"
_ID_SET = "(SELECT value::uuid FROM json_array_elements_text(%s::json))"
# Closes a LATERAL subquery so that the planner cannot fold it into a join: each key of the set is then
# looked up through the index. Folded, a table whose statistics are stale (one that grew since the last
# ANALYZE: a fresh hub's first hours, or the day after an outage) was read whole for every group.
_PER_ROW = "OFFSET 0"


class CurrentRow(Version, frozen=True):
    """A version as written to the current state, with the matched resident's 宛名番号 (None: unmatched)."""

    atena_no: str | None = None


class HistoryRow(msgspec.Struct, frozen=True):
    """One accepted record as appended to the history (field names are the columns)."""

    municipality_code: str
    record_id: str
    op: str
    voucher_no: str
    dose: int
    ticket_kind: str | None
    status: str
    administered_on: Any
    venue_id: str
    maker: str
    lot: str
    doctor: str
    read_source: str
    read_frames: int
    scanned_at: Any
    voids_record_id: str | None
    device_id: str | None
    batch_seq: int | None


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _keys_json(keys: Iterable[Key]) -> str:
    return _json([{"m": k[0], "v": k[1], "d": k[2]} for k in sorted(set(keys))])


def _version(row: Sequence[Any]) -> Version:
    return Version(*row)


def claim_record_ids(conn: Conn, records: Iterable[tuple[str, str, str]]) -> Later[set[str]]:
    """Remember (record_id, municipality_code, op) for good; returns the ids not seen before.

    Sorted, so two workers claiming overlapping batches wait for each other instead of deadlocking; the
    second sees the first's ids as already seen once the first commits.
    """
    rows = sorted(set(records))
    if not rows:
        return _ready(set())
    cur = conn.execute(
        "INSERT INTO seen_records (record_id, municipality_code, op)"
        " SELECT r::uuid, m, o FROM json_to_recordset(%s::json) AS x(r text, m text, o text) ORDER BY 1"
        " ON CONFLICT (record_id) DO NOTHING RETURNING record_id::text",
        (_json([{"r": r[0], "m": r[1], "o": r[2]} for r in rows]),),
    )
    return lambda: {r[0] for r in cur}


def registered_keys(conn: Conn, record_ids: Sequence[str]) -> Later[dict[str, Key]]:
    """Where each of these already recorded registrations lives (for voids naming them)."""
    if not record_ids:
        return _ready({})
    cur = conn.execute(
        "SELECT h.record_id::text, h.municipality_code, h.voucher_no, h.dose FROM seen_records s"
        " JOIN vaccination_history h ON h.municipality_code = s.municipality_code AND h.record_id = s.record_id"
        f" WHERE s.record_id IN {_ID_SET} AND s.op = 'register'",
        (_json(list(record_ids)),),
    )
    return lambda: {r[0]: (r[1], r[2], int(r[3])) for r in cur}


def lock_municipalities(conn: Conn, codes: Iterable[str]) -> None:
    """Hold the current state of these municipalities for the rest of the transaction.

    Two workers changing the same voucher must not both compute from the same "before": the one that
    comes second waits. One lock per municipality (sorted, so no deadlock) keeps the number of locks a
    transaction holds small whatever the number of records.
    """
    wanted = sorted(set(codes))
    if wanted:
        conn.execute(
            "SELECT count(pg_advisory_xact_lock(hashtextextended('vrs_current:' || m, 0)))"
            " FROM (SELECT value AS m FROM json_array_elements_text(%s::json) ORDER BY 1) AS s",
            (_json(wanted),),
        )


def current_for_vouchers(conn: Conn, vouchers: Iterable[tuple[str, str]]) -> Later[list[Version]]:
    """The current state of every dose of these (municipality_code, voucher_no)."""
    pairs = sorted(set(vouchers))
    if not pairs:
        return _ready([])
    cur = conn.execute(
        f"SELECT x.* FROM {_VOUCHER_SET} CROSS JOIN LATERAL (SELECT {_VERSION_COLUMNS} FROM vaccinations"
        f" WHERE municipality_code = k.m AND voucher_no = k.v {_PER_ROW}) AS x",
        (_json([{"m": p[0], "v": p[1]} for p in pairs]),),
    )
    return lambda: [_version(r) for r in cur]


def registrations_for_keys(conn: Conn, keys: Iterable[Key]) -> Later[list[tuple[Version, bool]]]:
    """Every registration ever recorded under these keys, each with whether a void names it (to restore
    the previous version when a void removes the current one)."""
    ks = set(keys)
    if not ks:
        return _ready([])
    cur = conn.execute(
        f"SELECT x.* FROM {_KEY_SET} CROSS JOIN LATERAL (SELECT {_VERSION_COLUMNS}, EXISTS (SELECT 1"
        " FROM vaccination_history v WHERE v.voids_record_id = h.record_id) FROM vaccination_history h"
        f" WHERE op = 'register' AND municipality_code = k.m AND voucher_no = k.v AND dose = k.d {_PER_ROW}) AS x",
        (_keys_json(ks),),
    )
    return lambda: [(_version(r[:-1]), bool(r[-1])) for r in cur]


def voided_among(conn: Conn, record_ids: Sequence[str]) -> Later[set[str]]:
    """Which of these record ids a recorded void names."""
    if not record_ids:
        return _ready(set())
    cur = conn.execute(
        "SELECT x.voids FROM json_array_elements_text(%s::json) AS k(id) CROSS JOIN LATERAL (SELECT"
        f" voids_record_id::text AS voids FROM vaccination_history WHERE voids_record_id = k.id::uuid {_PER_ROW}) AS x",
        (_json(list(record_ids)),),
    )
    return lambda: {r[0] for r in cur}


def residents_for_vouchers(
    conn: Conn, vouchers: Iterable[tuple[str, str]]
) -> Later[dict[tuple[str, str], ResidentMatch]]:
    """The residents holding these vouchers, by (municipality_code, voucher_no)."""
    pairs = sorted(set(vouchers))
    if not pairs:
        return _ready({})
    cur = conn.execute(
        f"SELECT x.* FROM {_VOUCHER_SET} CROSS JOIN LATERAL (SELECT municipality_code, voucher_no, atena_no,"
        f" status FROM residents WHERE municipality_code = k.m AND voucher_no = k.v {_PER_ROW}) AS x",
        (_json([{"m": p[0], "v": p[1]} for p in pairs]),),
    )
    return lambda: {(r[0], r[1]): ResidentMatch(atena_no=r[2], status=r[3]) for r in cur}


def municipalities_with_residents(conn: Conn, codes: Iterable[str]) -> Later[set[str]]:
    """Which of these municipalities have uploaded any resident."""
    wanted = sorted(set(codes))
    if not wanted:
        return _ready(set())
    cur = conn.execute(
        "SELECT m FROM (SELECT value AS m FROM json_array_elements_text(%s::json)) AS s"
        " WHERE EXISTS (SELECT 1 FROM residents r WHERE r.municipality_code = s.m)",
        (_json(wanted),),
    )
    return lambda: {r[0] for r in cur}


def history_row(rec: Record, device_id: str | None, batch_seq: int | None) -> HistoryRow:
    """The history row of an accepted record."""
    return HistoryRow(
        municipality_code=rec.municipality_code, record_id=rec.record_id, op=rec.op, voucher_no=rec.voucher_no,
        dose=rec.dose, ticket_kind=rec.ticket_kind, status=rec.status, administered_on=rec.administered_on,
        venue_id=rec.venue_id, maker=rec.vaccine.maker, lot=rec.vaccine.lot, doctor=rec.doctor,
        read_source=rec.read.source, read_frames=rec.read.frames, scanned_at=rec.scanned_at,
        voids_record_id=rec.voids_record_id, device_id=device_id, batch_seq=batch_seq,
    )


# SQL types of the row fields; json_to_recordset with explicit types parses about three times faster
# than json_populate_recordset against the table's row type.
_SQL_TYPES = {
    "municipality_code": "text", "record_id": "uuid", "op": "text", "voucher_no": "text", "dose": "smallint",
    "ticket_kind": "text", "status": "text", "administered_on": "date", "venue_id": "text", "maker": "text",
    "lot": "text", "doctor": "text", "read_source": "text", "read_frames": "integer", "scanned_at": "timestamptz",
    "voids_record_id": "uuid", "device_id": "text", "batch_seq": "bigint", "atena_no": "text",
}
_HISTORY_COLUMNS = ", ".join(HistoryRow.__struct_fields__)
_CURRENT_COLUMNS = ", ".join(CurrentRow.__struct_fields__)


def _recordset(fields: tuple[str, ...]) -> str:
    return "json_to_recordset(%s::json) AS x(" + ", ".join(f"{f} {_SQL_TYPES[f]}" for f in fields) + ")"


_HISTORY_SET = _recordset(HistoryRow.__struct_fields__)
_CURRENT_SET = _recordset(CurrentRow.__struct_fields__)


def insert_history(conn: Conn, rows: Sequence[HistoryRow]) -> None:
    """Append accepted records to the history."""
    if rows:
        conn.execute(
            f"INSERT INTO vaccination_history ({_HISTORY_COLUMNS}) SELECT {_HISTORY_COLUMNS} FROM {_HISTORY_SET}",
            (_json(rows),),
        )


def write_current(
    conn: Conn, upserts: Sequence[CurrentRow], deletes: Sequence[Key], *, fresh: Collection[Key] = ()
) -> None:
    """Set the current version of keys, and remove keys that no longer have one.

    `fresh` names keys the caller saw without a current row under lock_municipalities: those rows are
    plainly inserted, which costs the server about half of an insert that must expect a conflict.
    """
    new_rows = [r for r in upserts if r.key in fresh] if fresh else []
    changed = [r for r in upserts if r.key not in fresh] if fresh else list(upserts)
    if new_rows:
        conn.execute(
            f"INSERT INTO vaccinations ({_CURRENT_COLUMNS}) SELECT {_CURRENT_COLUMNS} FROM {_CURRENT_SET}",
            (_json(new_rows),),
        )
    if changed:
        updates = ", ".join(f"{c} = excluded.{c}" for c in CurrentRow.__struct_fields__
                            if c not in ("municipality_code", "voucher_no", "dose"))
        conn.execute(
            f"INSERT INTO vaccinations ({_CURRENT_COLUMNS}) SELECT {_CURRENT_COLUMNS} FROM {_CURRENT_SET}"
            " ORDER BY municipality_code, voucher_no, dose"
            f" ON CONFLICT (municipality_code, voucher_no, dose) DO UPDATE SET {updates}, registered_at = now()",
            (_json(changed),),
        )
    if deletes:
        conn.execute(
            "DELETE FROM vaccinations WHERE (municipality_code, voucher_no, dose) IN"
            f" (SELECT m, v, d FROM {_KEY_SET})",
            (_keys_json(deletes),),
        )


def all_current(conn: Conn) -> list[Version]:
    """The whole current state (tests and recounts; the caller's scope decides what it sees)."""
    return [_version(r) for r in conn.execute(f"SELECT {_VERSION_COLUMNS} FROM vaccinations")]
