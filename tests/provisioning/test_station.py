"""`vrs-provision station` against a real hub (`vrs-hub serve` on PostgreSQL): one token enrolls one station,
the files it writes are a config `vrs-edge run` accepts, and a rerun changes nothing at the hub."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import psycopg

from edge.config import load_config
from hub.db.connect import connect
from hub.db.enrollment import add_token
from protocol.signing import load_private_key_pem, public_key_to_pem
from tests.hub.api.conftest import ServedHub, served_hub  # noqa: F401  (fixture)
from tests.hub.conftest import hub_db, hub_env, hub_key_files, hub_template  # noqa: F401  (fixtures)

BIN = Path(sys.executable).parent
VENUE = "v-131016-010"


def _token(dsn: str) -> str:
    token = "tok-" + os.urandom(12).hex()
    with connect(dsn, None) as conn:
        conn.execute("INSERT INTO venues (venue_id, municipality_code, name) VALUES (%s, '131016', '千代田会場')"
                     " ON CONFLICT DO NOTHING", (VENUE,))
        add_token(conn, token, VENUE, "clerk", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    return token


def _provision(directory: Path, hub: ServedHub, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "vrs-provision"), "station", "--dir", str(directory), "--hub-url", hub.base_url,
                           "--broker-url", "mqtt://127.0.0.1:1883", "--camera", "folder:frames", "--lot", "FA1234",
                           "--doctor", "山田 太郎", *extra],
                          capture_output=True, text=True, timeout=60)


def test_station_enrolls_once_and_its_config_loads(served_hub: ServedHub, hub_db: str,  # noqa: F811
                                                  hub_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    token = _token(hub_db)
    station = tmp_path / "st-0101"
    first = _provision(station, served_hub, "--device-id", "st-0101", "--token", token)
    assert first.returncode == 0, first.stderr
    assert f"enrolled st-0101 at venue {VENUE} (131016)" in first.stdout

    (station / "frames").mkdir()
    config = load_config(station / "station.toml", env={})
    assert (config.device_id, config.venue_id, config.municipality) == ("st-0101", VENUE, "131016")
    assert config.preset.lot == "FA1234"
    assert stat.S_IMODE((station / "station.pem").stat().st_mode) == 0o600

    keys_show = subprocess.run([str(BIN / "vrs-hub"), "keys", "show"], env={**os.environ, **hub_env},
                               capture_output=True, text=True, check=True).stdout
    assert json.loads((station / "hub.jwk").read_text()) == json.loads(keys_show)
    with psycopg.connect(hub_db) as conn:
        row = conn.execute("SELECT venue_id, public_key_pem, status FROM devices"
                           " WHERE device_id = 'st-0101'").fetchone()
    key = load_private_key_pem((station / "station.pem").read_bytes())
    assert row == (VENUE, public_key_to_pem(key.public_key()).decode(), "active")

    again = _provision(station, served_hub, "--device-id", "st-0101")
    assert again.returncode == 0, again.stderr
    assert "kept enrollment of st-0101" in again.stdout and "kept station key" in again.stdout
    assert "wrote" not in again.stdout


def test_a_used_token_and_a_bad_device_id_are_refused(served_hub: ServedHub, hub_db: str,  # noqa: F811
                                                      tmp_path: Path) -> None:
    token = _token(hub_db)
    assert _provision(tmp_path / "a", served_hub, "--device-id", "st-a", "--token", token).returncode == 0
    second = _provision(tmp_path / "b", served_hub, "--device-id", "st-b", "--token", token)
    assert second.returncode == 1
    assert "the hub refused" in second.stderr
    assert not (tmp_path / "b" / "station.toml").exists()

    bad = _provision(tmp_path / "c", served_hub, "--device-id", "st/#", "--token", _token(hub_db))
    assert bad.returncode == 1 and "device id" in bad.stderr
    assert not (tmp_path / "c").exists()

    missing = _provision(tmp_path / "d", served_hub, "--device-id", "st-d")
    assert missing.returncode == 1 and "give --token" in missing.stderr
