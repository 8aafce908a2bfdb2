"""Record, batch and ack wire formats: every field rule, with "today" given rather than read."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import BatchError, RecordError
from protocol.records import (
    JST,
    MAKER_LABELS,
    MAX_RECORDS_PER_BATCH,
    MAX_TOKEN_BYTES,
    REASON_CODES,
    STATUS_LABELS,
    WARNING_CODES,
    Ack,
    AckWarning,
    Batch,
    ReadInfo,
    Record,
    Rejection,
    Vaccine,
    decode_ack,
    decode_batch,
    encode_ack,
    encode_batch,
    japan_today,
    new_record_id,
    peek_record_id,
    validate_record,
)

TODAY = datetime.date(2021, 6, 1)
RECORD_ID = "018f6d2e-7a3b-7c4d-8e5f-0123456789ab"
OTHER_ID = "018f6d2e-7a3b-7c4d-8e5f-0123456789ac"


def record_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "record_id": RECORD_ID,
        "op": "register",
        "municipality_code": "131016",
        "voucher_no": "0123456789",
        "ticket_kind": "1",
        "dose": 1,
        "status": "vaccinated",
        "administered_on": "2021-06-01",
        "venue_id": "v-131016-001",
        "vaccine": {"maker": "pfizer", "lot": "FA1234"},
        "doctor": "山田 太郎",
        "read": {"source": "ocr", "frames": 3},
        "scanned_at": "2021-06-01T09:14:58.120+09:00",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not _DROP}


_DROP = object()


def raw(**changes: Any) -> bytes:
    return msgspec.json.encode(record_fields(**changes))


def refused(payload: bytes, today: datetime.date = TODAY) -> RecordError:
    with pytest.raises(RecordError) as caught:
        validate_record(payload, today=today)
    return caught.value


def test_the_design_example_record_is_valid() -> None:
    record = validate_record(raw(), today=TODAY)
    assert record.municipality_code == "131016"
    assert record.vaccine == Vaccine(maker="pfizer", lot="FA1234")
    assert record.read == ReadInfo(source="ocr", frames=3)
    assert record.administered_on == TODAY
    assert record.scanned_at.utcoffset() == datetime.timedelta(hours=9)
    assert record.voids_record_id is None


def test_a_record_round_trips_and_omits_an_absent_void_target() -> None:
    record = validate_record(raw(), today=TODAY)
    encoded = msgspec.json.encode(record)
    assert b"voids_record_id" not in encoded
    assert validate_record(encoded, today=TODAY) == record
    assert validate_record(msgspec.Raw(encoded), today=TODAY) == record


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"record_id": "not-a-uuid"}, "record_id"),
        ({"record_id": RECORD_ID.upper()}, "record_id"),  # one id, one spelling
        ({"record_id": RECORD_ID.replace("-", "")}, "record_id"),
        ({"record_id": 42}, "record_id"),
        ({"op": "delete"}, "op"),
        ({"municipality_code": "13101"}, "municipality_code"),
        ({"municipality_code": "１３１０１６"}, "municipality_code"),
        ({"municipality_code": 131016}, "municipality_code"),
        ({"voucher_no": "012345678"}, "voucher_no"),
        ({"voucher_no": "01234567890"}, "voucher_no"),
        ({"voucher_no": "01234S6789"}, "voucher_no"),
        ({"ticket_kind": "12"}, "ticket_kind"),
        ({"ticket_kind": "a"}, "ticket_kind"),
        ({"dose": 0}, "dose"),
        ({"dose": 10}, "dose"),
        ({"dose": "1"}, "dose"),
        ({"dose": 1.0}, "dose"),
        ({"dose": True}, "dose"),
        ({"status": "接種済"}, "status"),
        ({"administered_on": "2021-02-30"}, "administered_on"),
        ({"administered_on": "20210601"}, "administered_on"),
        ({"administered_on": "2021-02-16"}, "administered_on"),  # before vaccination began in Japan
        ({"venue_id": ""}, "venue_id"),
        ({"venue_id": "v/131016"}, "venue_id"),
        ({"venue_id": "v+1"}, "venue_id"),
        ({"venue_id": "v#1"}, "venue_id"),
        ({"venue_id": "v" * 65}, "venue_id"),
        ({"venue_id": ".."}, "venue_id"),
        ({"vaccine": {"maker": "sinovac", "lot": "X"}}, "vaccine.maker"),
        ({"vaccine": {"maker": "pfizer", "lot": "L" * 33}}, "vaccine.lot"),
        ({"vaccine": {"maker": "pfizer", "lot": "FA\n1234"}}, "vaccine.lot"),
        ({"vaccine": {"maker": "pfizer"}}, "vaccine.lot"),
        ({"vaccine": "pfizer"}, "vaccine"),
        ({"doctor": "医" * 65}, "doctor"),
        ({"doctor": "山田\x00太郎"}, "doctor"),
        ({"read": {"source": "camera", "frames": 3}}, "read.source"),
        ({"read": {"source": "ocr", "frames": -1}}, "read.frames"),
        ({"scanned_at": "2021-06-01T09:14:58"}, "scanned_at"),  # no time zone
        ({"scanned_at": "yesterday"}, "scanned_at"),
        ({"op": "void"}, "voids_record_id"),
        ({"op": "void", "voids_record_id": RECORD_ID}, "voids_record_id"),
        ({"op": "void", "voids_record_id": "x"}, "voids_record_id"),
        ({"voids_record_id": OTHER_ID}, "voids_record_id"),  # a register cancels nothing
        ({"dose": _DROP}, "dose"),
        ({"record_id": _DROP}, "record_id"),
    ],
)
def test_every_field_rule_refuses_with_invalid_field(changes: dict[str, Any], field: str) -> None:
    error = refused(raw(**changes))
    assert error.code == "invalid_field"
    assert error.field == field
    assert error.detail


@pytest.mark.parametrize("code", ["131017", "271276", "999999"])
def test_codes_that_are_not_municipalities_are_refused(code: str) -> None:
    error = refused(raw(municipality_code=code))
    assert (error.code, error.field) == ("unknown_municipality", "municipality_code")


def test_an_unknown_field_is_refused_at_any_depth() -> None:
    top = refused(raw(extra="x"))
    assert (top.code, top.field) == ("invalid_field", "extra")
    nested = refused(raw(vaccine={"maker": "pfizer", "lot": "FA1234", "dose_ml": 0.3}))
    assert (nested.code, nested.field) == ("invalid_field", "vaccine.dose_ml")


def test_administered_after_today_is_a_future_date() -> None:
    error = refused(raw(administered_on="2021-06-02", scanned_at="2021-06-02T09:00:00+09:00"))
    assert (error.code, error.field) == ("future_date", "administered_on")
    # The same record is fine once that day has come: the rule follows the given today, not a clock.
    assert validate_record(
        raw(administered_on="2021-06-02", scanned_at="2021-06-02T09:00:00+09:00"), today=datetime.date(2021, 6, 2)
    )


def test_administered_after_the_day_it_was_scanned_is_a_future_date() -> None:
    # A preset left on tomorrow's date: exactly the "future date" records of 2021.
    error = refused(raw(administered_on="2021-06-02"), today=datetime.date(2021, 6, 3))
    assert (error.code, error.field) == ("future_date", "administered_on")


def test_days_are_japan_days() -> None:
    # 2021-06-01 15:30 UTC is already 2021-06-02 00:30 in Japan.
    late = raw(administered_on="2021-06-02", scanned_at="2021-06-01T15:30:00+00:00")
    assert validate_record(late, today=datetime.date(2021, 6, 2)).administered_on == datetime.date(2021, 6, 2)
    early = raw(administered_on="2021-06-02", scanned_at="2021-06-01T14:30:00+00:00")
    assert refused(early, today=datetime.date(2021, 6, 2)).code == "future_date"


def test_scanned_at_more_than_a_day_ahead_is_a_future_date() -> None:
    ahead = raw(scanned_at="2021-06-03T09:00:00+09:00")
    assert refused(ahead).field == "scanned_at"
    # A station clock slightly ahead, across midnight, is tolerated.
    assert validate_record(raw(scanned_at="2021-06-02T00:01:00+09:00"), today=TODAY)


def test_first_vaccination_day_is_allowed() -> None:
    record = validate_record(raw(administered_on="2021-02-17", scanned_at="2021-02-17T10:00:00+09:00"), today=TODAY)
    assert record.administered_on == datetime.date(2021, 2, 17)


def test_void_screened_only_nw7_and_no_ticket_kind_are_valid() -> None:
    record = validate_record(
        raw(
            record_id=OTHER_ID,
            op="void",
            voids_record_id=RECORD_ID,
            ticket_kind=None,
            status="screened_only",
            vaccine={"maker": "other", "lot": ""},
            doctor="",
            read={"source": "nw7", "frames": 2},
        ),
        today=TODAY,
    )
    assert record.op == "void" and record.voids_record_id == RECORD_ID and record.ticket_kind is None


@pytest.mark.parametrize("payload", [b"", b"{", b"[]", b"null", b"\xff\xfe", b'"record"', b"{}"])
def test_non_json_or_non_object_records_are_invalid(payload: bytes) -> None:
    assert refused(payload).code == "invalid_field"


def test_peek_record_id_names_a_bad_record_when_it_can() -> None:
    assert peek_record_id(raw(dose=12)) == RECORD_ID
    assert peek_record_id(b"[1]") is None
    assert peek_record_id(raw(record_id="nope")) is None


def batch_payload(n: int = 1, **changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "device_id": "st-0001",
        "batch_seq": 42,
        "sent_at": "2021-06-01T09:15:02+09:00",
        "records": [record_fields(record_id=new_record_id()) for _ in range(n)],
    }
    fields.update(changes)
    return msgspec.json.encode(fields)


def test_a_batch_decodes_with_its_records_left_raw() -> None:
    batch = decode_batch(batch_payload(3))
    assert (batch.device_id, batch.batch_seq, len(batch.records)) == ("st-0001", 42, 3)
    assert all(isinstance(r, msgspec.Raw) for r in batch.records)
    assert [validate_record(r, today=TODAY).dose for r in batch.records] == [1, 1, 1]


def test_one_bad_record_does_not_sink_the_batch() -> None:
    good = record_fields(record_id=new_record_id())
    bad = record_fields(record_id=new_record_id(), dose="first")
    payload = msgspec.json.encode(
        {"device_id": "st-0001", "batch_seq": 1, "sent_at": "2021-06-01T09:15:02+09:00", "records": [good, bad, 7]}
    )
    batch = decode_batch(payload)
    outcomes = []
    for r in batch.records:
        try:
            outcomes.append(validate_record(r, today=TODAY).record_id)
        except RecordError as error:
            outcomes.append(error.code)
    assert outcomes == [good["record_id"], "invalid_field", "invalid_field"]


def test_a_full_batch_is_accepted_and_one_more_is_not() -> None:
    assert len(decode_batch(batch_payload(MAX_RECORDS_PER_BATCH)).records) == MAX_RECORDS_PER_BATCH
    with pytest.raises(BatchError, match="1 to 200"):
        decode_batch(batch_payload(MAX_RECORDS_PER_BATCH + 1))
    with pytest.raises(BatchError, match="1 to 200"):
        decode_batch(batch_payload(0))


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"{",
        b"[]",
        b"\x00\x01",
        batch_payload(device_id="st/0001"),
        batch_payload(device_id="st+"),
        batch_payload(device_id=""),
        batch_payload(device_id=".."),
        batch_payload(batch_seq=-1),
        batch_payload(batch_seq="42"),
        batch_payload(sent_at="2021-06-01T09:15:02"),
        batch_payload(records={"a": 1}),
        batch_payload(records=None),
        batch_payload(signature="x"),
        b'{"device_id": "st-0001", "batch_seq": 1, "sent_at": "2021-06-01T09:15:02+09:00"}',
    ],
)
def test_malformed_batches_are_refused(payload: bytes) -> None:
    with pytest.raises(BatchError):
        decode_batch(payload)


def test_an_oversized_batch_is_refused_before_parsing() -> None:
    with pytest.raises(BatchError, match="limit"):
        decode_batch(b"[" * (MAX_TOKEN_BYTES + 1))


def test_encode_batch_from_a_batch_or_from_fields_gives_the_same_bytes() -> None:
    sent = datetime.datetime(2021, 6, 1, 9, 15, 2, tzinfo=JST)
    record = validate_record(raw(), today=TODAY)
    from_fields = encode_batch(device_id="st-0001", batch_seq=42, sent_at=sent, records=[record])
    whole = encode_batch(
        Batch(device_id="st-0001", batch_seq=42, sent_at=sent, records=[msgspec.Raw(msgspec.json.encode(record))])
    )
    assert from_fields == whole
    decoded = decode_batch(from_fields)
    assert decoded.sent_at == sent
    assert validate_record(decoded.records[0], today=TODAY) == record
    # Raw JSON records are carried as they are: a station can resend exactly the bytes it stored.
    stored = raw()
    resent = decode_batch(encode_batch(device_id="st-0001", batch_seq=1, sent_at=sent, records=[stored]))
    assert bytes(resent.records[0]) == stored


def test_encode_batch_refuses_what_decode_would_refuse() -> None:
    sent = datetime.datetime(2021, 6, 1, 9, 15, 2, tzinfo=JST)
    with pytest.raises(BatchError):
        encode_batch(device_id="st-0001", batch_seq=1, sent_at=sent, records=[])
    with pytest.raises(BatchError):
        encode_batch(device_id="st-0001", batch_seq=1, sent_at=sent, records=[raw()] * (MAX_RECORDS_PER_BATCH + 1))
    with pytest.raises(BatchError):
        encode_batch(device_id="st-0001", batch_seq=1, sent_at=sent.replace(tzinfo=None), records=[raw()])
    with pytest.raises(BatchError):
        encode_batch(device_id="st/1", batch_seq=1, sent_at=sent, records=[raw()])
    with pytest.raises(BatchError):
        encode_batch(device_id="st-1", batch_seq=-1, sent_at=sent, records=[raw()])


def test_acks_round_trip() -> None:
    ack = Ack(
        batch_seq=42,
        accepted=[RECORD_ID],
        rejected=[Rejection(record_id=OTHER_ID, reason="future_date")],
        warnings=[AckWarning(record_id=RECORD_ID, code="dose_interval_short", detail="18 days after dose 1")],
    )
    payload = encode_ack(ack)
    assert msgspec.json.decode(payload)["rejected"] == [{"record_id": OTHER_ID, "reason": "future_date"}]
    assert decode_ack(payload) == ack


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"[]",
        b'{"batch_seq": 1}',
        b'{"batch_seq": "1", "accepted": [], "rejected": [], "warnings": []}',
        b'{"batch_seq": 1, "accepted": [1], "rejected": [], "warnings": []}',
        b'{"batch_seq": 1, "accepted": [], "rejected": [{"record_id": "x"}], "warnings": []}',
        b" " * (MAX_TOKEN_BYTES + 1),
    ],
)
def test_malformed_acks_are_refused(payload: bytes) -> None:
    with pytest.raises(BatchError):
        decode_ack(payload)


def test_labels_and_codes_are_the_designed_ones() -> None:
    assert MAKER_LABELS == {
        "pfizer": "ファイザー",
        "moderna": "武田/モデルナ",
        "astrazeneca": "アストラゼネカ",
        "novavax": "武田/ノババックス",
        "other": "その他",
    }
    assert STATUS_LABELS == {"vaccinated": "接種済", "screened_only": "予診のみ"}
    assert {
        "bad_signature",
        "unknown_device",
        "revoked_device",
        "venue_mismatch",
        "unknown_municipality",
        "invalid_field",
        "future_date",
    } == REASON_CODES
    assert {"dose_interval_short", "dose_order", "unknown_voucher"} <= WARNING_CODES
    assert not REASON_CODES & WARNING_CODES


def test_japan_today_needs_a_time_zone() -> None:
    assert japan_today(datetime.datetime(2021, 6, 1, 15, 0, tzinfo=datetime.UTC)) == datetime.date(2021, 6, 2)
    assert japan_today(datetime.datetime(2021, 6, 1, 14, 59, tzinfo=datetime.UTC)) == datetime.date(2021, 6, 1)
    with pytest.raises(ValueError):
        japan_today(datetime.datetime(2021, 6, 1, 15, 0))


def test_record_ids_are_time_ordered_uuid7() -> None:
    first = new_record_id(now_ms=1_622_505_600_000)
    second = new_record_id(now_ms=1_622_505_600_001)
    assert first < second
    assert first[14] == "7" and first[19] in "89ab"
    assert first[:13].replace("-", "") == f"{1_622_505_600_000:012x}"
    assert validate_record(raw(record_id=first), today=TODAY).record_id == first
    assert len({new_record_id() for _ in range(1000)}) == 1000


@given(st.integers(0, (1 << 48) - 1))
def test_every_uuid7_passes_the_record_id_rule(ms: int) -> None:
    assert peek_record_id(msgspec.json.encode({"record_id": new_record_id(now_ms=ms)})) is not None


def test_record_structs_are_frozen() -> None:
    record: Record = validate_record(raw(), today=TODAY)
    with pytest.raises(AttributeError):
        record.dose = 2  # type: ignore[misc]
