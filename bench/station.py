"""Station benchmark: scan-to-beep latency (camera frame in -> record committed to the outbox, the moment the
station beeps) and the outbox drain rate of a 10,000-record backlog against a hub that acks at once.

Starts its own Mosquitto on a free loopback port and an ack responder that verifies each batch's signature
and answers with a signed ack, as the hub does after its commit. Prints one JSON line.

    .venv/bin/python bench/station.py [--vouchers 20] [--backlog 10000]
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion

from edge.capture.frames import Frame
from edge.capture.pipeline import Pipeline
from edge.capture.synthetic import TicketSpec, voucher_frame
from edge.queue.outbox import Outbox
from edge.queue.publisher import Publisher, parse_broker_url
from edge.queue.records import Preset, build_record
from edge.station import Station
from protocol import ProtocolError, Voucher
from protocol.records import JST, Ack
from protocol.signing import generate_key, sign_ack, verify_batch
from protocol.topics import INGEST_SUBSCRIPTION, acks_topic, parse_topic

PRESET = Preset(venue_id="v-131016-001", maker="pfizer", lot="FA1234", doctor="山田 太郎")
DEVICE = "st-bench-01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vrs-bench-mqtt-"))
        self.port = free_port()
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"user root\nlistener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "max_queued_messages 100000\n")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Acker:
    """Verifies each batch with the station key and acks every record at once, signed by a hub key."""

    def __init__(self, port: int, station_key: Ed25519PublicKey, hub_key: Ed25519PrivateKey) -> None:
        self.station_key, self.hub_key = station_key, hub_key
        self.batches = 0
        self.records = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-acker", protocol=mqtt.MQTTv5)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(INGEST_SUBSCRIPTION, qos=1)
        self.client.loop_start()
        subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        device_id, _ = parse_topic(message.topic)
        try:
            batch = verify_batch(bytes(message.payload).decode(), self.station_key, expected_kid=device_id)
        except ProtocolError:
            return
        ids = [json.loads(bytes(raw))["record_id"] for raw in batch.records]
        self.batches += 1
        self.records += len(ids)
        ack = Ack(batch_seq=batch.batch_seq, accepted=ids, rejected=[], warnings=[])
        client.publish(acks_topic(device_id), sign_ack(ack, self.hub_key).encode(), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float | int]:
    return {"n": len(values), "p50": round(statistics.median(values), 1), "p95": round(percentile(values, 0.95), 1),
            "max": round(max(values), 1)}


def scan_to_beep(work: Path, broker: Broker, hub_key: Ed25519PrivateKey, vouchers: int) -> dict[str, object]:
    """Frames of distinct vouchers through the pipeline and Station.accept, with the publisher connected."""
    station_key = generate_key()
    acker = Acker(broker.port, station_key.public_key(), hub_key)
    station = Station(device_id=DEVICE, outbox_path=work / "scan.sqlite", preset=PRESET,
                      broker=parse_broker_url(broker.url), private_key=station_key, hub_keys=(hub_key.public_key(),),
                      kiosk_port=free_port(), pipeline=lambda: Pipeline(municipality="131016"))
    pipeline = Pipeline(municipality="131016")
    # QR vouchers pass on one frame; OCR-only vouchers need a second agreeing frame: time the completing frame.
    sequences: list[tuple[str, list[Frame]]] = []
    t = 0.0
    for n in range(vouchers):
        kind = "qr" if n % 2 == 0 else "ocr"
        spec = TicketSpec(municipality_code="131016", voucher_no=f"{7_000_000 + n:010d}", dose=1, qr=kind == "qr")
        frames: list[Frame] = []
        for k in range(1 if kind == "qr" else 2):
            frames.append(Frame(voucher_frame(spec, seed=1000 + 10 * n + k), t, len(frames), f"{n}-{k}"))
            t += 0.1
        t += 5.0  # the voucher leaves view before the next one comes
        sequences.append((kind, frames))
    station.start()
    latencies: dict[str, list[float]] = {"qr": [], "ocr": []}
    commits: list[float] = []  # the store-and-beep part alone: Station.accept (fsynced commit, board, wake)
    misses = 0
    try:
        for kind, frames in sequences:
            for frame in frames:
                started = time.perf_counter()
                decision = pipeline.feed(frame)
                if decision.accepted and decision.voucher is not None and decision.source is not None:
                    decided = time.perf_counter()
                    station.accept(decision.voucher, source=decision.source, frames=decision.frames)
                    done = time.perf_counter()
                    latencies[kind].append((done - started) * 1000)
                    commits.append((done - decided) * 1000)
                    break
            else:
                misses += 1
    finally:
        station.stop()
        pipeline.close()
        acker.close()
    both = latencies["qr"] + latencies["ocr"]
    return {**summary(both), "qr": summary(latencies["qr"]) if latencies["qr"] else None,
            "ocr": summary(latencies["ocr"]) if latencies["ocr"] else None, "commit": summary(commits),
            "not_read": misses}


def drain(work: Path, broker: Broker, hub_key: Ed25519PrivateKey, backlog: int) -> dict[str, object]:
    station_key = generate_key()
    outbox = Outbox(work / "drain.sqlite")
    start = datetime.datetime(2021, 7, 1, 9, 0, tzinfo=JST)
    outbox.append_many(
        build_record(Voucher(municipality_code="131016", voucher_no=f"{i:010d}", dose=1, ticket_kind="1"), PRESET,
                     source="ocr", frames=2, scanned_at=start + datetime.timedelta(seconds=i))
        for i in range(backlog)
    )
    acker = Acker(broker.port, station_key.public_key(), hub_key)
    publisher = Publisher(outbox, device_id=DEVICE, broker=parse_broker_url(broker.url), private_key=station_key,
                          hub_keys=[hub_key.public_key()])
    began = time.perf_counter()
    publisher.start()
    while outbox.depth() > 0:
        time.sleep(0.01)
    seconds = time.perf_counter() - began
    publisher.stop()
    outbox.close()
    acker.close()
    return {"records": backlog, "seconds": round(seconds, 2), "records_per_s": round(backlog / seconds),
            "batches": publisher.batches_sent, "records_sent": acker.records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=20, help="distinct vouchers scanned (half QR, half OCR)")
    parser.add_argument("--backlog", type=int, default=10_000, help="records queued before the drain starts")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vrs-bench-station-"))
    broker = Broker()
    hub_key = generate_key()
    try:
        result = {
            "bench": "station",
            "scan_to_beep_ms": scan_to_beep(work, broker, hub_key, args.vouchers),
            "drain": drain(work, broker, hub_key, args.backlog),
            "sync": "WAL + synchronous=FULL",
        }
    finally:
        broker.close()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
