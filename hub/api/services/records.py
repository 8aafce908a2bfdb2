"""Dose records changed by a municipality: file import, correction of any field with a reason, deletion.

Every change is a new row in the append-only history (the old version stays there), the current state
and the hourly aggregates move with it exactly as an ingest would move them, and a person's change is an
audit row carrying the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import psycopg

from hub.api.errors import InvalidInput, NotFound
from hub.db import aggregates, audit, certificates, vaccinations
from hub.db import records as records_db
from hub.db import residents as residents_db
from hub.db.versions import Key, Version, aggregate_deltas, version_of
from hub.files import FileFormatError, ImportedRecord, ImportSetupError, ProgressCallback, scan_records
from hub.files.encoding import BinaryReader
from protocol.records import (
    FIRST_VACCINATION_DAY,
    MAKER_LABELS,
    MAX_DOCTOR_LENGTH,
    MAX_LOT_LENGTH,
    ReadInfo,
    Record,
    Vaccine,
    new_record_id,
)

APPLY_CHUNK = 5000
MAX_REASON_LENGTH = 500


class RecordImportResult(msgspec.Struct):
    """What a record import did (nothing at all unless ``ok`` and not a dry run)."""

    ok: bool
    applied: bool
    dry_run: bool
    encoding: str
    rows: int
    error_count: int
    errors: list[str]
    registered: int = 0
    unmatched: int = 0
    unknown_venues: list[str] = msgspec.field(default_factory=list)


class _Discard(Exception):
    """Leave the import's savepoint without keeping anything."""


def _matches(conn: psycopg.Connection[Any], keys: Iterable[Key]) -> dict[tuple[str, str], str]:
    found = vaccinations.residents_for_vouchers(conn, {(k[0], k[1]) for k in keys})()
    return {pair: m.atena_no for pair, m in found.items()}


def _apply(conn: psycopg.Connection[Any], registers: Sequence[Record], voids: Sequence[Record],
           removed: Sequence[Key]) -> dict[tuple[str, str], str]:
    """Write history rows, move the current state and the aggregates; returns the resident matches."""
    keys = {(r.municipality_code, r.voucher_no, r.dose) for r in registers} | set(removed)
    vaccinations.lock_municipalities(conn, {k[0] for k in keys})
    before_list = vaccinations.current_for_vouchers(conn, {(k[0], k[1]) for k in keys})()
    before: dict[Key, Version | None] = {v.key: v for v in before_list if v.key in keys}
    after: dict[Key, Version | None] = {k: before.get(k) for k in keys}
    for k in removed:
        after[k] = None
    for r in registers:
        after[(r.municipality_code, r.voucher_no, r.dose)] = version_of(r, None)
    all_records = [*voids, *registers]
    vaccinations.claim_record_ids(conn, [(r.record_id, r.municipality_code, r.op) for r in all_records])()
    vaccinations.insert_history(conn, [vaccinations.history_row(r, None, None) for r in all_records])
    matches = _matches(conn, keys)
    upserts = [
        vaccinations.CurrentRow(**msgspec.structs.asdict(v), atena_no=matches.get((v.municipality_code, v.voucher_no)))
        for v in after.values() if v is not None
    ]
    deletes = [k for k, v in after.items() if v is None and before.get(k) is not None]
    vaccinations.write_current(conn, upserts, deletes)
    # A certificate listing a record that was overwritten, corrected or deleted no longer tells the truth.
    certificates.revoke_for_records(conn, [k for k, v in after.items() if before.get(k) is not None
                                           and v != before.get(k)])
    aggregates.apply_deltas(conn, aggregate_deltas(before, after))
    for code in {k[0] for k in keys}:
        residents_db.forget_coverage(conn, code)
    return matches


def _record_of(row: ImportedRecord, venue_id: str, now: dt.datetime) -> Record:
    return Record(
        record_id=new_record_id(), op="register", municipality_code=row.municipality_code,
        voucher_no=row.voucher_no, ticket_kind=None, dose=row.dose, status=row.status,
        administered_on=row.administered_on, venue_id=venue_id,
        vaccine=Vaccine(maker=row.maker or "other", lot=row.lot), doctor=row.doctor,
        read=ReadInfo(source="import", frames=0), scanned_at=now,
    )


