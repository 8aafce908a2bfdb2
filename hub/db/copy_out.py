"""Reading the rows of a ``COPY ... TO STDOUT`` in batches of whole rows, a batch per wait on the socket.

psycopg's ``Copy.read()`` hands over one row per call, each through a full wait on the connection; on a
large export that per-row overhead cost more CPU than all the rest of the Python side. Here libpq is asked
for rows until a batch is full, and the connection is waited on only when libpq has none buffered
(psycopg's own generator protocol: the generator says what it waits for, ``Connection.wait`` waits).

``copy_out_parts`` reads several statements over several connections at once and hands their rows over
one statement after another, so that the server can work on the later ones meanwhile.

Both read either a text-format COPY (each row's bytes as they come, line feed included) or, with `binary`,
a binary COPY of one column (text or bytea), which holds each row's value and nothing else: no escapes to
undo, which in bytes of CP932 could not even be told apart (a backslash is the second byte of ソ or 表). Its
rows are handed over as lines, each ended by a line feed.
"""

from __future__ import annotations

import select
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from typing import Any, Final

import psycopg
from psycopg import errors, pq, sql
from psycopg.abc import Buffer, PQGen
from psycopg.pq.abc import PGconn
from psycopg.waiting import Wait

# A binary COPY's file header (signature, flags, extension length) before its first row; each row's field
# count and length before its bytes; the trailer (a field count of -1) after the last.
_BINARY_HEADER: Final = 19
_BINARY_ROW: Final = 6
_BINARY_TRAILER: Final = b"\xff\xff"


def _binary_value(data: memoryview) -> memoryview | None:
    """The value of the row in one message of a binary COPY of one column, or None for the trailer."""
    if data[0] != 0:  # a row's field count (1) starts with a zero byte, the header with "P" of PGCOPY
        data = data[_BINARY_HEADER:] if data[0] == 0x50 else data
        if bytes(data[:2]) == _BINARY_TRAILER:
            return None
    return data[_BINARY_ROW:]


def _join(rows: list[Buffer], binary: bool) -> bytes:
    if not binary:
        return b"".join(rows)
    return b"\n".join(rows) + b"\n" if rows else b""


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


def _batch(pgconn: PGconn, batch_bytes: int, encoding: str, binary: bool) -> PQGen[tuple[bytes, bool]]:
    """Rows until at least `batch_bytes` (or the end), and whether the COPY is over."""
    rows: list[Buffer] = []
    size = 0
    while size < batch_bytes:
        nbytes, data = pgconn.get_copy_data(1)
        if nbytes > 0:
            row = _binary_value(data) if binary else data
            if row is not None:
                rows.append(row)
            size += nbytes
        elif nbytes == 0:
            yield from _wait_readable(pgconn)
        else:
            yield from _finish(pgconn, encoding)
            return _join(rows, binary), True
    return _join(rows, binary), False


def copy_out_batches(conn: psycopg.Connection[Any], statement: sql.Composed, batch_bytes: int,
                     binary: bool = False) -> Iterator[bytes]:
    """The rows `statement` (a ``COPY ... TO STDOUT``; with `binary`, a binary one of one column) sends,
    joined in batches of at least `batch_bytes` (the last one may be shorter; no empty batch)."""
    with conn.cursor() as cur, cur.copy(statement):
        # The Copy block only starts the COPY here; leaving it early (an error, a closed download) cancels
        # the query and drains what is left, as it does for psycopg's own reads.
        done = False
        while not done:
            data, done = conn.wait(_batch(conn.pgconn, batch_bytes, conn.info.encoding, binary))
            if data:
                yield data


def _discard(pgconn: PGconn) -> PQGen[None]:
    """Whatever the server still sends for the statement in flight, thrown away, until it is done."""
    while True:
        while pgconn.is_busy():
            yield from _wait_readable(pgconn)
        result = pgconn.get_result()
        if result is None:
            return
        if result.status == pq.ExecStatus.COPY_OUT:
            while (nbytes := pgconn.get_copy_data(1)[0]) >= 0:
                if nbytes == 0:
                    yield from _wait_readable(pgconn)


