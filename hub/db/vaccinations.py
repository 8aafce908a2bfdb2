"""Queries over vaccination records: the dedup ledger, history, current state and resident matching.

Set-based: each function is one statement over arrays (``unnest``), so a group of thousands of records
costs a handful of round trips. They run inside a transaction the caller opened with hub.db.scoped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from hub.db.versions import Key, ResidentMatch, Version
from protocol.records import Record

Conn = psycopg.Connection[Any]

_VERSION_COLUMNS = (
    "record_id::text, municipality_code, voucher_no, dose, ticket_kind, status, administered_on, venue_id,"
    " maker, lot, doctor, read_source, scanned_at, device_id"
)


def _version(row: Sequence[Any]) -> Version:
    return Version(*row)


def claim_record_ids(conn: Conn, records: Iterable[tuple[str, str, str]]) -> set[str]:
    """Remember (record_id, municipality_code, op) for good; returns the ids not seen before.

    Sorted, so two workers claiming overlapping batches wait for each other instead of deadlocking; the
    second sees the first's ids as already seen once the first commits.
    """
    rows = sorted(records)
    if not rows:
        return set()
    cur = conn.execute(
        "INSERT INTO seen_records (record_id, municipality_code, op)"
        " SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[]) ORDER BY 1"
        " ON CONFLICT (record_id) DO NOTHING RETURNING record_id::text",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
    )
    return {r[0] for r in cur}


def registered_keys(conn: Conn, record_ids: Sequence[str]) -> dict[str, Key]:
    """Where each of these already recorded registrations lives (for voids naming them)."""
    if not record_ids:
        return {}
    cur = conn.execute(
        "SELECT record_id::text, municipality_code, voucher_no, dose FROM vaccination_history"
        " WHERE record_id = ANY(%s::uuid[]) AND op = 'register'",
        (list(record_ids),),
    )
    return {r[0]: (r[1], r[2], int(r[3])) for r in cur}


def _key_hash(key: Key) -> int:
    digest = hashlib.blake2b(f"{key[0]}:{key[1]}:{key[2]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_keys(conn: Conn, keys: Iterable[Key]) -> None:
    """Hold each current-state key for the rest of the transaction (sorted: no deadlock between workers)."""
    hashes = sorted({_key_hash(k) for k in keys})
    if hashes:
        conn.execute("SELECT count(pg_advisory_xact_lock(h)) FROM unnest(%s::bigint[]) AS h", (hashes,))


def current_for_vouchers(conn: Conn, vouchers: Iterable[tuple[str, str]]) -> list[Version]:
    """The current state of every dose of these (municipality_code, voucher_no)."""
    pairs = sorted(set(vouchers))
    if not pairs:
        return []
    cur = conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM vaccinations"
        " WHERE (municipality_code, voucher_no) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([p[0] for p in pairs], [p[1] for p in pairs]),
    )
    return [_version(r) for r in cur]


def registrations_for_keys(conn: Conn, keys: Iterable[Key]) -> list[Version]:
    """Every registration ever recorded under these keys (to restore one when a void removes the current)."""
    ks = sorted(set(keys))
    if not ks:
        return []
    cur = conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM vaccination_history WHERE op = 'register'"
        " AND (municipality_code, voucher_no, dose) IN"
        " (SELECT * FROM unnest(%s::text[], %s::text[], %s::smallint[]))",
        ([k[0] for k in ks], [k[1] for k in ks], [k[2] for k in ks]),
    )
    return [_version(r) for r in cur]


def voided_among(conn: Conn, record_ids: Sequence[str]) -> set[str]:
    """Which of these record ids a recorded void names."""
    if not record_ids:
        return set()
    cur = conn.execute(
        "SELECT voids_record_id::text FROM vaccination_history WHERE voids_record_id = ANY(%s::uuid[])",
        (list(record_ids),),
    )
    return {r[0] for r in cur}


def residents_for_vouchers(conn: Conn, vouchers: Iterable[tuple[str, str]]) -> dict[tuple[str, str], ResidentMatch]:
    """The residents holding these vouchers, by (municipality_code, voucher_no)."""
    pairs = sorted(set(vouchers))
    if not pairs:
        return {}
    cur = conn.execute(
        "SELECT municipality_code, voucher_no, atena_no, status FROM residents"
        " WHERE (municipality_code, voucher_no) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([p[0] for p in pairs], [p[1] for p in pairs]),
    )
    return {(r[0], r[1]): ResidentMatch(atena_no=r[2], status=r[3]) for r in cur}


def municipalities_with_residents(conn: Conn, codes: Iterable[str]) -> set[str]:
    """Which of these municipalities have uploaded any resident."""
    wanted = sorted(set(codes))
    if not wanted:
        return set()
    cur = conn.execute(
        "SELECT m FROM unnest(%s::text[]) AS m WHERE EXISTS (SELECT 1 FROM residents r WHERE r.municipality_code = m)",
        (wanted,),
    )
    return {r[0] for r in cur}


def insert_history(conn: Conn, records: Sequence[tuple[Record, str | None, int | None]]) -> None:
    """Append accepted records (with the device and batch they came in) to the history."""
    if not records:
        return
    cols: list[list[Any]] = [[] for _ in range(18)]
    for rec, device_id, batch_seq in records:
        values = (
            rec.municipality_code, rec.record_id, rec.op, rec.voucher_no, rec.dose, rec.ticket_kind, rec.status,
            rec.administered_on, rec.venue_id, rec.vaccine.maker, rec.vaccine.lot, rec.doctor, rec.read.source,
            rec.read.frames, rec.scanned_at, rec.voids_record_id, device_id, batch_seq,
        )
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    conn.execute(
        "INSERT INTO vaccination_history (municipality_code, record_id, op, voucher_no, dose, ticket_kind,"
        " status, administered_on, venue_id, maker, lot, doctor, read_source, read_frames, scanned_at,"
        " voids_record_id, device_id, batch_seq)"
        " SELECT * FROM unnest(%s::text[], %s::uuid[], %s::text[], %s::text[], %s::smallint[], %s::text[],"
        " %s::text[], %s::date[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::integer[],"
        " %s::timestamptz[], %s::uuid[], %s::text[], %s::bigint[])",
        cols,
    )


def write_current(conn: Conn, upserts: Sequence[tuple[Version, str | None]], deletes: Sequence[Key]) -> None:
    """Set the current version (with its matched resident's 宛名番号, or None) of keys, and remove keys."""
    if upserts:
        rows = sorted(upserts, key=lambda u: u[0].key)
        cols: list[list[Any]] = [[] for _ in range(15)]
        for v, atena_no in rows:
            values = (
                v.municipality_code, v.voucher_no, v.dose, v.record_id, v.ticket_kind, v.status, v.administered_on,
                v.venue_id, v.maker, v.lot, v.doctor, v.read_source, v.scanned_at, v.device_id, atena_no,
            )
            for col, value in zip(cols, values, strict=True):
                col.append(value)
        conn.execute(
            "INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, ticket_kind, status,"
            " administered_on, venue_id, maker, lot, doctor, read_source, scanned_at, device_id, atena_no)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::smallint[], %s::uuid[], %s::text[], %s::text[],"
            " %s::date[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],"
            " %s::text[], %s::text[])"
            " ON CONFLICT (municipality_code, voucher_no, dose) DO UPDATE SET record_id = excluded.record_id,"
            " ticket_kind = excluded.ticket_kind, status = excluded.status,"
            " administered_on = excluded.administered_on, venue_id = excluded.venue_id, maker = excluded.maker,"
            " lot = excluded.lot, doctor = excluded.doctor, read_source = excluded.read_source,"
            " scanned_at = excluded.scanned_at, device_id = excluded.device_id, atena_no = excluded.atena_no,"
            " registered_at = now()",
            cols,
        )
    if deletes:
        ks = sorted(deletes)
        conn.execute(
            "DELETE FROM vaccinations WHERE (municipality_code, voucher_no, dose) IN"
            " (SELECT * FROM unnest(%s::text[], %s::text[], %s::smallint[]))",
            ([k[0] for k in ks], [k[1] for k in ks], [k[2] for k in ks]),
        )


def all_current(conn: Conn) -> list[Version]:
    """The whole current state (tests and recounts; the caller's scope decides what it sees)."""
    return [_version(r) for r in conn.execute(f"SELECT {_VERSION_COLUMNS} FROM vaccinations")]
