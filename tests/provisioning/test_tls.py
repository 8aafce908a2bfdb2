"""`vrs-provision broker --tls` loaded by a real Mosquitto: stations and the hub's ingest reach it only with the
pinned CA; another CA, an expired broker certificate and plain MQTT on the TLS port are all refused."""

from __future__ import annotations

import datetime
import gc
import logging
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.queue.outbox import Outbox
from edge.queue.publisher import Publisher, parse_broker_url
from hub.config import load_config
from hub.ingest.worker import IngestWorker
from hub.keys import ensure_hub_key
from protocol.signing import generate_key
from provisioning import ProvisioningError
from provisioning.broker import BrokerPlan, provision_broker
from provisioning.tls import cert_pem, create_ca, issue_server_cert, key_pem, load_ca, write_private, write_public
from tests.fixtures_mosquitto import Broker
from tests.fixtures_postgres import free_port

VRS_PROVISION = str(Path(sys.executable).parent / "vrs-provision")

# paho leaves the socket of a failed TLS handshake to the garbage collector (client._ssl_wrap_socket).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning")


def wait(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _secret(directory: Path, user: str) -> str:
    return (directory / "secrets" / f"{user}.password").read_text().strip()


def _plan(tmp_path: Path, **kw: object) -> BrokerPlan:
    return BrokerPlan(directory=tmp_path / "broker", stations=("st-a",), port=free_port(), tls=True,
                      tls_hosts=("127.0.0.1", "localhost"), **kw)  # type: ignore[arg-type]


def _start(mosquitto_factory: Callable[..., Broker], plan: BrokerPlan) -> Broker:
    conf = (plan.directory / "vrs.conf").read_text()
    return mosquitto_factory(extra_conf=conf, allow_anonymous=False, port=plan.port)


def tls_connect(port: int, ca_file: Path, user: str, password: str) -> str:
    """'connected', or why not: what an MQTT client verifying with `ca_file` experiences."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    client.tls_set(ca_certs=str(ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    outcome: list[str] = []
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: object, f: object, rc: ReasonCode, p: object) -> None:
        outcome.append("refused: " + str(rc) if rc.is_failure else "connected")
        done.set()

    client.on_connect = on_connect
    try:
        client.connect("127.0.0.1", port)
    except (ssl.SSLError, OSError) as exc:
        return f"tls error: {exc}"
    client.loop_start()
    try:
        done.wait(10)
    finally:
        client.loop_stop()
        client.disconnect()
    return outcome[0] if outcome else "no answer"


@pytest.fixture
def tls_broker(tmp_path: Path, mosquitto_factory: Callable[..., Broker]) -> tuple[Broker, BrokerPlan]:
    plan = _plan(tmp_path, plain_loopback_port=free_port())
    provision_broker(plan)
    return _start(mosquitto_factory, plan), plan


def test_a_client_with_the_pinned_ca_connects_and_one_with_another_ca_is_refused(
        tmp_path: Path, tls_broker: tuple[Broker, BrokerPlan]) -> None:
    broker, plan = tls_broker
    ca = plan.directory / "tls" / "ca.pem"
    stranger = tmp_path / "stranger.pem"
    write_public(stranger, cert_pem(create_ca("someone else's CA").cert))
    assert tls_connect(broker.port, ca, "st-a", _secret(plan.directory, "st-a")) == "connected"
    refused = tls_connect(broker.port, stranger, "st-a", _secret(plan.directory, "st-a"))
    assert refused.startswith("tls error") and "CERTIFICATE_VERIFY_FAILED" in refused
    # The right CA does not let a wrong password in.
    assert tls_connect(broker.port, ca, "st-a", "guess").startswith("refused")


def test_the_station_publisher_goes_online_only_with_the_pinned_ca(
        tmp_path: Path, tls_broker: tuple[Broker, BrokerPlan]) -> None:
    broker, plan = tls_broker
    stranger = tmp_path / "stranger.pem"
    write_public(stranger, cert_pem(create_ca("someone else's CA").cert))
    password = _secret(plan.directory, "st-a")
    url = f"mqtts://st-a:{password}@127.0.0.1:{broker.port}"
    key = generate_key()
    for ca, expect_online in ((stranger, False), (plan.directory / "tls" / "ca.pem", True)):
        outbox = Outbox(tmp_path / f"outbox-{expect_online}.sqlite")
        station = Publisher(outbox, device_id="st-a", private_key=key, hub_keys=[generate_key().public_key()],
                            broker=parse_broker_url(url, str(ca)))
        station.start()
        try:
            if expect_online:
                wait(lambda s=station: s.online, "the station to be online over TLS")  # type: ignore[misc]
            else:
                wait(lambda s=station: "certificate" in s.last_error.lower(),  # type: ignore[misc]
                     "the station to refuse the broker's certificate")
                assert not station.online
        finally:
            station.stop()
            outbox.close()


def test_the_hub_ingest_verifies_the_broker_against_vrs_mqtt_ca_file(
        tmp_path: Path, tls_broker: tuple[Broker, BrokerPlan], caplog: pytest.LogCaptureFixture) -> None:
    broker, plan = tls_broker
    hub_key = tmp_path / "hub.pem"
    ensure_hub_key(hub_key)
    stranger = tmp_path / "stranger.pem"
    write_public(stranger, cert_pem(create_ca("someone else's CA").cert))
    password = _secret(plan.directory, "vrs-hub")
    for ca, expect in ((plan.directory / "tls" / "ca.pem", True), (stranger, False)):
        config = load_config({"VRS_MQTT_URL": f"mqtts://vrs-hub:{password}@127.0.0.1:{broker.port}",
                              "VRS_MQTT_CA_FILE": str(ca), "VRS_HUB_KEY_FILE": str(hub_key),
                              "VRS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
        worker = IngestWorker(config, client_id=f"ingest-{expect}")
        runner = threading.Thread(target=worker.run)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hub.ingest"):
            runner.start()
            try:
                if expect:
                    assert worker.connected.wait(10)
                else:
                    wait(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text, "the ingest to refuse the broker")
                    assert not worker.connected.is_set()
            finally:
                worker.stop.set()
                runner.join(10)
                # The socket of a failed handshake is still referenced by the logged exception: let go of both
                # here, so that it is collected under this module's warning filter.
                caplog.clear()
                gc.collect()


def test_an_expired_broker_certificate_is_refused(tmp_path: Path,
                                                  mosquitto_factory: Callable[..., Broker]) -> None:
    plan = _plan(tmp_path)
    provision_broker(plan)
    tls = plan.directory / "tls"
    ca = load_ca(tls / "ca.pem", tls / "ca.key")
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    key, cert = issue_server_cert(ca, ["127.0.0.1"], days=30, not_before=long_ago)
    write_private(tls / "broker.key", key_pem(key))
    write_public(tls / "broker.pem", cert_pem(cert))
    broker = _start(mosquitto_factory, plan)
    outcome = tls_connect(broker.port, tls / "ca.pem", "st-a", _secret(plan.directory, "st-a"))
    assert outcome.startswith("tls error") and "expired" in outcome


def _mqtt_connect_packet(client_id: bytes) -> bytes:
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
    return b"\x10" + bytes([len(body)]) + body


def test_plain_mqtt_is_refused_on_the_tls_port_and_served_only_on_loopback(
        tls_broker: tuple[Broker, BrokerPlan]) -> None:
    broker, plan = tls_broker
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
        s.sendall(_mqtt_connect_packet(b"plain"))
        try:
            answer = s.recv(16)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert not answer.startswith(b"\x20"), "the TLS port answered a plain CONNECT with a CONNACK"
    # The loopback listener asked for with --plain-port speaks plain MQTT (and still wants a password).
    assert plan.plain_loopback_port is not None
    with socket.create_connection(("127.0.0.1", plan.plain_loopback_port), timeout=5) as s:
        s.sendall(_mqtt_connect_packet(b"plain"))
        assert s.recv(4)[:1] == b"\x20"
    conf = (plan.directory / "vrs.conf").read_text()
    assert f"listener {plan.plain_loopback_port} 127.0.0.1\n" in conf


def test_keys_are_private_and_a_rerun_keeps_the_ca_and_certificate(tmp_path: Path) -> None:
    args = [VRS_PROVISION, "broker", "--dir", str(tmp_path), "--station", "st-a", "--tls", "--bind", "0.0.0.0",
            "--tls-host", "mqtt.example.jp"]
    first = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    assert "created a CA" in first and "issued the broker certificate" in first
    tls = tmp_path / "tls"
    for name in ("ca.key", "broker.key"):
        assert stat.S_IMODE((tls / name).stat().st_mode) == 0o600, name
    cert = x509.load_pem_x509_certificate((tls / "broker.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mqtt.example.jp"]
    conf = (tmp_path / "vrs.conf").read_text()
    assert "listener 8883 0.0.0.0\n" in conf and f"certfile {tls / 'broker.pem'}\n" in conf
    before = (tls / "broker.pem").read_bytes()
    second = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    assert "kept the CA" in second and "kept the broker certificate" in second
    assert (tls / "broker.pem").read_bytes() == before
    # Another name for the broker: a new certificate from the same CA.
    third = subprocess.run([*args, "--tls-host", "10.0.0.5"], capture_output=True, text=True, check=True).stdout
    assert "issued the broker certificate" in third and "kept the CA" in third


def test_an_existing_ca_is_used_and_a_mismatched_key_is_refused(tmp_path: Path) -> None:
    own, other = create_ca("municipal CA"), create_ca("other")
    write_public(tmp_path / "own.pem", cert_pem(own.cert))
    write_private(tmp_path / "own.key", key_pem(own.key))
    write_private(tmp_path / "other.key", key_pem(other.key))
    plan = _plan(tmp_path, ca_cert=tmp_path / "own.pem", ca_key=tmp_path / "own.key")
    provision_broker(plan)
    cert = x509.load_pem_x509_certificate((plan.directory / "tls" / "broker.pem").read_bytes())
    cert.verify_directly_issued_by(own.cert)
    assert not (plan.directory / "tls" / "ca.key").exists()  # the deployment's CA key stays where it was
    with pytest.raises(ProvisioningError, match="not the private key"):
        provision_broker(_plan(tmp_path, ca_cert=tmp_path / "own.pem", ca_key=tmp_path / "other.key"))


def test_plain_mqtt_off_loopback_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([VRS_PROVISION, "broker", "--dir", str(tmp_path), "--bind", "0.0.0.0"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "use --tls" in done.stderr
    assert not (tmp_path / "vrs.conf").exists()
    nameless = subprocess.run([VRS_PROVISION, "broker", "--dir", str(tmp_path), "--bind", "0.0.0.0", "--tls"],
                              capture_output=True, text=True)
    assert nameless.returncode == 1 and "--tls-host" in nameless.stderr
    assert not (tmp_path / "tls").exists()
