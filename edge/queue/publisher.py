"""The publisher: one thread that keeps the MQTT connection to the hub's broker, drains the outbox in signed
batches, and applies the hub's signed acks.

It drives paho-mqtt's socket itself (``loop_read``/``loop_write``/``loop_misc`` around one ``select``) so
that a scan committed by another thread wakes it at once, and so that reconnecting follows our Backoff.
The broker's PUBACK means nothing here: an entry leaves the outbox only on an ack verified with the hub's
key (``Outbox.apply_ack``). Clean sessions: after any reconnect, whatever is still in the outbox goes out
again, with the same record ids.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import select
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence

import msgspec
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.queue.backoff import Backoff
from edge.queue.batching import SendWindow, SentBatch, take_batch
from edge.queue.outbox import AckResult, Outbox, OutboxError
from protocol import BatchError, SignatureError
from protocol.records import JST, MAX_RECORDS_PER_BATCH, Batch, encode_batch
from protocol.signing import sign_batch, verify_ack
from protocol.topics import StationStatus, acks_topic, encode_status, records_topic, status_topic

log = logging.getLogger(__name__)

OFFLINE_WILL = b'{"state":"offline"}'


class BrokerAddress(msgspec.Struct, frozen=True, kw_only=True):
    """Where the broker is and how to log in (username defaults to the device id, as DESIGN.md requires)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None


