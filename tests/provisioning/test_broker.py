"""The broker files `vrs-provision broker` writes, loaded by a real Mosquitto: each station is fenced in."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from provisioning.broker import BrokerPlan, check_password, password_entry, provision_broker
from tests.fixtures_mosquitto import Broker
from tests.fixtures_postgres import free_port

VRS_PROVISION = str(Path(sys.executable).parent / "vrs-provision")


class Peer:
    """An MQTT 5 client that records what it receives and whether it was let in."""

    def __init__(self, broker: Broker, user: str, password: str | None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}", protocol=mqtt.MQTTv5)
        if password is not None:
            self.client.username_pw_set(user, password)
        self.connected = threading.Event()
        self.refused = threading.Event()
        self.got: list[tuple[str, bytes]] = []
        self.sub_codes: list[list[ReasonCode]] = []
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_connect(self, c: mqtt.Client, u: object, flags: object, rc: ReasonCode, props: object) -> None:
        (self.refused if rc.is_failure else self.connected).set()

    def _on_subscribe(self, c: mqtt.Client, u: object, mid: int, codes: list[ReasonCode], props: object) -> None:
        self.sub_codes.append(codes)
        self.subscribed.set()

    def subscribe(self, topic: str) -> list[ReasonCode]:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)
        return self.sub_codes[-1]

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def fenced_broker(tmp_path: Path, mosquitto_factory) -> tuple[Broker, Path]:  # type: ignore[no-untyped-def]
    plan = BrokerPlan(directory=tmp_path / "broker", stations=("st-a", "st-b"), port=free_port())
    provision_broker(plan)
    conf = (plan.directory / "vrs.conf").read_text()
    broker = mosquitto_factory(extra_conf=conf, allow_anonymous=False, port=plan.port)
    return broker, plan.directory


def _secret(directory: Path, user: str) -> str:
    return (directory / "secrets" / f"{user}.password").read_text().strip()


def test_password_entries_match_mosquittos_format() -> None:
    entry = password_entry("st-a", "secret", salt=b"0123456789ab", iterations=101)
    assert entry.startswith("st-a:$7$101$")
    assert check_password(entry, "secret")
    assert not check_password(entry, "Secret")


def test_stations_are_fenced_to_their_own_topics(fenced_broker: tuple[Broker, Path]) -> None:
    broker, directory = fenced_broker
    hub = Peer(broker, "vrs-hub", _secret(directory, "vrs-hub"))
    a = Peer(broker, "st-a", _secret(directory, "st-a"))
    b = Peer(broker, "st-b", _secret(directory, "st-b"))
    try:
        for p in (hub, a, b):
            assert p.connected.wait(5)
        hub.subscribe("$share/vrs-ingest/vrs/v1/devices/+/records")  # as the ingest subscribes
        # B asks for every station's acks; the broker's read ACL still hands it only its own.
        b.subscribe("vrs/v1/devices/+/acks")

        a.publish("vrs/v1/devices/st-a/records", b"from a")
        a.publish("vrs/v1/devices/st-b/records", b"a posing as b")
        hub.publish("vrs/v1/devices/st-a/acks", b"ack for a")
        hub.publish("vrs/v1/devices/st-b/acks", b"ack for b")
        a.publish("vrs/v1/devices/st-b/acks", b"forged ack from a")
        b.publish("vrs/v1/devices/st-b/records", b"from b")

        deadline = threading.Event()
        deadline.wait(1.0)
        assert sorted(p for _, p in hub.got) == [b"from a", b"from b"]
        assert [p for _, p in b.got] == [b"ack for b"]
    finally:
        for p in (hub, a, b):
            p.close()


def test_wrong_password_and_anonymous_are_refused(fenced_broker: tuple[Broker, Path]) -> None:
    broker, _ = fenced_broker
    wrong = Peer(broker, "st-a", "not-the-password")
    anonymous = Peer(broker, "st-a", None)
    try:
        assert wrong.refused.wait(5)
        assert anonymous.refused.wait(5)
    finally:
        wrong.close()
        anonymous.close()


def test_rerun_keeps_existing_users_and_writes_secrets_privately(tmp_path: Path) -> None:
    first = subprocess.run([VRS_PROVISION, "broker", "--dir", str(tmp_path), "--station", "st-a"],
                           capture_output=True, text=True, check=True).stdout
    assert "added broker user st-a" in first and "added broker user vrs-hub" in first
    before = _secret(tmp_path, "st-a")
    second = subprocess.run([VRS_PROVISION, "broker", "--dir", str(tmp_path), "--station", "st-a",
                             "--station", "st-c"], capture_output=True, text=True, check=True).stdout
    assert "kept broker user st-a" in second and "added broker user st-c" in second
    assert _secret(tmp_path, "st-a") == before
    for name in ("passwd", "secrets/st-a.password", "secrets/st-c.password"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_bad_station_name_is_refused_with_a_reason(tmp_path: Path) -> None:
    done = subprocess.run([VRS_PROVISION, "broker", "--dir", str(tmp_path), "--station", "st/+/x"],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "not a valid user name" in done.stderr
    assert not (tmp_path / "passwd").exists()
