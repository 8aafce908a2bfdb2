"""The station against the real hub ingest (PostgreSQL + Mosquitto): scans land in the municipality's records,
an undo voids them there, a second dose too soon comes back as a warning on the kiosk, and the station's
retained status reaches the hub's device table."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from edge.display.buzzer import RecordingBuzzer
from edge.queue.backoff import Backoff
from edge.queue.publisher import parse_broker_url
from edge.queue.records import Preset
from edge.station import Station
from hub.config import load_config
from hub.ingest.worker import IngestWorker
from protocol import Voucher
from protocol.signing import generate_key, load_private_key_pem, public_key_to_pem
from tests.fixtures_postgres import free_port
from tests.hub import conftest as hub_fixtures

# The hub's database fixtures (a migrated database per test, the hub's key files), used here as they are.
hub_template = hub_fixtures.hub_template
hub_db = hub_fixtures.hub_db
hub_key_files = hub_fixtures.hub_key_files
hub_env = hub_fixtures.hub_env

DEVICE = "st-e2e-01"
VENUE = "v-131016-e2e"


class FastBackoff(Backoff):
    INITIAL = 0.05
    CAP = 0.5


def wait(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def ingest(hub_env: dict[str, str], mosquitto) -> Iterator[IngestWorker]:
    config = load_config({**hub_env, "VRS_MQTT_URL": mosquitto.url,
                          "VRS_INGEST_CLIENT_ID": f"ingest-e2e-{os.getpid()}"})
    worker = IngestWorker(config)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert worker.connected.wait(10)
    time.sleep(0.2)  # the shared subscription is in place
    yield worker
    worker.stop.set()
    thread.join(10)


@pytest.fixture
def station(tmp_path: Path, hub_db: str, hub_key_files, mosquitto, ingest) -> Iterator[Station]:
    key = generate_key()
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute("INSERT INTO venues VALUES (%s, %s, %s)", (VENUE, "131016", "千代田区 集団接種会場"))
        conn.execute("INSERT INTO devices (device_id, venue_id, public_key_pem) VALUES (%s, %s, %s)",
                     (DEVICE, VENUE, public_key_to_pem(key.public_key()).decode()))
    hub_public = load_private_key_pem(hub_key_files[0].read_bytes()).public_key()
    st = Station(
        device_id=DEVICE, outbox_path=tmp_path / "outbox.sqlite",
        preset=Preset(venue_id=VENUE, maker="pfizer", lot="FA1234", doctor="山田 太郎"),
        broker=parse_broker_url(mosquitto.url), private_key=key, hub_keys=(hub_public,),
        kiosk_port=free_port(), buzzer=RecordingBuzzer(), backoff=FastBackoff(), version="e2e",
    )
    st.publisher.STATUS_INTERVAL = 0.1
    st.start()
    yield st
    st.stop()


def current(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT municipality_code, voucher_no, dose FROM vaccinations ORDER BY 1, 2, 3").fetchall()


def test_scans_land_at_the_hub_and_an_undo_voids_there(hub_db: str, station: Station) -> None:
    station.accept(Voucher(municipality_code="131016", voucher_no="0000000001", dose=1, ticket_kind="1"),
                   source="ocr", frames=2)
    station.accept(Voucher(municipality_code="271004", voucher_no="0000000002", dose=1, ticket_kind="1"),
                   source="qr", frames=1)
    wait(lambda: station.outbox.depth() == 0, "the hub's acks")
    assert current(hub_db) == [("131016", "0000000001", 1), ("271004", "0000000002", 1)]
    assert all(e.state == "accepted" for e in station.outbox.recent())

    osaka = next(e for e in station.outbox.recent() if e.municipality_code == "271004")
    station.board.show_outcome(station.desk.undo(osaka.record_id))
    wait(lambda: station.outbox.depth() == 0, "the void's ack")
    assert current(hub_db) == [("131016", "0000000001", 1)]
    assert station.board.snapshot().count_total == 1


def test_a_hub_warning_reaches_the_kiosk(hub_db: str, station: Station) -> None:
    # Dose 2 registered the same day as dose 1: the hub warns (interval) but never refuses.
    for dose in (1, 2):
        station.accept(Voucher(municipality_code="131016", voucher_no="0000000009", dose=dose, ticket_kind="1"),
                       source="ocr", frames=2)
    wait(lambda: station.outbox.depth() == 0, "the hub's acks")
    snapshot = station.board.snapshot()
    assert snapshot.warnings, "the hub sent no warning for a second dose on the day of the first"
    assert snapshot.count_total == 2 and not snapshot.rejections


def test_the_retained_status_reaches_the_device_table(hub_db: str, station: Station) -> None:
    def status() -> tuple[Any, ...] | None:
        with psycopg.connect(hub_db) as conn:
            return conn.execute("SELECT state, version FROM device_status WHERE device_id = %s",
                                (DEVICE,)).fetchone()

    wait(lambda: status() == ("online", "e2e"), "the station's status at the hub")
