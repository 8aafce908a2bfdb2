"""One MQTT 5 connection from the ingest to the broker: the socket (TLS for mqtts://), the CONNECT and
SUBSCRIBE handshake, and a poll that hands over the messages received while it answers pings and keeps the
acks in flight within what the broker allows.

Used by one thread only (the worker's network loop). Anything wrong with the connection surfaces as
OSError (ssl.SSLError included) or hub.errors.BrokerError, after which the caller closes the link and
connects again; nothing is resent from here, since a station resends whatever no signed ack answered.
"""

from __future__ import annotations

import collections
import select
import socket
import ssl
import time
from typing import TypeVar

from hub.config import MqttSettings
from hub.errors import BrokerError
from hub.ingest import mqtt_wire as wire

RECV_BYTES = 256 * 1024
# A send that cannot finish in this time means the broker stopped reading: reconnect.
SEND_TIMEOUT_SECONDS = 10.0
HANDSHAKE_TIMEOUT_SECONDS = 10.0

_P = TypeVar("_P", bound=wire.Packet)

_REFUSALS = {0x80: "unspecified error", 0x84: "unsupported protocol version", 0x85: "client id not valid",
             0x86: "bad user name or password", 0x87: "not authorized", 0x88: "server unavailable",
             0x89: "server busy", 0x8A: "banned", 0x8C: "bad authentication method", 0x97: "quota exceeded"}


