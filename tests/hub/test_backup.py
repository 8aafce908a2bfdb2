"""`vrs-hub backup` and `vrs-hub restore` end to end: a populated hub restored into a second PostgreSQL
cluster is identical row for row and its keys come back; a broken audit chain, a wrong passphrase or
identity, a tampered file and a non-empty target are all refused with a message and leave nothing behind."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from hub.certificates import issuer_keys
from hub.db.connect import connect
from hub.db.devices import device_keys
from hub.db.scoped import Scope, scoped
from hub.ingest.apply import apply_group
from hub.ingest.verify import KeyCache, check_batch
from protocol.check_digits import my_number_check_digit
from protocol.records import JST, japan_today
from provisioning.throwaway import PgCluster, running_cluster
from tests.hub.api.files import resident_csv, resident_line
from tests.hub.stations import MUNI_A, MUNI_B, Station

VRS_HUB = str(Path(sys.executable).parent / "vrs-hub")
PASSPHRASE = "correct horse battery staple"
MIN_DAYS = {"pfizer": 18, "moderna": 24, "astrazeneca": 28, "novavax": 21}


@pytest.fixture(scope="module")
def second_cluster() -> Iterator[PgCluster]:
    """Another PostgreSQL server: a restore target that has never seen the hub's roles."""
    with running_cluster("vrs-pg-restore-") as cluster:
        yield cluster


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VRS_HUB, *args], capture_output=True, text=True,
                          env={**os.environ, "VRS_BACKUP_PASSPHRASE": PASSPHRASE, **env})


def _my_number(n: int) -> str:
    first = f"{n:011d}"
    return first + my_number_check_digit(first)


def populate(env: dict[str, str], dsn: str, tmp: Path) -> None:
    """Residents (with My Number hashes) through the import, records through the ingest, audit rows, keys."""
    lines = [resident_line(MUNI_A, f"A{i:05d}", f"{i:010d}", my_number=_my_number(100 + i) if i % 2 else "")
             for i in range(1, 21)]
    (tmp / "residents.csv").write_bytes(resident_csv(lines))
    done = hub(env, "import-residents", str(tmp / "residents.csv"), "--municipality", MUNI_A)
    assert done.returncode == 0, done.stderr
    a, b = Station(), Station("st-0002", "v-271004-001", MUNI_B)
    a.enroll(dsn)
    b.enroll(dsn)
    today = japan_today(datetime.datetime.now(JST))
    with connect(dsn, "vrs_ingest") as conn:
        for st, vouchers in ((a, [f"{i:010d}" for i in range(1, 16)]), (b, ["9000000001", "9000000002"])):
            records = [st.record(v) for v in vouchers]
            records.append(st.record(vouchers[0], dose=2, administered_on=today))
            with scoped(conn, Scope.ingest()):
                keys = device_keys(conn, [st.device_id])
            checked = [check_batch(st.topic, st.batch(records), keys, KeyCache(), today)]
            result = apply_group(conn, checked, MIN_DAYS)
            assert result.new_records == len(records)
    assert hub(env, "venue", "add", "--id", "v-extra", "--municipality", MUNI_A, "--name", "予備会場").returncode == 0
    for step in (["--prepare"], [], ["--prepare"]):  # a retired ack key, and a rotation under way
        assert hub(env, "keys", "rotate", *step).returncode == 0
    key_dir = Path(env["VRS_CERTIFICATE_KEY_DIR"])
    issuer_keys.ensure(key_dir)
    issuer_keys.rotate(key_dir)  # a retired public key rides along too


def snapshot(dsn: str) -> dict[str, list[str]]:
    """Every row of every table, as text, sorted (the superuser sees past row-level security)."""
    with psycopg.connect(dsn) as conn:
        tables = [str(r[0]) for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        return {t: sorted(str(r[0]) for r in conn.execute(
            sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(t)))) for t in tables}


