"""A station's files: its Ed25519 key pair, the hub's ack key, and the TOML config `vrs-edge run` reads.

The config layout is the one documented in edge/config.py. Keys are written 0600 and never replaced
once they exist: a station's key is its identity at the hub, and its outbox is signed with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import ProtocolError, is_municipality
from protocol.signing import generate_key, load_private_key_pem, private_key_to_pem, public_key_to_pem
from protocol.topics import is_valid_device_id, is_valid_venue_id
from provisioning import ProvisioningError

KEY_FILE = "station.pem"
PUBLIC_KEY_FILE = "station.pub.pem"
HUB_KEY_FILE = "hub.jwk"
CONFIG_FILE = "station.toml"


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
