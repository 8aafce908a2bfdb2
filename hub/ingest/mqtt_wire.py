"""The MQTT 5 packets the ingest exchanges with the broker, encoded and decoded without I/O.

Only what an ingest worker needs: CONNECT, SUBSCRIBE, PUBLISH at QoS 0 and 1 both ways, PUBACK, PINGREQ and
DISCONNECT out; CONNACK, SUBACK, PUBLISH, PUBACK, PINGRESP and DISCONNECT in. A live scan costs the hub four
packets (its batch, the batch's PUBACK, the ack, the ack's PUBACK), so decoding reads whole packets out of one
buffer with slicing and struct, and skips the properties nobody reads.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from hub.errors import BrokerError

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 8, 9, 12, 13, 14
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
# What the broker may send in one packet before the connection is dropped as broken: a full batch is
# about 110 KB, so this leaves room without letting one packet take the memory.
MAX_INCOMING_PACKET = 4 * 1024 * 1024
# An MQTT 5 server that sends no Receive Maximum allows this many unacknowledged QoS 1 publishes.
DEFAULT_RECEIVE_MAXIMUM = 65_535

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

# Property identifiers by the size of their value (MQTT 5, section 2.2.2.2), for reading past them.
_BYTE_PROPS = frozenset({0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A})
_U16_PROPS = frozenset({0x13, 0x21, 0x22, 0x23})
_U32_PROPS = frozenset({0x02, 0x11, 0x18, 0x27})
_VARINT_PROPS = frozenset({0x0B})
_STRING_PROPS = frozenset({0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F})  # and binary data
_PAIR_PROPS = frozenset({0x26})
_RECEIVE_MAXIMUM, _MAXIMUM_PACKET_SIZE, _SERVER_KEEP_ALIVE, _REASON_STRING = 0x21, 0x27, 0x13, 0x1F


class ConnAck(NamedTuple):
    """The broker's answer to CONNECT."""

    reason: int  # 0 accepted; 0x80 and above refused (0x86/0x87: bad user name, password or not authorised)
    session_present: bool
    receive_maximum: int  # QoS 1 publishes the client may leave unacknowledged
    maximum_packet_size: int | None
    server_keep_alive: int | None
    reason_string: str


class SubAck(NamedTuple):
    packet_id: int
    reasons: bytes  # one per filter: the granted QoS, or 0x80 and above when refused


