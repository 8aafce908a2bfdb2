"""The ingest process against a real broker and database: acks after commit, hostile input, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from jwcrypto import jwk, jws

from hub.config import HubConfig, load_config
from hub.db import aggregates
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from hub.ingest.backoff import Backoff
from hub.ingest.worker import IngestWorker
from protocol.records import MAX_TOKEN_BYTES
from protocol.signing import private_key_to_pem, public_key_from_jwk
from protocol.topics import status_topic
from tests.fixtures_mosquitto import Broker
from tests.fixtures_postgres import PgCluster
from tests.hub.stations import MUNI_B, Station, StationClient

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Backoff, "INITIAL", 0.05)
    monkeypatch.setattr(Backoff, "CAP", 0.5)


@pytest.fixture
def env(hub_env: dict[str, str], mosquitto: Broker, request: pytest.FixtureRequest) -> dict[str, str]:
    name = request.node.name.replace("[", "-").replace("]", "")[-40:]
    return {**hub_env, "VRS_MQTT_URL": mosquitto.url, "VRS_INGEST_CLIENT_ID": f"ingest-{name}-{os.getpid()}"}


@pytest.fixture
def config(env: dict[str, str]) -> HubConfig:
    return load_config(env)


@pytest.fixture
def worker(config: HubConfig) -> Iterator[IngestWorker]:
    w = IngestWorker(config)
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    assert w.connected.wait(10)
    time.sleep(0.2)  # the subscription is in place
    yield w
    w.stop.set()
    thread.join(10)
    assert not thread.is_alive()


def hub_public_key(env: dict[str, str]) -> Any:
    """The hub key as `vrs-hub keys show` prints it: what stations are configured with."""
    out = subprocess.run([str(BIN / "vrs-hub"), "keys", "show"], env={**os.environ, **env}, capture_output=True,
                         text=True, check=True).stdout
    assert out.count("\n") == 1
    return public_key_from_jwk(json.loads(out))


@pytest.fixture
def station(hub_db: str, env: dict[str, str], mosquitto: Broker) -> Iterator[StationClient]:
    st = Station(f"st-{os.getpid()}-{time.monotonic_ns() % 100000}")
    st.enroll(hub_db)
    client = StationClient(st, mosquitto.host, mosquitto.port, hub_public_key(env))
    yield client
    client.close()


def counts(dsn: str) -> tuple[int, int, int]:
    """(history rows, distinct record ids in history, current rows)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM vaccination_history),"
                           " (SELECT count(DISTINCT record_id) FROM vaccination_history),"
                           " (SELECT count(*) FROM vaccinations)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_a_batch_is_stored_and_answered_with_a_signed_ack(hub_db: str, worker: IngestWorker,
                                                          station: StationClient) -> None:
    recs = [station.station.record(), station.station.record(municipality_code=MUNI_B)]
    seq = station.send(recs)
    ack = station.wait_ack(seq)
    assert ack is not None and ack.accepted == [r.record_id for r in recs] and ack.rejected == []
    assert counts(hub_db) == (2, 2, 2)


def test_a_batch_signed_by_jwcrypto_is_acked_and_the_ack_verifies_with_keys_show(
    hub_db: str, env: dict[str, str], worker: IngestWorker, station: StationClient
) -> None:
    st = station.station
    key = jwk.JWK.from_pem(private_key_to_pem(st.key))
    signer = jws.JWS(st.payload([st.record()], seq=41))
    signer.add_signature(key, alg="Ed25519",
                         protected=json.dumps({"alg": "Ed25519", "kid": st.device_id, "typ": "vrs-records+json"}))
    raw_acks: list[bytes] = []
    station.client.message_callback_add(f"vrs/v1/devices/{st.device_id}/acks", lambda _c, _u, m: (
        raw_acks.append(m.payload), station._on_message(_c, _u, m)))
    station.publish_raw(st.topic, signer.serialize(compact=True).encode())
    assert station.wait_ack(41) is not None and len(station.acks[41].accepted) == 1
    # The ack verifies with an independent library too, using the JWK `vrs-hub keys show` prints.
    printed = subprocess.run([str(BIN / "vrs-hub"), "keys", "show"], env={**os.environ, **env}, capture_output=True,
                             text=True, check=True).stdout
    verifier = jws.JWS()
    verifier.allowed_algs = ["Ed25519"]
    verifier.deserialize(raw_acks[0].decode(), jwk.JWK(**json.loads(printed)))
    assert json.loads(verifier.payload)["batch_seq"] == 41
    assert counts(hub_db) == (1, 1, 1)


