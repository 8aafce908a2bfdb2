"""Ledger downloads from `vrs-hub serve` that the client abandons half-way: the connections they read over
go back to the pool (nothing left running or inside a transaction), and the next download is whole."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hub.db.connect import connect
from tests.hub.api.conftest import MUNI_A, VENUE_A, ServedHub, login

PEOPLE = 100_000  # 200,000 records: a ledger cut in parts, and far more than the sockets' buffers hold
URL = f"/api/v1/municipalities/{MUNI_A}/records/export"


@pytest.fixture
def hub_env(hub_env: dict[str, str]) -> dict[str, str]:
    # Ledger downloads over two connections, so that abandoning one leaves two COPYs to stop.
    return {**hub_env, "VRS_EXPORT_CONNECTIONS": "2"}


def _load(dsn: str) -> None:
    with connect(dsn, None) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, status, administered_on,"
            " venue_id, maker, lot, doctor, read_source, scanned_at, atena_no)"
            " SELECT %s, lpad(i::text, 10, '0'), d, gen_random_uuid(), 'vaccinated', date '2021-06-01' + d * 21,"
            " %s, 'pfizer', 'FA' || i, '山田 太郎', 'qr', now(), lpad(i::text, 10, '0')"
            " FROM generate_series(1, %s) AS i, generate_series(1, 2) AS d", (MUNI_A, VENUE_A, PEOPLE))
        conn.execute("ANALYZE vaccinations")


def _backends(dsn: str) -> list[tuple[Any, ...]]:
    """(state, query) of the database's other client connections."""
    with connect(dsn, None) as conn:
        return conn.execute("SELECT state, query FROM pg_stat_activity WHERE datname = current_database()"
                            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'").fetchall()


def _copies(dsn: str, expected: int = 2) -> int:
    """COPY statements running, once `expected` of them are (or after 15 s, however many there are then):
    on a busy machine the second part's statement may start a while after the first."""
    deadline = time.monotonic() + 15
    while True:
        running = sum(1 for state, query in _backends(dsn) if state == "active" and query.startswith("COPY"))
        if running >= expected or time.monotonic() > deadline:
            return running
        time.sleep(0.05)


def _wait_idle(dsn: str) -> None:
    deadline = time.monotonic() + 15
    while any(state != "idle" for state, _ in _backends(dsn)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [b for b in _backends(dsn) if b[0] != "idle"] == []


def test_abandoned_ledger_downloads_leave_no_connection_behind(served_hub: ServedHub, hub_db: str,
                                                                make_user: Callable[..., str]) -> None:
    make_user("clerk_a", "municipal_staff", municipality_code=MUNI_A)
    _load(hub_db)
    with httpx.Client(base_url=served_hub.base_url, timeout=60) as client:
        login(client, "clerk_a")  # type: ignore[arg-type]
        copies: list[int] = []
        # Twice as many downloads as the pool (10 connections) could lend two connections each, were any kept.
        for attempt in range(11):
            if attempt == 10:  # once the others are over: the pool still lends two connections
                _wait_idle(hub_db)
            with client.stream("GET", URL, params={"layout": "ledger"}) as r:
                assert r.status_code == 200
                chunks = r.iter_raw()
                assert next(chunks).startswith(b"\xef\xbb\xbf")
                copies.append(_copies(hub_db))  # the parts' statements have started; the client reads no further
            # Leaving the block closes the half-read response's connection.
        _wait_idle(hub_db)
        assert len(_backends(hub_db)) <= 10
        whole = client.get(URL, params={"layout": "ledger"})
    assert copies[0] == copies[-1] == 2  # reading over two connections, the first time and the last
    assert whole.status_code == 200 and whole.content.count(b"\r\n") == 1 + PEOPLE
