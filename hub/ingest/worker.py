"""The ingest process: an MQTT 5 client on the shared subscription feeding one database worker.

Three threads hand work along, so that checking signatures, waiting for the database and talking to the
broker overlap instead of taking turns (libsodium releases the GIL while it works):
- the network loop queues what arrives and sends what the others queued for it: each batch's signed ack
  and then the PUBACK of its MQTT message, only after its commit (one thread owns the connection, so
  sending needs no hand-over between threads);
- the checker takes a group (up to a group size, fairly between stations) and verifies it against the
  station keys the last transactions saw;
- the main loop applies the group in one transaction, which reads the keys again: a batch whose station
  changed meanwhile (revoked, key rotated or retired) is checked again inside it, so nothing the checker
  did can outlive a revocation.
Nothing is acknowledged before it is committed, so a crash at any point loses nothing: the station's
outbox resends what no signed ack answered, and the record_id dedup keeps it exactly once.
"""

from __future__ import annotations

import collections
import datetime
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.config import HubConfig
from hub.db import devices
from hub.db.connect import connect
from hub.db.devices import DeviceKey
from hub.db.scoped import Scope, scoped
from hub.errors import BatchRefused, BrokerError, IngestError, KeyFileError
from hub.ingest.apply import GroupResult, apply_in_transaction
from hub.ingest.backoff import Backoff
from hub.ingest.fair_queue import FairQueue
from hub.ingest.mqtt_link import MqttLink
from hub.ingest.mqtt_wire import Publish
from hub.ingest.station_rate import StationRate
from hub.ingest.verify import CheckedBatch, KeyCache, check_batch, signer_of
from hub.keys import load_hub_key
from protocol.errors import BatchError, TopicError
from protocol.records import Ack, japan_today
from protocol.signing import sign_ack
from protocol.topics import INGEST_SUBSCRIPTION, STATUS_SUBSCRIPTION, acks_topic, decode_status, parse_topic

log = logging.getLogger("hub.ingest")

# Unacknowledged messages the broker may have in flight to this worker (MQTT 5 Receive Maximum).
RECEIVE_MAXIMUM = 1000
KEEPALIVE_SECONDS = 30
# Immediate retries of a transaction that lost a race (deadlock, serialization, unique key) before
# its batches are treated as content errors.
MAX_CONFLICT_RETRIES = 5
# A group also stops growing at this many payload bytes (about 7,000 records): a transaction of a
# backlog stays short enough to retry cheaply and to keep its JSON documents small.
MAX_GROUP_BYTES = 4 * 1024 * 1024


class Incoming(msgspec.Struct, frozen=True):
    """One message as received, tagged with the connection it came on (acks are per connection)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int


class _StationsChanged(IngestError):
    """A station's registration changed between the check ahead and the transaction (rolls it back)."""


class Precheck(NamedTuple):
    """A records message as the checker left it: its signer, and its outcome against a key it knew."""

    device_id: str
    key: DeviceKey | None  # the registration it was checked against; None: not checked yet
    outcome: CheckedBatch | BatchRefused | None


# Groups checked ahead of the database work: enough to keep it busy (a live stream comes in small groups
# that the main loop joins into one transaction), few enough to stay current.
CHECKED_AHEAD = 8
# A station over its message rate is named in the log at most this often.
RATE_LOG_SECONDS = 60.0
# How long the network loop waits for traffic: short while answers are flowing (they are queued by
# other threads and sent by this one, between waits), long when idle.
BUSY_WAIT_SECONDS = 0.003
IDLE_WAIT_SECONDS = 0.2
# How often the hub key file is looked at: `vrs-hub keys rotate` takes effect without a restart.
KEY_CHECK_SECONDS = 2.0


class Counters(msgspec.Struct):
    """What the worker did so far (logs, tests and the benchmark read it)."""

    batches: int = 0
    transactions: int = 0
    records_new: int = 0
    records_duplicate: int = 0
    refused: int = 0
    rejected: int = 0
    failed: int = 0
    statuses: int = 0
    db_retries: int = 0
    over_rate: int = 0


