"""A stand-in for the hub's ingest in edge tests: a real MQTT client on the real broker that verifies each
batch with the station's key, remembers record ids (idempotent, as the hub is) and answers with acks signed
by a test hub key. Knobs let a test lose acks, hold them back, or refuse records.
"""

from __future__ import annotations

import collections
import datetime
import threading
import time
import urllib.parse
from collections.abc import Callable

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion

from protocol import ProtocolError
from protocol.records import Ack, AckWarning, Batch, Record, Rejection, validate_record
from protocol.signing import peek_kid, sign_ack, verify_batch
from protocol.topics import INGEST_SUBSCRIPTION, acks_topic, parse_topic


class HubDouble:
    def __init__(self, broker_url: str, station_keys: dict[str, Ed25519PublicKey], hub_key: Ed25519PrivateKey,
                 ca_file: str | None = None):
        parts = urllib.parse.urlsplit(broker_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1883
        self.station_keys = station_keys
        self.hub_key = hub_key
        self.lock = threading.Lock()
        self.deliveries: collections.Counter[str] = collections.Counter()  # record_id -> times received
        self.stored: dict[str, Record] = {}  # what the hub would have committed, once per record_id
        self.order: list[str] = []  # record ids in the order first stored
        self.batches: list[Batch] = []
        self.bad_batches = 0
        self.acks_sent = 0
        self.drop_acks = 0  # lose the next N acks (the station must time out and resend)
        self.silent = False  # store but never answer
        self.reject: dict[str, str] = {}  # record_id or voucher_no -> reason code
        self.warn: dict[str, tuple[str, str]] = {}  # record_id or voucher_no -> (code, detail)
        self.on_batch: Callable[[Batch], None] | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hub-double", protocol=mqtt.MQTTv5)
        if ca_file is not None:
            self.client.tls_set(ca_certs=ca_file)
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    def start(self) -> HubDouble:
        self.client.connect(self.host, self.port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(10), "hub double could not subscribe"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> HubDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        client.subscribe(INGEST_SUBSCRIPTION, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            device_id, _ = parse_topic(message.topic)
            token = bytes(message.payload).decode("ascii")
            kid = peek_kid(token)
            if kid != device_id or device_id not in self.station_keys:
                raise ProtocolError(f"kid {kid!r} on topic of {device_id!r}")
            batch = verify_batch(token, self.station_keys[device_id], expected_kid=device_id)
        except (ProtocolError, UnicodeDecodeError):
            with self.lock:
                self.bad_batches += 1
            return
        accepted: list[str] = []
        rejected: list[Rejection] = []
        warnings: list[AckWarning] = []
        with self.lock:
            self.batches.append(batch)
            for raw in batch.records:
                # Test records carry fixed past dates; the double only checks the shape, not the calendar.
                record = validate_record(raw, today=datetime.date(2100, 1, 1))
                self.deliveries[record.record_id] += 1
                reason = self.reject.get(record.record_id) or self.reject.get(record.voucher_no)
                if reason is not None:
                    rejected.append(Rejection(record_id=record.record_id, reason=reason))
                    continue
                if record.record_id not in self.stored:
                    self.stored[record.record_id] = record
                    self.order.append(record.record_id)
                accepted.append(record.record_id)
                warn = self.warn.get(record.record_id) or self.warn.get(record.voucher_no)
                if warn is not None:
                    code, detail = warn
                    warnings.append(AckWarning(record_id=record.record_id, code=code, detail=detail))
            if self.on_batch is not None:
                self.on_batch(batch)
            if self.silent:
                return
            if self.drop_acks > 0:
                self.drop_acks -= 1
                return
            self.acks_sent += 1
        ack = Ack(batch_seq=batch.batch_seq, accepted=accepted, rejected=rejected, warnings=warnings)
        client.publish(acks_topic(device_id), sign_ack(ack, self.hub_key).encode("ascii"), qos=1)

    def stored_ids(self) -> set[str]:
        with self.lock:
            return set(self.stored)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)
