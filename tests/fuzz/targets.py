"""Fuzz targets shared by the bounded hypothesis tests (tests/fuzz/test_*.py, in `make test`) and the
coverage-guided atheris runs (tests/fuzz/run_atheris.py, `make fuzz`).

Each target takes raw bytes, feeds them to one parser of untrusted input and checks what must always hold:
the parser answers or raises its own package's exception (never anything else), within a time limit, and
what it accepts satisfies the parser's promises. Anything else propagates and is a finding.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import signal
from collections.abc import Callable, Iterator
from types import FrameType

import msgspec

from hub.certificates.errors import CertificateError
from hub.certificates.verify import TrustStore, verify_text
from hub.errors import BrokerError
from hub.files import FilesError, parse_date, parse_records, parse_residents, scan_resident_copy
from hub.files.my_number_hash import MyNumberHasher
from hub.ingest import mqtt_wire
from protocol import VoucherError, is_municipality, parse_voucher
from protocol.errors import BatchError, RecordError, SignatureError, TopicError
from protocol.records import MAX_RECORDS_PER_BATCH, decode_ack, decode_batch, peek_record_id, validate_record
from protocol.signing import generate_key, peek_kid, sign_ack, sign_batch, verify_ack, verify_batch
from protocol.topics import decode_status, parse_topic

# One input must never take this long: a parser that does is hanging (quadratic or worse on hostile input).
TIME_LIMIT_SECONDS = 5.0
TODAY = datetime.date(2021, 9, 1)
MUNICIPALITY = "131016"
VOUCHER_FIELDS = {"municipality_code", "voucher_no", "dose", "ticket_kind", "text"}

_STATION_KEY = generate_key()
_HUB_KEY = generate_key()
# What was really signed with the keys above (encoded after decoding): the only contents a token may verify to.
_SIGNED: set[bytes] = set()


# The atheris runner turns this off: libFuzzer keeps its own SIGALRM timer (-timeout) for the same purpose.
USE_ALARM = True


class Hang(AssertionError):
    """A parser ran past TIME_LIMIT_SECONDS on one input."""


@contextlib.contextmanager
def time_limit(seconds: float = TIME_LIMIT_SECONDS) -> Iterator[None]:
    """Raise Hang in the main thread if the block runs longer than `seconds` (SIGALRM based)."""
    if not USE_ALARM:
        yield
        return

    def expire(_sig: int, _frame: FrameType | None) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def voucher(data: bytes) -> None:
    text = _text(data)
    for default in (None, MUNICIPALITY):
        try:
            with time_limit():
                v = parse_voucher(text, default_municipality=default)
        except VoucherError as exc:
            assert exc.reason and exc.field in VOUCHER_FIELDS, (exc.reason, exc.field)
        else:
            assert len(v.voucher_no) == 10 and v.voucher_no.isascii() and v.voucher_no.isdigit()
            assert is_municipality(v.municipality_code)
            assert 0 <= v.dose <= 9


def batch(data: bytes) -> None:
    """A batch payload as it comes out of a verified JWS: shape first, then each record."""
    try:
        with time_limit():
            b = decode_batch(data)
    except BatchError:
        return
    assert 1 <= len(b.records) <= MAX_RECORDS_PER_BATCH
    for raw in b.records:
        with time_limit():
            peek_record_id(raw)
            try:
                validate_record(raw, today=TODAY)
            except RecordError as exc:
                assert exc.code in ("invalid_field", "future_date", "unknown_municipality"), exc.code


def jws(data: bytes) -> None:
    """Tokens from the network: header peeking, batch and ack verification, never an unexpected error."""
    token = _text(data)
    with time_limit():
        with contextlib.suppress(SignatureError):
            peek_kid(token)
        with contextlib.suppress(SignatureError, BatchError):
            b = verify_batch(token, _STATION_KEY.public_key(), expected_kid="st-0001")
            assert msgspec.json.encode(b) in _SIGNED, "a batch nobody signed verified"
        with contextlib.suppress(SignatureError, BatchError):
            a = verify_ack(token, [_HUB_KEY.public_key()])
            assert msgspec.json.encode(a) in _SIGNED, "an ack nobody signed verified"


def signed_batch_token(payload: bytes) -> str:
    _SIGNED.add(msgspec.json.encode(decode_batch(payload)))
    return sign_batch(payload, _STATION_KEY, "st-0001")


def signed_ack_token(payload: bytes) -> str:
    _SIGNED.add(msgspec.json.encode(decode_ack(payload)))
    return sign_ack(decode_ack(payload), _HUB_KEY)


def tampered_batch(original: str, tampered: str) -> None:
    """A changed token either fails or still says exactly what the signed one said (base64 slack bits)."""
    key = _STATION_KEY.public_key()
    with time_limit():
        want = verify_batch(original, key, expected_kid="st-0001")
        try:
            got = verify_batch(tampered, key, expected_kid="st-0001")
        except (SignatureError, BatchError):
            return
    assert got == want, "a tampered token verified with a different content"


def ack_and_status(data: bytes) -> None:
    with time_limit():
        with contextlib.suppress(BatchError):
            decode_ack(data)
        with contextlib.suppress(BatchError):
            decode_status(data)
        with contextlib.suppress(TopicError):
            parse_topic(_text(data))


def _hash(number: str) -> bytes:
    return hashlib.sha256(number.encode()).digest()


def csv_files(data: bytes) -> None:
    readers: list[Callable[[io.BytesIO], object]] = [
        lambda s: parse_residents(s, municipality_code=MUNICIPALITY, today=TODAY, hash_my_number=_hash),
        lambda s: parse_records(s, municipality_code=MUNICIPALITY, today=TODAY),
    ]
    for read in readers:
        try:
            with time_limit():
                read(io.BytesIO(data))
        except FilesError as exc:
            assert str(exc)
    resident_copy_both_ways(data)


_HASHER = MyNumberHasher(b"fuzz")


def resident_copy_both_ways(data: bytes) -> None:
    """The C fast path of resident imports writes what the row-by-row reading writes, and reports the same."""
    outcomes = []
    for by_row in (False, True):
        try:
            with time_limit():
                copy = scan_resident_copy(io.BytesIO(data), municipality_code=MUNICIPALITY, today=TODAY,
                                          hash_my_number=_HASHER, chunk_size=256, by_row=by_row)
                outcomes.append((b"".join(copy), copy.report))
        except FilesError as exc:
            outcomes.append((type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]


def dates(data: bytes) -> None:
    try:
        with time_limit():
            d = parse_date(_text(data))
    except FilesError as exc:
        assert str(exc)
    else:
        assert isinstance(d, datetime.date)


_NOW = datetime.datetime(2021, 9, 1, tzinfo=datetime.UTC)


def certificate(data: bytes) -> None:
    """What anyone may paste or show to the public verify page: shc:/ QR text or a compact JWS."""
    try:
        with time_limit():
            verify_text(_text(data), TrustStore.of(), _NOW)
    except CertificateError as exc:
        assert str(exc)
    else:
        raise AssertionError("a card verified against an empty trust store")


def mqtt_stream(data: bytes) -> None:
    """What the broker sends the ingest: decoded packets or BrokerError, the same whichever way it is split."""
    whole: list[mqtt_wire.Packet] | None
    try:
        with time_limit():
            whole = mqtt_wire.Reader(max_packet=64 * 1024).feed(data)
    except BrokerError as exc:
        assert str(exc)
        whole = None
    reader, pieces = mqtt_wire.Reader(max_packet=64 * 1024), []
    try:
        with time_limit():
            for i in range(0, len(data), 7):
                pieces += reader.feed(data[i:i + 7])
    except BrokerError:
        assert whole is None
        return
    assert whole is not None and pieces == whole


TARGETS: dict[str, Callable[[bytes], None]] = {
    "voucher": voucher,
    "batch": batch,
    "jws": jws,
    "ack": ack_and_status,
    "csv": csv_files,
    "date": dates,
    "certificate": certificate,
    "mqtt": mqtt_stream,
}
