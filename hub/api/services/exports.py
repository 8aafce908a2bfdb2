"""Record exports streamed from their own scoped transaction (the request's transaction ends before the
response body is sent, so the stream cannot live in it).

A ledger export first stores the rows of the people whose records changed since the last one, in a short
transaction of its own (hub.db.ledger), then reads every person's row in its export transaction. A large
ledger can be cut into parts by 宛名番号, read over more than one pooled connection at once; the
connections' transactions share one snapshot and one scope, and the parts are written one after another,
as one query would have written them.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import ExitStack
from typing import Any, Final, Literal

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from hub.api.context import ApiState, scope_for
from hub.api.identity import Identity
from hub.db import export as export_db
from hub.db import ledger as ledger_db
from hub.db.scoped import Scope, scoped
from hub.files.export import LEDGER_MIN_DOSES, LONG_HEADER, Encoding, from_copy, ledger_header

Layout = Literal["ledger", "long"]
LAYOUTS: tuple[Layout, ...] = ("ledger", "long")
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "cp932")
# Connections one ledger export reads over unless the settings say otherwise (VRS_EXPORT_CONNECTIONS).
EXPORT_CONNECTIONS: Final = 1
# About this many records per part: more than one part per connection, so that each connection's server
# process has its next part to work on while the one before is still being sent (COPY_AHEAD_BYTES holds
# it back); fewer, larger parts cost less to start and sort.
RECORDS_PER_PART: Final = 100_000
MAX_PARTS: Final = 64
# How long an export waits for a pooled connection beyond its first; without one it reads over fewer.
EXTRA_CONNECTION_WAIT_S: Final = 0.2


def export_chunks(st: ApiState, identity: Identity, municipality_code: str, layout: Layout,
                  encoding: Encoding) -> Generator[bytes, None, None]:
    """CSV byte chunks of the municipality's records, rendered by PostgreSQL and streamed (flat memory)."""
    return pooled_chunks(st.pool, scope_for(identity), municipality_code, layout, encoding,
                         st.settings.export_connections)


def pooled_chunks(pool: ConnectionPool[Any], scope: Scope, municipality_code: str, layout: Layout,
                  encoding: Encoding, connections: int = EXPORT_CONNECTIONS,
                  records_per_part: int = RECORDS_PER_PART) -> Generator[bytes, None, None]:
    """The export in transactions of its own acting for `scope`, on connections from `pool`: a large ledger
    over up to `connections` of them (fewer when the pool has none to spare). Every connection goes back
    to the pool when the stream ends, is abandoned or fails."""
    with pool.connection() as conn, ExitStack() as transactions:
        if layout == "long":
            transactions.enter_context(export_db.export_transaction(conn, scope))
            yield from csv_chunks(conn, municipality_code, layout, encoding)
            return
        with scoped(conn, scope):
            ledger_db.refresh(conn, municipality_code)
        transactions.enter_context(export_db.export_transaction(conn, scope))
        doses = export_db.max_dose(conn, municipality_code, LEDGER_MIN_DOSES)
        starts = (export_db.part_starts(conn, municipality_code, records_per_part, MAX_PARTS)
                  if connections > 1 else [])
        conns = [conn]
        if starts:
            snapshot = export_db.share_snapshot(conn)
            while len(conns) < min(connections, len(starts) + 1):
                try:
                    extra = transactions.enter_context(pool.connection(timeout=EXTRA_CONNECTION_WAIT_S))
                except PoolTimeout:
                    break  # a busy pool: fewer connections, the same bytes
                transactions.enter_context(export_db.export_transaction(extra, scope, snapshot))
                conns.append(extra)
        cp932 = encoding == "cp932"
        parts = ledger_db.ledger_parts(municipality_code, doses, starts, cp932)
        # The batches are held by the stream alone: closing it closes them, before the transactions end.
        yield from from_copy(ledger_header(doses), export_db.copy_csv_parts(conns, parts, rendered=True, cp932=cp932),
                             encoding, converted=True)


def csv_chunks(conn: psycopg.Connection[Any], municipality_code: str, layout: Layout,
               encoding: Encoding) -> Iterator[bytes]:
    """The export on a connection already scoped to the municipality (`vrs-hub export-records`); a ledger
    first stores the rows of people marked stale, so the transaction must be read committed
    (hub.db.ledger.refresh)."""
    if layout == "long":
        yield from from_copy(LONG_HEADER, export_db.copy_csv(conn, export_db.long_query(municipality_code)), encoding)
        return
    ledger_db.refresh(conn, municipality_code)
    doses = export_db.max_dose(conn, municipality_code, LEDGER_MIN_DOSES)
    cp932 = encoding == "cp932"
    query = ledger_db.ledger_query(municipality_code, doses, cp932=cp932)
    yield from from_copy(ledger_header(doses), export_db.copy_csv(conn, query, rendered=True, cp932=cp932), encoding,
                         converted=True)


def filename(municipality_code: str, layout: Layout, encoding: Encoding, stamp: str) -> str:
    return f"records_{municipality_code}_{layout}_{encoding.replace('-', '')}_{stamp}.csv"
