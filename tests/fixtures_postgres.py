"""A throwaway PostgreSQL cluster for the test run: real server, temp dir, free loopback port.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the `postgres`
user and every server command runs through `runuser`. Durability settings are relaxed (fsync off): a test
restarts the server, it never loses power, so crash safety of the disk is not what is under test.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)")
    return Path(found[-1]).parent


class PgCluster:
    """One server process; can be stopped, started and restarted on the same port and data."""

    host = "127.0.0.1"

    def __init__(self, base: Path) -> None:
        self.bindir = _bindir()
        self.base = base
        self.datadir = base / "data"
        self.sockdir = base / "sock"
        self.logfile = base / "server.log"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def init(self) -> None:
        self.sockdir.mkdir(parents=True)
        if self._as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(self.sockdir, "postgres", "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        conf = self.datadir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockdir}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\nshared_buffers = 256MB\n"
                "timezone = 'UTC'\nlog_min_messages = warning\n"
            )

    def start(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                  "-w", "-t", "60", "start")
        self._wait_ready()

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def is_running(self) -> bool:
        return self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status", check=False).returncode == 0

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.superuser_dsn, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def dsn(self, dbname: str, user: str = "postgres", password: str | None = None) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    @property
    def superuser_dsn(self) -> str:
        return self.dsn("postgres")

    def create_database(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(self.superuser_dsn, autocommit=True) as conn:
            tmpl = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{tmpl}')  # type: ignore[arg-type]  # names are ours
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.superuser_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    base = Path(tempfile.mkdtemp(prefix="vrs-pg-", dir="/tmp"))
    cluster = PgCluster(base)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _pg_back_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """A fault test may leave the server stopped; the next test gets it running again."""
    yield
    if "pg_cluster" in request.fixturenames:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        if not cluster.is_running():
            cluster.start()


@pytest.fixture
def pg_database(pg_cluster: PgCluster) -> Iterator[str]:
    name = "t_" + uuid.uuid4().hex[:12]
    dsn = pg_cluster.create_database(name)
    yield dsn
    if pg_cluster.is_running():
        pg_cluster.drop_database(name)
