"""mqtts:// as deployed over LTE: the station verifies the broker's certificate against its CA file, and a
broker it cannot verify gets nothing (the records wait in the outbox)."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.queue.outbox import Outbox
from edge.queue.publisher import Publisher, parse_broker_url
from protocol.signing import generate_key
from tests.edge.hub_double import HubDouble
from tests.edge.test_publisher import DEVICE, FastBackoff, make_records


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(tmp: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def make_server_cert(tmp: Path, ca_key, ca_cert) -> tuple[Path, Path]:
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = tmp / "server.pem", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def wait(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def tls_broker(tmp_path: Path, mosquitto_factory):
    ca_key, ca_cert, ca_path = make_ca(tmp_path, "vrs-test-ca")
    cert, key = make_server_cert(tmp_path, ca_key, ca_cert)
    # No listener line of our own: these settings make the factory's loopback listener a TLS one.
    broker = mosquitto_factory(f"cafile {ca_path}\ncertfile {cert}\nkeyfile {key}\n")
    return broker, ca_path


# paho leaves the socket of a failed TLS handshake to the garbage collector (client._ssl_wrap_socket); the
# station retries at most every Backoff.CAP seconds, so nothing piles up, but the GC's ResourceWarning shows.
@pytest.mark.filterwarnings("ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning")
def test_mqtts_with_the_right_ca_drains_and_a_wrong_ca_sends_nothing(tmp_path: Path, tls_broker) -> None:
    broker, ca_path = tls_broker
    url = f"mqtts://127.0.0.1:{broker.port}"
    _, _, other_ca = make_ca(tmp_path, "someone-else")
    station_key, hub_key = generate_key(), generate_key()
    records = make_records(5)
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.append_many(records)
    with HubDouble(url, {DEVICE: station_key.public_key()}, hub_key, ca_file=str(ca_path)) as hub:
        wrong = Publisher(outbox, device_id=DEVICE, private_key=station_key, hub_keys=[hub_key.public_key()],
                          broker=parse_broker_url(url, str(other_ca)),
                          backoff=FastBackoff())
        wrong.start()
        wait(lambda: "CERTIFICATE_VERIFY_FAILED" in wrong.last_error or "certificate" in wrong.last_error,
             "the certificate to be refused")
        wrong.stop()
        assert outbox.depth() == 5 and not hub.stored_ids()

        right = Publisher(outbox, device_id=DEVICE, private_key=station_key, hub_keys=[hub_key.public_key()],
                          broker=parse_broker_url(url, str(ca_path)),
                          backoff=FastBackoff())
        right.start()
        try:
            wait(lambda: outbox.depth() == 0, "the drain over TLS")
        finally:
            right.stop()
        assert hub.stored_ids() == {r.record_id for r in records}
    outbox.close()
