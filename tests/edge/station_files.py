"""The files a station is configured with (its key, the hub's public key, a TOML config), written for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.signing import generate_key, private_key_to_pem, public_jwk
from provisioning.station import to_toml


def station_config(
    base: Path,
    *,
    broker_url: str,
    hub_key: Ed25519PrivateKey,
    device_id: str = "st-0001",
    station_key: Ed25519PrivateKey | None = None,
    camera: dict[str, Any] | None = None,
    kiosk_port: int = 8080,
    **tables: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """A complete, valid config as nested dicts (tests change one value); writes the key files it names."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "station.pem").write_bytes(private_key_to_pem(station_key or generate_key()))
    (base / "hub.jwk").write_text(json.dumps(public_jwk(hub_key.public_key(), "hub")))
    if camera is None:
        (base / "frames").mkdir(exist_ok=True)
        camera = {"source": "folder", "path": "frames"}
    config: dict[str, dict[str, Any]] = {
        "station": {"device_id": device_id, "venue_id": "v-131016-001", "key_file": "station.pem",
                    "hub_public_key": "hub.jwk", "data_dir": "data", "municipality": "131016"},
        "broker": {"url": broker_url},
        "camera": camera,
        "kiosk": {"host": "127.0.0.1", "port": kiosk_port},
        "preset": {"maker": "pfizer", "lot": "FA1234", "doctor": "山田 太郎", "status": "vaccinated"},
    }
    for table, values in tables.items():
        config[table] = {**config.get(table, {}), **values}
    return config


def write_config(base: Path, config: dict[str, dict[str, Any]]) -> Path:
    path = base / "station.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    return path
