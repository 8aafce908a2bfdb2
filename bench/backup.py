"""Backup benchmark: a hub database with N records (through the ingest's apply path) backed up with
`vrs-hub backup` and restored with `vrs-hub restore` into an empty database; prints one JSON line. Run from
the repository root:

    .venv/bin/python bench/backup.py [--records 100000]

backup_s/restore_s are the commands' wall times (process start, scrypt, pg_dump/pg_restore, the audit
chains verified on both sides); file_bytes is the encrypted file; identical says the restored tables hold
exactly the rows of the source.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from hub.db.connect import connect
from hub.db.devices import device_keys
from hub.db.migrate import migrate
from hub.db.scoped import Scope, scoped
from hub.ingest.apply import apply_group
from hub.ingest.verify import KeyCache, check_batch
from hub.keys import ensure_hub_key, ensure_secret
from protocol.records import JST, japan_today
from tests.fixtures_postgres import PgCluster
from tests.hub.stations import Station

MIN_DAYS = {"pfizer": 18, "moderna": 24, "astrazeneca": 28, "novavax": 21}


def table_rows(dsn: str) -> dict[str, list[str]]:
    with psycopg.connect(dsn) as conn:
        tables = [str(r[0]) for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {t: sorted(str(r[0]) for r in conn.execute(sql.SQL("SELECT t::text FROM {} t").format(
            sql.Identifier(t)))) for t in tables}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    # The cluster's directory must belong to the postgres user (see PgCluster); files go to another one.
    cluster = PgCluster(Path(tempfile.mkdtemp(prefix="vrs-bench-pg-", dir="/tmp")))
    base = Path(tempfile.mkdtemp(prefix="vrs-bench-backup-"))
    try:
        cluster.init()
        cluster.start()
        source = cluster.create_database("source")
        with connect(source, None) as conn:
            migrate(conn)
        keys = base / "keys"
        ensure_hub_key(keys / "hub.pem")
        ensure_secret(keys / "secret.hex")
        station = Station()
        station.enroll(source)
        today = japan_today(datetime.datetime.now(JST))
        with connect(source, "vrs_ingest") as conn:
            with scoped(conn, Scope.ingest()):
                registered = device_keys(conn, [station.device_id])
            cache = KeyCache()
            for start in range(0, args.records, 200):
                records = [station.record(f"{n:010d}", administered_on=today)
                           for n in range(start, min(start + 200, args.records))]
                apply_group(conn, [check_batch(station.topic, station.batch(records), registered, cache, today)],
                            MIN_DAYS)
        env = {**os.environ, "VRS_DATABASE_URL": source, "VRS_HUB_KEY_FILE": str(keys / "hub.pem"),
               "VRS_SECRET_FILE": str(keys / "secret.hex"), "VRS_BACKUP_PASSPHRASE": "benchmark passphrase"}
        vrs_hub = str(Path(sys.executable).parent / "vrs-hub")
        out = base / "hub.vrsbak"
        t0 = time.perf_counter()
        subprocess.run([vrs_hub, "backup", "--out", str(out)], env=env, check=True, capture_output=True)
        backup_s = time.perf_counter() - t0
        target = cluster.create_database("target")
        new_keys = base / "restored-keys"
        env.update(VRS_DATABASE_URL=target, VRS_HUB_KEY_FILE=str(new_keys / "hub.pem"),
                   VRS_SECRET_FILE=str(new_keys / "secret.hex"))
        t0 = time.perf_counter()
        subprocess.run([vrs_hub, "restore", str(out)], env=env, check=True, capture_output=True)
        restore_s = time.perf_counter() - t0
        print(json.dumps({
            "records": args.records, "file_bytes": out.stat().st_size, "backup_s": round(backup_s, 2),
            "restore_s": round(restore_s, 2), "identical": table_rows(source) == table_rows(target),
        }))
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.base, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
