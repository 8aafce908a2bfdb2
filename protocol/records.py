"""The record, batch and ack schema of wire protocol v1, and the validation every record passes.

Validation is a pure function of the bytes and a given "today" (a Japan calendar day): it never reads
the clock, so the station and the hub apply the same rules and tests can pin the day.
"""

from __future__ import annotations

import datetime
import re
import secrets
import time
from collections.abc import Sequence
from typing import Annotated, Final, Literal, overload
from zoneinfo import ZoneInfo

import msgspec

from protocol.errors import BatchError, RecordError
from protocol.municipalities import is_municipality
from protocol.topics import ID_PATTERN, is_valid_device_id

JST: Final = ZoneInfo("Asia/Tokyo")
# The first COVID-19 vaccination in Japan; nothing can have been administered before it.
FIRST_VACCINATION_DAY: Final = datetime.date(2021, 2, 17)
MAX_RECORDS_PER_BATCH: Final = 200
# A full batch of 200 records is about 110 KB as a JWS; refuse anything far beyond that before parsing.
MAX_TOKEN_BYTES: Final = 256 * 1024
MAX_LOT_LENGTH: Final = 32
MAX_DOCTOR_LENGTH: Final = 64

Maker = Literal["pfizer", "moderna", "astrazeneca", "novavax", "other"]
MAKER_LABELS: Final[dict[Maker, str]] = {
    "pfizer": "ファイザー",
    "moderna": "武田/モデルナ",
    "astrazeneca": "アストラゼネカ",
    "novavax": "武田/ノババックス",
    "other": "その他",
}
Status = Literal["vaccinated", "screened_only"]
STATUS_LABELS: Final[dict[Status, str]] = {"vaccinated": "接種済", "screened_only": "予診のみ"}
Source = Literal["qr", "nw7", "ocr", "manual", "import"]
Op = Literal["register", "void"]

# Wire reason codes of a rejected record, and codes of warnings (which never refuse a record).
BAD_SIGNATURE: Final = "bad_signature"
UNKNOWN_DEVICE: Final = "unknown_device"
REVOKED_DEVICE: Final = "revoked_device"
VENUE_MISMATCH: Final = "venue_mismatch"
UNKNOWN_MUNICIPALITY: Final = "unknown_municipality"
INVALID_FIELD: Final = "invalid_field"
FUTURE_DATE: Final = "future_date"
REASON_CODES: Final = frozenset(
    {BAD_SIGNATURE, UNKNOWN_DEVICE, REVOKED_DEVICE, VENUE_MISMATCH, UNKNOWN_MUNICIPALITY, INVALID_FIELD, FUTURE_DATE}
)
DOSE_INTERVAL_SHORT: Final = "dose_interval_short"
DOSE_ORDER: Final = "dose_order"
UNKNOWN_VOUCHER: Final = "unknown_voucher"
RESIDENT_MOVED_OUT: Final = "resident_moved_out"
RESIDENT_DECEASED: Final = "resident_deceased"
WARNING_CODES: Final = frozenset(
    {DOSE_INTERVAL_SHORT, DOSE_ORDER, UNKNOWN_VOUCHER, RESIDENT_MOVED_OUT, RESIDENT_DECEASED}
)

# Canonical lowercase form only: the hub remembers record ids forever, so one id must have one spelling.
UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# Free text may be anything printable; control characters would break CSV exports and screens.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

RecordId = Annotated[str, msgspec.Meta(pattern=UUID_PATTERN)]
Identifier = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
AwareDatetime = Annotated[datetime.datetime, msgspec.Meta(tz=True)]


class Vaccine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The vaccine given: maker and lot, from the station's preset."""

    maker: Maker
    lot: Annotated[str, msgspec.Meta(max_length=MAX_LOT_LENGTH)]


class ReadInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the voucher was read, and in how many frames the accepted value was seen."""

    source: Source
    frames: Annotated[int, msgspec.Meta(ge=0, le=100_000)]


class Record(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One dose record as a station sends it. For op "void" the voucher fields repeat the voided record's."""

    record_id: RecordId
    op: Op
    municipality_code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$")]
    voucher_no: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{10}$")]
    ticket_kind: Annotated[str, msgspec.Meta(pattern=r"^[0-9]$")] | None
    dose: Annotated[int, msgspec.Meta(ge=1, le=9)]
    status: Status
    administered_on: datetime.date
    venue_id: Identifier
    vaccine: Vaccine
    doctor: Annotated[str, msgspec.Meta(max_length=MAX_DOCTOR_LENGTH)]
    read: ReadInfo
    scanned_at: AwareDatetime
    voids_record_id: RecordId | None = None


class Batch(msgspec.Struct, forbid_unknown_fields=True):
    """A station's batch: records stay raw JSON so that one bad record does not sink the others."""

    device_id: Identifier
    batch_seq: Annotated[int, msgspec.Meta(ge=0)]
    sent_at: AwareDatetime
    records: list[msgspec.Raw]


class Rejection(msgspec.Struct, frozen=True):
    """A record the hub refused, with the wire reason code."""

    record_id: str
    reason: str


class AckWarning(msgspec.Struct, frozen=True):
    """A record the hub accepted but wants staff to look at (never a refusal)."""

    record_id: str
    code: str
    detail: str = ""


class Ack(msgspec.Struct):
    """The hub's answer to one batch, sent after its database commit."""

    batch_seq: Annotated[int, msgspec.Meta(ge=0)]
    accepted: list[str]
    rejected: list[Rejection]
    warnings: list[AckWarning]