def test_hostile_messages_change_nothing_and_the_ingest_keeps_going(
    hub_db: str, worker: IngestWorker, station: StationClient
) -> None:
    st = station.station
    other = Station("st-other", venue_id="v-other")
    other.enroll(hub_db)
    forger = Station(st.device_id)  # claims to be our station, with its own key
    station.publish_raw(st.topic, forger.batch([forger.record()]))
    station.publish_raw(other.topic, st.batch([st.record()]))  # our station on another station's topic
    station.publish_raw(st.topic, b"{not json")
    station.publish_raw(st.topic, b"\x00\xff" * 10)
    station.publish_raw(st.topic, b"a" * (MAX_TOKEN_BYTES + 10))
    station.publish_raw(status_topic(st.device_id), b"[1, 2")
    foreign_venue = st.record(venue_id=other.venue_id)
    seq_foreign = station.send([foreign_venue])
    good = st.record()
    seq_good = station.send([good])
    ack = station.wait_ack(seq_good)
    assert ack is not None and ack.accepted == [good.record_id]
    foreign_ack = station.wait_ack(seq_foreign)
    assert foreign_ack.accepted == [] and [(r.reason) for r in foreign_ack.rejected] == ["venue_mismatch"]
    assert counts(hub_db) == (1, 1, 1)
    assert worker.counters.refused >= 5
    assert station.bad_acks == 0 and set(station.acks) == {seq_foreign, seq_good}


def test_duplicate_out_of_order_and_replayed_batches_land_once(
    hub_db: str, worker: IngestWorker, station: StationClient
) -> None:
    st = station.station
    batches = [[st.record() for _ in range(5)] for _ in range(4)]
    seqs = [st.next_seq() for _ in batches]
    for i in (2, 0, 3, 1, 2, 0):  # out of order, two of them twice
        station.send(batches[i], seq=seqs[i])
    assert station.drain(30)
    station.send(batches[1], seq=seqs[1])  # replayed long after
    assert station.wait_ack(seqs[1]) is not None
    time.sleep(0.5)
    assert counts(hub_db) == (20, 20, 20)
    with psycopg.connect(hub_db) as conn:
        assert conn.execute("SELECT last_batch_seq FROM devices WHERE device_id = %s", (st.device_id,)).fetchone() == (
            max(seqs),)


def test_a_revoked_station_is_told_why(hub_db: str, env: dict[str, str], worker: IngestWorker,
                                       station: StationClient) -> None:
    subprocess.run([str(BIN / "vrs-hub"), "device", "revoke", "--id", station.station.device_id],
                   env={**os.environ, **env}, check=True, capture_output=True)
    rec = station.station.record()
    ack = station.wait_ack(station.send([rec]))
    assert ack.accepted == [] and [(r.record_id, r.reason) for r in ack.rejected] == [(rec.record_id, "revoked_device")]
    assert counts(hub_db) == (0, 0, 0)


def test_retained_status_and_last_will_update_device_status(hub_db: str, worker: IngestWorker,
                                                            station: StationClient, mosquitto: Broker) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    st = station.station
    topic = status_topic(st.device_id)
    kiosk = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"kiosk-{st.device_id}", protocol=mqtt.MQTTv5)
    kiosk.will_set(topic, b'{"state":"offline"}', qos=1, retain=True)
    kiosk.connect(mosquitto.host, mosquitto.port, keepalive=2)
    kiosk.loop_start()
    online = b'{"state":"online","queue_depth":7,"version":"1.2.3"}'
    kiosk.publish(topic, online, qos=1, retain=True).wait_for_publish(5)

    def status() -> tuple[Any, ...] | None:
        with psycopg.connect(hub_db) as conn:
            return conn.execute("SELECT state, queue_depth, version FROM device_status").fetchone()

    deadline = time.monotonic() + 20
    while status() != ("online", 7, "1.2.3") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status() == ("online", 7, "1.2.3")
    kiosk.loop_stop()
    kiosk.socket().close()  # vanish without DISCONNECT: the broker publishes the will
    deadline = time.monotonic() + 20
    while status() != ("offline", 0, "1.2.3") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status() == ("offline", 0, "1.2.3")
    mosquitto_clear = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    mosquitto_clear.connect(mosquitto.host, mosquitto.port)
    mosquitto_clear.publish(topic, b"", qos=1, retain=True)  # leave no retained message to later tests
    mosquitto_clear.loop(1)
    mosquitto_clear.disconnect()


@pytest.mark.fault
def test_broker_restarted_mid_stream_loses_and_duplicates_nothing(
    hub_db: str, worker: IngestWorker, station: StationClient, mosquitto: Broker
) -> None:
    st = station.station
    sent = set()
    for i in range(40):
        recs = [st.record() for _ in range(10)]
        sent |= {r.record_id for r in recs}
        station.send(recs)
        if i == 15:
            mosquitto.restart()
        time.sleep(0.01)
    assert station.drain(90, resend_after=2.0)
    assert counts(hub_db) == (400, 400, 400)
    assert worker.connected.is_set()


