"""The publisher against a real Mosquitto and a hub double: every record reaches the hub exactly once, and
none leaves the outbox before a hub-signed ack names it, whatever happens to the link."""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.queue.backoff import Backoff
from edge.queue.outbox import Outbox
from edge.queue.publisher import (
    OFFLINE_WILL,
    AckIgnored,
    Answered,
    ConnectionChanged,
    Publisher,
    PublisherEvent,
    parse_broker_url,
)
from edge.queue.records import Preset, build_record
from protocol import Voucher
from protocol.records import JST, Ack
from protocol.signing import generate_key, sign_ack
from protocol.topics import StationStatus, acks_topic, status_topic
from tests.edge.hub_double import HubDouble

DEVICE = "st-test-01"
PRESET = Preset(venue_id="v-131016-001", maker="moderna", lot="MD0001", doctor="佐藤 花子")
START = datetime.datetime(2021, 6, 1, 9, 0, tzinfo=JST)


class FastBackoff(Backoff):
    INITIAL = 0.05
    CAP = 0.5


def make_records(n: int, first: int = 0) -> list:
    return [
        build_record(
            Voucher(municipality_code="131016", voucher_no=f"{first + i:010d}", dose=1, ticket_kind="1"),
            PRESET, source="qr", frames=1, scanned_at=START + datetime.timedelta(seconds=first + i),
        )
        for i in range(n)
    ]


class Station:
    """An outbox and its publisher, as edge.station wires them, with the events it emitted."""

    def __init__(self, path: Path, broker_url: str, hub_public, key=None, ack_timeout: float = 20.0):
        self.key = key or generate_key()
        self.outbox = Outbox(path)
        self.events: list[PublisherEvent] = []
        self.publisher = Publisher(
            self.outbox, device_id=DEVICE, broker=parse_broker_url(broker_url), private_key=self.key,
            hub_keys=[hub_public], version="test", backoff=FastBackoff(), on_event=self.events.append,
        )
        self.publisher.ACK_TIMEOUT = ack_timeout
        self.publisher.STATUS_INTERVAL = 0.1

    def scan(self, records: list) -> None:
        for r in records:
            self.outbox.append(r)
            self.publisher.wake()

    def close(self) -> None:
        self.publisher.stop()
        self.outbox.close()


@pytest.fixture
def hub_key():
    return generate_key()


@pytest.fixture
def station(tmp_path: Path, mosquitto, hub_key) -> Iterator[Station]:
    s = Station(tmp_path / "outbox.sqlite", mosquitto.url, hub_key.public_key(), ack_timeout=2.0)
    yield s
    s.close()


@pytest.fixture
def hub(mosquitto, station: Station, hub_key) -> Iterator[HubDouble]:
    with HubDouble(mosquitto.url, {DEVICE: station.key.public_key()}, hub_key) as double:
        yield double


