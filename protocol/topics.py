"""MQTT topic names of wire protocol v1, device id rules, and the station's retained status message."""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Literal

import msgspec

from protocol.errors import BatchError, TopicError

TOPIC_PREFIX = "vrs/v1/devices"
INGEST_SUBSCRIPTION = f"$share/vrs-ingest/{TOPIC_PREFIX}/+/records"
STATUS_SUBSCRIPTION = f"{TOPIC_PREFIX}/+/status"

TopicKind = Literal["records", "acks", "status"]
TOPIC_KINDS: tuple[TopicKind, ...] = ("records", "acks", "status")

# Also the rule for venue ids. It keeps MQTT's wildcards (+ #), its separator (/) and "$" out of topics.
ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
_ID = re.compile(ID_PATTERN)


def is_valid_device_id(device_id: str) -> bool:
    """True for 1-64 characters of [A-Za-z0-9._-], except "." and ".." (path-like ids confuse tools)."""
    return _ID.fullmatch(device_id) is not None and device_id not in {".", ".."}


def is_valid_venue_id(venue_id: str) -> bool:
    """Venue ids follow the device id rule."""
    return is_valid_device_id(venue_id)


def _topic(device_id: str, kind: TopicKind) -> str:
    if not is_valid_device_id(device_id):
        raise TopicError(f"device id {device_id!r} is not 1-64 characters of A-Z a-z 0-9 . _ -")
    return f"{TOPIC_PREFIX}/{device_id}/{kind}"


def records_topic(device_id: str) -> str:
    """Where a station publishes its signed record batches."""
    return _topic(device_id, "records")


def acks_topic(device_id: str) -> str:
    """Where the hub publishes its signed acks for one station."""
    return _topic(device_id, "acks")


def status_topic(device_id: str) -> str:
    """Where a station publishes its retained status (and its last will)."""
    return _topic(device_id, "status")


def parse_topic(topic: str) -> tuple[str, TopicKind]:
    """Split a concrete topic into (device id, kind), or raise TopicError."""
    prefix = TOPIC_PREFIX + "/"
    if not topic.startswith(prefix):
        raise TopicError(f"topic {topic!r} is not under {prefix}")
    parts = topic[len(prefix) :].split("/")
    if len(parts) != 2:
        raise TopicError(f"topic {topic!r} is not {prefix}<device id>/<kind>")
    device_id, kind = parts
    if kind not in TOPIC_KINDS:
        raise TopicError(f"topic {topic!r} ends in {kind!r}, not one of {', '.join(TOPIC_KINDS)}")
    if not is_valid_device_id(device_id):
        raise TopicError(f"topic {topic!r} carries an invalid device id {device_id!r}")
    return device_id, kind


class StationStatus(msgspec.Struct, omit_defaults=True):
    """A station's retained status; the broker publishes ``{"state":"offline"}`` as its last will."""

    state: Literal["online", "offline"]
    queue_depth: Annotated[int, msgspec.Meta(ge=0)] = 0
    version: Annotated[str, msgspec.Meta(max_length=64)] = ""
    last_scan_at: Annotated[datetime.datetime, msgspec.Meta(tz=True)] | None = None
    sent_at: Annotated[datetime.datetime, msgspec.Meta(tz=True)] | None = None


def encode_status(status: StationStatus) -> bytes:
    """The status message as published."""
    return msgspec.json.encode(status)


def decode_status(payload: bytes) -> StationStatus:
    """Parse a status message, or raise BatchError when it is not one."""
    try:
        return msgspec.json.decode(payload, type=StationStatus)
    except (msgspec.MsgspecError, UnicodeDecodeError) as error:  # non-UTF-8 keys, see records.validate_record
        raise BatchError(f"status message is not valid: {error}") from error