def import_records(
    conn: psycopg.Connection[Any], *, municipality_code: str, stream: BinaryReader, dry_run: bool, today: dt.date,
    now: dt.datetime, actor: str, filename: str = "", progress: ProgressCallback | None = None,
    total_bytes: int | None = None,
) -> RecordImportResult:
    """Import a record file (DESIGN.md record-import layout) into the caller's municipality, all or nothing."""
    result = RecordImportResult(ok=False, applied=False, dry_run=dry_run, encoding="", rows=0, error_count=0,
                                errors=[])
    try:
        scan = scan_records(stream, municipality_code=municipality_code, today=today, progress=progress,
                            total_bytes=total_bytes)
        # A later line for the same voucher and dose overwrites an earlier one, as a later scan would.
        rows: dict[Key, ImportedRecord] = {}
        for row in scan:
            rows[(row.municipality_code, row.voucher_no, row.dose)] = row
        report = scan.report
    except FileFormatError as exc:
        result.errors, result.error_count = [str(exc)], 1
        return result
    except ImportSetupError as exc:
        result.errors, result.error_count = [str(exc)], 1
        return result
    result.encoding, result.rows = report.encoding, report.rows
    if not report.ok:
        result.errors, result.error_count = report.messages(), report.error_count
        return result
    venues = records_db.resolve_venues(conn, municipality_code, {r.venue for r in rows.values()})
    result.unknown_venues = sorted({r.venue for r in rows.values()} - venues.keys())
    result.ok = True
    try:
        with conn.transaction():
            ordered = sorted(rows.values(), key=lambda r: r.line)
            for start in range(0, len(ordered), APPLY_CHUNK):
                chunk = [_record_of(r, venues.get(r.venue, r.venue), now) for r in ordered[start:start + APPLY_CHUNK]]
                matches = _apply(conn, chunk, [], [])
                result.registered += len(chunk)
                result.unmatched += sum(1 for r in chunk if (r.municipality_code, r.voucher_no) not in matches)
            if dry_run:
                raise _Discard()
    except _Discard:
        return result
    result.applied = True
    audit.write(conn, municipality_code, actor=actor, action="import_records", target=filename,
                details={"rows": result.rows, "registered": result.registered, "unmatched": result.unmatched,
                         "unknown_venues": result.unknown_venues[:20]})
    return result


class CorrectionInput(msgspec.Struct, kw_only=True):
    """A correction: any field may change; the reason is required. None means "keep as it is"."""

    reason: str
    voucher_no: str | None = None
    dose: int | None = None
    status: str | None = None
    administered_on: dt.date | None = None
    venue_id: str | None = None
    maker: str | None = None
    lot: str | None = None
    doctor: str | None = None


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput(["理由 (reason): a reason is required for every correction"])
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput([f"理由 (reason): at most {MAX_REASON_LENGTH} characters"])
    return reason


def _corrected(cur: Version, c: CorrectionInput, today: dt.date, now: dt.datetime) -> Record:
    problems: list[str] = []
    voucher = cur.voucher_no if c.voucher_no is None else c.voucher_no.strip()
    if not (len(voucher) == 10 and voucher.isascii() and voucher.isdigit()):
        problems.append("接種券番号 (voucher_no): must be 10 digits")
    dose = cur.dose if c.dose is None else c.dose
    if not 1 <= dose <= 9:
        problems.append("接種回数 (dose): must be 1-9")
    status = cur.status if c.status is None else c.status
    if status not in ("vaccinated", "screened_only"):
        problems.append("接種状況 (status): vaccinated or screened_only")
    day = cur.administered_on if c.administered_on is None else c.administered_on
    if day > today:
        problems.append(f"接種日 (administered_on): {day.isoformat()} is in the future")
    elif day < FIRST_VACCINATION_DAY:
        problems.append(f"接種日 (administered_on): {day.isoformat()} is before {FIRST_VACCINATION_DAY.isoformat()}")
    venue = cur.venue_id if c.venue_id is None else c.venue_id.strip()
    if not 1 <= len(venue) <= 100:
        problems.append("接種会場 (venue_id): 1-100 characters")
    maker = cur.maker if c.maker is None else c.maker
    if maker not in MAKER_LABELS:
        problems.append(f"ワクチンメーカー (maker): one of {', '.join(MAKER_LABELS)}")
    lot = cur.lot if c.lot is None else c.lot.strip()
    if len(lot) > MAX_LOT_LENGTH:
        problems.append(f"ロット番号 (lot): at most {MAX_LOT_LENGTH} characters")
    doctor = cur.doctor if c.doctor is None else c.doctor.strip()
    if len(doctor) > MAX_DOCTOR_LENGTH:
        problems.append(f"医師名 (doctor): at most {MAX_DOCTOR_LENGTH} characters")
    if any(ch < " " for ch in venue + lot + doctor):
        problems.append("text fields may not hold control characters")
    if problems:
        raise InvalidInput(problems)
    return Record(
        record_id=new_record_id(), op="register", municipality_code=cur.municipality_code, voucher_no=voucher,
        ticket_kind=cur.ticket_kind if voucher == cur.voucher_no else None, dose=dose,
        status=status, administered_on=day, venue_id=venue,  # type: ignore[arg-type]  # checked above
        vaccine=Vaccine(maker=maker, lot=lot),  # type: ignore[arg-type]  # checked above
        doctor=doctor, read=ReadInfo(source="manual", frames=0), scanned_at=now,
    )


