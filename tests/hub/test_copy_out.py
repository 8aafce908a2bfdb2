"""COPY output read in batches: every row once and in order, an error part-way through raises instead of
ending the file early, and a download abandoned half-way leaves the connection fit for the next request."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from hub.db.connect import connect
from hub.db.copy_out import copy_out_batches

ROWS = sql.SQL("COPY (SELECT i, repeat('x', i % 50) FROM generate_series(1, 20000) AS i) TO STDOUT")


@pytest.mark.parametrize("batch_bytes", [1, 4096, 1 << 30])
def test_batches_hold_every_row_once_in_order(pg_database: str, batch_bytes: int) -> None:
    with connect(pg_database, None) as conn:
        batches = list(copy_out_batches(conn, ROWS, batch_bytes))
    assert all(batches)
    lines = b"".join(batches).decode().splitlines()
    assert lines == [f"{i}\t{'x' * (i % 50)}" for i in range(1, 20001)]
    if batch_bytes == 1 << 30:
        assert len(batches) == 1


def test_error_part_way_raises(pg_database: str) -> None:
    failing = sql.SQL("COPY (SELECT 1 / (15000 - i) FROM generate_series(1, 20000) AS i) TO STDOUT")
    with connect(pg_database, None) as conn:
        received = []
        with pytest.raises(psycopg.errors.DivisionByZero):
            for batch in copy_out_batches(conn, failing, 4096):
                received.append(batch)
        assert received, "rows before the error arrive as they come"
        assert conn.execute("SELECT 42").fetchone() == (42,)


def test_abandoned_read_leaves_the_connection_usable(pg_database: str) -> None:
    # The COPY is cancelled, so a transaction around it is rolled back; the connection itself carries on.
    with connect(pg_database, None) as conn:
        batches = copy_out_batches(conn, ROWS, 1024)
        first = next(batches)
        batches.close()
        assert first.startswith(b"1\t")
        assert conn.execute("SELECT 'next request'").fetchone() == ("next request",)
