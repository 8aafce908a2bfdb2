"""Proof that the test services are the real servers, and that fault tests can really break them."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.fixtures_mosquitto import Broker
from tests.fixtures_postgres import PgCluster


def test_postgres_is_a_real_server(pg_database: str) -> None:
    with psycopg.connect(pg_database) as conn:
        conn.execute("CREATE TABLE t (n int PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1), (2)")
        version = conn.execute("SHOW server_version_num").fetchone()
        total = conn.execute("SELECT sum(n) FROM t").fetchone()
    assert version is not None and int(version[0]) >= 150000
    assert total == (3,)
    with psycopg.connect(pg_database) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("INSERT INTO t VALUES (1)")


@pytest.mark.fault
def test_postgres_restart_keeps_committed_data(pg_cluster: PgCluster, pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (n int)")
        conn.execute("INSERT INTO t VALUES (7)")
    pg_cluster.restart()
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT n FROM t").fetchall() == [(7,)]


def _client(broker: Broker, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    return client


def _round_trip(broker: Broker, topic: str) -> bytes:
    got: list[bytes] = []
    subscribed = threading.Event()
    received = threading.Event()
    sub = _client(broker, "smoke-sub")
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda c, u, msg: (got.append(msg.payload), received.set())
    sub.loop_start()
    sub.subscribe(topic, qos=1)
    assert subscribed.wait(5)
    pub = _client(broker, "smoke-pub")
    pub.loop_start()
    pub.publish(topic, b"hello", qos=1).wait_for_publish(5)
    assert received.wait(5)
    for c in (sub, pub):
        c.loop_stop()
        c.disconnect()
    return got[0]


def test_mosquitto_is_a_real_broker(mosquitto: Broker) -> None:
    assert _round_trip(mosquitto, "smoke/one") == b"hello"


@pytest.mark.fault
def test_mosquitto_can_be_killed_and_restarted(mosquitto: Broker) -> None:
    mosquitto.kill()
    assert not mosquitto.is_running()
    with pytest.raises(ConnectionRefusedError):
        _client(mosquitto, "nobody")
    mosquitto.start()
    assert _round_trip(mosquitto, "smoke/two") == b"hello"


def test_extra_broker_with_its_own_config(mosquitto_factory) -> None:  # type: ignore[no-untyped-def]
    broker = mosquitto_factory(allow_anonymous=False)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anon", protocol=mqtt.MQTTv5)
    refused = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: refused.set() if rc.is_failure else None
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert refused.wait(5), "an anonymous client must be refused when anonymous access is off"
    client.loop_stop()
