"""`vrs-edge run` as a real process: generated voucher frames in, records at the hub double out; SIGTERM stops
it cleanly; SIGKILL with a full outbox loses nothing and duplicates nothing after the restart."""

from __future__ import annotations

import datetime
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import msgspec
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.capture.synthetic import TicketSpec, voucher_frame
from edge.queue.outbox import Outbox
from edge.queue.records import Preset, build_record
from protocol import Voucher
from protocol.records import JST
from protocol.signing import generate_key
from protocol.topics import StationStatus, status_topic
from tests.edge.hub_double import HubDouble
from tests.edge.station_files import station_config, write_config
from tests.fixtures_postgres import free_port

BIN = Path(sys.executable).parent
DEVICE = "st-proc-01"
# Frames are timed at 10 per second: 20 empty frames (2 s) let one voucher leave view before the next.
GAP_FRAMES = 20


def write_frames(folder: Path, tickets: list[TicketSpec]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    blank = folder / "blank.jpg"
    cv2.imwrite(str(blank), np.full((720, 1280, 3), 90, np.uint8))
    i = 0
    for n, spec in enumerate(tickets):
        for k in range(3):
            cv2.imwrite(str(folder / f"f{i:04d}.jpg"), voucher_frame(spec, seed=100 * n + k))
            i += 1
        for _ in range(GAP_FRAMES):
            shutil.copy(blank, folder / f"f{i:04d}.jpg")
            i += 1
    blank.unlink()


def station_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VRS_MQTT_URL"}  # the config file says where the broker is
    return {**env, "PYTHONUNBUFFERED": "1"}


class Proc:
    """One `vrs-edge run` process with its output in files (read when a test fails)."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self.out = log.open("ab")
        self.p = subprocess.Popen([str(BIN / "vrs-edge"), "run", "--config", str(config)], stdout=self.out,
                                  stderr=subprocess.STDOUT, env=station_env())

    def wait_kiosk(self, url: str) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert self.p.poll() is None, f"station exited:\n{self.log.read_text()}"
            try:
                httpx.get(url + "api/state", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"kiosk never came up:\n{self.log.read_text()}") from None
                time.sleep(0.1)

    def terminate(self) -> int:
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(30)
        finally:
            self.out.close()

    def kill(self) -> None:
        self.p.kill()
        self.p.wait(10)
        self.out.close()


class StatusWatch:
    """The retained status of the station as the hub would see it."""

    def __init__(self, mosquitto) -> None:
        self.seen: list[bytes] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="status-watch", protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, m: self.seen.append(bytes(m.payload))
        self.client.on_connect = lambda c, *a: c.subscribe(status_topic(DEVICE), qos=1)
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.connect(mosquitto.host, mosquitto.port)
        self.client.loop_start()

    def last(self) -> StationStatus | None:
        return msgspec.json.decode(self.seen[-1], type=StationStatus) if self.seen else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def keys():
    return generate_key(), generate_key()  # station, hub


@pytest.fixture
def hub(mosquitto, keys) -> Iterator[HubDouble]:
    station_key, hub_key = keys
    with HubDouble(mosquitto.url, {DEVICE: station_key.public_key()}, hub_key) as double:
        yield double


@pytest.fixture
def status(mosquitto) -> Iterator[StatusWatch]:
    watch = StatusWatch(mosquitto)
    yield watch
    watch.close()


@pytest.mark.slow
def test_frames_in_records_out_and_sigterm_stops_cleanly(tmp_path: Path, mosquitto, keys, hub, status) -> None:
    station_key, hub_key = keys
    tickets = [TicketSpec(municipality_code="131016", voucher_no="0000000101", dose=1, qr=True),
               TicketSpec(municipality_code="271004", voucher_no="0000000202", dose=2, qr=True),
               TicketSpec(municipality_code="131024", voucher_no="0000000303", dose=3, qr=True)]
    write_frames(tmp_path / "etc" / "frames", tickets)
    port = free_port()
    cfg = station_config(tmp_path / "etc", broker_url=mosquitto.url, hub_key=hub_key, device_id=DEVICE,
                         station_key=station_key, kiosk_port=port)
    proc = Proc(write_config(tmp_path / "etc", cfg), tmp_path / "station.log")
    url = f"http://127.0.0.1:{port}/"
    proc.wait_kiosk(url)
    wait(lambda: len(hub.stored_ids()) == 3, "three records at the hub")
    got = sorted((r.municipality_code, r.voucher_no, r.dose, r.read.source) for r in hub.stored.values())
    assert got == [("131016", "0000000101", 1, "qr"), ("131024", "0000000303", 3, "qr"),
                   ("271004", "0000000202", 2, "qr")]
    assert {r.venue_id for r in hub.stored.values()} == {"v-131016-001"}
    state = httpx.get(url + "api/state").json()
    assert state["count_total"] == 3
    wait(lambda: (s := status.last()) is not None and s.state == "online", "online status")

    assert proc.terminate() == 0
    wait(lambda: (s := status.last()) is not None and s.state == "offline", "offline status")
    last = status.last()
    assert last is not None and last.queue_depth == 0 and last.last_scan_at is not None
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "api/state", timeout=1)


def _pending(db: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {row[0] for row in conn.execute("SELECT record_id FROM outbox")}
    finally:
        conn.close()


@pytest.mark.fault
@pytest.mark.slow
def test_sigkill_with_a_full_outbox_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto, keys, hub, status
) -> None:
    station_key, hub_key = keys
    base = tmp_path / "etc"
    (base / "frames").mkdir(parents=True)
    cv2.imwrite(str(base / "frames" / "empty.jpg"), np.full((720, 1280, 3), 90, np.uint8))
    port = free_port()
    config = write_config(base, station_config(base, broker_url=mosquitto.url, hub_key=hub_key,
                                               device_id=DEVICE, station_key=station_key, kiosk_port=port))
    db = base / "data" / "outbox.sqlite"
    preset = Preset(venue_id="v-131016-001", maker="pfizer", lot="FA1234", doctor="山田 太郎")
    start = datetime.datetime(2021, 7, 1, 9, 0, tzinfo=JST)
    records = [build_record(Voucher(municipality_code="131016", voucher_no=f"{i:010d}", dose=1, ticket_kind="1"),
                            preset, source="ocr", frames=2, scanned_at=start + datetime.timedelta(seconds=i))
               for i in range(2000)]
    outbox = Outbox(db)
    outbox.append_many(records)  # a day's backlog from an LTE outage
    outbox.close()
    ids = [r.record_id for r in records]
    hub.on_batch = lambda batch: time.sleep(0.15)  # a slow hub, so that the kill lands mid-drain

    violations: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            pending = _pending(db)  # read the outbox first: an id leaves it only after the hub stored it
            stored = hub.stored_ids()
            lost = [rid for rid in ids if rid not in pending and rid not in stored]
            if lost:
                violations.append(f"{len(lost)} records gone from the outbox but not at the hub")
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        first = Proc(config, tmp_path / "station.log")
        wait(lambda: len(hub.stored_ids()) >= 400, "part of the backlog to drain")
        first.kill()
        at_kill = len(hub.stored_ids())
        assert at_kill < len(ids), "the backlog drained before the kill; the test proved nothing"
        # The broker tells the hub the station is gone: the last will.
        wait(lambda: status.seen and status.seen[-1] == b'{"state":"offline"}', "the last will")
        assert len(_pending(db)) > 0

        hub.on_batch = None
        second = Proc(config, tmp_path / "station.log")
        second.wait_kiosk(f"http://127.0.0.1:{port}/")
        wait(lambda: not _pending(db), "the rest of the backlog to drain after the restart", timeout=120)
        assert second.terminate() == 0
    finally:
        stop.set()
        watcher.join()
    assert not violations, violations[0]
    assert hub.stored_ids() == set(ids)
    assert len(hub.order) == len(set(hub.order)) == len(ids)  # each record stored once...
    assert hub.order == ids  # ...and in scan order
