"""Topic names of wire protocol v1 and the device id rule that keeps MQTT wildcards out of them."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import BatchError, TopicError
from protocol.topics import (
    INGEST_SUBSCRIPTION,
    STATUS_SUBSCRIPTION,
    StationStatus,
    acks_topic,
    decode_status,
    encode_status,
    is_valid_device_id,
    is_valid_venue_id,
    parse_topic,
    records_topic,
    status_topic,
)


def test_topic_names_are_the_designed_ones() -> None:
    assert records_topic("st-0001") == "vrs/v1/devices/st-0001/records"
    assert acks_topic("st-0001") == "vrs/v1/devices/st-0001/acks"
    assert status_topic("st-0001") == "vrs/v1/devices/st-0001/status"
    assert INGEST_SUBSCRIPTION == "$share/vrs-ingest/vrs/v1/devices/+/records"
    assert STATUS_SUBSCRIPTION == "vrs/v1/devices/+/status"


@pytest.mark.parametrize("kind", ["records", "acks", "status"])
def test_parse_topic_inverts_the_builders(kind: str) -> None:
    build = {"records": records_topic, "acks": acks_topic, "status": status_topic}[kind]
    assert parse_topic(build("St_1.a-b")) == ("St_1.a-b", kind)


@pytest.mark.parametrize(
    "device_id",
    ["", "st+1", "st#", "+", "#", "st/0001", "a/b/c", "$SYS", "st 1", "st\x00", "é", "ｓｔ", ".", "..", "x" * 65],
)
def test_hostile_device_ids_are_refused(device_id: str) -> None:
    assert not is_valid_device_id(device_id)
    assert not is_valid_venue_id(device_id)
    for build in (records_topic, acks_topic, status_topic):
        with pytest.raises(TopicError):
            build(device_id)


@pytest.mark.parametrize("device_id", ["a", "st-0001", "v-131016-001", "A.b_c-9", "x" * 64, "..."])
def test_ordinary_device_ids_are_accepted(device_id: str) -> None:
    assert is_valid_device_id(device_id)


@pytest.mark.parametrize(
    "topic",
    [
        "vrs/v1/devices/+/records",  # a subscription filter, not a topic a message arrives on
        "vrs/v1/devices/#",
        "$share/vrs-ingest/vrs/v1/devices/st-1/records",
        "vrs/v1/devices/st-1/records/extra",
        "vrs/v1/devices/st-1/commands",
        "vrs/v1/devices/st-1",
        "vrs/v1/devices//records",
        "vrs/v2/devices/st-1/records",
        "/vrs/v1/devices/st-1/records",
        "vrs/v1/devices/../records",
        "",
    ],
)
def test_parse_topic_refuses_anything_else(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(topic)


@given(st.text(max_size=80))
def test_a_device_id_accepted_by_the_rule_never_changes_the_topic_shape(device_id: str) -> None:
    if is_valid_device_id(device_id):
        topic = records_topic(device_id)
        assert topic.count("/") == 4 and "+" not in topic and "#" not in topic
        assert parse_topic(topic) == (device_id, "records")
    else:
        with pytest.raises(TopicError):
            records_topic(device_id)


def test_station_status_round_trips_and_the_last_will_is_minimal() -> None:
    assert encode_status(StationStatus(state="offline")) == b'{"state":"offline"}'
    now = datetime.datetime(2021, 6, 1, 9, 0, tzinfo=datetime.UTC)
    status = StationStatus(state="online", queue_depth=3, version="0.1.0", last_scan_at=now, sent_at=now)
    assert decode_status(encode_status(status)) == status
    assert decode_status(b'{"state":"offline"}') == StationStatus(state="offline")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"{}",
        b'{"state":"asleep"}',
        b'{"state":"online","queue_depth":-1}',
        b'{"state":"online","sent_at":"2021-06-01T09:00:00"}',
    ],
)
def test_malformed_status_is_refused(payload: bytes) -> None:
    with pytest.raises(BatchError):
        decode_status(payload)