class MqttLink:
    """A connection to the broker, made by `connect` and used through `poll`, `publish`, `ack` and `flush`."""

    def __init__(self, settings: MqttSettings, client_id: str, *, subscriptions: list[tuple[str, int]],
                 receive_maximum: int, keepalive: int, max_packet: int = wire.MAX_INCOMING_PACKET) -> None:
        self.settings = settings
        self.client_id = client_id
        self.subscriptions = subscriptions
        self.receive_maximum = receive_maximum
        self.keepalive = keepalive
        self.max_packet = max_packet
        self._sock: socket.socket | None = None
        self._reader = wire.Reader(max_packet)
        self._out = bytearray()
        self._early: list[wire.Publish] = []  # messages that came during the handshake
        self._quota = wire.DEFAULT_RECEIVE_MAXIMUM
        self._in_flight: set[int] = set()
        self._waiting: collections.deque[tuple[str, bytes]] = collections.deque()
        self._next_id = 0
        self._last_sent = 0.0
        self._ping_sent_at: float | None = None

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def fileno(self) -> int:
        """The socket's descriptor, for select() over many links; -1 when not connected."""
        return -1 if self._sock is None else self._sock.fileno()

    def connect(self) -> None:
        """Open the connection, log in and subscribe; raises OSError or BrokerError (the link stays closed)."""
        self.close()
        s = self.settings
        sock = socket.create_connection((s.host, s.port), timeout=HANDSHAKE_TIMEOUT_SECONDS)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if s.tls:
                context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
                sock = context.wrap_socket(sock, server_hostname=s.host)
            self._sock = sock
            self._reader = wire.Reader(self.max_packet)
            self._out.clear()
            self._in_flight.clear()
            self._waiting.clear()
            self._early = []
            self._ping_sent_at = None
            self._send_now(wire.connect_packet(self.client_id, keepalive=self.keepalive, username=s.username,
                                               password=s.password, receive_maximum=self.receive_maximum,
                                               maximum_packet_size=self.max_packet))
            connack = self._expect(wire.ConnAck)
            if connack.reason >= 0x80:
                why = _REFUSALS.get(connack.reason, f"reason 0x{connack.reason:02x}")
                raise BrokerError(f"the broker refused the login of {self.client_id}: {why}"
                                  + (f" ({connack.reason_string})" if connack.reason_string else ""))
            self._quota = max(1, connack.receive_maximum)
            if connack.server_keep_alive is not None:
                self.keepalive = connack.server_keep_alive
            if self.subscriptions:
                self._subscribe()
            # From here on the socket never blocks: polls wait in select, sends wait for room (_send_now).
            sock.setblocking(False)
        except BaseException:
            self.close()
            sock.close()
            raise

    def _subscribe(self) -> None:
        packet_id = self._packet_id()
        self._send_now(wire.subscribe_packet(packet_id, self.subscriptions))
        suback = self._expect(wire.SubAck)
        self._in_flight.discard(packet_id)
        refused = [f for (f, _), code in zip(self.subscriptions, suback.reasons, strict=False) if code >= 0x80]
        if suback.packet_id != packet_id or len(suback.reasons) != len(self.subscriptions) or refused:
            raise BrokerError(f"the broker refused the subscription to {', '.join(refused) or 'the topics'}")

    def _expect(self, kind: type[_P]) -> _P:
        """Read until a packet of `kind` arrives (keeping messages that come first), within the handshake time."""
        assert self._sock is not None
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_SECONDS
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerError(f"the broker did not answer with {kind.__name__} in time")
            self._sock.settimeout(remaining)
            data = self._sock.recv(RECV_BYTES)
            if not data:
                raise BrokerError("the broker closed the connection during the handshake")
            found: _P | None = None
            for packet in self._reader.feed(data):
                if isinstance(packet, wire.Publish):
                    self._early.append(packet)
                elif isinstance(packet, wire.Disconnect):
                    raise BrokerError(f"the broker disconnected: reason 0x{packet.reason:02x} {packet.reason_string}")
                elif isinstance(packet, kind) and found is None:
                    found = packet
            if found is not None:
                return found

    def poll(self, timeout: float) -> list[wire.Publish]:
        """Send what is buffered, wait up to `timeout` for the broker, and return the messages it sent."""
        sock = self._sock
        if sock is None:
            raise BrokerError("not connected")
        self._keep_alive()
        self.flush()
        received, self._early = self._early, []
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if not pending and not received:
            readable, _, _ = select.select([sock], [], [], timeout)
            if not readable:
                return received
        while True:
            try:
                data = sock.recv(RECV_BYTES)
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            if not data:
                raise BrokerError("the broker closed the connection")
            for packet in self._reader.feed(data):
                if isinstance(packet, wire.Publish):
                    received.append(packet)
                elif isinstance(packet, wire.PubAck):
                    self._released(packet.packet_id)
                elif isinstance(packet, wire.PingResp):
                    self._ping_sent_at = None
                elif isinstance(packet, wire.Disconnect):
                    raise BrokerError(f"the broker disconnected: reason 0x{packet.reason:02x} {packet.reason_string}")
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending() > 0) and len(data) < RECV_BYTES:
                break
        return received

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1: now, or once the broker has acknowledged enough earlier ones (its Receive Maximum)."""
        if len(self._in_flight) < self._quota:
            self._out += wire.publish_packet(topic, payload, qos=1, packet_id=self._packet_id())
        else:
            self._waiting.append((topic, payload))

    def ack(self, packet_id: int) -> None:
        """PUBACK a QoS 1 message received on this connection."""
        self._out += wire.puback_packet(packet_id)

    def flush(self) -> None:
        if self._out and self._sock is not None:
            self._send_now(bytes(self._out))
            self._out.clear()

    def close(self) -> None:
        """Say goodbye if possible and close the socket; safe to call on a closed link."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.settimeout(1.0)
            sock.sendall(bytes(self._out) + wire.DISCONNECT_PACKET)
        except OSError:
            pass
        finally:
            self._out.clear()
            sock.close()

    def _released(self, packet_id: int) -> None:
        self._in_flight.discard(packet_id)
        while self._waiting and len(self._in_flight) < self._quota:
            topic, payload = self._waiting.popleft()
            self._out += wire.publish_packet(topic, payload, qos=1, packet_id=self._packet_id())

    def _packet_id(self) -> int:
        while True:
            self._next_id = self._next_id % 0xFFFF + 1
            if self._next_id not in self._in_flight:
                self._in_flight.add(self._next_id)
                return self._next_id

    def _send_now(self, data: bytes) -> None:
        sock = self._sock
        assert sock is not None
        if sock.gettimeout() != 0.0:  # still in the handshake
            sock.sendall(data)
        else:
            view, deadline = memoryview(data), time.monotonic() + SEND_TIMEOUT_SECONDS
            while view:
                try:
                    view = view[sock.send(view):]
                    continue
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                if time.monotonic() > deadline:
                    raise BrokerError(f"the broker has not read what the ingest sent for {SEND_TIMEOUT_SECONDS:.0f} s")
                select.select([], [sock], [], 0.1)
        self._last_sent = time.monotonic()

    def _keep_alive(self) -> None:
        """PINGREQ when nothing was sent for half the keepalive; a ping unanswered for a whole one is a dead link."""
        if not self.keepalive:
            return
        now = time.monotonic()
        if self._ping_sent_at is not None and now - self._ping_sent_at > self.keepalive:
            raise BrokerError(f"the broker has not answered a ping for {self.keepalive} s")
        if self._ping_sent_at is None and now - self._last_sent >= self.keepalive / 2:
            self._out += wire.PINGREQ_PACKET
            self._ping_sent_at = now
