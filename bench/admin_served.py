"""Shared by the admin benchmarks: a throwaway PostgreSQL, a migrated database with generated data, and
`vrs-hub serve` on a free port with a logged-in clerk."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.api.services import accounts
from hub.db.connect import connect
from hub.db.migrate import migrate
from hub.keys import ensure_hub_key, ensure_secret
from tests.fixtures_postgres import PgCluster, free_port

CODE = "141003"
PASSWORD = "benchmark password"


def load(dsn: str, residents: int, doses: int) -> None:
    """`residents` residents of CODE with `doses` vaccinated doses each (generated in the server)."""
    with connect(dsn, None) as conn, conn.transaction():
        # Commits flushed to the WAL, here and in the VACUUM below: under the throwaway cluster's asynchronous
        # commit, VACUUM may not yet mark fresh rows visible to all, and the visibility map (which index-only
        # scans need) would stay empty, as it never does on a settled database.
        conn.execute("SET LOCAL synchronous_commit = on")
        conn.execute("INSERT INTO venues (venue_id, municipality_code, name) VALUES ('v-bench', %s, '横浜会場')",
                     (CODE,))
        conn.execute(
            "INSERT INTO residents (municipality_code, atena_no, voucher_no, name, name_kana, name_kana_norm,"
            " birth_date, sex, address) SELECT %s, lpad(i::text, 10, '0'), lpad(i::text, 10, '0'), '横浜 太郎',"
            " 'ヨコハマ タロウ', 'ヨコハマタロウ' || (i %% 1000), date '1950-01-01' + (i %% 20000), 1 + i %% 2, '中区'"
            " FROM generate_series(1, %s) AS i",
            (CODE, residents),
        )
        conn.execute(
            "INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, status, administered_on,"
            " venue_id, maker, lot, doctor, read_source, scanned_at, atena_no)"
            " SELECT %s, lpad(i::text, 10, '0'), d, gen_random_uuid(), 'vaccinated', date '2021-06-01' + d * 21,"
            " 'v-bench', 'pfizer', 'FA' || (i %% 9999), '=山田 医師', 'qr', now(), lpad(i::text, 10, '0')"
            " FROM generate_series(1, %s) AS i, generate_series(1, %s) AS d",
            (CODE, residents, doses),
        )
        accounts.create_user(conn, username="clerk", password=PASSWORD, role="municipal_staff",
                             municipality_code=CODE)
    with connect(dsn, None) as conn:
        conn.execute("SET synchronous_commit = on")
        conn.execute("VACUUM ANALYZE")


class Served:
    def __init__(self, base_url: str, pid: int, dsn: str, postmaster_pid: int | None = None) -> None:
        self.base_url, self.pid, self.dsn = base_url, pid, dsn
        self.postmaster_pid = postmaster_pid

    def login(self, client: httpx.Client) -> str:
        page = client.get("/login")
        token = re.search(r'name="_csrf" value="([^"]*)"', page.text)
        assert token
        r = client.post("/login", data={"username": "clerk", "password": PASSWORD, "_csrf": token.group(1)})
        assert r.status_code == 303, r.text
        return token.group(1)


@contextmanager
def served(residents: int, doses: int, workers: int = 1) -> Iterator[Served]:
    cluster = PgCluster(Path(tempfile.mkdtemp(prefix="vrs-bench-pg-", dir="/tmp")))
    work = Path(tempfile.mkdtemp(prefix="vrs-bench-admin-"))
    proc = None
    try:
        cluster.init()
        cluster.start()
        dsn = cluster.create_database("bench")
        with connect(dsn, None) as conn:
            migrate(conn)
        ensure_hub_key(work / "hub.pem")
        ensure_secret(work / "secret.hex")
        load(dsn, residents, doses)
        port = free_port()
        env = {**os.environ, "VRS_DATABASE_URL": dsn, "VRS_HUB_KEY_FILE": str(work / "hub.pem"),
               "VRS_SECRET_FILE": str(work / "secret.hex"), "VRS_LOG_LEVEL": "WARNING"}
        proc = subprocess.Popen([str(Path(sys.executable).with_name("vrs-hub")), "serve", "--port", str(port),
                                 "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/login", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("vrs-hub serve did not start") from None
                time.sleep(0.2)
        postmaster = None
        with suppress(OSError, ValueError, IndexError):
            postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
        yield Served(base, proc.pid, dsn, postmaster)
    finally:
        if proc is not None:
            # Its own process group: granian's workers go with it, even if a stuck request delays shutdown.
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        cluster.stop("immediate")
        shutil.rmtree(cluster.base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (granian workers), in MB."""
    total = 0
    pids = [pid]
    with suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)