@pytest.mark.fault
def test_database_restarted_mid_batch_no_ack_until_commit_then_once(
    hub_db: str, worker: IngestWorker, station: StationClient, pg_cluster: PgCluster
) -> None:
    st = station.station
    first = station.send([st.record()])
    assert station.wait_ack(first) is not None
    pg_cluster.stop("immediate")
    try:
        recs = [st.record() for _ in range(50)]
        seq = station.send(recs)
        time.sleep(1.5)
        assert seq not in station.acks  # nothing committed, nothing acked
        station.client.publish(st.topic, station.outbox[seq], qos=1)  # the station resends meanwhile
    finally:
        pg_cluster.start()
    assert station.drain(60, resend_after=2.0)
    assert station.acks[seq].accepted == [r.record_id for r in recs]
    assert counts(hub_db) == (51, 51, 51)
    assert worker.counters.db_retries > 0


@pytest.mark.fault
def test_ingest_process_killed_mid_stream_then_restarted(
    hub_db: str, env: dict[str, str], station: StationClient, tmp_path: Path
) -> None:
    log = tmp_path / "ingest.log"

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as err:
            return subprocess.Popen([str(BIN / "vrs-hub"), "ingest"], env={**os.environ, **env},
                                    stdout=subprocess.DEVNULL, stderr=err)

    proc = start()
    try:
        st = station.station
        for i in range(30):
            station.send([st.record() for _ in range(20)])
            if i == 10:
                time.sleep(0.3)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                proc = start()
        assert station.drain(90, resend_after=2.0)
        assert counts(hub_db) == (600, 600, 600)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "stopped after" in text  # the restarted process shut down cleanly on SIGTERM


def test_a_full_batch_with_one_invalid_record_through_the_broker(
    hub_db: str, worker: IngestWorker, station: StationClient
) -> None:
    import msgspec

    st = station.station
    records = [msgspec.json.encode(st.record()) for _ in range(200)]
    broken = msgspec.json.decode(records[123])
    broken["voucher_no"] = "12345"  # not 10 digits
    records[123] = msgspec.json.encode(broken)
    ack = station.wait_ack(station.send(records))
    assert ack is not None and len(ack.accepted) == 199
    assert [(r.record_id, r.reason) for r in ack.rejected] == [(broken["record_id"], "invalid_field")]
    assert counts(hub_db) == (199, 199, 199)


