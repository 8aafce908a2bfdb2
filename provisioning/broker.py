"""Mosquitto password and ACL files: each station may publish only its own topics and read only its own acks.

The station's MQTT user name is its device id (the wire protocol's rule), so one `pattern` block with `%u`
covers every station; the hub's ingest is one named user that reads all records and status and writes acks.
The password file uses Mosquitto's own PBKDF2-SHA512 format (`$7$`), so no Mosquitto tool is needed here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from pathlib import Path

import msgspec

from protocol.topics import is_valid_device_id
from provisioning import ProvisioningError

PBKDF2_ITERATIONS = 1000
SALT_BYTES = 12
PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
CONF_FILE = "vrs.conf"
SECRETS_DIR = "secrets"
DEFAULT_HUB_USER = "vrs-hub"
# Per-client limits (Mosquitto 2.0 has no publish-rate limit; the ingest schedules devices fairly instead).
# A station's batch of 200 records is about 110 KB; anything far larger is not ours.
MESSAGE_SIZE_LIMIT = 262144
# A larger packet (payload plus topic and properties) gets its sender disconnected.
MAX_PACKET_SIZE = MESSAGE_SIZE_LIMIT + 4096
MAX_INFLIGHT_MESSAGES = 20
# Queued beyond in-flight per client; what is dropped past these the stations resend (no signed ack came).
MAX_QUEUED_MESSAGES = 10000
MAX_QUEUED_BYTES = 256 * 1024 * 1024
MAX_KEEPALIVE = 300
# Sessions of stations taken out of service are forgotten instead of queueing acks forever.
SESSION_EXPIRY = "14d"


class BrokerPlan(msgspec.Struct, frozen=True):
    """What `vrs-provision broker` is asked to set up."""

    directory: Path
    stations: tuple[str, ...]
    hub_user: str = DEFAULT_HUB_USER
    port: int = 1883
    bind: str = "127.0.0.1"
    # TLS (`--tls`): the listener on bind:port speaks only TLS; a plain one may be added on loopback.
    tls: bool = False
    tls_hosts: tuple[str, ...] = ()
    ca_cert: Path | None = None
    ca_key: Path | None = None
    plain_loopback_port: int | None = None
    max_connections: int = 10000


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def password_entry(user: str, password: str, *, salt: bytes | None = None,
                   iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"{user}:$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(entry: str, password: str) -> bool:
    """True when `entry` (one password-file line) accepts `password`; used to keep existing entries."""
    _, _, hashed = entry.partition(":")
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    iterations, salt, digest = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations), digest)


def acl_text(hub_user: str) -> str:
    return (
        "# Written by vrs-provision broker. Stations log in with their device id as user name.\n"
        f"user {hub_user}\n"
        "topic read vrs/v1/devices/+/records\n"
        "topic read vrs/v1/devices/+/status\n"
        "topic write vrs/v1/devices/+/acks\n"
        "\n"
        "pattern write vrs/v1/devices/%u/records\n"
        "pattern readwrite vrs/v1/devices/%u/status\n"
        "pattern read vrs/v1/devices/%u/acks\n"
    )


def broker_conf(plan: BrokerPlan) -> str:
    d = plan.directory
    text = (
        "# Written by vrs-provision broker; include it from mosquitto.conf.\n"
        "per_listener_settings false\n"
        "allow_anonymous false\n"
        f"password_file {d / PASSWORD_FILE}\n"
        f"acl_file {d / ACL_FILE}\n"
        f"message_size_limit {MESSAGE_SIZE_LIMIT}\n"
        f"max_packet_size {MAX_PACKET_SIZE}\n"
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}\n"
        f"max_queued_messages {MAX_QUEUED_MESSAGES}\n"
        f"max_queued_bytes {MAX_QUEUED_BYTES}\n"
        f"max_keepalive {MAX_KEEPALIVE}\n"
        f"persistent_client_expiration {SESSION_EXPIRY}\n"
        f"listener {plan.port} {plan.bind}\n"
        f"max_connections {plan.max_connections}\n"
    )
    if plan.tls:
        from provisioning.tls import BROKER_CERT, BROKER_KEY, CA_CERT, TLS_DIR

        tls = d / TLS_DIR
        text += (
            f"cafile {tls / CA_CERT}\n"
            f"certfile {tls / BROKER_CERT}\n"
            f"keyfile {tls / BROKER_KEY}\n"
            "tls_version tlsv1.2\n"
        )
        if plan.plain_loopback_port is not None:
            text += f"listener {plan.plain_loopback_port} 127.0.0.1\nmax_connections {plan.max_connections}\n"
    return text


def check_plan(plan: BrokerPlan) -> None:
    """Refuse plans that would expose plain MQTT beyond this machine."""
    if not plan.tls and not is_loopback(plan.bind):
        raise ProvisioningError(f"a plain MQTT listener on {plan.bind} would carry passwords and records in clear "
                                "text: use --tls (a plain listener is only allowed on 127.0.0.1)")
    if plan.plain_loopback_port is not None and not plan.tls:
        raise ProvisioningError("--plain-port adds a loopback listener next to the TLS one; it needs --tls")
    if plan.plain_loopback_port is not None and plan.plain_loopback_port == plan.port:
        raise ProvisioningError("--plain-port must differ from the TLS listener's port")


def _read_entries(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    entries: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            entries[line.split(":", 1)[0]] = line
    return entries


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def provision_broker(plan: BrokerPlan) -> list[str]:
    """Write (or bring up to date) the broker's files; returns one line per thing done, for the engineer."""
    for user in (*plan.stations, plan.hub_user):
        if not is_valid_device_id(user):
            raise ProvisioningError(f"{user!r} is not a valid user name: use 1-64 of A-Z a-z 0-9 . _ -")
    if plan.hub_user in plan.stations:
        raise ProvisioningError(f"{plan.hub_user!r} is the hub's user name and cannot be a station")
    check_plan(plan)
    done: list[str] = []
    plan.directory.mkdir(parents=True, exist_ok=True)
    if plan.tls:
        from provisioning.tls import provision_tls

        hosts = plan.tls_hosts or ((plan.bind,) if plan.bind not in ("0.0.0.0", "::") else ())
        done.extend(provision_tls(plan.directory, hosts, ca_cert=plan.ca_cert, ca_key=plan.ca_key)[1])
    secrets_dir = plan.directory / SECRETS_DIR
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    passwd = plan.directory / PASSWORD_FILE
    entries = _read_entries(passwd)
    for user in (plan.hub_user, *plan.stations):
        secret_file = secrets_dir / f"{user}.password"
        if user in entries and secret_file.exists() and check_password(entries[user], secret_file.read_text().strip()):
            done.append(f"kept broker user {user}")
            continue
        password = secrets.token_urlsafe(24)
        _write_private(secret_file, password + "\n")
        entries[user] = password_entry(user, password)
        done.append(f"added broker user {user} (password in {secret_file})")
    _write_private(passwd, "".join(line + "\n" for line in entries.values()))
    for name, text in ((ACL_FILE, acl_text(plan.hub_user)), (CONF_FILE, broker_conf(plan))):
        path = plan.directory / name
        if path.exists() and path.read_text() == text:
            done.append(f"kept {path}")
        else:
            path.write_text(text)
            done.append(f"wrote {path}")
    return done
