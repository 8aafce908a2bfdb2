"""Reading the rows of a ``COPY ... TO STDOUT`` in batches of whole rows, a batch per wait on the socket.

psycopg's ``Copy.read()`` hands over one row per call, each through a full wait on the connection; on a
large export that per-row overhead cost more CPU than all the rest of the Python side. Here libpq is asked
for rows until a batch is full, and the connection is waited on only when libpq has none buffered
(psycopg's own generator protocol: the generator says what it waits for, ``Connection.wait`` waits).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import errors, pq, sql
from psycopg.abc import Buffer, PQGen
from psycopg.pq.abc import PGconn
from psycopg.waiting import Wait


def _wait_readable(pgconn: PGconn) -> PQGen[None]:
    while not (yield Wait.R):
        continue
    pgconn.consume_input()


def _finish(pgconn: PGconn, encoding: str) -> PQGen[None]:
    """The COPY's closing result, once libpq has said the data is over; raises if it is an error."""
    failed: pq.abc.PGresult | None = None
    while True:
        while pgconn.is_busy():
            yield from _wait_readable(pgconn)
        result = pgconn.get_result()
        if result is None:
            break
        if result.status != pq.ExecStatus.COMMAND_OK and failed is None:
            failed = result
    if failed is not None:
        raise errors.error_from_result(failed, encoding=encoding)


def _batch(pgconn: PGconn, batch_bytes: int, encoding: str) -> PQGen[tuple[bytes, bool]]:
    """Rows until at least `batch_bytes` (or the end), and whether the COPY is over."""
    rows: list[Buffer] = []
    size = 0
    while size < batch_bytes:
        nbytes, data = pgconn.get_copy_data(1)
        if nbytes > 0:
            rows.append(data)
            size += nbytes
        elif nbytes == 0:
            yield from _wait_readable(pgconn)
        else:
            yield from _finish(pgconn, encoding)
            return b"".join(rows), True
    return b"".join(rows), False


def copy_out_batches(conn: psycopg.Connection[Any], statement: sql.Composed, batch_bytes: int) -> Iterator[bytes]:
    """The rows `statement` (a ``COPY ... TO STDOUT``) sends, joined in batches of at least `batch_bytes`
    (the last one may be shorter; no empty batch)."""
    with conn.cursor() as cur, cur.copy(statement):
        # The Copy block only starts the COPY here; leaving it early (an error, a closed download) cancels
        # the query and drains what is left, as it does for psycopg's own reads.
        done = False
        while not done:
            data, done = conn.wait(_batch(conn.pgconn, batch_bytes, conn.info.encoding))
            if data:
                yield data