class Publish(NamedTuple):
    """An application message; `packet_id` is 0 for QoS 0."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int
    retain: bool


class PubAck(NamedTuple):
    packet_id: int
    reason: int


class PingResp(NamedTuple):
    pass


class Disconnect(NamedTuple):
    reason: int
    reason_string: str


Packet = ConnAck | SubAck | Publish | PubAck | PingResp | Disconnect


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise BrokerError(f"an MQTT string is limited to 65,535 bytes, not {len(raw)}")
    return _U16.pack(len(raw)) + raw


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + _varint(len(body)) + body


def connect_packet(client_id: str, *, keepalive: int, username: str | None, password: str | None,
                   receive_maximum: int, maximum_packet_size: int = MAX_INCOMING_PACKET,
                   clean_start: bool = True) -> bytes:
    """CONNECT, telling the broker how many unacknowledged messages and how large a packet it may send (a
    broker keeps a larger message from this client instead of sending what the Reader would refuse)."""
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0) | (
        0x40 if password is not None else 0)
    props = (bytes((_RECEIVE_MAXIMUM,)) + _U16.pack(receive_maximum)
             + bytes((_MAXIMUM_PACKET_SIZE,)) + _U32.pack(maximum_packet_size))
    body = _string("MQTT") + bytes((5, flags)) + _U16.pack(keepalive) + _varint(len(props)) + props
    body += _string(client_id)
    if username is not None:
        body += _string(username)
    if password is not None:
        raw = password.encode("utf-8")
        body += _U16.pack(len(raw)) + raw
    return _packet(CONNECT << 4, body)


def subscribe_packet(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    body = _U16.pack(packet_id) + b"\x00" + b"".join(_string(f) + bytes((qos,)) for f, qos in filters)
    return _packet(SUBSCRIBE << 4 | 0x02, body)


def publish_packet(topic: str, payload: bytes, *, qos: int, packet_id: int = 0) -> bytes:
    body = _string(topic) + (_U16.pack(packet_id) if qos else b"") + b"\x00" + payload
    return _packet(PUBLISH << 4 | qos << 1, body)


def puback_packet(packet_id: int) -> bytes:
    # Reason 0 with no properties may be left out entirely (MQTT 5, 3.4.2.1).
    return b"\x40\x02" + _U16.pack(packet_id)


class Reader:
    """Splits the bytes a connection receives into decoded packets; keeps a partial packet for the next feed."""

    def __init__(self, max_packet: int = MAX_INCOMING_PACKET) -> None:
        self._buf = bytearray()
        self._max = max_packet

    def feed(self, data: bytes) -> list[Packet]:
        """Decode every whole packet now available, in order. Raises BrokerError on a malformed stream."""
        buf = self._buf
        buf += data
        out: list[Packet] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            first = buf[pos]
            length, shift, i, complete = 0, 0, pos + 1, False
            while i < end:
                digit = buf[i]
                i += 1
                length |= (digit & 0x7F) << shift
                if not digit & 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    raise BrokerError("malformed remaining length in a packet from the broker")
            if not complete:
                break
            if length > self._max:
                raise BrokerError(f"the broker sent a packet of {length} bytes, over the limit of {self._max}")
            if end - i < length:
                break
            out.append(_decode(first, bytes(buf[i:i + length])))
            pos = i + length
        if pos:
            del buf[:pos]
        return out


def _decode(first: int, body: bytes) -> Packet:
    kind = first >> 4
    try:
        if kind == PUBLISH:
            qos = (first >> 1) & 0x03
            if qos > 1:
                raise BrokerError(f"the broker sent a QoS {qos} message to a QoS 1 subscription")
            n = _U16.unpack_from(body, 0)[0]
            topic = body[2:2 + n].decode("utf-8")
            pos = 2 + n
            packet_id = 0
            if qos:
                packet_id = _U16.unpack_from(body, pos)[0]
                pos += 2
            props_len, pos = _read_varint(body, pos)
            return Publish(topic, body[pos + props_len:], qos, packet_id, bool(first & 0x01))
        if kind == PUBACK:
            packet_id = _U16.unpack_from(body, 0)[0]
            return PubAck(packet_id, body[2] if len(body) > 2 else 0)
        if kind == CONNACK:
            props = _properties(body, 2)
            return ConnAck(reason=body[1], session_present=bool(body[0] & 0x01),
                           receive_maximum=int(props.get(_RECEIVE_MAXIMUM, DEFAULT_RECEIVE_MAXIMUM)),
                           maximum_packet_size=_int_or_none(props.get(_MAXIMUM_PACKET_SIZE)),
                           server_keep_alive=_int_or_none(props.get(_SERVER_KEEP_ALIVE)),
                           reason_string=str(props.get(_REASON_STRING, "")))
        if kind == SUBACK:
            packet_id = _U16.unpack_from(body, 0)[0]
            props_len, pos = _read_varint(body, 2)
            return SubAck(packet_id, body[pos + props_len:])
        if kind == PINGRESP:
            return PingResp()
        if kind == DISCONNECT:
            reason = body[0] if body else 0
            props = _properties(body, 1) if len(body) > 1 else {}
            return Disconnect(reason, str(props.get(_REASON_STRING, "")))
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise BrokerError(f"malformed packet of type {kind} from the broker: {exc}") from None
    raise BrokerError(f"unexpected packet of type {kind} from the broker")


def _int_or_none(value: int | str | None) -> int | None:
    return None if value is None else int(value)


def _read_varint(body: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        digit = body[pos]
        pos += 1
        value |= (digit & 0x7F) << shift
        if not digit & 0x80:
            return value, pos
        shift += 7
        if shift > 21:
            raise BrokerError("malformed variable byte integer in a packet from the broker")


def _properties(body: bytes, pos: int) -> dict[int, int | str]:
    """The properties at `pos` (a length, then identifier and value pairs): numbers and strings by
    identifier; binary data and user properties are read past."""
    length, pos = _read_varint(body, pos)
    end = pos + length
    if end > len(body):
        raise BrokerError("properties run past the end of a packet from the broker")
    props: dict[int, int | str] = {}
    while pos < end:
        ident = body[pos]
        pos += 1
        if ident in _BYTE_PROPS:
            props[ident] = body[pos]
            pos += 1
        elif ident in _U16_PROPS:
            props[ident] = _U16.unpack_from(body, pos)[0]
            pos += 2
        elif ident in _U32_PROPS:
            props[ident] = _U32.unpack_from(body, pos)[0]
            pos += 4
        elif ident in _VARINT_PROPS:
            props[ident], pos = _read_varint(body, pos)
        elif ident in _STRING_PROPS:
            n = _U16.unpack_from(body, pos)[0]
            props[ident] = body[pos + 2:pos + 2 + n].decode("utf-8", "replace")
            pos += 2 + n
        elif ident in _PAIR_PROPS:
            for _ in range(2):
                pos += 2 + _U16.unpack_from(body, pos)[0]
        else:
            raise BrokerError(f"unknown property 0x{ident:02x} in a packet from the broker")
    if pos != end:
        raise BrokerError("properties run past their length in a packet from the broker")
    return props
