"""The broker's TLS material: a private CA that stations and the hub pin, and the broker's certificate.

Stations reach the broker over public LTE, so they must not trust the public web PKI for it: each station
and the hub's ingest verify the broker against this one CA certificate (`broker.ca_file` on a station,
`VRS_MQTT_CA_FILE` on the hub). Keys are P-256 (small, fast on a Pi) and written 0600.

Files in the broker directory::

    tls/ca.pem          the CA certificate (public; copy it to every station and to the hub)
    tls/ca.key          the CA private key (0600; keep it offline once the broker certificate exists)
    tls/broker.pem      the broker's certificate, signed by the CA
    tls/broker.key      the broker's private key (0600)
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning import ProvisioningError

TLS_DIR = "tls"
CA_CERT = "ca.pem"
CA_KEY = "ca.key"
BROKER_CERT = "broker.pem"
BROKER_KEY = "broker.key"
CA_DAYS = 3650
# Short enough that a stolen broker key is not useful for long, long enough for a yearly field visit.
BROKER_DAYS = 397
# A station's clock may run a little behind after a long power cut.
BACKDATE = datetime.timedelta(hours=1)


class Authority(msgspec.Struct, frozen=True):
    """A CA's key and certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


class TlsFiles(msgspec.Struct, frozen=True):
    """Where the broker's TLS files are."""

    ca_cert: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "VRS"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def create_ca(common_name: str = "VRS broker CA", *, days: int = CA_DAYS,
              now: datetime.datetime | None = None) -> Authority:
    """A new self-signed CA that may sign only end-entity certificates (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = (now or _now()) - BACKDATE
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(key=key, cert=cert)


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue_server_cert(ca: Authority, hosts: Sequence[str], *, days: int = BROKER_DAYS,
                      not_before: datetime.datetime | None = None) -> tuple[ec.EllipticCurvePrivateKey,
                                                                            x509.Certificate]:
    """A key and a server certificate for `hosts` (DNS names or IP addresses), signed by `ca`."""
    if not hosts:
        raise ProvisioningError("the broker certificate needs at least one host name or address (--tls-host)")
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before if not_before is not None else _now() - BACKDATE
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return key, cert


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes) -> None:
    """Write a key file that only its owner can read, even for the instant before chmod."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(0o600)


def write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)


def load_ca(cert_path: Path, key_path: Path) -> Authority:
    """An existing CA (for example the deployment's own); ProvisioningError says what is wrong with it."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except OSError as exc:
        raise ProvisioningError(f"cannot read the CA certificate {cert_path}: {exc.strerror}") from None
    except ValueError:
        raise ProvisioningError(f"{cert_path} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise ProvisioningError(f"cannot read the CA key {key_path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise ProvisioningError(f"{key_path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ProvisioningError(f"{key_path}: only EC (P-256) CA keys are supported")
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise ProvisioningError(f"{key_path} is not the private key of {cert_path}")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ProvisioningError(f"{cert_path} is not a CA certificate (no basicConstraints CA:TRUE)")
    return Authority(key=key, cert=cert)


def _needs_new_cert(cert_path: Path, ca: Authority, hosts: Sequence[str]) -> str | None:
    """Why the broker certificate at `cert_path` must be (re)issued, or None when it can stay."""
    if not cert_path.exists():
        return "missing"
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return "unreadable"
    if cert.issuer != ca.cert.subject:
        return "issued by another CA"
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return "not signed by this CA"
    if cert.not_valid_after_utc - _now() < datetime.timedelta(days=30):
        return "expires within 30 days"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "has no host names"
    if san != _san(hosts):
        return "names other hosts"
    return None


def provision_tls(directory: Path, hosts: Sequence[str], *, ca_cert: Path | None = None,
                  ca_key: Path | None = None) -> tuple[TlsFiles, list[str]]:
    """Create (or keep) the CA and the broker certificate under `directory`/tls; lines say what was done."""
    if not hosts:
        raise ProvisioningError("name the host names or addresses stations reach the broker by (--tls-host)")
    tls = directory / TLS_DIR
    tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = TlsFiles(ca_cert=tls / CA_CERT, cert=tls / BROKER_CERT, key=tls / BROKER_KEY)
    done: list[str] = []
    if (ca_cert is None) != (ca_key is None):
        raise ProvisioningError("--ca-cert and --ca-key must be given together")
    if ca_cert is not None and ca_key is not None:
        ca = load_ca(ca_cert, ca_key)
        if not files.ca_cert.exists() or files.ca_cert.read_bytes() != cert_pem(ca.cert):
            write_public(files.ca_cert, cert_pem(ca.cert))
            done.append(f"copied the CA certificate {ca_cert} to {files.ca_cert}")
    elif files.ca_cert.exists() and (tls / CA_KEY).exists():
        ca = load_ca(files.ca_cert, tls / CA_KEY)
        done.append(f"kept the CA {files.ca_cert}")
    else:
        ca = create_ca()
        write_private(tls / CA_KEY, key_pem(ca.key))
        write_public(files.ca_cert, cert_pem(ca.cert))
        done.append(f"created a CA: {files.ca_cert} (key {tls / CA_KEY}: move it offline)")
    why = _needs_new_cert(files.cert, ca, hosts)
    if why is None and files.key.exists():
        done.append(f"kept the broker certificate {files.cert}")
    else:
        key, cert = issue_server_cert(ca, hosts)
        write_private(files.key, key_pem(key))
        write_public(files.cert, cert_pem(cert))
        done.append(f"issued the broker certificate {files.cert} for {', '.join(hosts)}"
                    + (f" (old one {why})" if why not in (None, "missing") else ""))
    done.append(f"stations: copy {files.ca_cert} and set broker.ca_file; hub: VRS_MQTT_CA_FILE={files.ca_cert}")
    return files, done