def parse_broker_url(url: str, ca_file: str | None = None) -> BrokerAddress:
    """``mqtt://[user[:password]@]host:port`` or ``mqtts://...``; ValueError saying what is wrong."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"the scheme must be mqtt:// or mqtts://, not {parts.scheme or 'missing'!r}")
    if not parts.hostname:
        raise ValueError("no host name")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("a broker URL has no path, query or fragment")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"the port is not a number from 1 to 65535: {exc}") from exc
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password is not None else None,
        ca_file=ca_file,
    )


class ConnectionChanged(msgspec.Struct, frozen=True, tag=True):
    """The link to the broker came up (ready to send) or went down."""

    online: bool
    detail: str = ""


class Answered(msgspec.Struct, frozen=True, tag=True):
    """A verified hub ack was applied to the outbox."""

    result: AckResult
    queue_depth: int


class AckIgnored(msgspec.Struct, frozen=True, tag=True):
    """A message on the acks topic was not a validly signed ack; nothing changed."""

    reason: str


PublisherEvent = ConnectionChanged | Answered | AckIgnored


class Publisher:
    """Drains an Outbox to the broker; start() runs it in a thread, stop() ends it cleanly."""

    ACK_TIMEOUT = 20.0
    """Seconds to wait for the hub's ack of a batch before sending everything unanswered again."""
    WINDOW = 4
    """Batches sent and unanswered at once (a backlog drains without waiting a round trip per batch)."""
    KEEPALIVE = 30
    """MQTT keepalive in seconds; a dead LTE link is noticed within 1.5 times this."""
    CONNECT_TIMEOUT = 10.0
    STATUS_INTERVAL = 2.0
    """Least seconds between two retained status messages while the queue depth changes."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        device_id: str,
        broker: BrokerAddress,
        private_key: Ed25519PrivateKey,
        hub_keys: Sequence[Ed25519PublicKey],
        version: str = "",
        backoff: Backoff | None = None,
        on_event: Callable[[PublisherEvent], None] | None = None,
        max_records: int = MAX_RECORDS_PER_BATCH,
    ) -> None:
        self.outbox = outbox
        self.device_id = device_id
        self.broker = broker
        self._key = private_key
        self._hub_keys = list(hub_keys)
        self.version = version
        self._backoff = backoff or Backoff()
        self._on_event = on_event
        self._max_records = max_records
        self._window = SendWindow(self.WINDOW)
        self._records_topic = records_topic(device_id)
        self._acks_topic = acks_topic(device_id)
        self._status_topic = status_topic(device_id)

        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

        self._connected = False  # CONNACK received
        self._ready = False  # acks subscription confirmed: safe to send records
        self._next_attempt = 0.0
        self._status_due = 0.0
        self._status_dirty = True
        self.online = False
        self.last_error = ""
        self.batches_sent = 0
        self.acks_ignored = 0
        self._client = self._make_client()

    # -- public, any thread ---------------------------------------------------------------------------

    def start(self) -> None:
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="vrs-publisher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Something was committed to the outbox: send it now."""
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(OSError):  # a full wake pipe already wakes the thread; a closed one is done
                wake.send(b"\0")

    def stop(self, timeout: float = 5.0) -> None:
        """Say "offline" in the retained status, disconnect, and end the thread."""
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()

    # -- the thread -----------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device_id, protocol=mqtt.MQTTv5)
        client.username_pw_set(self.broker.username or self.device_id, self.broker.password)
        if self.broker.tls:
            client.tls_set(ca_certs=self.broker.ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.will_set(self._status_topic, OFFLINE_WILL, qos=1, retain=True)
        client.connect_timeout = self.CONNECT_TIMEOUT
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except OutboxError as exc:
                # The disk hiccuped (full, I/O error): nothing was lost, everything is still in the outbox.
                # Keep the thread alive and retry shortly; dying here would strand the queue until a reboot.
                self.last_error = str(exc)
                log.error("outbox unavailable, retrying: %s", exc)
                self._window.go_back()
                self._stopping.wait(1.0)
            except Exception as exc:  # a bug must not silently stop the drain: log it loudly and carry on
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                log.exception("publisher step failed, retrying")
                self._window.go_back()
                self._stopping.wait(1.0)
        self._say_goodbye()

    def _step(self) -> None:
        now = time.monotonic()
        if not self._connected and self._client.socket() is None and now >= self._next_attempt:
            self._connect()
        sock = self._client.socket()
        assert self._wake_r is not None  # start() made it before the thread runs
        readers: list[socket.socket] = [self._wake_r]
        writers: list[socket.socket] = []
        if sock is not None:
            readers.append(sock)  # type: ignore[arg-type]  # paho returns the socket it made
            if self._client.want_write():
                writers.append(sock)  # type: ignore[arg-type]  # as above
        readable, writable, _ = select.select(readers, writers, [], self._timeout(now))
        if self._wake_r in readable:
            self._drain_wake()
            self._status_dirty = True
        if sock is not None and sock in readable:
            self._client.loop_read()
        if sock is not None and sock in writable and self._client.socket() is not None:
            self._client.loop_write()
        if self._client.socket() is not None:
            self._client.loop_misc()
        if self._ready:
            self._pump(time.monotonic())

    def _timeout(self, now: float) -> float:
        deadlines = [now + 1.0]  # loop_misc must run about once a second for keepalive
        if not self._connected and self._client.socket() is None:
            deadlines.append(self._next_attempt)
        if self._ready:
            ack_deadline = self._window.next_deadline()
            if ack_deadline is not None:
                deadlines.append(ack_deadline)
            if self._status_dirty:
                deadlines.append(self._status_due)
        return max(0.0, min(deadlines) - now)

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        with contextlib.suppress(OSError):  # BlockingIOError: drained
            while self._wake_r.recv(4096):
                pass

    def _connect(self) -> None:
        try:
            self._client.connect(self.broker.host, self.broker.port, self.KEEPALIVE, clean_start=True)
        except (OSError, ssl.SSLError) as exc:
            self._failed(f"cannot reach the broker at {self.broker.host}:{self.broker.port}: {exc}")

    def _failed(self, detail: str) -> None:
        delay = self._backoff.next_delay()
        self._next_attempt = time.monotonic() + delay
        self.last_error = detail
        log.warning("%s; next attempt in %.1f s", detail, delay)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason_code: ReasonCode, properties: Properties | None) -> None:
        if reason_code.is_failure:
            self._failed(f"the broker refused the connection: {reason_code}")
            return
        self._connected = True
        client.subscribe(self._acks_topic, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int,
                      reason_codes: list[ReasonCode], properties: Properties | None) -> None:
        if any(code.is_failure for code in reason_codes):
            self._failed(f"the broker refused the acks subscription: {reason_codes[0]}")
            client.disconnect()
            return
        self._ready = True
        self.online = True
        self.last_error = ""
        self._backoff.reset()
        self._window.go_back()
        self._status_dirty = True
        self._status_due = 0.0
        self._emit(ConnectionChanged(online=True))

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: mqtt.DisconnectFlags,
                       reason_code: ReasonCode, properties: Properties | None) -> None:
        was_online = self.online
        self._connected = self._ready = self.online = False
        self._window.go_back()
        if not self._stopping.is_set():
            self._failed(f"connection to the broker lost: {reason_code}")
        if was_online:
            self._emit(ConnectionChanged(online=False, detail=self.last_error))

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic != self._acks_topic:
            return
        try:
            ack = verify_ack(bytes(message.payload).decode("ascii"), self._hub_keys)
        except (SignatureError, BatchError, UnicodeDecodeError) as exc:
            # Anyone who can publish on our acks topic could try to empty the outbox; nothing changes.
            self.acks_ignored += 1
            log.warning("ignored a message on %s that is not a valid hub ack: %s", message.topic, exc)
            self._emit(AckIgnored(reason=str(exc)))
            return
        try:
            result = self.outbox.apply_ack(ack, datetime.datetime.now(JST))
        except OutboxError as exc:
            # The records stay in the outbox and are sent again; the hub answers again (idempotent).
            log.error("could not apply a hub ack, the records will be sent again: %s", exc)
            return
        answered = set(ack.accepted) | {r.record_id for r in ack.rejected}
        self._window.answered(ack.batch_seq, answered)
        self._status_dirty = True
        self._emit(Answered(result=result, queue_depth=self.outbox.depth()))

    def _pump(self, now: float) -> None:
        if self._window.expired(now):
            log.warning("no hub ack within %.0f s: sending the unanswered records again", self.ACK_TIMEOUT)
            self._window.go_back()
        while not self._window.full and not self._stopping.is_set():
            pending = self.outbox.pending_after(self._window.cursor, self._max_records)
            batch = take_batch(pending, max_records=self._max_records)
            if not batch:
                break
            batch_seq = self.outbox.next_batch_seq()
            payload = encode_batch(Batch(
                device_id=self.device_id,
                batch_seq=batch_seq,
                sent_at=datetime.datetime.now(JST),
                records=[msgspec.Raw(entry.body) for entry in batch],
            ))
            token = sign_batch(payload, self._key, self.device_id)
            info = self._client.publish(self._records_topic, token.encode("ascii"), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break  # the connection is going down; on_disconnect will go back
            self.batches_sent += 1
            self._window.sent(SentBatch(
                batch_seq=batch_seq,
                record_ids=tuple(entry.record_id for entry in batch),
                last_seq=batch[-1].seq,
                deadline=time.monotonic() + self.ACK_TIMEOUT,
            ))
        if self._status_dirty and now >= self._status_due:
            self._publish_status("online")

    def _status(self, state: str) -> bytes:
        try:
            depth, last_scan = self.outbox.depth(), self.outbox.last_scan_at()
        except OutboxError:
            depth, last_scan = 0, None  # still say online/offline; the figures come with the next status
        return encode_status(StationStatus(
            state=state,  # type: ignore[arg-type]  # "online" or "offline", both literals of StationStatus
            queue_depth=depth,
            version=self.version,
            last_scan_at=last_scan,
            sent_at=datetime.datetime.now(JST),
        ))

    def _publish_status(self, state: str) -> mqtt.MQTTMessageInfo:
        self._status_dirty = False
        self._status_due = time.monotonic() + self.STATUS_INTERVAL
        return self._client.publish(self._status_topic, self._status(state), qos=1, retain=True)

    def _say_goodbye(self) -> None:
        """A clean stop sends no last will, so say "offline" ourselves, wait briefly for it, then leave."""
        if self._ready:
            info = self._publish_status("offline")
            self._flush(info.is_published, deadline=time.monotonic() + 2.0)
        if self._client.socket() is not None:
            self._client.disconnect()
            self._flush(lambda: self._client.socket() is None, deadline=time.monotonic() + 1.0)
        self.online = False

    def _flush(self, done: Callable[[], bool], deadline: float) -> None:
        """Run the socket alone until ``done()`` or the deadline (used only while stopping)."""
        while not done() and time.monotonic() < deadline:
            sock = self._client.socket()
            if sock is None:
                return
            writers = [sock] if self._client.want_write() else []
            readable, writable, _ = select.select([sock], writers, [], 0.1)
            if readable:
                self._client.loop_read()
            if writable and self._client.socket() is not None:
                self._client.loop_write()

    def _emit(self, event: PublisherEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a broken listener (the kiosk) must not stop the outbox from draining
                log.exception("publisher event listener failed")
