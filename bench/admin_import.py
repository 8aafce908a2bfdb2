"""Resident import end to end (file on disk -> parse and validate -> COPY into a staging table -> upsert
-> match records; a first import COPY into the municipality's new tables, then indexes), against a
throwaway PostgreSQL on this machine; prints one JSON line. Run from the repository root:

    .venv/bin/python bench/admin_import.py [--rows 500000] [--setting shared_buffers=2GB ...]

Three imports of the same generated CP932 file of 横浜市 residents into a freshly migrated database:
`first` (all rows new), `again` (same file, nothing changes), `full` (same file in full mode). rows_per_s
is rows / wall time of the whole import transaction including commit. database_alone is a first import of
the same rows into a second database with the file already read (COPY, indexes, commit): the floor of
`first` whatever the parser does. parse_rows_per_s is the parser
alone on the same file (file bytes to the COPY rows), for comparison (the limit of this pipeline in one
process). ``--setting`` adds a line to the throwaway server's postgresql.conf (the tests' settings
otherwise), to see what a hub's own settings do for large files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.import_parse import generate
from hub.api.services.residents import import_residents
from hub.db import residents as residents_db
from hub.db.connect import connect
from hub.db.migrate import migrate
from hub.db.scoped import Scope, scoped
from hub.files import scan_resident_copy
from hub.files.my_number_hash import MyNumberHasher
from tests.fixtures_postgres import PgCluster

CODE = "141003"


def timed_import(dsn: str, path: Path, secret: bytes, mode: str) -> tuple[float, dict[str, int]]:
    size = path.stat().st_size
    started = time.perf_counter()
    with connect(dsn, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)), path.open("rb") as f:
        result = import_residents(conn, municipality_code=CODE, stream=f, mode=mode,  # type: ignore[arg-type]
                                  dry_run=False, secret=secret, today=dt.date(2021, 6, 1), actor="bench",
                                  total_bytes=size)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"import failed: {result.errors[:5]}")
    return elapsed, {"inserted": result.inserted, "updated": result.updated, "unchanged": result.unchanged,
                     "flagged": result.flagged_missing}


def timed_database_alone(dsn: str, path: Path, secret: bytes) -> float:
    """A first import with the file already read into memory: what the database takes for the same rows
    (COPY, the indexes, the commit), the floor of a first import whatever the parser does."""
    with path.open("rb") as f:
        batches = list(scan_resident_copy(f, municipality_code=CODE, today=dt.date(2021, 6, 1),
                                          hash_my_number=MyNumberHasher(secret)).tables())
    started = time.perf_counter()
    with connect(dsn, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)), conn.transaction():
        if residents_db.begin_import(conn, CODE) != "new_tables":
            raise SystemExit("the database-only import found residents already")
        residents_db.attach_first(conn, CODE, residents_db.copy_first(conn, CODE, batches))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a PostgreSQL setting for the throwaway server (repeat for more)")
    args = parser.parse_args()
    secret = os.urandom(32)
    work = Path(tempfile.mkdtemp(prefix="vrs-bench-admin-", dir="/tmp"))
    cluster = PgCluster(Path(tempfile.mkdtemp(prefix="vrs-bench-pg-", dir="/tmp")))
    try:
        cluster.init()
        with (cluster.datadir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{setting}\n" for setting in args.setting)
        cluster.start()
        dsn = cluster.create_database("bench")
        with connect(dsn, None) as conn:
            migrate(conn)
        path = work / "residents.csv"
        generate(path, args.rows)
        with path.open("rb") as f:
            t0 = time.perf_counter()
            scan = scan_resident_copy(f, municipality_code=CODE, today=dt.date(2021, 6, 1),
                                      hash_my_number=MyNumberHasher(secret))
            for _ in scan:
                pass
            n = scan.report.valid_rows
            parse_s = time.perf_counter() - t0
        out: dict[str, object] = {"bench": "admin_import", "rows": args.rows, "settings": args.setting,
                                  "file_mb": round(path.stat().st_size / 1e6, 1),
                                  "parse_rows_per_s": round(n / parse_s)}
        for label, mode in (("first", "diff"), ("again", "diff"), ("full", "full")):
            elapsed, counts = timed_import(dsn, path, secret, mode)
            out[f"{label}_rows_per_s"] = round(args.rows / elapsed)
            out[f"{label}_s"] = round(elapsed, 2)
            out[f"{label}_counts"] = counts
        alone_dsn = cluster.create_database("alone")
        with connect(alone_dsn, None) as conn:
            migrate(conn)
        elapsed = timed_database_alone(alone_dsn, path, secret)
        out["database_alone_rows_per_s"] = round(args.rows / elapsed)
        out["database_alone_s"] = round(elapsed, 2)
        out["target_rows_per_s"] = 100_000
        print(json.dumps(out, ensure_ascii=False))
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