def key_files(env: dict[str, str]) -> dict[str, bytes]:
    hub_key = Path(env["VRS_HUB_KEY_FILE"])
    files = {"secret": Path(env["VRS_SECRET_FILE"]).read_bytes()}
    for p in sorted(hub_key.parent.glob(hub_key.name + "*")):
        files[p.name] = p.read_bytes()
    for p in sorted(Path(env["VRS_CERTIFICATE_KEY_DIR"]).iterdir()):
        files[p.name] = p.read_bytes()
    return files


@pytest.fixture
def source_env(hub_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**hub_env, "VRS_CERTIFICATE_KEY_DIR": str(tmp_path / "issuer")}


def target_env(cluster: PgCluster, tmp_path: Path, name: str) -> dict[str, str]:
    dsn = cluster.create_database(name)
    keys = tmp_path / f"{name}-keys"
    return {"VRS_DATABASE_URL": dsn, "VRS_HUB_KEY_FILE": str(keys / "hub.pem"),
            "VRS_SECRET_FILE": str(keys / "secret.hex"), "VRS_CERTIFICATE_KEY_DIR": str(keys / "issuer")}


@pytest.mark.slow
def test_a_populated_hub_restores_identically_into_a_new_cluster(
        source_env: dict[str, str], hub_db: str, tmp_path: Path, second_cluster: PgCluster) -> None:
    populate(source_env, hub_db, tmp_path)
    before = snapshot(hub_db)
    for table in ("residents", "my_number_hashes", "vaccinations", "vaccination_history", "audit_log",
                  "hourly_aggregates", "devices"):
        assert before[table], f"the test hub has no {table}"
    out = tmp_path / "hub.vrsbak"
    done = hub(source_env, "backup", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "backed up database" in done.stdout and oct(out.stat().st_mode & 0o777) == "0o600"
    assert b"131016" not in out.read_bytes() and b"BEGIN PRIVATE KEY" not in out.read_bytes()

    target = target_env(second_cluster, tmp_path, "restored")
    done = hub(target, "restore", str(out))
    assert done.returncode == 0, done.stderr
    assert "audit log intact" in done.stdout
    assert snapshot(target["VRS_DATABASE_URL"]) == before
    assert key_files(target) == key_files(source_env)
    assert {"hub.pem", "hub.pem.next", "hub.pem.retired"} <= set(key_files(target))
    assert oct(Path(target["VRS_HUB_KEY_FILE"]).stat().st_mode & 0o777) == "0o600"
    # The restored hub works as a hub: its roles exist, the audit chain verifies, staff see their rows only.
    assert hub(target, "audit", "verify").returncode == 0
    with connect(target["VRS_DATABASE_URL"], "vrs_api") as conn, scoped(conn, Scope.municipality(MUNI_A)):
        seen = conn.execute("SELECT DISTINCT municipality_code FROM vaccinations").fetchall()
    assert seen == [(MUNI_A,)]
    # A second restore into the now populated database is refused.
    again = hub(target, "restore", str(out))
    assert again.returncode == 1 and "not empty" in again.stderr


@pytest.mark.slow
def test_a_backup_whose_audit_chain_is_broken_does_not_restore(
        source_env: dict[str, str], hub_db: str, tmp_path: Path, second_cluster: PgCluster) -> None:
    populate(source_env, hub_db, tmp_path)
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 1 AND municipality_code = %s", (MUNI_A,))
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
    out = tmp_path / "broken.vrsbak"
    refused = hub(source_env, "backup", "--out", str(out))
    assert refused.returncode == 1 and "audit log does not verify" in refused.stderr and not out.exists()
    taken = hub(source_env, "backup", "--out", str(out), "--allow-broken-audit")
    assert taken.returncode == 0 and "will not restore" in taken.stdout

    target = target_env(second_cluster, tmp_path, "broken_target")
    done = hub(target, "restore", str(out))
    assert done.returncode == 1
    assert "audit log does not verify" in done.stderr and "nothing was restored" in done.stderr
    assert snapshot(target["VRS_DATABASE_URL"]) == {}
    assert not Path(target["VRS_HUB_KEY_FILE"]).exists() and not Path(target["VRS_SECRET_FILE"]).exists()


def test_wrong_passphrase_and_tampered_files_are_refused_and_change_nothing(
        source_env: dict[str, str], tmp_path: Path, second_cluster: PgCluster) -> None:
    out = tmp_path / "hub.vrsbak"
    assert hub(source_env, "backup", "--out", str(out)).returncode == 0
    target = target_env(second_cluster, tmp_path, "wrong_pass")
    wrong = hub({**target, "VRS_BACKUP_PASSPHRASE": "not the passphrase"}, "restore", str(out))
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr

    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "flipped.vrsbak").write_bytes(bytes(data))
    flipped = hub(target, "restore", str(tmp_path / "flipped.vrsbak"))
    assert flipped.returncode == 1 and "altered" in flipped.stderr

    (tmp_path / "cut.vrsbak").write_bytes(out.read_bytes()[: len(data) - 100])
    cut = hub(target, "restore", str(tmp_path / "cut.vrsbak"))
    assert cut.returncode == 1 and ("truncated" in cut.stderr or "altered" in cut.stderr)

    (tmp_path / "other.bin").write_bytes(b"PGDMP" + bytes(200))
    other = hub(target, "restore", str(tmp_path / "other.bin"))
    assert other.returncode == 1 and "not a hub backup" in other.stderr

    assert snapshot(target["VRS_DATABASE_URL"]) == {}
    assert not Path(target["VRS_HUB_KEY_FILE"]).exists()


