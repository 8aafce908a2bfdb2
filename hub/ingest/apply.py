"""Apply a group of verified batches in one database transaction and compute each batch's ack.

Within the transaction: void checks, the dedup claim of every record_id, municipality locks, the current
state before and after, history inserts, current-state writes, aggregate deltas, warnings, each
station's last batch seq. The acks returned must only be published after this function returned (the
commit happened): a station deletes what an ack lists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import psycopg

from hub.db import aggregates, certificates, devices, vaccinations
from hub.db.scoped import Scope, scoped
from hub.db.versions import Key, Version, aggregate_deltas, latest, version_of
from hub.ingest.dose_warnings import RecordWarning, dose_warnings, resident_warnings
from hub.ingest.verify import CheckedBatch
from protocol.records import INVALID_FIELD, Ack, AckWarning, Record, Rejection


class GroupResult(msgspec.Struct):
    """What one transaction did: an ack per batch (same order) and counts for logs and benchmarks."""

    acks: list[Ack]
    new_records: int
    duplicates: int


def apply_group(
    conn: psycopg.Connection[Any], batches: Sequence[CheckedBatch], min_interval_days: Mapping[str, int]
) -> GroupResult:
    """Apply `batches` in one transaction on `conn` (a vrs_ingest connection) and commit."""
    with conn.pipeline(), scoped(conn, Scope.ingest()):
        return apply_in_transaction(conn, batches, min_interval_days)


def _key(r: Record) -> Key:
    return (r.municipality_code, r.voucher_no, r.dose)


def apply_in_transaction(
    conn: psycopg.Connection[Any], batches: Sequence[CheckedBatch], min_days: Mapping[str, int]
) -> GroupResult:
    """The work of apply_group inside a transaction the caller opened in the ingest scope.

    Statements are issued in a few phases whose results are read together, so in pipeline mode a group
    costs about three round trips to the server whatever its size (one more when it holds voids).
    """
    # One record may come in several batches of the group (a resend): the first occurrence counts.
    first: dict[str, tuple[Record, CheckedBatch]] = {}
    for batch in batches:
        for rec in batch.records:
            first.setdefault(rec.record_id, (rec, batch))
    records = [rec for rec, _ in first.values()]

    # A void must name its record's own voucher and dose; when the record is known, check that.
    group_registers = {r.record_id: r for r in records if r.op == "register"}
    voids = [r for r in records if r.op == "void"]
    known = vaccinations.registered_keys(
        conn, [r.voids_record_id for r in voids if r.voids_record_id and r.voids_record_id not in group_registers]
    )()
    bad: dict[str, str] = {}
    for void in voids:
        target = void.voids_record_id or ""
        target_key = _key(group_registers[target]) if target in group_registers else known.get(target)
        if target_key is not None and target_key != _key(void):
            bad[void.record_id] = INVALID_FIELD

    # Claim the ids, then hold the municipalities touched: a concurrent worker changing the same
    # vouchers waits here until this transaction ends, so "before" below is still true at commit.
    claimable = [r for r in records if r.record_id not in bad]
    claimed = vaccinations.claim_record_ids(conn, ((r.record_id, r.municipality_code, r.op) for r in claimable))
    vaccinations.lock_municipalities(conn, (r.municipality_code for r in claimable))
    # Read the state of every voucher the group names, sent behind the claim and the locks without waiting
    # for the claim's answer (which records are new): one round trip instead of two, for a little more read.
    vouchers = {(r.municipality_code, r.voucher_no) for r in claimable}
    current_later = vaccinations.current_for_vouchers(conn, vouchers)
    voided_later = vaccinations.voided_among(conn, [r.record_id for r in claimable if r.op == "register"])
    residents_later = vaccinations.residents_for_vouchers(conn, vouchers)
    uploaded_later = vaccinations.municipalities_with_residents(
        conn, {r.municipality_code for r in claimable if r.op == "register"})
    new_ids = claimed()
    new = [r for r in claimable if r.record_id in new_ids]
    device_of = {rid: batch.device_id for rid, (_, batch) in first.items()}
    new_registers = [version_of(r, device_of[r.record_id]) for r in new if r.op == "register"]
    new_voids = [r for r in new if r.op == "void"]

    keys = {v.key for v in new_registers} | {_key(r) for r in new_voids}
    current = {v.key: v for v in current_later()}
    voided = {r.voids_record_id for r in new_voids if r.voids_record_id} | voided_later()
    residents = residents_later()
    with_residents = uploaded_later()
    before: dict[Key, Version | None] = {k: current.get(k) for k in keys}

    # Only when a void removes the current version must the previous one be found in the history.
    restore = {k for k, v in before.items() if v is not None and v.record_id in voided}
    history: dict[Key, list[Version]] = defaultdict(list)
    for v, is_voided in vaccinations.registrations_for_keys(conn, restore)():
        history[v.key].append(v)
        if is_voided:
            voided.add(v.record_id)
    registers_by_key: dict[Key, list[Version]] = defaultdict(list)
    for v in new_registers:
        registers_by_key[v.key].append(v)
    after: dict[Key, Version | None] = {}
    for k in keys:
        base = history[k] if k in restore else [before[k]]
        after[k] = latest([*base, *registers_by_key[k]], voided)

    state: dict[Key, Version | None] = {**current, **after}
    warnings: dict[str, list[RecordWarning]] = {}
    for v in new_registers:
        found = dose_warnings(v, state, min_days)
        found += resident_warnings(v, residents.get((v.municipality_code, v.voucher_no)),
                                   v.municipality_code in with_residents)
        if found:
            warnings[v.record_id] = found

    vaccinations.insert_history(conn, [
        vaccinations.history_row(r, device_of[r.record_id], first[r.record_id][1].batch_seq) for r in new])
    upserts: list[vaccinations.CurrentRow] = []
    for k, now in after.items():
        if now is not None and now != before[k]:
            match = residents.get((now.municipality_code, now.voucher_no))
            upserts.append(vaccinations.CurrentRow(**msgspec.structs.asdict(now),
                                                   atena_no=match.atena_no if match else None))
    deletes = [k for k, now in after.items() if now is None and before[k] is not None]
    vaccinations.write_current(conn, upserts, deletes, fresh={k for k, v in before.items() if v is None})
    # A certificate listing a record that was overwritten or voided no longer tells the truth.
    certificates.revoke_for_records(conn, [k for k, now in after.items() if before[k] is not None and now != before[k]])
    aggregates.apply_deltas(conn, aggregate_deltas(before, after))
    last_seq: dict[str, int] = {}
    for batch in batches:
        last_seq[batch.device_id] = max(batch.batch_seq, last_seq.get(batch.device_id, batch.batch_seq))
    devices.note_batches(conn, last_seq)

    acks = []
    for batch in batches:
        ack = Ack(batch_seq=batch.batch_seq, accepted=[], rejected=list(batch.rejected), warnings=[])
        for rec in batch.records:
            if rec.record_id in bad:
                ack.rejected.append(Rejection(rec.record_id, bad[rec.record_id]))
                continue
            ack.accepted.append(rec.record_id)
            if first[rec.record_id][1] is batch:
                ack.warnings.extend(AckWarning(w.record_id, w.code, w.detail) for w in warnings.get(rec.record_id, ()))
        acks.append(ack)
    return GroupResult(acks=acks, new_records=len(new), duplicates=len(claimable) - len(new))
