"""The outbox: a committed record survives anything short of the disk dying, and leaves only on a hub answer."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

import pytest

from edge.queue.backoff import Backoff
from edge.queue.batching import SendWindow, SentBatch, take_batch
from edge.queue.outbox import Outbox, OutboxError, PendingEntry
from edge.queue.records import Preset, PresetError, ScanRefused, build_record, build_void, check_preset
from protocol import Voucher
from protocol.records import JST, Ack, AckWarning, Rejection

NOW = datetime.datetime(2021, 6, 1, 9, 15, tzinfo=JST)
PRESET = Preset(venue_id="v-131016-001", maker="pfizer", lot="FA1234", doctor="山田 太郎")


def voucher(no: int, dose: int = 1, municipality: str = "131016") -> Voucher:
    return Voucher(municipality_code=municipality, voucher_no=f"{no:010d}", dose=dose, ticket_kind="1")


def record(no: int, *, at: datetime.datetime = NOW, dose: int = 1, preset: Preset = PRESET):
    return build_record(voucher(no, dose), preset, source="ocr", frames=3, scanned_at=at)


@pytest.fixture
def outbox(tmp_path: Path):
    box = Outbox(tmp_path / "outbox.sqlite")
    yield box
    box.close()


def ack(accepted=(), rejected=(), warnings=(), seq=1) -> Ack:
    return Ack(batch_seq=seq, accepted=list(accepted), rejected=list(rejected), warnings=list(warnings))


def test_a_committed_record_is_there_after_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    r = record(1)
    box.append(r)
    box.close()  # nothing flushed by hand: append already committed

    again = Outbox(tmp_path / "o.sqlite")
    assert again.depth() == 1
    assert again.record(r.record_id) == r
    [pending] = again.pending_after(0, 10)
    assert pending.record_id == r.record_id
    again.close()


def test_the_database_is_wal_with_full_sync(outbox: Outbox) -> None:
    conn = sqlite3.connect(outbox.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_records_wait_in_scan_order(outbox: Outbox) -> None:
    records = [record(i) for i in range(5)]
    for r in records:
        outbox.append(r)
    pending = outbox.pending_after(0, 3)
    assert [p.record_id for p in pending] == [r.record_id for r in records[:3]]
    rest = outbox.pending_after(pending[-1].seq, 10)
    assert [p.record_id for p in rest] == [r.record_id for r in records[3:]]


def test_an_accepted_record_leaves_and_a_repeated_ack_changes_nothing(outbox: Outbox) -> None:
    a, b = record(1), record(2)
    outbox.append_many([a, b])
    result = outbox.apply_ack(ack(accepted=[a.record_id]), NOW)
    assert result.accepted == (a.record_id,)
    assert outbox.pending_ids() == [b.record_id]
    assert outbox.entry(a.record_id).state == "accepted"
    assert outbox.apply_ack(ack(accepted=[a.record_id]), NOW).accepted == ()
    assert outbox.depth() == 1


def test_an_ack_naming_unknown_records_changes_nothing(outbox: Outbox) -> None:
    a = record(1)
    outbox.append(a)
    result = outbox.apply_ack(ack(accepted=["01890000-0000-7000-8000-000000000000"],
                                  rejected=[Rejection(record_id="nope", reason="invalid_field")]), NOW)
    assert result.accepted == () and result.rejected == ()
    assert outbox.pending_ids() == [a.record_id]
    assert outbox.rejections() == []


def test_a_rejected_record_is_kept_for_staff_with_its_reason(outbox: Outbox) -> None:
    a = record(1)
    outbox.append(a)
    result = outbox.apply_ack(ack(rejected=[Rejection(record_id=a.record_id, reason="venue_mismatch")]), NOW)
    assert [r.reason for r in result.rejected] == ["venue_mismatch"]
    assert outbox.depth() == 0
    [kept] = outbox.rejections()
    assert kept.record == a and kept.reason == "venue_mismatch"
    assert outbox.entry(a.record_id).state == "rejected"
    # A refused record does not count for the day, and the same voucher may be scanned again.
    assert outbox.count_day(NOW.date()) == {}
    assert outbox.registered_today(a.municipality_code, a.voucher_no, a.dose, NOW.date()) is None


def test_warnings_are_kept_once_and_shown_with_their_record(outbox: Outbox) -> None:
    a = record(1, dose=2)
    outbox.append(a)
    w = AckWarning(record_id=a.record_id, code="dose_interval_short", detail="14 days after dose 1")
    assert outbox.apply_ack(ack(accepted=[a.record_id], warnings=[w]), NOW).warnings == (w,)
    assert outbox.apply_ack(ack(accepted=[a.record_id], warnings=[w]), NOW).warnings == ()
    assert outbox.warnings() == [w]
    assert outbox.entry(a.record_id).warnings == (w,)


def test_count_and_duplicates_follow_the_japan_day_and_voids(outbox: Outbox) -> None:
    late_utc = datetime.datetime(2021, 6, 1, 16, 0, tzinfo=datetime.UTC)  # 01:00 on 2 June in Japan
    a = record(1)
    b = build_record(voucher(2), PRESET, source="qr", frames=1, scanned_at=late_utc)
    screened = record(3, preset=Preset(**{**_fields(PRESET), "status": "screened_only"}))
    outbox.append_many([a, b, screened])
    day = datetime.date(2021, 6, 1)
    assert outbox.count_day(day) == {"vaccinated": 1, "screened_only": 1}
    assert outbox.count_day(datetime.date(2021, 6, 2)) == {"vaccinated": 1}
    assert outbox.registered_today("131016", a.voucher_no, 1, day).record_id == a.record_id
    assert outbox.registered_today("131016", a.voucher_no, 2, day) is None

    void = build_void(a, scanned_at=NOW + datetime.timedelta(minutes=1))
    outbox.append(void)
    assert outbox.entry(a.record_id).voided_by == void.record_id
    assert outbox.count_day(day) == {"screened_only": 1}
    assert outbox.registered_today("131016", a.voucher_no, 1, day) is None
    assert outbox.depth() == 4  # the void goes to the hub too, after the record it cancels
    assert outbox.pending_ids()[-1] == void.record_id

    # If the hub refuses the void, the scan it meant to cancel still stands.
    outbox.apply_ack(ack(rejected=[Rejection(record_id=void.record_id, reason="invalid_field")]), NOW)
    assert outbox.entry(a.record_id).voided_by is None
    assert outbox.count_day(day)["vaccinated"] == 1


def test_recent_lists_newest_first(outbox: Outbox) -> None:
    records = [record(i, at=NOW + datetime.timedelta(seconds=i)) for i in range(4)]
    outbox.append_many(records)
    assert [e.record_id for e in outbox.recent(3)] == [r.record_id for r in reversed(records)][:3]
    assert outbox.last_scan_at() == records[-1].scanned_at


def test_batch_numbers_rise_across_restarts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    assert [box.next_batch_seq() for _ in range(3)] == [1, 2, 3]
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert again.next_batch_seq() == 4
    again.close()


def test_a_record_id_is_stored_once(outbox: Outbox) -> None:
    a = record(1)
    outbox.append(a)
    with pytest.raises(OutboxError):
        outbox.append(a)
    assert outbox.depth() == 1


def test_an_unusable_path_is_an_outbox_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(OutboxError, match=r"dir\.sqlite"):
        Outbox(tmp_path / "dir.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxError):
        Outbox(tmp_path / "junk.sqlite")


# -- making records ---------------------------------------------------------------------------------


def _fields(preset: Preset) -> dict[str, object]:
    return {f: getattr(preset, f) for f in preset.__struct_fields__}


def test_a_record_carries_the_voucher_and_the_preset() -> None:
    r = record(42, dose=2)
    assert (r.municipality_code, r.voucher_no, r.dose, r.ticket_kind) == ("131016", "0000000042", 2, "1")
    assert (r.venue_id, r.vaccine.maker, r.vaccine.lot, r.doctor) == ("v-131016-001", "pfizer", "FA1234", "山田 太郎")
    assert r.administered_on == datetime.date(2021, 6, 1) and r.op == "register" and r.status == "vaccinated"
    assert r.read.source == "ocr" and r.read.frames == 3


def test_an_unstated_dose_needs_staff_or_the_preset() -> None:
    nw7 = Voucher(municipality_code="131016", voucher_no="0000000001", dose=0, ticket_kind=None,
                  source_municipality_preset=True)
    with pytest.raises(ScanRefused) as refused:
        build_record(nw7, PRESET, source="nw7", frames=2, scanned_at=NOW)
    assert refused.value.code == "dose_unknown"
    assert build_record(nw7, PRESET, source="nw7", frames=2, scanned_at=NOW, dose=3).dose == 3
    with_default = Preset(**{**_fields(PRESET), "unstated_dose": 2})
    assert build_record(nw7, with_default, source="nw7", frames=2, scanned_at=NOW).dose == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lot": ""}, "lot"),
        ({"lot": "X" * 33}, "lot"),
        ({"doctor": " "}, "doctor"),
        ({"venue_id": "会場1"}, "venue_id"),
        ({"venue_id": ".."}, "venue_id"),
        ({"administered_on": datetime.date(2021, 6, 2)}, "administered_on"),
        ({"administered_on": datetime.date(2020, 12, 31)}, "administered_on"),
        ({"unstated_dose": 0}, "unstated_dose"),
    ],
)
def test_a_bad_preset_names_its_field(change: dict[str, object], field: str) -> None:
    bad = Preset(**{**_fields(PRESET), **change})
    with pytest.raises(PresetError) as error:
        check_preset(bad, NOW.date())
    assert error.value.field == field
    with pytest.raises(PresetError):
        record(1, preset=bad)


def test_control_characters_never_reach_the_outbox() -> None:
    bad = Preset(**{**_fields(PRESET), "doctor": "山田\x00太郎"})
    with pytest.raises(PresetError) as error:
        record(1, preset=bad)
    assert error.value.field == "doctor"


def test_a_record_the_hub_would_refuse_is_refused_here() -> None:
    unknown = Voucher(municipality_code="271276", voucher_no="0000000001", dose=1, ticket_kind="1")  # a ward
    with pytest.raises(ScanRefused) as refused:
        build_record(unknown, PRESET, source="ocr", frames=2, scanned_at=NOW)
    assert refused.value.code == "invalid_record" and "municipality" in refused.value.detail


def test_a_void_repeats_the_key_and_names_the_record() -> None:
    r = record(7, dose=2)
    v = build_void(r, scanned_at=NOW + datetime.timedelta(minutes=3))
    assert v.op == "void" and v.voids_record_id == r.record_id and v.record_id != r.record_id
    assert (v.municipality_code, v.voucher_no, v.dose) == (r.municipality_code, r.voucher_no, r.dose)
    assert v.read.source == "manual"
    with pytest.raises(ScanRefused):
        build_void(v, scanned_at=NOW)


# -- batching and backoff (pure) --------------------------------------------------------------------


def entries(n: int, size: int = 500) -> list[PendingEntry]:
    return [PendingEntry(i + 1, f"id{i}", b"x" * size) for i in range(n)]


def test_a_batch_takes_up_to_the_record_and_byte_limits() -> None:
    assert len(take_batch(entries(450), max_records=200)) == 200
    assert len(take_batch(entries(1), max_records=200)) == 1
    assert take_batch([], max_records=200) == []
    assert len(take_batch(entries(50, size=1000), max_records=200, max_bytes=10_000)) == 9
    # One oversized record still goes (alone) rather than blocking the queue forever.
    assert len(take_batch(entries(3, size=50_000), max_records=200, max_bytes=10_000)) == 1


def test_the_window_goes_back_on_timeout_or_a_partial_answer() -> None:
    window = SendWindow(2)
    window.sent(SentBatch(batch_seq=1, record_ids=("a", "b"), last_seq=2, deadline=10.0))
    window.sent(SentBatch(batch_seq=2, record_ids=("c",), last_seq=3, deadline=11.0))
    assert window.full and window.cursor == 3 and window.next_deadline() == 10.0
    window.answered(1, {"a", "b"})
    assert not window.full and window.cursor == 3
    assert not window.expired(10.5) and window.expired(11.0)
    window.answered(2, set())  # the hub answered for none of it: send again from the oldest
    assert window.cursor == 0 and window.in_flight == 0
    window.answered(99, {"zz"})  # a late ack of a forgotten batch changes nothing
    assert window.cursor == 0


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    class Fast(Backoff):
        INITIAL, FACTOR, CAP, JITTER = 1.0, 2.0, 5.0, 0.5

    b = Fast()
    delays = [b.next_delay() for _ in range(6)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and 2.0 <= delays[2] <= 4.0
    assert all(2.5 <= d <= 5.0 for d in delays[3:])
    b.reset()
    assert b.next_delay() <= 1.0


def test_pruning_forgets_only_old_answered_records(outbox: Outbox) -> None:
    old_ok, old_refused, old_pending, recent = (record(i, at=NOW - datetime.timedelta(days=d))
                                                for i, d in ((1, 100), (2, 100), (3, 100), (4, 1)))
    outbox.append_many([old_ok, old_refused, old_pending, recent])
    outbox.apply_ack(ack(accepted=[old_ok.record_id, recent.record_id],
                         rejected=[Rejection(record_id=old_refused.record_id, reason="invalid_field")],
                         warnings=[AckWarning(record_id=old_ok.record_id, code="dose_order")]), NOW)
    assert outbox.prune(NOW.date() - datetime.timedelta(days=90)) == 2
    assert outbox.entry(old_ok.record_id) is None and outbox.warnings() == []
    assert outbox.entry(old_pending.record_id) is not None and outbox.pending_ids() == [old_pending.record_id]
    assert outbox.entry(recent.record_id) is not None
    assert [r.record_id for r in outbox.rejections()] == [old_refused.record_id]  # kept for staff


def test_a_full_disk_is_an_outbox_error_and_nothing_half_written(outbox: Outbox) -> None:
    outbox.append(record(1))
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
    outbox._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(OutboxError, match="full"):
        outbox.append_many([record(i) for i in range(2, 200)])
    assert outbox.depth() == 1 and len(outbox.recent(500)) == 1


def test_order_follows_the_instant_whatever_offset_a_record_carries(outbox: Outbox) -> None:
    jst_first = record(1, at=datetime.datetime(2021, 6, 1, 9, 0, tzinfo=JST))
    utc_later = record(2, at=datetime.datetime(2021, 6, 1, 0, 30, tzinfo=datetime.UTC))  # 09:30 in Japan
    outbox.append_many([utc_later, jst_first])
    assert [e.voucher_no for e in outbox.recent()] == ["0000000002", "0000000001"]
    assert outbox.last_scan_at() == utc_later.scanned_at
