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


# --- end to end: a station's outbox across a key change, through Mosquitto and the real ingest ---------------


def _stored(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM vaccination_history").fetchone()[0])  # type: ignore[index]


def test_a_station_keeps_draining_its_outbox_across_a_key_change(
        hub_env: dict[str, str], hub_db: str, hub_key_files: tuple[Path, Path], tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    import threading

    from hub.config import load_config
    from hub.ingest.worker import IngestWorker
    from hub.keys import load_hub_key
    from tests.edge import test_publisher as edge

    old_key = generate_key()
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute("INSERT INTO venues VALUES (%s, '131016', '会場')", (edge.PRESET.venue_id,))
        conn.execute("INSERT INTO devices (device_id, venue_id, public_key_pem) VALUES (%s, %s, %s)",
                     (edge.DEVICE, edge.PRESET.venue_id, public_key_to_pem(old_key.public_key()).decode()))
    config = load_config({**hub_env, "VRS_MQTT_URL": mosquitto.url,
                          "VRS_INGEST_CLIENT_ID": f"ingest-rot-{os.getpid()}"})
    worker = IngestWorker(config)
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    hub_public = load_hub_key(hub_key_files[0]).public_key()
    outbox = tmp_path / "outbox.sqlite"
    try:
        assert worker.connected.wait(10)
        # Offline, the station stores 5 scans; meanwhile the operator gives the hub the station's new key.
        station = edge.Station(outbox, mosquitto.url, hub_public, key=old_key, ack_timeout=2.0)
        station.scan(edge.make_records(5))
        path, new_key = new_key_file(tmp_path)
        assert hub(hub_env, "device", "rotate-key", "--id", edge.DEVICE, "--public-key-file", str(path)).returncode == 0
        # Back online still with its old key: the outbox drains (the old key has not retired yet).
        station.publisher.start()
        edge.wait(lambda: station.outbox.depth() == 0, what="the old key's batches to be acked")
        station.close()
        # With its new key installed, the same outbox carries on.
        station = edge.Station(outbox, mosquitto.url, hub_public, key=new_key, ack_timeout=2.0)
        station.scan(edge.make_records(3, first=5))
        station.publisher.start()
        edge.wait(lambda: station.outbox.depth() == 0, what="the new key's batches to be acked")
        station.close()
        assert _stored(hub_db) == 8
        # Once the old key has retired, what it signs is refused and stays in the outbox.
        with psycopg.connect(hub_db, autocommit=True) as conn:
            conn.execute("UPDATE devices SET previous_key_retires_at = now() - interval '1 second'")
        refused_before = worker.counters.refused
        station = edge.Station(outbox, mosquitto.url, hub_public, key=old_key, ack_timeout=2.0)
        station.scan(edge.make_records(1, first=8))
        station.publisher.start()
        edge.wait(lambda: worker.counters.refused > refused_before, what="the retired key's batch to be refused")
        assert station.outbox.depth() == 1 and _stored(hub_db) == 8
        station.close()
    finally:
        worker.stop.set()
        runner.join(10)
