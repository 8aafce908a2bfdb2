"""`vrs-hub` commands run as a field engineer runs them: real processes, real database, clear errors."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from hub.config import load_config
from hub.errors import ConfigError
from tests.hub.stations import MUNI_A, MUNI_B, Station

BIN = Path(sys.executable).parent


def hub(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(BIN / "vrs-hub"), *args], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_migrate_creates_private_key_files_once_and_is_idempotent(pg_database: str, tmp_path: Path) -> None:
    env = {"VRS_DATABASE_URL": pg_database, "VRS_HUB_KEY_FILE": str(tmp_path / "k" / "hub.pem"),
           "VRS_SECRET_FILE": str(tmp_path / "k" / "secret.hex")}
    first = hub(env, "migrate")
    assert "applied" in first.stdout and "created" in first.stdout
    for name in ("hub.pem", "secret.hex"):
        assert stat.S_IMODE((tmp_path / "k" / name).stat().st_mode) == 0o600
    jwk_before = hub(env, "keys", "show").stdout
    second = hub(env, "migrate")
    assert "applied 0 migration(s)" in second.stdout and "created" not in second.stdout
    assert hub(env, "keys", "show").stdout == jwk_before
    jwk = json.loads(jwk_before)
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["kid"] == "hub" and "d" not in jwk


def test_a_key_file_readable_by_others_is_refused(hub_env: dict[str, str]) -> None:
    os.chmod(hub_env["VRS_HUB_KEY_FILE"], 0o644)
    done = hub(hub_env, "keys", "show", check=False)
    assert done.returncode == 1 and "readable by others" in done.stderr and "chmod 600" in done.stderr


@pytest.mark.parametrize(("env", "message"), [
    ({}, "VRS_DATABASE_URL is not set"),
    ({"VRS_DATABASE_URL": "mysql://x"}, "VRS_DATABASE_URL must be a postgresql:// URL"),
    ({"VRS_DATABASE_URL": "postgresql://127.0.0.1:1/x", "VRS_HUB_KEY_FILE": "/tmp/k", "VRS_SECRET_FILE": "/tmp/s"},
     "cannot use the database"),
])
def test_missing_or_malformed_configuration_is_explained(env: dict[str, str], message: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VRS_")}
    done = subprocess.run([str(BIN / "vrs-hub"), "migrate"], env={**clean, "VRS_HUB_KEY_FILE": "/tmp/k",
                          "VRS_SECRET_FILE": "/tmp/s", **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_config_from_toml_and_environment(tmp_path: Path) -> None:
    toml = tmp_path / "hub.toml"
    toml.write_text('mqtt_url = "mqtt://ingest:s3cr%40t@broker:1884"\nmin_interval_days = { pfizer = 21 }\n')
    config = load_config({"VRS_CONFIG_FILE": str(toml), "VRS_INGEST_GROUP_BATCHES": "8"})
    assert config.mqtt.host == "broker" and config.mqtt.port == 1884 and config.mqtt.password == "s3cr@t"
    assert config.min_interval_days["pfizer"] == 21 and config.min_interval_days["moderna"] == 24
    assert config.ingest_group_batches == 8
    assert config.export_connections == 1
    assert load_config({"VRS_EXPORT_CONNECTIONS": "2"}).export_connections == 2
    for bad in ("0", "9"):
        with pytest.raises(ConfigError, match="VRS_EXPORT_CONNECTIONS must be 1 to 8"):
            load_config({"VRS_EXPORT_CONNECTIONS": bad})
    toml.write_text("unknown_setting = 1\n")
    with pytest.raises(ConfigError, match="unknown_setting"):
        load_config({"VRS_CONFIG_FILE": str(toml)})
    with pytest.raises(ConfigError, match="VRS_MIN_INTERVAL_DAYS"):
        load_config({"VRS_MIN_INTERVAL_DAYS": "pfizer=18,bogus=3"})
    with pytest.raises(ConfigError, match="VRS_MQTT_URL"):
        _ = load_config({"VRS_MQTT_URL": "mqtt://host:notaport"})
    assert load_config({}).ingest_station_rate == 50 and load_config({}).ingest_station_burst == 500
    assert load_config({"VRS_INGEST_STATION_RATE": "0.5"}).ingest_station_rate == 0.5
    for env, message in (({"VRS_INGEST_STATION_RATE": "-1"}, "VRS_INGEST_STATION_RATE must be 0"),
                         ({"VRS_INGEST_STATION_RATE": "fast"}, "VRS_INGEST_STATION_RATE"),
                         ({"VRS_INGEST_STATION_BURST": "0"}, "VRS_INGEST_STATION_BURST must be at least 1")):
        with pytest.raises(ConfigError, match=message):
            load_config(env)


def test_venue_and_device_commands(hub_env: dict[str, str], tmp_path: Path) -> None:
    assert "added" in hub(hub_env, "venue", "add", "--id", "v-1", "--municipality", MUNI_A, "--name", "区役所").stdout
    dup = hub(hub_env, "venue", "add", "--id", "v-1", "--municipality", MUNI_A, "--name", "x", check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    ward = hub(hub_env, "venue", "add", "--id", "v-2", "--municipality", "271276", "--name", "x", check=False)
    assert ward.returncode == 1 and "not a municipality" in ward.stderr
    bad_id = hub(hub_env, "venue", "add", "--id", "v/../x", "--municipality", MUNI_A, "--name", "x", check=False)
    assert bad_id.returncode == 1 and "venue id" in bad_id.stderr
    st = Station("st-9")
    pem = tmp_path / "st.pub.pem"
    pem.write_text(st.public_pem)
    assert "enrolled" in hub(hub_env, "device", "add", "--id", "st-9", "--venue", "v-1", "--public-key-file",
                             str(pem)).stdout
    (tmp_path / "junk.pem").write_text("not a key")
    junk = hub(hub_env, "device", "add", "--id", "st-10", "--venue", "v-1", "--public-key-file",
               str(tmp_path / "junk.pem"), check=False)
    assert junk.returncode == 1 and "junk.pem" in junk.stderr
    nowhere = hub(hub_env, "device", "add", "--id", "st-11", "--venue", "v-none", "--public-key-file", str(pem),
                  check=False)
    assert nowhere.returncode == 1 and "venue 'v-none' does not exist" in nowhere.stderr
    assert "revoked" in hub(hub_env, "device", "revoke", "--id", "st-9").stdout
    assert "already revoked" in hub(hub_env, "device", "revoke", "--id", "st-9").stdout
    assert hub(hub_env, "device", "revoke", "--id", "st-x", check=False).returncode == 1
    with psycopg.connect(hub_env["VRS_DATABASE_URL"]) as conn:
        assert conn.execute("SELECT status FROM devices WHERE device_id = 'st-9'").fetchone() == ("revoked",)
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE municipality_code = '000000'"
                                               " ORDER BY seq")]
    assert actions == ["venue.add", "device.add", "device.revoke"]


def _ingest(dsn: str, station: Station, records: list) -> None:  # type: ignore[type-arg]
    import datetime

    from hub.db.connect import connect
    from hub.db.devices import device_keys
    from hub.db.scoped import Scope, scoped
    from hub.ingest.apply import apply_group
    from hub.ingest.verify import KeyCache, check_batch
    from protocol.records import JST, japan_today

    with connect(dsn, "vrs_ingest") as conn:
        with scoped(conn, Scope.ingest()):
            keys = device_keys(conn, [station.device_id])
        batch = check_batch(station.topic, station.batch(records), keys, KeyCache(),
                            japan_today(datetime.datetime.now(JST)))
        apply_group(conn, [batch], {})


def test_export_records_in_both_layouts_and_encodings(hub_env: dict[str, str]) -> None:
    dsn = hub_env["VRS_DATABASE_URL"]
    st = Station()
    st.enroll(dsn, venue_name="千代田区役所")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO residents (municipality_code, atena_no, voucher_no, name) VALUES"
                     " (%s, 'ATENA-1', '0000000001', '山田')", (MUNI_A,))
    _ingest(dsn, st, [st.record("0000000001", 1, lot="=cmd"), st.record("0000000002", 1, status="screened_only"),
                      st.record("0000000003", 1, municipality_code=MUNI_B)])
    long = hub(hub_env, "export-records", "--municipality", MUNI_A, "--layout", "long")
    rows = list(csv.reader(io.StringIO(long.stdout.lstrip("\ufeff"))))
    assert [r[1] for r in rows[1:]] == ["0000000001", "0000000002"]  # never another municipality's record
    assert rows[1][5] == "千代田区役所" and rows[1][7] == "'=cmd" and rows[2][3] == "予診のみ"
    raw = subprocess.run([str(BIN / "vrs-hub"), "export-records", "--municipality", MUNI_A, "--layout", "ledger",
                          "--encoding", "cp932"], env={**os.environ, **hub_env}, capture_output=True, check=True).stdout
    ledger = list(csv.reader(io.StringIO(raw.decode("cp932"))))
    assert len(ledger) == 2 and ledger[1][0] == "ATENA-1" and ledger[1][3] == "0000000001"
    bad = hub(hub_env, "export-records", "--municipality", "271276", check=False)
    assert bad.returncode == 1 and "not a municipality" in bad.stderr


def test_rebuild_ledger_and_migrate_store_the_rows_of_people_whose_records_changed(hub_env: dict[str, str]) -> None:
    dsn = hub_env["VRS_DATABASE_URL"]
    st = Station()
    st.enroll(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO residents (municipality_code, atena_no, voucher_no, name) VALUES"
                     " (%s, 'ATENA-1', '0000000001', '山田'), (%s, 'ATENA-2', '0000000002', '田中')", (MUNI_A, MUNI_A))
    _ingest(dsn, st, [st.record("0000000001", 1), st.record("0000000002", 1, lot="LOT-2")])
    done = hub(hub_env, "rebuild-ledger")
    assert "rebuilt the ledger rows of 2 person(s)" in done.stdout and f"{MUNI_A}: 2 person(s)" in done.stderr
    assert "of 0 person(s)" in hub(hub_env, "rebuild-ledger", "--municipality", MUNI_A).stdout
    with psycopg.connect(dsn, autocommit=True) as conn:
        stored = conn.execute("SELECT atena_no, line LIKE '%%LOT-2%%' FROM ledger_rows ORDER BY atena_no").fetchall()
        conn.execute("UPDATE vaccinations SET lot = 'FIXED' WHERE voucher_no = '0000000002'")
    assert stored == [("ATENA-1", False), ("ATENA-2", True)]
    assert "rebuilt the ledger rows of 1 person(s)" in hub(hub_env, "migrate").stdout
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT line LIKE '%%FIXED%%' FROM ledger_rows WHERE atena_no = 'ATENA-2'").fetchone() == (
            True,)
    bad = hub(hub_env, "rebuild-ledger", "--municipality", "271276", check=False)
    assert bad.returncode == 1 and "not a municipality" in bad.stderr


def test_rebuild_aggregates_repairs_drift(hub_env: dict[str, str]) -> None:
    dsn = hub_env["VRS_DATABASE_URL"]
    st = Station()
    st.enroll(dsn)
    _ingest(dsn, st, [st.record() for _ in range(3)])
    assert "no drift" in hub(hub_env, "rebuild-aggregates").stdout
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE hourly_aggregates SET count = count + 5")
    assert "had drifted" in hub(hub_env, "rebuild-aggregates").stdout
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT sum(count) FROM hourly_aggregates").fetchone() == (3,)