def wait(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def assert_nothing_left_early(station: Station, hub: HubDouble, produced: list[str]) -> None:
    # Read the outbox first: an id can only leave it after the hub stored it, so this order cannot race.
    pending = set(station.outbox.pending_ids())
    stored = hub.stored_ids()
    lost = [rid for rid in produced if rid not in pending and rid not in stored]
    assert not lost, f"{len(lost)} records left the outbox without reaching the hub"


def assert_exactly_once(station: Station, hub: HubDouble, produced: list[str]) -> None:
    assert hub.stored_ids() == set(produced)
    assert len(hub.order) == len(set(hub.order)) == len(produced)
    assert station.outbox.depth() == 0
    assert all(station.outbox.entry(rid).state == "accepted" for rid in produced)


def test_a_live_scan_goes_out_alone_at_once(station: Station, hub: HubDouble) -> None:
    station.publisher.start()
    wait(lambda: station.publisher.online, what="connection")
    [r] = make_records(1)
    station.scan([r])
    wait(lambda: station.outbox.depth() == 0, what="the ack")
    assert [len(b.records) for b in hub.batches] == [1]
    assert hub.batches[0].device_id == DEVICE
    assert station.outbox.entry(r.record_id).state == "accepted"
    assert any(isinstance(e, Answered) and e.result.accepted == (r.record_id,) for e in station.events)


def test_a_backlog_drains_in_order_in_full_batches(station: Station, hub: HubDouble) -> None:
    records = make_records(450)
    station.outbox.append_many(records)
    station.publisher.start()
    wait(lambda: station.outbox.depth() == 0, what="the backlog to drain")
    sizes = [len(b.records) for b in hub.batches]
    assert sizes == [200, 200, 50]
    assert hub.order == [r.record_id for r in records]
    seqs = [b.batch_seq for b in hub.batches]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert_exactly_once(station, hub, [r.record_id for r in records])


def test_the_broker_puback_is_not_enough(station: Station, hub: HubDouble) -> None:
    hub.silent = True
    records = make_records(30)
    station.publisher.start()
    station.scan(records)
    wait(lambda: len(hub.stored_ids()) == 30, what="the hub to receive everything")
    time.sleep(0.5)
    assert station.outbox.depth() == 30  # delivered and PUBACKed, but the hub has not answered
    hub.silent = False  # the station times out and sends again; this time the hub answers
    wait(lambda: station.outbox.depth() == 0, what="acks after the resend")
    assert_exactly_once(station, hub, [r.record_id for r in records])


@pytest.mark.fault
def test_lost_acks_are_recovered_by_resending_the_same_records(station: Station, hub: HubDouble) -> None:
    hub.drop_acks = 3
    records = make_records(420)
    station.outbox.append_many(records)
    station.publisher.start()
    wait(lambda: station.outbox.depth() == 0, what="drain despite lost acks")
    assert max(hub.deliveries.values()) >= 2  # some records really were sent twice...
    assert_exactly_once(station, hub, [r.record_id for r in records])  # ...and stored once


@pytest.mark.fault
def test_forged_and_garbage_acks_change_nothing(station: Station, hub: HubDouble, mosquitto) -> None:
    hub.silent = True
    records = make_records(5)
    station.publisher.start()
    station.scan(records)
    wait(lambda: len(hub.stored_ids()) == 5, what="delivery")

    forger = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="forger", protocol=mqtt.MQTTv5)
    forger.connect(mosquitto.host, mosquitto.port)
    forger.loop_start()
    ids = [r.record_id for r in records]
    wrong_key = generate_key()
    forged = Ack(batch_seq=1, accepted=ids, rejected=[], warnings=[])
    payloads = [
        sign_ack(forged, wrong_key).encode(),
        b"not a jws",
        b"",
        msgspec.json.encode(forged),  # an unsigned ack
        b"\xff\xfe" * 10,
        b"e30." * 100_000,  # oversized
    ]
    for payload in payloads:
        forger.publish(acks_topic(DEVICE), payload, qos=1).wait_for_publish(5)
    wait(lambda: sum(isinstance(e, AckIgnored) for e in station.events) >= len(payloads),
         what="the forged acks to be read")
    forger.disconnect()
    forger.loop_stop()
    assert station.outbox.depth() == 5
    assert station.publisher.acks_ignored >= len(payloads)

    hub.silent = False
    wait(lambda: station.outbox.depth() == 0, what="the real acks")
    assert_exactly_once(station, hub, ids)


@pytest.mark.fault
@pytest.mark.slow
def test_broker_killed_and_restarted_mid_stream(station: Station, hub: HubDouble, mosquitto) -> None:
    station.publisher.start()
    wait(lambda: station.publisher.online, what="connection")
    produced: list[str] = []
    stop = threading.Event()
    violations: list[str] = []

    def scanning() -> None:
        n = 0
        while not stop.is_set():
            batch = make_records(3, first=n)
            n += 3
            station.scan(batch)  # committing never depends on the broker
            produced.extend(r.record_id for r in batch)
            time.sleep(0.01)

    def watching() -> None:
        while not stop.is_set():
            try:
                assert_nothing_left_early(station, hub, list(produced))
            except AssertionError as exc:
                violations.append(str(exc))
            time.sleep(0.05)

    threads = [threading.Thread(target=scanning), threading.Thread(target=watching)]
    for t in threads:
        t.start()
    time.sleep(0.7)
    mosquitto.kill()
    wait(lambda: not station.publisher.online, what="the station to notice")
    depth_before = station.outbox.depth()
    time.sleep(1.0)
    assert station.outbox.depth() > depth_before  # scans kept committing while offline
    mosquitto.start()
    wait(lambda: station.publisher.online, what="reconnection")
    time.sleep(0.5)
    mosquitto.kill()  # and once more, mid-drain
    time.sleep(0.5)
    mosquitto.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    wait(lambda: station.outbox.depth() == 0, timeout=60, what="the outbox to drain after the outages")
    assert not violations, violations[0]
    assert any(isinstance(e, ConnectionChanged) and not e.online for e in station.events)
    assert_exactly_once(station, hub, produced)


