"""COPY output read in batches: every row once and in order (a binary COPY of one column as its values),
an error part-way through raises instead of ending the file early, and a download abandoned half-way leaves
the connection fit for the next request."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from hub.db.connect import connect
from hub.db.copy_out import copy_out_batches, copy_out_parts

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


def _values(first: int, last: int, cp932: bool) -> sql.Composed:
    """A binary COPY of one column (text, or bytea of CP932): backslashes, line feeds, and ソ and 表, whose
    second CP932 byte is a backslash."""
    value = sql.SQL("CASE i % 3 WHEN 0 THEN 'ソ表\\' || i WHEN 1 THEN 'a' || chr(10) || 'b\\n' || i ELSE i::text END")
    if cp932:
        value = sql.SQL("convert_to({}, 'SJIS')").format(value)
    return sql.SQL("COPY (SELECT {} FROM generate_series({}, {}) AS i) TO STDOUT (FORMAT binary)").format(
        value, first, last)


def _value(i: int) -> str:
    return ("ソ表\\", "a\nb\\n", "")[i % 3] + str(i)


@pytest.mark.parametrize("cp932", [False, True])
def test_binary_rows_are_their_values(pg_database: str, cp932: bool) -> None:
    with connect(pg_database, None) as conn, connect(pg_database, None) as other:
        batches = list(copy_out_batches(conn, _values(1, 5000, cp932), 1000, binary=True))
        empty = list(copy_out_batches(conn, _values(1, 0, cp932), 1000, binary=True))  # a header, then the trailer
        parts = list(copy_out_parts([conn, other], [_values(1, 2000, cp932), _values(2001, 2000, cp932),
                                                    _values(2001, 5000, cp932)], 1000, 1 << 16, binary=True))
    expected = "".join(_value(i) + "\n" for i in range(1, 5001)).encode("cp932" if cp932 else "utf-8")
    assert all(batches) and len(batches) > 1 and b"".join(batches) == expected
    assert all(parts) and b"".join(parts) == expected
    assert empty == []


def _part(first: int, last: int) -> sql.Composed:
    return sql.SQL("COPY (SELECT i FROM generate_series({}, {}) AS i) TO STDOUT").format(first, last)


@pytest.mark.parametrize(("connections", "ahead_bytes"), [(1, 0), (2, 1), (2, 1 << 30), (3, 4096)])
def test_parts_come_whole_and_in_order_whichever_connection_reads_them(pg_database: str, connections: int,
                                                                        ahead_bytes: int) -> None:
    parts = [_part(1, 5000), _part(5001, 5000), _part(5001, 5003), _part(5004, 20000), _part(20001, 20001)]
    conns = [connect(pg_database, None) for _ in range(connections)]
    try:
        batches = list(copy_out_parts(conns, parts, 1000, ahead_bytes))
        assert all(batches)
        assert b"".join(batches).decode().splitlines() == [str(i) for i in range(1, 20002)]
        assert all(c.execute("SELECT 'idle'").fetchone() == ("idle",) for c in conns)
    finally:
        for c in conns:
            c.close()


def test_a_failing_part_raises_and_leaves_every_connection_usable(pg_database: str) -> None:
    failing = sql.SQL("COPY (SELECT 1 / (15000 - i) FROM generate_series(1, 20000) AS i) TO STDOUT")
    conns = [connect(pg_database, None) for _ in range(2)]
    try:
        received = []
        with pytest.raises(psycopg.errors.DivisionByZero):
            for batch in copy_out_parts(conns, [_part(1, 100), failing, _part(1, 20000)], 4096, 1 << 16):
                received.append(batch)
        assert b"".join(received).decode().splitlines()[:100] == [str(i) for i in range(1, 101)]
        assert [c.execute("SELECT 42").fetchone() for c in conns] == [(42,), (42,)]
    finally:
        for c in conns:
            c.close()


def test_an_abandoned_read_of_parts_cancels_them_all(pg_database: str) -> None:
    conns = [connect(pg_database, None) for _ in range(2)]
    try:
        # generate_series in the select list streams its rows (in FROM it would make them all first).
        endless = sql.SQL("COPY (SELECT generate_series(1, 1000000000)) TO STDOUT")
        batches = copy_out_parts(conns, [endless, endless], 1024, 1 << 16)
        assert next(batches).startswith(b"1\n")
        batches.close()
        assert [c.execute("SELECT 'next request'").fetchone() for c in conns] == [("next request",)] * 2
    finally:
        for c in conns:
            c.close()