class _Lane:
    """One connection and the statements it runs, one after another.

    A statement is sent without waiting for its answer: PostgreSQL starts the COPY's answer only with the
    first rows, after the query's sort, and a wait there would hold up reading the other connections.
    """

    def __init__(self, conn: psycopg.Connection[Any], statements: list[tuple[int, sql.Composed]],
                 binary: bool) -> None:
        self.conn = conn
        self._binary = binary
        self.part: int | None = None  # the statement whose rows arrive now; None once all are read
        self._pending = deque(statements)
        self._copying = False  # the COPY's opening answer has come
        self._busy = False  # a statement is in flight

    def start_next(self) -> None:
        """Send the lane's next statement, if any is left."""
        if not self._pending:
            self.part = None
            return
        self.part, statement = self._pending.popleft()
        self.conn.pgconn.send_query(statement.as_bytes(self.conn))
        self._copying, self._busy = False, True

    def read(self, limit: int) -> tuple[bytes, bool]:
        """The rows libpq has already received (`limit` bytes of them, give or take a row), joined, and
        whether the statement is over; waits for the server only for the closing result."""
        pgconn = self.conn.pgconn
        rows: list[Buffer] = []
        size = 0
        if not self._copying:
            if pgconn.is_busy():
                return b"", False
            result = pgconn.get_result()
            if result is None or result.status != pq.ExecStatus.COPY_OUT:
                self.conn.wait(_discard(pgconn))
                self._busy = False
                raise errors.error_from_result(result, encoding=self.conn.info.encoding) if result else \
                    errors.InternalError("the COPY sent no answer")
            self._copying = True
        binary = self._binary
        while size < limit:
            nbytes, data = pgconn.get_copy_data(1)
            if nbytes > 0:
                row = _binary_value(data) if binary else data
                if row is not None:
                    rows.append(row)
                size += nbytes
            elif nbytes == 0:
                return _join(rows, binary), False
            else:
                self._busy = False
                self.conn.wait(_finish(pgconn, self.conn.info.encoding))
                return _join(rows, binary), True
        return _join(rows, binary), False

    def opened(self) -> bool:
        """Whether the statement in flight has answered yet (a start counts as progress)."""
        return self._copying

    def close(self) -> None:
        """Leave the connection idle: a statement still running is cancelled and what it still sends dropped.
        A connection that cannot be brought back to idle is closed (a pool then replaces it)."""
        if self._busy:
            self._busy = False
            try:
                self.conn.cancel_safe()
                self.conn.wait(_discard(self.conn.pgconn))
            except psycopg.Error:
                self.conn.close()


def copy_out_parts(conns: Sequence[psycopg.Connection[Any]], statements: Sequence[sql.Composed],
                   batch_bytes: int, ahead_bytes: int, binary: bool = False) -> Iterator[bytes]:
    """The rows of `statements` (each a ``COPY ... TO STDOUT``, binary ones of one column with `binary`),
    all of the first, then all of the second..., joined in batches of at least `batch_bytes` (a statement's
    last batch may be shorter; no empty batch).

    Statement i runs on connection i % len(conns), each connection's one after another, so that the server
    works on as many statements at once as there are connections. The rows of statements after the one
    being handed over are held back up to about `ahead_bytes`; past that their connections are not read,
    and TCP makes their server processes wait.
    """
    lanes = [_Lane(c, [(i, s) for i, s in enumerate(statements) if i % len(conns) == k], binary)
             for k, c in enumerate(conns)]
    # Each read's rows joined at once: far fewer objects to hold than one per row.
    held: dict[int, list[bytes]] = defaultdict(list)
    held_bytes: dict[int, int] = defaultdict(int)
    ended: set[int] = set()
    ahead = 0  # bytes held for statements after the front one
    front = 0
    try:
        for lane in lanes:
            lane.start_next()
        while front < len(statements):
            if held_bytes[front] >= batch_bytes or (front in ended and held[front]):
                batch = held.pop(front)
                held_bytes[front] = 0
                yield batch[0] if len(batch) == 1 else b"".join(batch)
                continue
            if front in ended:
                front += 1
                ahead -= held_bytes[front]
                continue
            reading: list[_Lane] = []
            progressed = False
            for lane in lanes:
                part = lane.part
                if part is None or (part != front and ahead >= ahead_bytes):
                    continue
                reading.append(lane)
                limit = batch_bytes - held_bytes[front] if part == front else ahead_bytes - ahead
                opened = lane.opened()
                data, done = lane.read(limit)
                if data:
                    held[part].append(data)
                    held_bytes[part] += len(data)
                    if part != front:
                        ahead += len(data)
                if done:
                    ended.add(part)
                    lane.start_next()
                progressed = progressed or done or bool(data) or lane.opened() != opened
            if not progressed:
                # The front statement's connection is always among them: the wait ends with rows for it or
                # for one that may still read ahead.
                readable, _, _ = select.select([lane.conn.pgconn.socket for lane in reading], [], [])
                for lane in reading:
                    if lane.conn.pgconn.socket in readable:
                        lane.conn.pgconn.consume_input()
    finally:
        # On an error or a closed download; after a complete read every lane is idle already.
        for lane in lanes:
            lane.close()