def japan_today(now: datetime.datetime) -> datetime.date:
    """The Japan calendar day at the instant ``now`` (which must carry its time zone)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("japan_today needs a time-zone-aware datetime")
    return now.astimezone(JST).date()


def new_record_id(now_ms: int | None = None) -> str:
    """A new UUIDv7 (RFC 9562): time-ordered, so ids sort in scan order and index well."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if not 0 <= ms < 1 << 48:
        raise ValueError("UUIDv7 timestamp must fit in 48 bits")
    value = (ms << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) | secrets.randbits(62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_PATH = re.compile(r" - at `\$\.?([^`]*)`$")
_NAMED_FIELD = re.compile(r"field `([^`]+)`")


def _field_of(error: msgspec.MsgspecError) -> str:
    """The dotted field name an msgspec error is about (empty for the whole record)."""
    message = str(error)
    path_match = _PATH.search(message)
    path = path_match.group(1) if path_match else ""
    named = _NAMED_FIELD.search(message)
    if named:
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    return path


def validate_record(raw: bytes | msgspec.Raw, *, today: datetime.date) -> Record:
    """Decode one record and check every field rule, or raise RecordError with its wire reason code."""
    try:
        record = msgspec.json.decode(raw, type=Record)
    except msgspec.ValidationError as error:
        raise RecordError(INVALID_FIELD, _field_of(error), str(error)) from error
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        # msgspec raises UnicodeDecodeError (not one of its own) for an unknown key that is not UTF-8.
        raise RecordError(INVALID_FIELD, "", f"not JSON: {error}") from error

    if not is_municipality(record.municipality_code):
        raise RecordError(
            UNKNOWN_MUNICIPALITY,
            "municipality_code",
            f"{record.municipality_code} is not a municipality (bad check digit, a ward, or not on the list)",
        )
    if not is_valid_device_id(record.venue_id):
        raise RecordError(INVALID_FIELD, "venue_id", f"{record.venue_id!r} is not a valid venue id")
    for field, text in (("vaccine.lot", record.vaccine.lot), ("doctor", record.doctor)):
        if _CONTROL.search(text):
            raise RecordError(INVALID_FIELD, field, "contains a control character")

    if record.administered_on > today:
        raise RecordError(FUTURE_DATE, "administered_on", f"{record.administered_on} is after today ({today}) in Japan")
    scanned_day = japan_today(record.scanned_at)
    # The station's clock may run a little ahead of the validator's; a whole day ahead is a wrong clock.
    if scanned_day > today + datetime.timedelta(days=1):
        raise RecordError(FUTURE_DATE, "scanned_at", f"{record.scanned_at.isoformat()} is in the future")
    if record.administered_on > scanned_day:
        raise RecordError(
            FUTURE_DATE,
            "administered_on",
            f"{record.administered_on} is after the day it was scanned ({scanned_day}): check the preset date",
        )
    if record.administered_on < FIRST_VACCINATION_DAY:
        raise RecordError(
            INVALID_FIELD,
            "administered_on",
            f"{record.administered_on} is before vaccination began in Japan ({FIRST_VACCINATION_DAY})",
        )

    if record.op == "void":
        if record.voids_record_id is None:
            raise RecordError(INVALID_FIELD, "voids_record_id", "a void must name the record it cancels")
        if record.voids_record_id == record.record_id:
            raise RecordError(INVALID_FIELD, "voids_record_id", "a record cannot void itself")
    elif record.voids_record_id is not None:
        raise RecordError(INVALID_FIELD, "voids_record_id", "only a void names a record to cancel")
    return record


class _IdOnly(msgspec.Struct):
    record_id: RecordId


def peek_record_id(raw: bytes | msgspec.Raw) -> str | None:
    """The record_id of a record that may fail validation, so a rejection can name it; None if unreadable."""
    try:
        return msgspec.json.decode(raw, type=_IdOnly).record_id
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None


def decode_batch(payload: bytes) -> Batch:
    """Parse a batch payload (records left raw), or raise BatchError when it is not a well-formed batch."""
    if len(payload) > MAX_TOKEN_BYTES:
        raise BatchError(f"batch is {len(payload)} bytes; the limit is {MAX_TOKEN_BYTES}")
    try:
        batch = msgspec.json.decode(payload, type=Batch)
    except (msgspec.MsgspecError, UnicodeDecodeError) as error:  # see validate_record
        raise BatchError(f"not a batch: {error}") from error
    _check_batch(batch)
    return batch


def _check_batch(batch: Batch) -> None:
    if not is_valid_device_id(batch.device_id):
        raise BatchError(f"device id {batch.device_id!r} is not valid")
    if not 1 <= len(batch.records) <= MAX_RECORDS_PER_BATCH:
        raise BatchError(f"a batch holds 1 to {MAX_RECORDS_PER_BATCH} records, not {len(batch.records)}")


@overload
def encode_batch(batch: Batch, /) -> bytes: ...


@overload
def encode_batch(
    *,
    device_id: str,
    batch_seq: int,
    sent_at: datetime.datetime,
    records: Sequence[Record | msgspec.Raw | bytes],
) -> bytes: ...


def encode_batch(
    batch: Batch | None = None,
    /,
    *,
    device_id: str | None = None,
    batch_seq: int | None = None,
    sent_at: datetime.datetime | None = None,
    records: Sequence[Record | msgspec.Raw | bytes] = (),
) -> bytes:
    """Serialize a batch, given whole or as its fields (records as structs or raw JSON)."""
    if batch is None:
        if device_id is None or batch_seq is None or sent_at is None:
            raise TypeError("encode_batch needs a Batch or device_id, batch_seq, sent_at and records")
        batch = Batch(
            device_id=device_id,
            batch_seq=batch_seq,
            sent_at=sent_at,
            records=[msgspec.Raw(msgspec.json.encode(r)) if isinstance(r, Record) else msgspec.Raw(r) for r in records],
        )
    if batch.sent_at.tzinfo is None or batch.sent_at.utcoffset() is None:
        raise BatchError("sent_at must carry its time zone")
    if batch.batch_seq < 0:
        raise BatchError("batch_seq must not be negative")
    _check_batch(batch)
    payload = msgspec.json.encode(batch)
    if len(payload) > MAX_TOKEN_BYTES:
        raise BatchError(f"batch is {len(payload)} bytes; the limit is {MAX_TOKEN_BYTES}")
    return payload


def encode_ack(ack: Ack) -> bytes:
    """Serialize an ack."""
    return msgspec.json.encode(ack)


def decode_ack(payload: bytes) -> Ack:
    """Parse an ack, or raise BatchError when it is not one."""
    if len(payload) > MAX_TOKEN_BYTES:
        raise BatchError(f"ack is {len(payload)} bytes; the limit is {MAX_TOKEN_BYTES}")
    try:
        return msgspec.json.decode(payload, type=Ack)
    except (msgspec.MsgspecError, UnicodeDecodeError) as error:  # see validate_record
        raise BatchError(f"not an ack: {error}") from error
