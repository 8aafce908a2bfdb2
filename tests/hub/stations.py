"""A simulated scan station for hub tests and the ingest benchmark: a key, a venue, records, signed batches."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import psycopg

from protocol.records import JST, ReadInfo, Record, Vaccine, encode_batch, japan_today, new_record_id
from protocol.signing import generate_key, public_key_to_pem, sign_batch
from protocol.topics import records_topic

MUNI_A = "131016"  # 千代田区
MUNI_B = "271004"  # 大阪市
MUNI_C = "131024"  # 中央区 (Tokyo)


class Station:
    """One station of one venue, with its own key and batch counter."""

    def __init__(self, device_id: str = "st-0001", venue_id: str = "v-131016-001", municipality_code: str = MUNI_A):
        self.device_id = device_id
        self.venue_id = venue_id
        self.municipality_code = municipality_code
        self.key = generate_key()
        self.public_pem = public_key_to_pem(self.key.public_key()).decode()
        self._seq = itertools.count(1)
        self._voucher = itertools.count(1)

    @property
    def topic(self) -> str:
        return records_topic(self.device_id)

    def enroll(self, owner_dsn: str, venue_name: str = "会場") -> None:
        """Register the venue (if new) and this station directly in the database."""
        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO venues VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                         (self.venue_id, self.municipality_code, venue_name))
            conn.execute("INSERT INTO devices (device_id, venue_id, public_key_pem) VALUES (%s, %s, %s)",
                         (self.device_id, self.venue_id, self.public_pem))

    def next_seq(self) -> int:
        return next(self._seq)

    def next_voucher(self) -> str:
        return f"{next(self._voucher):010d}"

    def record(
        self,
        voucher_no: str | None = None,
        dose: int = 1,
        *,
        municipality_code: str | None = None,
        administered_on: datetime.date | None = None,
        scanned_at: datetime.datetime | None = None,
        maker: Any = "pfizer",
        lot: str = "FA1234",
        status: Any = "vaccinated",
        venue_id: str | None = None,
    ) -> Record:
        now = scanned_at or datetime.datetime.now(JST)
        return Record(
            record_id=new_record_id(), op="register", municipality_code=municipality_code or self.municipality_code,
            voucher_no=voucher_no or self.next_voucher(), ticket_kind="1", dose=dose, status=status,
            administered_on=administered_on or japan_today(now), venue_id=venue_id or self.venue_id,
            vaccine=Vaccine(maker=maker, lot=lot), doctor="山田 太郎", read=ReadInfo(source="qr", frames=1),
            scanned_at=now,
        )

    def void(self, target: Record, *, scanned_at: datetime.datetime | None = None) -> Record:
        now = scanned_at or datetime.datetime.now(JST)
        return Record(
            record_id=new_record_id(), op="void", municipality_code=target.municipality_code,
            voucher_no=target.voucher_no, ticket_kind=target.ticket_kind, dose=target.dose, status=target.status,
            administered_on=target.administered_on, venue_id=target.venue_id, vaccine=target.vaccine,
            doctor=target.doctor, read=target.read, scanned_at=now, voids_record_id=target.record_id,
        )

    def payload(self, records: list[Record] | list[bytes], seq: int | None = None) -> bytes:
        """The unsigned batch JSON."""
        return encode_batch(device_id=self.device_id, batch_seq=next(self._seq) if seq is None else seq,
                            sent_at=datetime.datetime.now(JST), records=records)

    def batch(self, records: list[Record] | list[bytes], seq: int | None = None) -> bytes:
        """A signed records message, as published."""
        return sign_batch(self.payload(records, seq), self.key, self.device_id).encode()


class StationClient:
    """A station's MQTT side: publishes signed batches, resends the unanswered, collects verified acks."""

    def __init__(self, station: Station, broker_host: str, broker_port: int, hub_public_key: Any):
        import threading

        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.station = station
        self.hub_key = hub_public_key
        self.acks: dict[int, Any] = {}
        self.bad_acks = 0
        self.outbox: dict[int, bytes] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{station.device_id}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe(f"vrs/v1/devices/{station.device_id}/acks", qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect_async(broker_host, broker_port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        from protocol.errors import ProtocolError
        from protocol.signing import verify_ack

        try:
            ack = verify_ack(msg.payload.decode(), [self.hub_key])
        except (ProtocolError, UnicodeDecodeError):
            self.bad_acks += 1
            return
        with self._lock:
            self.acks[ack.batch_seq] = ack
            self.outbox.pop(ack.batch_seq, None)

    def send(self, records: list[Record] | list[bytes], seq: int | None = None) -> int:
        seq_no = self.station.next_seq() if seq is None else seq
        payload = self.station.payload(records, seq_no)
        token = sign_batch(payload, self.station.key, self.station.device_id).encode()
        with self._lock:
            self.outbox[seq_no] = token
        self.client.publish(self.station.topic, token, qos=1)
        return seq_no

    def publish_raw(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def drain(self, timeout: float = 60.0, resend_after: float = 3.0) -> bool:
        """Wait until every sent batch is acked, resending the unanswered ones; False on timeout."""
        import time

        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            with self._lock:
                pending = dict(self.outbox)
            if not pending:
                return True
            if time.monotonic() - last > resend_after:
                for token in pending.values():
                    self.client.publish(self.station.topic, token, qos=1)
                last = time.monotonic()
            time.sleep(0.05)
        return False

    def wait_ack(self, seq: int, timeout: float = 30.0) -> Any:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if seq in self.acks:
                return self.acks[seq]
            time.sleep(0.02)
        return None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