def _void(v: Version, now: dt.datetime) -> Record:
    return Record(
        record_id=new_record_id(), op="void", municipality_code=v.municipality_code, voucher_no=v.voucher_no,
        ticket_kind=v.ticket_kind, dose=v.dose, status=v.status,  # type: ignore[arg-type]  # from the table
        administered_on=v.administered_on, venue_id=v.venue_id,
        vaccine=Vaccine(maker=v.maker, lot=v.lot),  # type: ignore[arg-type]  # from the table's CHECK
        doctor=v.doctor, read=ReadInfo(source="manual", frames=0), scanned_at=now, voids_record_id=v.record_id,
    )


def _current(conn: psycopg.Connection[Any], key: Key) -> Version:
    vaccinations.lock_municipalities(conn, [key[0]])
    for v in vaccinations.current_for_vouchers(conn, [(key[0], key[1])])():
        if v.key == key:
            return v
    raise NotFound("no such record")


class CorrectionDone(msgspec.Struct):
    """The result of a correction or deletion."""

    kind: str
    old_record_id: str
    new_record_id: str | None
    municipality_code: str
    voucher_no: str
    dose: int


def correct_record(conn: psycopg.Connection[Any], key: Key, change: CorrectionInput, *, actor: str, today: dt.date,
                   now: dt.datetime) -> CorrectionDone:
    """Replace the current version of `key` by a corrected one; the old one stays in the history."""
    reason = _check_reason(change.reason)
    cur = _current(conn, key)
    new = _corrected(cur, change, today, now)
    new_key = (new.municipality_code, new.voucher_no, new.dose)
    changed = {
        f: [str(getattr(cur, f)), str(getattr(new, f) if f not in ("maker", "lot") else getattr(new.vaccine, f))]
        for f in ("voucher_no", "dose", "status", "administered_on", "venue_id", "maker", "lot", "doctor")
    }
    changed = {f: ov for f, ov in changed.items() if ov[0] != ov[1]}
    if not changed:
        raise InvalidInput(["nothing to correct: every field is as before"])
    voids: list[Record] = []
    removed: list[Key] = []
    if new_key != key:
        if any(v.key == new_key for v in vaccinations.current_for_vouchers(conn, [(new_key[0], new_key[1])])()):
            raise InvalidInput([f"接種券番号 {new.voucher_no} already has a dose {new.dose} record; correct or delete"
                                " that one first"])
        # Moving a record to another key: every live registration of the old key goes, or a later void
        # of the newest one would bring an older one back.
        voids = [_void(v, now) for v in records_db.live_registrations(conn, key)]
        removed = [key]
    _apply(conn, [new], voids, removed)
    records_db.add_correction(conn, key[0], new.record_id, cur.record_id, "correct", reason, actor, now)
    audit.write(conn, key[0], actor=actor, action="correct_record", target=f"{key[1]}/{key[2]}",
                details={"reason": reason, "old_record_id": cur.record_id, "new_record_id": new.record_id,
                         "changed": changed})
    return CorrectionDone(kind="correct", old_record_id=cur.record_id, new_record_id=new.record_id,
                          municipality_code=key[0], voucher_no=new.voucher_no, dose=new.dose)


def delete_record(conn: psycopg.Connection[Any], key: Key, reason: str, *, actor: str,
                  now: dt.datetime) -> CorrectionDone:
    """Delete the dose record of `key` as a correction: voids in the history, gone from the current state."""
    reason = _check_reason(reason)
    cur = _current(conn, key)
    voids = [_void(v, now) for v in records_db.live_registrations(conn, key)]
    _apply(conn, [], voids, [key])
    for v in voids:
        records_db.add_correction(conn, key[0], v.record_id, v.voids_record_id, "delete", reason, actor, now)
    audit.write(conn, key[0], actor=actor, action="delete_record", target=f"{key[1]}/{key[2]}",
                details={"reason": reason, "old_record_id": cur.record_id})
    return CorrectionDone(kind="delete", old_record_id=cur.record_id, new_record_id=None,
                          municipality_code=key[0], voucher_no=key[1], dose=key[2])