@pytest.mark.fault
def test_two_workers_sharing_the_subscription_store_each_record_once(
    hub_db: str, env: dict[str, str], station: StationClient
) -> None:
    workers = [IngestWorker(load_config({**env, "VRS_INGEST_CLIENT_ID": f"{env['VRS_INGEST_CLIENT_ID']}-{i}"}))
               for i in range(2)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for t in threads:
        t.start()
    try:
        assert all(w.connected.wait(10) for w in workers)
        time.sleep(0.3)
        st = station.station
        for _ in range(30):
            recs = [st.record(f"{n % 7:010d}", dose=1 + n % 3) for n in range(5)]  # overwrites across batches
            seq = station.send(recs)
            station.client.publish(st.topic, station.outbox[seq], qos=1)  # an immediate resend: both get it
        assert station.drain(60)
        assert sum(w.counters.records_new for w in workers) == 150
        assert all(w.counters.batches > 0 for w in workers)  # the shared subscription split the load
    finally:
        for w in workers:
            w.stop.set()
        for t in threads:
            t.join(10)
    history, distinct, _ = counts(hub_db)
    assert history == distinct == 150
    with connect(hub_db, "vrs_ingest") as conn, scoped(conn, Scope.ingest()):
        assert aggregates.stored(conn) == aggregates.recounted(conn)


def test_a_batch_the_database_refuses_is_dropped_alone_and_the_rest_goes_on(
    hub_db: str, worker: IngestWorker, station: StationClient
) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:  # a rule validation does not know about
        conn.execute("ALTER TABLE vaccination_history ADD CONSTRAINT no_poison CHECK (lot <> 'POISON')")
    st = station.station
    good = [[st.record()], [st.record()]]
    poison = [st.record(lot="POISON")]
    seqs = [st.next_seq() for _ in range(3)]
    tokens = [st.batch(b, seq=s) for b, s in zip([good[0], poison, good[1]], seqs, strict=True)]
    for token in tokens:  # back to back, so they meet in one group
        station.publish_raw(st.topic, token)
    assert station.wait_ack(seqs[0]) is not None and station.wait_ack(seqs[2]) is not None
    time.sleep(0.5)
    assert seqs[1] not in station.acks and worker.counters.failed == 1
    assert counts(hub_db) == (2, 2, 2)
    later = station.send([st.record()])
    assert station.wait_ack(later) is not None  # still running


def test_a_batch_checked_ahead_is_checked_again_when_its_station_is_revoked_meanwhile(
    hub_db: str, env: dict[str, str], config: HubConfig
) -> None:
    # The checker thread verifies against the keys the last transaction saw; a revocation that lands between
    # that check and the batch's own transaction must still refuse it. Driven by hand to hold that window open.
    st = Station(f"st-race-{os.getpid()}")
    st.enroll(hub_db)
    worker = IngestWorker(config)
    try:
        _revoked_between_check_and_transaction(worker, st, env, hub_db)
    finally:
        if worker._db is not None:
            worker._db.close()


def _revoked_between_check_and_transaction(worker: IngestWorker, st: Station, env: dict[str, str],
                                           hub_db: str) -> None:
    from hub.ingest.worker import Incoming, Precheck

    first = [Incoming(st.topic, st.batch([st.record()]), mid=1, qos=1, generation=0)]
    worker.process(first)
    assert worker.counters.records_new == 1 and st.device_id in worker._known_keys
    rec = st.record()
    second = [Incoming(st.topic, st.batch([rec]), mid=2, qos=1, generation=0)]
    ahead = worker.precheck(second)
    assert isinstance(ahead[0], Precheck) and ahead[0].outcome is not None and ahead[0].key is not None
    subprocess.run([str(BIN / "vrs-hub"), "device", "revoke", "--id", st.device_id], env={**os.environ, **env},
                   check=True, capture_output=True)
    worker.process(second, ahead)
    assert worker.counters.records_new == 1 and worker.counters.rejected == 1
    assert counts(hub_db) == (1, 1, 1)
    assert worker._known_keys[st.device_id].status == "revoked"


def test_a_flooding_station_is_held_to_its_rate_while_another_is_answered_and_nothing_is_lost(
    hub_db: str, env: dict[str, str], mosquitto: Broker
) -> None:
    config = load_config({**env, "VRS_INGEST_STATION_RATE": "10", "VRS_INGEST_STATION_BURST": "10"})
    worker = IngestWorker(config)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    flooder, quiet = Station(f"st-flood-{os.getpid()}"), Station(f"st-quiet-{os.getpid()}", venue_id="v-quiet")
    flooder.enroll(hub_db)
    quiet.enroll(hub_db)
    key = hub_public_key(env)
    flood, calm = (StationClient(s, mosquitto.host, mosquitto.port, key) for s in (flooder, quiet))
    try:
        assert worker.connected.wait(10)
        time.sleep(0.3)
        started = time.monotonic()
        for _ in range(80):
            flood.send([flooder.record()])
        calm_seqs = [calm.send([quiet.record()]) for _ in range(5)]
        assert all(calm.wait_ack(seq) is not None for seq in calm_seqs)
        time.sleep(0.5)
        answered, elapsed = len(flood.acks), time.monotonic() - started
        # A token bucket: never more than the burst plus the rate over the time that passed.
        assert 10 <= answered <= 10 + 10 * elapsed + 1
        assert worker.counters.over_rate >= 80 - answered
        # What was dropped stays in the station's outbox and lands, once, when it is sent again at its pace.
        assert flood.drain(timeout=120, resend_after=1.0)
    finally:
        worker.stop.set()
        thread.join(10)
        flood.close()
        calm.close()
    history, distinct, _ = counts(hub_db)
    assert history == distinct == 85


def test_a_running_ingest_signs_with_the_rotated_ack_key_without_a_restart(
    hub_db: str, env: dict[str, str], worker: IngestWorker, station: StationClient, mosquitto: Broker,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.ingest import worker as worker_module
    from hub.ops import ack_keys

    monkeypatch.setattr(worker_module, "KEY_CHECK_SECONDS", 0.0)
    st = station.station
    assert station.wait_ack(station.send([st.record()])) is not None  # signed with the first key
    key_file = Path(env["VRS_HUB_KEY_FILE"])
    old_key = hub_public_key(env)
    ack_keys.prepare(key_file)
    ack_keys.activate(key_file)
    new_key = hub_public_key(env)
    assert new_key != old_key
    station.close()  # the same station, now configured with the new key alone
    rotated = StationClient(st, mosquitto.host, mosquitto.port, new_key)
    try:
        seq = rotated.send([st.record()])
        assert rotated.wait_ack(seq) is not None and rotated.bad_acks == 0
    finally:
        rotated.close()