def test_rejections_and_warnings_are_kept_for_staff(station: Station, hub: HubDouble) -> None:
    a, b, c = make_records(3)
    hub.reject[b.record_id] = "venue_mismatch"
    hub.warn[c.record_id] = ("dose_interval_short", "second dose 10 days after the first")
    station.publisher.start()
    station.scan([a, b, c])
    wait(lambda: station.outbox.depth() == 0, what="answers")
    [rejected] = station.outbox.rejections()
    assert (rejected.record_id, rejected.reason) == (b.record_id, "venue_mismatch")
    assert station.outbox.entry(b.record_id).state == "rejected"
    assert [w.code for w in station.outbox.entry(c.record_id).warnings] == ["dose_interval_short"]
    assert b.record_id not in hub.stored_ids()


def test_retained_status_says_online_with_depth_then_offline(station: Station, hub: HubDouble,
                                                            mosquitto) -> None:
    hub.silent = True
    seen: list[bytes] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="status-watch", protocol=mqtt.MQTTv5)
    watcher.on_message = lambda c, u, m: seen.append(bytes(m.payload))
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.subscribe(status_topic(DEVICE), qos=1)
    watcher.loop_start()
    try:
        station.outbox.append_many(make_records(7))
        station.publisher.start()

        def last() -> StationStatus | None:
            return msgspec.json.decode(seen[-1], type=StationStatus) if seen else None

        wait(lambda: (s := last()) is not None and s.state == "online" and s.queue_depth == 7, what="online")
        assert last().version == "test" and last().last_scan_at is not None
        station.publisher.stop()
        wait(lambda: (s := last()) is not None and s.state == "offline", what="offline")
        assert last().queue_depth == 7
    finally:
        watcher.disconnect()
        watcher.loop_stop()


def test_the_will_is_the_bare_offline_state() -> None:
    assert msgspec.json.decode(OFFLINE_WILL, type=StationStatus) == StationStatus(state="offline")


@pytest.mark.parametrize(
    ("url", "problem"),
    [("http://h:1", "scheme"), ("mqtt://", "host"), ("mqtt://h:99999", "port"), ("mqtt://h:1/x", "path")],
)
def test_bad_broker_urls_say_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_broker_url(url)


def test_broker_url_forms() -> None:
    a = parse_broker_url("mqtts://st-1:p%40ss@hub.example:8884")
    assert (a.host, a.port, a.tls, a.username, a.password) == ("hub.example", 8884, True, "st-1", "p@ss")
    b = parse_broker_url("mqtt://127.0.0.1")
    assert (b.port, b.tls, b.username) == (1883, False, None)


@pytest.mark.fault
def test_the_publisher_outlives_a_disk_that_refuses_writes(station: Station, hub: HubDouble) -> None:
    records = make_records(20)
    station.outbox.append_many(records)
    with station.outbox._lock:
        station.outbox._db.execute("PRAGMA query_only = ON")  # every write now fails inside SQLite
    station.publisher.start()
    wait(lambda: "readonly" in station.publisher.last_error or "read-only" in station.publisher.last_error,
         what="the publisher to meet the failing disk")
    assert station.outbox.depth() == 20
    with station.outbox._lock:
        station.outbox._db.execute("PRAGMA query_only = OFF")
    wait(lambda: station.outbox.depth() == 0, what="the drain once the disk is back")
    assert_exactly_once(station, hub, [r.record_id for r in records])
