"""The ingest's MQTT connection against a real Mosquitto: login and subscription refusals named, the broker's
Receive Maximum kept, keepalive pings answered, and a vanished broker noticed."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.config import MqttSettings
from hub.errors import BrokerError
from hub.ingest.mqtt_link import MqttLink
from hub.ingest.mqtt_wire import Publish
from tests.fixtures_mosquitto import Broker


def _link(broker: Broker, client_id: str, subscriptions: list[tuple[str, int]], *, user: str | None = None,
          password: str | None = None, keepalive: int = 30) -> MqttLink:
    return MqttLink(MqttSettings(broker.host, broker.port, user, password), client_id, subscriptions=subscriptions,
                    receive_maximum=1000, keepalive=keepalive)


def _receive(link: MqttLink, count: int, seconds: float = 10) -> list[Publish]:
    got: list[Publish] = []
    deadline = time.monotonic() + seconds
    while len(got) < count and time.monotonic() < deadline:
        for msg in link.poll(0.05):
            got.append(msg)
            if msg.qos:
                link.ack(msg.packet_id)
    return got


def test_acks_in_flight_stay_within_the_brokers_receive_maximum_and_all_arrive_in_order(
        mosquitto_factory: Callable[..., Broker]) -> None:
    broker = mosquitto_factory("max_inflight_messages 5")
    reader = _link(broker, "reader", [("acks/#", 1)])
    writer = _link(broker, "writer", [("nothing/here", 1)])
    reader.connect()
    writer.connect()
    try:
        most = 0
        for n in range(60):
            writer.publish(f"acks/{n % 3}", str(n).encode())
            most = max(most, len(writer._in_flight))
            if n % 7 == 0:
                writer.poll(0.01)
        got: list[Publish] = []
        deadline = time.monotonic() + 10
        while len(got) < 60 and time.monotonic() < deadline:
            writer.poll(0.01)
            most = max(most, len(writer._in_flight))
            got += _receive(reader, 60 - len(got), 0.05)
        while (writer._waiting or writer._in_flight) and time.monotonic() < deadline:
            writer.poll(0.01)  # the last PUBACKs
        assert most == 5
        assert [int(m.payload) for m in got] == list(range(60))
        assert not writer._waiting and not writer._in_flight
    finally:
        reader.close()
        writer.close()


def test_a_message_over_the_links_packet_size_is_kept_back_by_the_broker_not_a_reason_to_drop_the_link(
        mosquitto: Broker) -> None:
    reader = MqttLink(MqttSettings(mosquitto.host, mosquitto.port), "small-reader", subscriptions=[("big/#", 1)],
                      receive_maximum=1000, keepalive=30, max_packet=64 * 1024)
    writer = _link(mosquitto, "big-writer", [])
    reader.connect()
    try:
        writer.connect()
        writer.publish("big/1", b"x" * 100_000)
        writer.publish("big/2", b"small")
        writer.flush()
        writer.close()
        got = _receive(reader, 2, seconds=3)
        assert [m.payload for m in got] == [b"small"] and reader.connected
    finally:
        reader.close()


def _passwords(tmp_path: Path, users: dict[str, str]) -> Path:
    path = tmp_path / "passwords"
    path.touch()
    for user, password in users.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True, capture_output=True)
    return path


def test_a_wrong_password_is_named_and_the_right_one_receives(
        tmp_path: Path, mosquitto_factory: Callable[..., Broker]) -> None:
    passwords = _passwords(tmp_path, {"vrs-hub": "right", "st-a": "station"})
    acl = tmp_path / "acl"
    acl.write_text("user vrs-hub\ntopic read vrs/v1/devices/+/records\n\n"
                   "user st-a\ntopic write vrs/v1/devices/st-a/records\n")
    broker = mosquitto_factory(f"password_file {passwords}\nacl_file {acl}\n", allow_anonymous=False)
    subscription = [("$share/ingest/vrs/v1/devices/+/records", 1)]
    wrong = _link(broker, "ingest-wrong", subscription, user="vrs-hub", password="wrong")
    with pytest.raises(BrokerError, match="refused the login of ingest-wrong: not authorized"):
        wrong.connect()
    assert not wrong.connected
    right = _link(broker, "ingest-right", subscription, user="vrs-hub", password="right")
    sender = _link(broker, "st-a", [], user="st-a", password="station")
    try:
        right.connect()
        sender.connect()
        sender.publish("vrs/v1/devices/st-a/records", b"batch")
        sender.flush()
        (msg,) = _receive(right, 1)
        assert (msg.topic, msg.payload, msg.qos) == ("vrs/v1/devices/st-a/records", b"batch", 1)
    finally:
        sender.close()
        right.close()


def test_an_idle_link_pings_and_stays_up_then_notices_the_broker_gone(mosquitto: Broker) -> None:
    link = _link(mosquitto, "idle", [("idle/#", 1)], keepalive=1)
    assert link.fileno() == -1
    link.connect()
    try:
        assert link.fileno() > 2  # a socket select() can wait on
        connected_at = link._last_sent
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            link.poll(0.1)
        # Mosquitto drops a client silent for 1.5 keepalives: only the pings kept this one.
        assert link.connected and link._last_sent > connected_at
        sender = _link(mosquitto, "idle-sender", [])
        sender.connect()
        sender.publish("idle/1", b"still here")
        sender.close()
        assert [m.payload for m in _receive(link, 1)] == [b"still here"]
        mosquitto.kill()
        with pytest.raises((OSError, BrokerError)):
            for _ in range(50):
                link.poll(0.1)
    finally:
        link.close()
