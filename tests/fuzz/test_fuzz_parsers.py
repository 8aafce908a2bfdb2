"""Bounded fuzzing in `make test`: hostile input to every parser of untrusted data gives only the parser's own
errors, within a time limit. `make fuzz` runs the same targets for longer (VRS_FUZZ_EXAMPLES, atheris).

Inputs are both random bytes and mutations of valid inputs (a real voucher text, a real signed batch), so
that the parsers are exercised past their first checks.
"""

from __future__ import annotations

import datetime
import json
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from protocol.check_digits import municipality_check_digit
from protocol.records import JST, Ack, AckWarning, Rejection, encode_ack, encode_batch, new_record_id
from tests.fuzz import targets

# `make fuzz` raises this; `make test` keeps each property to a few seconds.
EXAMPLES = int(os.environ.get("VRS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                deadline=None)
pytestmark = pytest.mark.timeout(600 if EXAMPLES > 1000 else 120)


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """`seed` with a few bytes replaced, inserted, deleted or the tail cut off."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(seed)
        for _ in range(draw(st.integers(min_value=1, max_value=6))):
            op = draw(st.sampled_from(["replace", "insert", "delete", "cut", "repeat"]))
            i = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
            if op == "replace" and data:
                data[i] = draw(st.integers(min_value=0, max_value=255))
            elif op == "insert":
                data[i:i] = draw(st.binary(min_size=1, max_size=8))
            elif op == "delete" and data:
                del data[i:i + draw(st.integers(min_value=1, max_value=8))]
            elif op == "cut":
                del data[i:]
            elif op == "repeat":
                data[i:i] = data[i:i + 16] * draw(st.integers(min_value=1, max_value=50))
        return bytes(data)

    return build()


# --- vouchers -------------------------------------------------------------------------------------

VOUCHER_CHARS = st.sampled_from([*"0123456789０１２３４５６７８９ -‐－ABCDabcd\u3000\t\n.OoIl|", "", "\u200b"])


@given(st.binary(max_size=200))
@FUZZ
def test_voucher_parser_on_bytes(data: bytes) -> None:
    targets.voucher(data)


@given(st.lists(VOUCHER_CHARS, max_size=40).map("".join))
@example("131016" + "0123456789" + "12")
@example("A0123456789B")
@example("１３１０１６－０１２３４５６７８９－１２")
@FUZZ
def test_voucher_parser_on_voucher_like_text(text: str) -> None:
    targets.voucher(text.encode())


@given(st.integers(min_value=0, max_value=99999), st.integers(min_value=0, max_value=10**10 - 1),
       st.integers(min_value=0, max_value=99), st.data())
@FUZZ
def test_voucher_parser_on_mutated_vouchers(first5: int, number: int, tail: int, data: st.DataObject) -> None:
    code = f"{first5:05d}" + municipality_check_digit(f"{first5:05d}")
    text = f"{code}{number:010d}{tail:02d}".encode()
    targets.voucher(data.draw(mutated(text)))


# --- batches, records, JWS, acks ------------------------------------------------------------------


def _record(**changes: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "record_id": new_record_id(), "op": "register", "municipality_code": "131016", "voucher_no": "0123456789",
        "ticket_kind": "1", "dose": 1, "status": "vaccinated", "administered_on": "2021-06-01",
        "venue_id": "v-131016-001", "vaccine": {"maker": "pfizer", "lot": "FA1234"}, "doctor": "山田 太郎",
        "read": {"source": "ocr", "frames": 3}, "scanned_at": "2021-06-01T09:14:58.120+09:00",
    }
    rec.update(changes)
    return rec


VALID_BATCH = encode_batch(
    device_id="st-0001", batch_seq=42, sent_at=datetime.datetime(2021, 6, 1, 9, tzinfo=JST),
    records=[json.dumps(_record()).encode(), json.dumps(_record(op="void", voids_record_id=new_record_id())).encode()],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
record_fields = st.fixed_dictionaries({}, optional={k: json_values for k in _record()})


@given(st.binary(max_size=600))
# msgspec raised UnicodeDecodeError, not a decode error, for an unknown key that is not UTF-8: a signed batch
# carrying one stopped the ingest.
@example(b'{"\x80evice_id":"st-0001"}')
@example(b'{"device_id":"st-0001","batch_seq":1,"sent_at":"2021-06-01T09:15:02+09:00","records":[{"\xff":1}]}')
@FUZZ
def test_batch_decoder_on_bytes(data: bytes) -> None:
    targets.batch(data)


@given(st.data())
@FUZZ
def test_batch_decoder_on_mutated_batches(data: st.DataObject) -> None:
    targets.batch(data.draw(mutated(VALID_BATCH)))


@given(st.lists(st.builds(lambda base, changes: {**base, **changes}, st.builds(_record), record_fields),
                min_size=1, max_size=5),
       st.one_of(st.integers(), st.text(max_size=5)), json_values)
@settings(FUZZ, max_examples=max(EXAMPLES // 3, 1))  # each example is a whole batch of records
def test_records_with_hostile_fields_give_wire_reason_codes(records: list[dict[str, object]], seq: object,
                                                           extra: object) -> None:
    doc = {"device_id": "st-0001", "batch_seq": seq, "sent_at": "2021-06-01T09:15:02+09:00", "records": records}
    targets.batch(json.dumps(doc).encode())
    targets.batch(json.dumps({**doc, "batch_seq": 1, "extra": extra}).encode())


@given(st.binary(max_size=400))
@FUZZ
def test_jws_verification_on_bytes(data: bytes) -> None:
    targets.jws(data)


@given(st.lists(st.sampled_from(["eyJ", "hbGciOiJFZDI1NTE5Ii", ".", "..", "=", "A", "_", "-", "+", "/", "\x00",
                                 "eyJhbGciOiJub25lIn0", "eyJhbGciOiJFZERTQSJ9", "e30"]), max_size=30).map("".join))
@FUZZ
def test_jws_verification_on_token_like_text(text: str) -> None:
    targets.jws(text.encode())


SIGNED = targets.signed_batch_token(VALID_BATCH)


@given(st.data())
@FUZZ
def test_a_tampered_signed_batch_never_verifies_with_other_content(data: st.DataObject) -> None:
    tampered = data.draw(mutated(SIGNED.encode())).decode("latin-1")
    targets.jws(tampered.encode("utf-8"))
    targets.tampered_batch(SIGNED, tampered)


ACK = encode_ack(Ack(batch_seq=3, accepted=[new_record_id()], rejected=[Rejection(new_record_id(), "invalid_field")],
                     warnings=[AckWarning(new_record_id(), "dose_order", "2回目が先")]))


@given(st.one_of(st.binary(max_size=300), mutated(ACK), mutated(targets.signed_ack_token(ACK).encode())))
@FUZZ
def test_acks_status_and_topics_on_hostile_bytes(data: bytes) -> None:
    targets.ack_and_status(data)
    targets.jws(data)


# --- clerks' files --------------------------------------------------------------------------------

RESIDENTS = ("自治体コード,宛名番号,接種券番号,個人番号,氏名,氏名カナ,生年月日,性別,住所,異動区分,異動日\r\n"
             "131016,A00001,0000000001,,山田 太郎,ヤマダ タロウ,S55.4.1,1,千代田1-1,,\r\n"
             "131016,A00002,0000000002,,山田 花子,ヤマダ ハナコ,19800401,女,千代田1-1,転出,20210501\r\n")
RECORDS = ("自治体コード,接種券番号,接種回数,接種状況,接種日,接種会場,ワクチンメーカー,ロット番号,医師名\r\n"
           "131016,0000000001,1,接種済,2021/06/01,v-131016-001,ファイザー,FA1234,山田 太郎\r\n")


@given(st.sampled_from([RESIDENTS, RECORDS]), st.sampled_from(["utf-8", "utf-8-sig", "cp932"]), st.data())
@FUZZ
def test_csv_readers_on_mutated_files(text: str, encoding: str, data: st.DataObject) -> None:
    targets.csv_files(data.draw(mutated(text.encode(encoding))))


@given(st.one_of(st.text(max_size=30), st.lists(st.sampled_from(list("0123456789/-.年月日元MTSHR昭和平成令和 ０１")),
                                                 max_size=16).map("".join)))
@example("R1.5.1")
@example("令和元年5月1日")
@example("S23.4.1 0:00")
@FUZZ
def test_date_reader_on_hostile_text(text: str) -> None:
    targets.dates(text.encode())


# --- certificates shown to the public verify page ---------------------------------------------------------

def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


CARD_PARTS = st.sampled_from([_b64(b'{"alg":"ES256","zip":"DEF","kid":"k"}'), _b64(b'{"zip":"DEF"}'), _b64(b"[]"),
                              _b64(b"\x00\xff"), "", "AA", "=", "é", "shc:/", "56", "7777"])


@given(st.one_of(st.binary(max_size=300), st.lists(CARD_PARTS, max_size=6).map(".".join).map(str.encode),
                 st.text(alphabet="0123456789", max_size=200).map(lambda d: ("shc:/" + d).encode())))
# A header of nested arrays raised RecursionError out of json.loads (a 500 on the public verify page).
@example((_b64(b"[" * 100_000) + ".AA.AA").encode())
@FUZZ
def test_certificate_verification_on_hostile_text(data: bytes) -> None:
    targets.certificate(data)


# --- what the broker sends the ingest ----------------------------------------------------------------------

MQTT_PIECES = st.sampled_from([b"\x30", b"\x32", b"\x40\x02\x00\x01", b"\xd0\x00", b"\xe0\x01\x8e", b"\x20",
                               b"\x90\x04\x00\x01\x00\x01", b"\x00\x03abc", b"\x00\x01", b"\xff\xff\xff\x7f",
                               b"\x80", b"\x05\x21\x00", b"\x26\x00\x01k", b"payload"])


@given(st.one_of(st.binary(max_size=300), st.lists(MQTT_PIECES, max_size=12).map(b"".join)))
@FUZZ
def test_mqtt_stream_from_the_broker_on_hostile_bytes(data: bytes) -> None:
    targets.mqtt_stream(data)


def test_the_time_limit_catches_a_hang() -> None:
    import time

    with pytest.raises(targets.Hang), targets.time_limit(0.2):
        time.sleep(5)