class IngestWorker:
    """One ingest worker; `run` blocks until `stop` is set."""

    def __init__(self, config: HubConfig, *, client_id: str | None = None, stop: threading.Event | None = None):
        self.config = config
        self.client_id = client_id or config.ingest_client_id
        self.stop = stop or threading.Event()
        self.counters = Counters()
        self.connected = threading.Event()
        # Groups are formed one station at a time, so a flooding station cannot starve the others.
        self._queue: FairQueue[Incoming] = FairQueue(size_of=lambda m: len(m.payload))
        # ... and cannot make the hub check more than its rate of signatures a second either.
        self._rate = StationRate(config.ingest_station_rate, config.ingest_station_burst, time.monotonic)
        self._rate_logged: dict[str, float] = {}
        self._generation = 0
        self._keys = KeyCache()
        self._hub_key_file: Path = config.require("hub_key_file")
        self._hub_key_stamp = _file_stamp(self._hub_key_file)
        self._hub_key = load_hub_key(self._hub_key_file)
        self._hub_key_checked = time.monotonic()
        self._db: psycopg.Connection[Any] | None = None
        # The keys the last transactions (or the checker's own lookups) read, by station: what the checker
        # verifies against. Replaced whole under the lock, read without it.
        self._known_keys: dict[str, DeviceKey] = {}
        self._known_lock = threading.Lock()
        self._check_db: psycopg.Connection[Any] | None = None
        self._lookups_paused_until = 0.0
        self._checked: queue.Queue[tuple[list[Incoming], list[Precheck | BatchRefused | None] | None]] = (
            queue.Queue(CHECKED_AHEAD))
        # Acks and PUBACKs, queued by the other threads and sent by the network loop in order (a deque: the
        # loop polls it between waits, so nobody needs waking, and append/popleft are atomic).
        self._outgoing: collections.deque[Callable[[], None]] = collections.deque()
        self._net_stop = threading.Event()
        self._last_received = 0.0  # by the network loop, to know when answers are due
        self._link = MqttLink(config.mqtt, self.client_id, receive_maximum=RECEIVE_MAXIMUM, keepalive=KEEPALIVE_SECONDS,
                              subscriptions=[(INGEST_SUBSCRIPTION, 1), (STATUS_SUBSCRIPTION, 1)])

    # --- MQTT -----------------------------------------------------------------------------------

    def _on_message(self, msg: Publish) -> None:
        parts = msg.topic.split("/")
        station = parts[3] if len(parts) == 5 else msg.topic  # vrs/v1/devices/{id}/{kind}; anything else alone
        self._last_received = time.monotonic()
        incoming = Incoming(msg.topic, msg.payload, msg.packet_id, msg.qos, self._generation)
        if self._rate.allow(station):
            self._queue.put(station, incoming)
        else:
            self._over_rate(station, incoming)

    def _over_rate(self, station: str, msg: Incoming) -> None:
        """Drop a message beyond its station's rate, unanswered: the station's outbox sends it again later."""
        self.counters.over_rate += 1
        now = time.monotonic()
        if now - self._rate_logged.get(station, -RATE_LOG_SECONDS) >= RATE_LOG_SECONDS:
            if len(self._rate_logged) > 10_000:
                self._rate_logged.clear()
            self._rate_logged[station] = now
            log.warning("%s sends more than %g messages a second (%d at once); dropping the rest unanswered"
                        " (%d so far from all stations)", station[:200], self._rate.rate, self._rate.burst,
                        self.counters.over_rate)
        self._finish(msg)

    def _network_loop(self) -> None:
        settings = self.config.mqtt
        backoff = Backoff()
        last_sent = 0.0
        while not self._net_stop.is_set():
            try:
                if not self._link.connected:
                    # A clean session each time: a worker that went away must not stay a member of the shared
                    # subscription collecting messages; what it held unacknowledged, stations resend.
                    self._link.connect()
                    self._generation += 1
                    self.connected.set()
                    backoff.reset()
                    log.info("connected to the broker as %s", self.client_id)
                # Short waits while messages come in or answers go out (a commit's acks then leave within a
                # few ms of it), long ones when idle.
                busy = time.monotonic() - max(last_sent, self._last_received) < 1.0
                for msg in self._link.poll(BUSY_WAIT_SECONDS if busy else IDLE_WAIT_SECONDS):
                    self._on_message(msg)
                if self._send_pending():
                    last_sent = time.monotonic()
                    self._link.flush()
                continue
            except (OSError, BrokerError) as exc:
                was_connected = self.connected.is_set()
                self.connected.clear()
                self._link.close()
                if was_connected:
                    log.warning("disconnected from the broker: %s", exc)
                else:
                    log.warning("cannot reach the broker at %s:%s: %s", settings.host, settings.port, exc)
            self._net_stop.wait(backoff.next_delay())
        try:
            if self._link.connected:
                self._send_pending()  # what is committed is still answered before the connection closes
        except (OSError, BrokerError):
            pass
        self._link.close()
        self.connected.clear()

    def _finish(self, msg: Incoming) -> None:
        """PUBACK a message once its outcome is committed (only on the connection it came from)."""
        self._outgoing.append(lambda: self._puback(msg))

    def _puback(self, msg: Incoming) -> None:
        if msg.qos > 0 and msg.generation == self._generation and self._link.connected:
            self._link.ack(msg.mid)

    def _send_pending(self) -> bool:
        """Publish the acks and PUBACKs queued so far, in order (on the network thread); True if any."""
        sent = False
        while True:
            try:
                send = self._outgoing.popleft()
            except IndexError:
                return sent
            sent = True
            try:
                send()
            except Exception:  # the station resends what is left unanswered; answer the rest
                log.exception("could not answer a station")

    # --- database -------------------------------------------------------------------------------

    def _with_db(self, work: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        """Run `work` on the ingest connection, reconnecting and retrying until it succeeds or we stop.

        A lost connection or a restarted server rolls the transaction back, so running it again is safe.
        """
        backoff = Backoff()
        conflicts = 0
        while True:
            try:
                if self._db is None or self._db.closed:
                    self._db = connect(self.config.database_url_for("ingest"), "vrs_ingest", connect_timeout=5)
                    # An ack promises the records are stored: whatever the server's default, a commit
                    # must reach the WAL before it returns.
                    self._db.execute("SET synchronous_commit TO on")
                    # psycopg prepares a statement run five times, and PostgreSQL may then keep one generic
                    # plan for it; made while the tables were small, that plan reads them whole for every
                    # key as they grow. Plan each group's statements for the tables as they are.
                    self._db.execute("SET plan_cache_mode TO force_custom_plan")
                return work(self._db)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure,
                    psycopg.errors.UniqueViolation):
                # Concurrent writers: the retry sees the other's committed rows. A conflict that comes
                # back every time is not a race but the content: let the caller isolate the batch.
                self.counters.db_retries += 1
                conflicts += 1
                if conflicts > MAX_CONFLICT_RETRIES:
                    raise
                continue
            except psycopg.OperationalError as exc:
                self.counters.db_retries += 1
                log.warning("database unavailable, retrying: %s", (str(exc).strip().splitlines() or [""])[0])
                if self._db is not None:
                    self._db.close()
                    self._db = None
                if self.stop.wait(backoff.next_delay()):
                    raise

    # --- processing -----------------------------------------------------------------------------

    def _take_group(self) -> list[Incoming]:
        return self._queue.take_group(self.config.ingest_group_batches, MAX_GROUP_BYTES, timeout=0.2)

    def precheck(self, group: list[Incoming]) -> list[Precheck | BatchRefused | None]:
        """Verify a group's records messages against the keys known so far (None for status messages)."""
        today = japan_today(datetime.datetime.now(datetime.UTC))
        known = self._known_keys
        out: list[Precheck | BatchRefused | None] = []
        for msg in group:
            if msg.topic.endswith("/status"):
                out.append(None)
                continue
            try:
                device_id = signer_of(msg.topic, msg.payload)[0]
            except BatchRefused as exc:
                out.append(exc)
                continue
            key = known.get(device_id)
            outcome: CheckedBatch | BatchRefused | None = None
            if key is not None:
                try:
                    outcome = check_batch(msg.topic, msg.payload, {device_id: key}, self._keys, today)
                except BatchRefused as exc:
                    outcome = exc
            out.append(Precheck(device_id, key, outcome))
        return out

    def process(self, group: list[Incoming], checked: list[Precheck | BatchRefused | None] | None = None) -> None:
        """Handle a group of messages taken from the queue (checked ahead, or here when `checked` is None)."""
        if checked is None:
            checked = self.precheck(group)
        signed: list[tuple[Incoming, Precheck]] = []
        for msg, pre in zip(group, checked, strict=True):
            if pre is None:
                self._status(msg)
            elif isinstance(pre, BatchRefused):
                self._refuse(msg, pre)
            else:
                signed.append((msg, pre))
        if signed:
            self._apply_safely(signed)

    def _apply_safely(self, signed: list[tuple[Incoming, Precheck]]) -> None:
        """Apply, and when the database refuses a group for its content, find the culprit batch by batch.

        Only content errors get here (the connection errors are retried inside); a batch that still fails
        alone is logged and dropped unanswered, so one poisonous message cannot stop the ingest.
        """
        try:
            self._records(signed)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            if len(signed) > 1:
                log.warning("a group of %d batches failed (%s); applying them one by one", len(signed), exc)
                for one in signed:
                    self._apply_safely([one])
                return
            msg = signed[0][0]
            self.counters.failed += 1
            log.error("a batch on %s cannot be stored and is dropped unanswered: %s", msg.topic, exc)
            self._finish(msg)

    def _status(self, msg: Incoming) -> None:
        try:
            device_id, _ = parse_topic(msg.topic)
            status = decode_status(msg.payload)
        except (TopicError, BatchError) as exc:
            log.warning("ignoring a malformed status message on %s: %s", msg.topic, exc)
            self._finish(msg)
            return

        def store(conn: psycopg.Connection[Any]) -> bool:
            with conn.transaction():
                return devices.record_status(conn, device_id, status.state, status.queue_depth, status.version,
                                             status.last_scan_at, status.sent_at)

        if not self._with_db(store):
            log.warning("status from unregistered station %r ignored", device_id)
        self.counters.statuses += 1
        self._finish(msg)

    def _records(self, signed: list[tuple[Incoming, Precheck]]) -> None:
        today = japan_today(datetime.datetime.now(datetime.UTC))
        stations = {pre.device_id for _, pre in signed}

        Outcome = tuple[list[tuple[Incoming, CheckedBatch]], list[tuple[Incoming, BatchRefused]], GroupResult,
                        dict[str, DeviceKey]]

        def work(conn: psycopg.Connection[Any], ahead: bool) -> Outcome:
            # One transaction from the key lookup to the commit: a station revoked meanwhile is seen.
            with conn.pipeline(), scoped(conn, Scope.ingest()):
                keys_later = devices.device_keys_later(conn, stations)
                checked: list[tuple[Incoming, CheckedBatch]] = []
                refused: list[tuple[Incoming, BatchRefused]] = []
                if ahead:
                    # Every batch was checked ahead: apply at once, the key lookup travelling with the first
                    # statements, and confirm before the commit that no station changed meanwhile.
                    for msg, pre in signed:
                        if isinstance(pre.outcome, BatchRefused):
                            refused.append((msg, pre.outcome))
                        elif pre.outcome is not None:
                            checked.append((msg, pre.outcome))
                    result = apply_in_transaction(conn, [b for _, b in checked], self.config.min_interval_days)
                    keys = keys_later()
                    if any(keys.get(pre.device_id) != pre.key for _, pre in signed):
                        raise _StationsChanged
                    return checked, refused, result, keys
                keys = keys_later()
                for msg, pre in signed:
                    outcome = pre.outcome
                    if outcome is None or keys.get(pre.device_id) != pre.key:
                        try:
                            outcome = check_batch(msg.topic, msg.payload, keys, self._keys, today)
                        except BatchRefused as exc:
                            outcome = exc
                    if isinstance(outcome, BatchRefused):
                        refused.append((msg, outcome))
                    else:
                        checked.append((msg, outcome))
                result = apply_in_transaction(conn, [b for _, b in checked], self.config.min_interval_days)
            return checked, refused, result, keys

        ahead = all(pre.outcome is not None and pre.key is not None for _, pre in signed)
        try:
            checked, refused, result, keys = self._with_db(lambda conn: work(conn, ahead))
        except _StationsChanged:  # rolled back: check those batches again with the keys as they are now
            checked, refused, result, keys = self._with_db(lambda conn: work(conn, False))
        self._learn(keys, stations)
        for msg, refusal in refused:
            self._refuse(msg, refusal)
        self.counters.transactions += 1
        self.counters.batches += len(checked)
        self.counters.records_new += result.new_records
        self.counters.records_duplicate += result.duplicates
        for (msg, batch), ack in zip(checked, result.acks, strict=True):
            self.counters.rejected += len(ack.rejected)
            if ack.rejected:
                log.info("%s batch %d: rejected %s", batch.device_id, batch.batch_seq,
                         ", ".join(f"{r.record_id or '?'} ({r.reason})" for r in ack.rejected))
            self._send_ack(batch.device_id, ack, msg)

    def _refuse(self, msg: Incoming, exc: BatchRefused) -> None:
        # Unproven senders get no answer (see hub.ingest.verify); the message is dropped after logging.
        self.counters.refused += 1
        log.warning("refused a message on %s: %s", msg.topic[:200], exc)
        self._finish(msg)

    def _send_ack(self, device_id: str, ack: Ack, msg: Incoming) -> None:
        """Sign the ack here and queue its publishing, then the PUBACK of the batch's message, for the network
        loop (which owns the connection and has the broker's packets to read meanwhile)."""
        topic, token = acks_topic(device_id), sign_ack(ack, self._signing_key()).encode("ascii")

        def send() -> None:
            if self._link.connected:
                self._link.publish(topic, token)
            self._puback(msg)

        self._outgoing.append(send)

    def _signing_key(self) -> Ed25519PrivateKey:
        """The hub key to sign acks with, read again when `vrs-hub keys rotate` has replaced the file."""
        now = time.monotonic()
        if now - self._hub_key_checked < KEY_CHECK_SECONDS:
            return self._hub_key
        self._hub_key_checked = now
        try:
            stamp = _file_stamp(self._hub_key_file)
            if stamp != self._hub_key_stamp:
                self._hub_key = load_hub_key(self._hub_key_file)
                self._hub_key_stamp = stamp
                log.info("%s was replaced: acks are signed with the new key from now on", self._hub_key_file)
        except (OSError, KeyFileError) as exc:
            # Rotation replaces the file in one rename, so this is someone's mistake: keep signing.
            log.error("cannot read the hub key file (%s); acks are still signed with the key read before", exc)
        return self._hub_key

    def _learn(self, keys: dict[str, DeviceKey], asked: set[str]) -> None:
        """Note the keys a lookup of the stations `asked` found (and forget those it did not)."""
        with self._known_lock:
            known = dict(self._known_keys)
            for device_id in asked:
                if device_id in keys:
                    known[device_id] = keys[device_id]
                else:
                    known.pop(device_id, None)
            self._known_keys = known

    def _look_up_keys(self, group: list[Incoming]) -> None:
        """Read the keys of stations the checker has not seen yet (at start, or newly registered), on its own
        connection; when the database is away the main loop checks those batches itself."""
        known = self._known_keys
        missing = {parts[3] for msg in group
                   if len(parts := msg.topic.split("/")) == 5 and parts[4] == "records" and parts[3] not in known}
        if not missing or time.monotonic() < self._lookups_paused_until:
            return
        try:
            if self._check_db is None or self._check_db.closed:
                self._check_db = connect(self.config.database_url_for("ingest"), "vrs_ingest", connect_timeout=5)
            with scoped(self._check_db, Scope.ingest()):
                keys = devices.device_keys(self._check_db, missing)
        except psycopg.Error as exc:
            self._lookups_paused_until = time.monotonic() + 1.0
            log.debug("the checker cannot look up station keys: %s", exc)
            if self._check_db is not None:
                self._check_db.close()
                self._check_db = None
            return
        self._learn(keys, missing)

    def _check_loop(self) -> None:
        """Take groups off the queue and check them ahead of the main loop."""
        try:
            self._check_groups()
        finally:
            if self._check_db is not None:
                self._check_db.close()

    def _check_groups(self) -> None:
        while not self.stop.is_set():
            group = self._take_group()
            if not group:
                continue
            checked: list[Precheck | BatchRefused | None] | None
            try:
                self._look_up_keys(group)
                checked = self.precheck(group)
            except Exception:  # the main loop checks this group itself, inside its transaction
                log.exception("checking a group ahead failed")
                checked = None
            item = (group, checked)
            while not self.stop.is_set():
                try:
                    self._checked.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue

    def _join_checked(self, group: list[Incoming], checked: list[Precheck | BatchRefused | None] | None
                      ) -> tuple[list[Incoming], list[Precheck | BatchRefused | None] | None]:
        """Add the groups checked meanwhile to this one, up to a group's size: one commit for all of them."""
        size = sum(len(m.payload) for m in group)
        while len(group) < self.config.ingest_group_batches and size < MAX_GROUP_BYTES:
            try:
                more, more_checked = self._checked.get_nowait()
            except queue.Empty:
                break
            # One of them not checked ahead: the main loop checks the lot.
            checked = None if checked is None or more_checked is None else checked + more_checked
            group = group + more
            size += sum(len(m.payload) for m in more)
        return group, checked

    def run(self) -> None:
        """Connect, subscribe and process until `stop` is set."""
        net = threading.Thread(target=self._network_loop, name="ingest-mqtt", daemon=True)
        checker = threading.Thread(target=self._check_loop, name="ingest-check", daemon=True)
        for thread in (net, checker):
            thread.start()
        try:
            while not self.stop.is_set():
                try:
                    group, checked = self._checked.get(timeout=0.2)
                except queue.Empty:
                    continue
                group, checked = self._join_checked(group, checked)
                try:
                    self.process(group, checked)
                except psycopg.OperationalError:
                    if self.stop.is_set():
                        return  # stopped while waiting for the database: the broker keeps the messages
                    raise
        finally:
            self.stop.set()
            checker.join(timeout=5)
            self._net_stop.set()
            net.join(timeout=5)
            if self._db is not None:
                self._db.close()


def _file_stamp(path: Path) -> tuple[int, int, int]:
    """What changes when the file is replaced or rewritten: device, inode and modification time."""
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_mtime_ns


def run_forever(config: HubConfig, *, client_id: str | None = None) -> None:
    """`vrs-hub ingest`: run one worker until SIGINT or SIGTERM."""
    import signal

    worker = IngestWorker(config, client_id=client_id)

    def _stop(_sig: int, _frame: Any) -> None:
        worker.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    started = time.monotonic()
    worker.run()
    c = worker.counters
    log.info("stopped after %.0f s: %d batches in %d transactions, %d new records, %d duplicates, %d refused,"
             " %d rejected", time.monotonic() - started, c.batches, c.transactions, c.records_new, c.records_duplicate,
             c.refused, c.rejected)
