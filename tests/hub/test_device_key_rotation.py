"""Replacing a station's key (`vrs-hub device rotate-key`): refused for unknown, revoked or unchanged keys,
audited, and the old key is kept with its retirement time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from protocol.signing import generate_key, public_key_to_pem
from tests.hub.stations import Station

VRS_HUB = str(Path(sys.executable).parent / "vrs-hub")


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VRS_HUB, *args], capture_output=True, text=True, env={**os.environ, **env})


def new_key_file(tmp_path: Path, name: str = "new.pub.pem") -> tuple[Path, object]:
    key = generate_key()
    path = tmp_path / name
    path.write_bytes(public_key_to_pem(key.public_key()))
    return path, key


def test_rotate_key_keeps_the_old_key_until_its_retirement_and_is_audited(
        hub_env: dict[str, str], hub_db: str, tmp_path: Path) -> None:
    station = Station()
    station.enroll(hub_db)
    path, _ = new_key_file(tmp_path)
    done = hub(hub_env, "device", "rotate-key", "--id", station.device_id, "--public-key-file", str(path),
               "--overlap-days", "7")
    assert done.returncode == 0, done.stderr
    assert "accepted until" in done.stdout
    with psycopg.connect(hub_db) as conn:
        current, previous, days = conn.execute(
            "SELECT public_key_pem, previous_public_key_pem,"
            " round(extract(epoch FROM previous_key_retires_at - now()) / 86400) FROM devices").fetchone()  # type: ignore[misc]
        assert current == path.read_text() and previous == station.public_pem and days == 7
        audited = conn.execute("SELECT action, target FROM audit_log WHERE action = 'device.rotate_key'").fetchall()
        assert audited == [("device.rotate_key", station.device_id)]
    again = hub(hub_env, "device", "rotate-key", "--id", station.device_id, "--public-key-file", str(path))
    assert again.returncode == 1 and "already is the key" in again.stderr


def test_rotate_key_refuses_unknown_and_revoked_stations_and_bad_files(
        hub_env: dict[str, str], hub_db: str, tmp_path: Path) -> None:
    path, _ = new_key_file(tmp_path)
    unknown = hub(hub_env, "device", "rotate-key", "--id", "st-nobody", "--public-key-file", str(path))
    assert unknown.returncode == 1 and "not registered" in unknown.stderr
    station = Station()
    station.enroll(hub_db)
    assert hub(hub_env, "device", "revoke", "--id", station.device_id).returncode == 0
    revoked = hub(hub_env, "device", "rotate-key", "--id", station.device_id, "--public-key-file", str(path))
    assert revoked.returncode == 1 and "revoked" in revoked.stderr
    (tmp_path / "junk.pem").write_text("not a key")
    junk = hub(hub_env, "device", "rotate-key", "--id", station.device_id, "--public-key-file",
               str(tmp_path / "junk.pem"))
    assert junk.returncode == 1 and "junk.pem" in junk.stderr
