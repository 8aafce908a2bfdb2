"""Per-client limits of the generated broker config, on a real Mosquitto: an oversized publish never reaches
the hub and its sender is disconnected; a station's largest real batch still goes through."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocol.records import MAX_TOKEN_BYTES
from provisioning.broker import MAX_PACKET_SIZE, MESSAGE_SIZE_LIMIT, BrokerPlan, provision_broker
from tests.fixtures_mosquitto import Broker
from tests.fixtures_postgres import free_port
from tests.provisioning.test_broker import Peer


def _secret(directory: Path, user: str) -> str:
    return (directory / "secrets" / f"{user}.password").read_text().strip()


@pytest.fixture
def limited_broker(tmp_path: Path, mosquitto_factory) -> tuple[Broker, Path]:  # type: ignore[no-untyped-def]
    plan = BrokerPlan(directory=tmp_path / "broker", stations=("st-a",), port=free_port())
    provision_broker(plan)
    conf = (plan.directory / "vrs.conf").read_text()
    return mosquitto_factory(extra_conf=conf, allow_anonymous=False, port=plan.port), plan.directory


def test_the_limits_fit_the_protocol() -> None:
    # The largest JWS the hub accepts must pass the broker, with room for topic and properties.
    assert MESSAGE_SIZE_LIMIT >= MAX_TOKEN_BYTES
    assert MAX_PACKET_SIZE > MESSAGE_SIZE_LIMIT


def test_an_oversized_publish_is_dropped_and_its_sender_disconnected(limited_broker: tuple[Broker, Path]) -> None:
    broker, directory = limited_broker
    hub = Peer(broker, "vrs-hub", _secret(directory, "vrs-hub"))
    # An MQTT 3.1.1 client: it is not told the maximum packet size, so it really sends the big packet.
    flooder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="st-a", protocol=mqtt.MQTTv311)
    flooder.username_pw_set("st-a", _secret(directory, "st-a"))
    connected, gone = threading.Event(), threading.Event()
    flooder.on_connect = lambda *a: connected.set()
    flooder.on_disconnect = lambda *a: gone.set()
    flooder.connect(broker.host, broker.port)
    flooder.loop_start()
    try:
        assert hub.connected.wait(5) and connected.wait(5)
        hub.subscribe("$share/vrs-ingest/vrs/v1/devices/+/records")
        flooder.publish("vrs/v1/devices/st-a/records", b"x" * MAX_TOKEN_BYTES, qos=1).wait_for_publish(5)
        # Over the payload limit but within the packet limit: completed and dropped, the client stays.
        flooder.publish("vrs/v1/devices/st-a/records", b"z" * (MESSAGE_SIZE_LIMIT + 1), qos=1).wait_for_publish(5)
        assert not gone.is_set()
        flooder.publish("vrs/v1/devices/st-a/records", b"y" * (MAX_PACKET_SIZE + 1), qos=1)
        assert gone.wait(10), "the broker kept a client that sent an oversized packet"
        time.sleep(0.5)
        sizes = [len(p) for _, p in hub.got]
        assert sizes == [MAX_TOKEN_BYTES]
    finally:
        flooder.loop_stop()
        flooder.disconnect()
        hub.close()
