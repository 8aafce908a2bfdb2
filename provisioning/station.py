"""A station's files: its Ed25519 key pair, the hub's ack key, and the TOML config `vrs-edge run` reads.

The config layout is the one documented in edge/config.py. Keys are written 0600 and never replaced
once they exist: a station's key is its identity at the hub, and its outbox is signed with it.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import ProtocolError, is_municipality
from protocol.signing import generate_key, load_private_key_pem, private_key_to_pem, public_jwk, public_key_to_pem
from protocol.topics import is_valid_device_id, is_valid_venue_id
from provisioning import ProvisioningError

KEY_FILE = "station.pem"
PUBLIC_KEY_FILE = "station.pub.pem"
HUB_KEY_FILE = "hub.jwk"
CONFIG_FILE = "station.toml"
ENROLLED_FILE = "enrolled.json"
ENROLL_PATH = "/api/v1/enrollment/"
HUB_KEY_PATH = "/api/v1/enrollment/hub-key"


class StationPlan(msgspec.Struct, frozen=True):
    """What one station is: who it is, where it stands, how it reaches the hub, what it reads from."""

    directory: Path
    device_id: str
    venue_id: str
    broker_url: str
    municipality: str | None = None
    camera: dict[str, Any] = msgspec.field(default_factory=lambda: {"source": "picamera"})
    data_dir: str = "/var/lib/vrs-edge"
    kiosk_port: int = 8080
    preset: dict[str, Any] = msgspec.field(default_factory=lambda: {
        "maker": "pfizer", "lot": "", "doctor": "", "status": "vaccinated"})


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def to_toml(tables: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = ["# Written by vrs-provision station; see edge/config.py for every setting."]
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None)
        lines.append("")
    return "\n".join(lines)


def station_tables(plan: StationPlan) -> dict[str, dict[str, Any]]:
    if not is_valid_device_id(plan.device_id):
        raise ProvisioningError(f"device id {plan.device_id!r}: use 1-64 of A-Z a-z 0-9 . _ -")
    if not is_valid_venue_id(plan.venue_id):
        raise ProvisioningError(f"venue id {plan.venue_id!r}: use 1-64 of A-Z a-z 0-9 . _ -")
    if plan.municipality is not None and not is_municipality(plan.municipality):
        raise ProvisioningError(f"municipality {plan.municipality!r} is not a municipality code")
    return {
        "station": {"device_id": plan.device_id, "venue_id": plan.venue_id, "key_file": KEY_FILE,
                    "hub_public_key": HUB_KEY_FILE, "data_dir": plan.data_dir, "municipality": plan.municipality},
        "broker": {"url": plan.broker_url},
        "camera": dict(plan.camera),
        "kiosk": {"host": "127.0.0.1", "port": plan.kiosk_port},
        "preset": dict(plan.preset),
    }


def ensure_station_key(directory: Path) -> tuple[Ed25519PrivateKey, bool]:
    """The station's key, created (0600) if missing; True when it was created now."""
    path = directory / KEY_FILE
    if path.exists():
        try:
            return load_private_key_pem(path.read_bytes()), False
        except ProtocolError as e:
            raise ProvisioningError(f"{path} is not an Ed25519 private key: {e}") from e
    key = generate_key()
    directory.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_bytes(private_key_to_pem(key))
    (directory / PUBLIC_KEY_FILE).write_bytes(public_key_to_pem(key.public_key()))
    return key, True


def write_station_files(plan: StationPlan, hub_jwk: dict[str, Any]) -> list[str]:
    """Key pair (kept if present), hub key and config; one line per thing done."""
    done: list[str] = []
    tables = station_tables(plan)
    _, created = ensure_station_key(plan.directory)
    done.append(f"{'created' if created else 'kept'} station key {plan.directory / KEY_FILE}")
    for name, text in ((HUB_KEY_FILE, json.dumps(hub_jwk, sort_keys=True) + "\n"),
                       (CONFIG_FILE, to_toml(tables))):
        path = plan.directory / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            done.append(f"kept {path}")
        else:
            path.write_text(text, encoding="utf-8")
            done.append(f"wrote {path}")
    return done


class Enrollment(msgspec.Struct, frozen=True):
    """What the hub answered when the token was redeemed; kept so that a rerun does not redeem again."""

    device_id: str
    venue_id: str
    municipality_code: str
    hub_url: str


class HubClient:
    """The two public enrollment endpoints of the hub's API, over HTTPS pinned to `ca_file` if given."""

    def __init__(self, hub_url: str, *, ca_file: Path | None = None, timeout: float = 30.0) -> None:
        self.hub_url = hub_url.rstrip("/")
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.hub_url + path, data=data, method="GET" if data is None else "POST",
                                         headers={"content-type": "application/json", "accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as e:
            try:
                detail = json.loads(e.read()).get("detail", "")
            except (ValueError, AttributeError):
                detail = ""
            raise ProvisioningError(f"the hub refused {path} ({e.code}): {detail or e.reason}") from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise ProvisioningError(f"cannot reach the hub at {self.hub_url}: {e}") from e

    def redeem(self, token: str, device_id: str, key: Ed25519PrivateKey) -> Enrollment:
        answer = self._call(ENROLL_PATH, {"token": token, "device_id": device_id,
                                          "public_key": public_jwk(key.public_key(), device_id)})
        try:
            return Enrollment(device_id=answer["device_id"], venue_id=answer["venue_id"],
                              municipality_code=answer["municipality_code"], hub_url=self.hub_url)
        except (KeyError, TypeError) as e:
            raise ProvisioningError(f"the hub's enrollment answer is not understood: {answer!r}") from e

    def hub_key(self) -> dict[str, Any]:
        jwk = self._call(HUB_KEY_PATH)
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP":
            raise ProvisioningError(f"the hub's ack key is not an Ed25519 JWK: {jwk!r}")
        return jwk


def enroll_station(client: HubClient, token: str | None, plan: StationPlan) -> list[str]:
    """Redeem the token once (a rerun keeps the enrollment), fetch the hub's ack key, write the files.

    `plan.venue_id` is replaced by the venue the token was made for; the municipality for NW-7-only
    vouchers defaults to that venue's.
    """
    station_tables(plan)  # refuse a bad device id before anything is sent
    done: list[str] = []
    key, created = ensure_station_key(plan.directory)
    done.append(f"{'created' if created else 'kept'} station key {plan.directory / KEY_FILE}")
    marker = plan.directory / ENROLLED_FILE
    enrollment = msgspec.json.decode(marker.read_bytes(), type=Enrollment) if marker.exists() else None
    if enrollment is not None and enrollment.device_id == plan.device_id:
        done.append(f"kept enrollment of {plan.device_id} at venue {enrollment.venue_id}")
    else:
        if not token:
            raise ProvisioningError("this station is not enrolled yet: give --token (an enrollment token from the "
                                    "municipality's stations page)")
        enrollment = client.redeem(token, plan.device_id, key)
        marker.write_bytes(msgspec.json.encode(enrollment))
        done.append(f"enrolled {plan.device_id} at venue {enrollment.venue_id} ({enrollment.municipality_code})")
    final = msgspec.structs.replace(plan, venue_id=enrollment.venue_id,
                                    municipality=plan.municipality or enrollment.municipality_code)
    lines = write_station_files(final, client.hub_key())
    return done + [line for line in lines if "station key" not in line]
