"""Record exports streamed from their own scoped transaction (the request's transaction ends before the
response body is sent, so the stream cannot live in it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import psycopg

from hub.api.context import ApiState, scope_for
from hub.api.identity import Identity
from hub.db import export as export_db
from hub.db.scoped import scoped
from hub.files.export import LEDGER_MIN_DOSES, LONG_HEADER, Encoding, from_copy, ledger_header

Layout = Literal["ledger", "long"]
LAYOUTS: tuple[Layout, ...] = ("ledger", "long")
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "cp932")


def export_chunks(st: ApiState, identity: Identity, municipality_code: str, layout: Layout,
                  encoding: Encoding) -> Iterator[bytes]:
    """CSV byte chunks of the municipality's records, rendered by PostgreSQL and streamed (flat memory)."""
    with st.pool.connection() as conn, scoped(conn, scope_for(identity)):
        yield from csv_chunks(conn, municipality_code, layout, encoding)


def csv_chunks(conn: psycopg.Connection[Any], municipality_code: str, layout: Layout,
               encoding: Encoding) -> Iterator[bytes]:
    """The export on a connection already scoped to the municipality (also `vrs-hub export-records`)."""
    header: tuple[str, ...]
    if layout == "long":
        header, query = LONG_HEADER, export_db.long_query(municipality_code)
    else:
        doses = max(LEDGER_MIN_DOSES, export_db.max_dose(conn, municipality_code))
        header, query = ledger_header(doses), export_db.ledger_query(municipality_code, doses)
    yield from from_copy(header, export_db.copy_csv(conn, query), encoding)


def filename(municipality_code: str, layout: Layout, encoding: Encoding, stamp: str) -> str:
    return f"records_{municipality_code}_{layout}_{encoding.replace('-', '')}_{stamp}.csv"
