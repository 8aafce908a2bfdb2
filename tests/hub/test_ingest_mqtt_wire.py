"""The ingest's MQTT 5 codec: what it writes decodes back, a stream split anywhere decodes the same, and
a malformed or oversized stream from the broker is refused with a reason instead of being guessed at."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import BrokerError
from hub.ingest import mqtt_wire as wire


def _publish_in(topic: str, payload: bytes, *, qos: int, packet_id: int = 0, props: bytes = b"\x00",
                retain: bool = False) -> bytes:
    """A PUBLISH as a broker sends it (with properties, which the decoder must read past)."""
    raw = topic.encode()
    body = struct.pack(">H", len(raw)) + raw + (struct.pack(">H", packet_id) if qos else b"") + props + payload
    return wire._packet(wire.PUBLISH << 4 | qos << 1 | int(retain), body)


def test_a_publish_written_for_the_broker_reads_back_the_same() -> None:
    packet = wire.publish_packet("vrs/v1/devices/st-1/acks", b"token", qos=1, packet_id=42)
    (got,) = wire.Reader().feed(packet)
    assert got == wire.Publish("vrs/v1/devices/st-1/acks", b"token", 1, 42, False)


def test_properties_of_a_received_message_are_read_past_not_taken_for_payload() -> None:
    # Message expiry (4 bytes), content type (string) and a user property (string pair).
    props = b"\x02\x00\x00\x00\x3c" + b"\x03\x00\x04json" + b"\x26\x00\x01k\x00\x01v"
    packet = _publish_in("vrs/v1/devices/st-1/status", b'{"state":"online"}', qos=1, packet_id=7,
                         props=bytes([len(props)]) + props, retain=True)
    (got,) = wire.Reader().feed(packet)
    assert got.payload == b'{"state":"online"}' and got.retain and got.packet_id == 7


@given(st.lists(st.tuples(st.text(min_size=1, max_size=40), st.binary(max_size=300), st.integers(0, 1)),
                min_size=1, max_size=8),
       st.lists(st.integers(1, 50), max_size=30))
def test_a_stream_split_anywhere_decodes_to_the_same_packets(
        messages: list[tuple[str, bytes, int]], cuts: list[int]) -> None:
    stream = b"".join(_publish_in(t, p, qos=q, packet_id=i + 1) for i, (t, p, q) in enumerate(messages))
    reader, got, pos = wire.Reader(), [], 0
    for cut in cuts:
        got += reader.feed(stream[pos:pos + cut])
        pos += cut
    got += reader.feed(stream[pos:])
    assert [(p.topic, p.payload, p.qos) for p in got if isinstance(p, wire.Publish)] == messages


def test_connack_carries_the_brokers_receive_maximum_and_refusals() -> None:
    props = b"\x21\x00\x14" + b"\x22\x00\x0a" + b"\x1f\x00\x03bye"
    packet = wire._packet(wire.CONNACK << 4, b"\x00\x86" + bytes([len(props)]) + props)
    (got,) = wire.Reader().feed(packet)
    assert isinstance(got, wire.ConnAck)
    assert (got.reason, got.receive_maximum, got.reason_string) == (0x86, 20, "bye")
    (default,) = wire.Reader().feed(wire._packet(wire.CONNACK << 4, b"\x00\x00\x00"))
    assert isinstance(default, wire.ConnAck) and default.receive_maximum == wire.DEFAULT_RECEIVE_MAXIMUM


def test_puback_and_pingresp_and_disconnect_decode() -> None:
    got = wire.Reader().feed(b"\x40\x02\x00\x09" + b"\x40\x03\x00\x0a\x10" + b"\xd0\x00" + b"\xe0\x01\x8b")
    assert got == [wire.PubAck(9, 0), wire.PubAck(10, 0x10), wire.PingResp(), wire.Disconnect(0x8B, "")]


def test_connect_packet_names_the_user_and_asks_for_a_receive_maximum() -> None:
    packet = wire.connect_packet("ingest-1", keepalive=30, username="vrs-hub", password="pw", receive_maximum=1000)
    assert packet[0] == 0x10
    body = packet[2:]
    assert body[:7] == b"\x00\x04MQTT\x05"
    assert body[7] == 0x80 | 0x40 | 0x02  # user name, password, clean start
    assert b"\x21\x03\xe8" in body and b"\x27\x00\x40\x00\x00" in body and body.endswith(b"\x00\x07vrs-hub\x00\x02pw")


@pytest.mark.parametrize(("stream", "reason"), [
    (b"\x30\xff\xff\xff\xff\x7f", "remaining length"),
    (wire._packet(wire.PUBLISH << 4 | 2 << 1, b"\x00\x01t\x00\x01\x00"), "QoS 2"),
    (wire._packet(wire.PUBLISH << 4 | 1 << 1, b"\x00\x09t"), "malformed packet"),
    (wire._packet(wire.CONNACK << 4, b"\x00\x00\x05\x21\x00"), "properties run past"),
    (wire._packet(wire.CONNACK << 4, b"\x00\x00\x02\x7e\x00"), "unknown property"),
    (wire._packet(wire.PUBLISH << 4, b"\x00\x02\xff\xfe\x00"), "malformed packet"),
    (b"\xb0\x00", "unexpected packet"),
])
def test_a_malformed_stream_from_the_broker_is_refused_with_its_reason(stream: bytes, reason: str) -> None:
    with pytest.raises(BrokerError, match=reason):
        wire.Reader().feed(stream)


def test_a_packet_over_the_limit_is_refused_before_it_is_buffered() -> None:
    reader = wire.Reader(max_packet=1024)
    with pytest.raises(BrokerError, match="over the limit"):
        reader.feed(b"\x30" + wire._varint(10_000) + b"\x00")


def test_a_partial_packet_waits_for_the_rest() -> None:
    packet = wire.publish_packet("t", b"x" * 200, qos=0)
    reader = wire.Reader()
    assert reader.feed(packet[:2]) == [] and reader.feed(packet[2:-1]) == []
    assert reader.feed(packet[-1:]) == [wire.Publish("t", b"x" * 200, 0, 0, False)]