def test_a_backup_to_a_public_key_restores_only_with_its_identity(
        source_env: dict[str, str], tmp_path: Path, second_cluster: PgCluster) -> None:
    env = {**source_env, "VRS_BACKUP_PASSPHRASE": ""}
    assert hub(env, "keys", "backup-identity", str(tmp_path / "ops.key")).returncode == 0
    assert hub(env, "keys", "backup-identity", str(tmp_path / "stranger.key")).returncode == 0
    assert oct((tmp_path / "ops.key").stat().st_mode & 0o777) == "0o600"
    out = tmp_path / "hub.vrsbak"
    done = hub(env, "backup", "--out", str(out), "--recipient", str(tmp_path / "ops.key.pub"))
    assert done.returncode == 0, done.stderr
    target = target_env(second_cluster, tmp_path, "by_identity")
    stranger = hub({**target, "VRS_BACKUP_PASSPHRASE": ""}, "restore", str(out), "--identity",
                   str(tmp_path / "stranger.key"))
    assert stranger.returncode == 1 and "another public key" in stranger.stderr
    no_identity = hub({**target, "VRS_BACKUP_PASSPHRASE": PASSPHRASE}, "restore", str(out))
    assert no_identity.returncode == 1 and "--identity" in no_identity.stderr
    ok = hub(target, "restore", str(out), "--identity", str(tmp_path / "ops.key"))
    assert ok.returncode == 0, ok.stderr
    assert Path(target["VRS_HUB_KEY_FILE"]).read_bytes() == Path(source_env["VRS_HUB_KEY_FILE"]).read_bytes()


def test_restore_will_not_overwrite_other_keys(source_env: dict[str, str], tmp_path: Path,
                                               second_cluster: PgCluster) -> None:
    out = tmp_path / "hub.vrsbak"
    assert hub(source_env, "backup", "--out", str(out)).returncode == 0
    target = target_env(second_cluster, tmp_path, "other_keys")
    Path(target["VRS_SECRET_FILE"]).parent.mkdir(parents=True)
    Path(target["VRS_SECRET_FILE"]).write_text("00" * 32 + "\n")
    done = hub(target, "restore", str(out))
    assert done.returncode == 1 and "differs from the backup" in done.stderr
    assert snapshot(target["VRS_DATABASE_URL"]) == {}


def test_a_short_passphrase_is_refused(source_env: dict[str, str], tmp_path: Path) -> None:
    done = hub({**source_env, "VRS_BACKUP_PASSPHRASE": "short"}, "backup", "--out", str(tmp_path / "b"))
    assert done.returncode == 1 and "at least 12 characters" in done.stderr
