"""Record exports streamed from their own scoped transaction (the request's transaction ends before the
response body is sent, so the stream cannot live in it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from hub.api.context import ApiState, scope_for
from hub.api.identity import Identity
from hub.db import export as export_db
from hub.db.scoped import scoped
from hub.files.export import Encoding, write_ledger, write_long

Layout = Literal["ledger", "long"]
LAYOUTS: tuple[Layout, ...] = ("ledger", "long")
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "cp932")


def export_chunks(st: ApiState, identity: Identity, municipality_code: str, layout: Layout,
                  encoding: Encoding) -> Iterator[bytes]:
    """CSV byte chunks of the municipality's records, read with a server-side cursor (flat memory)."""
    with st.pool.connection() as conn, scoped(conn, scope_for(identity)):
        if layout == "long":
            yield from write_long(export_db.current_records(conn, municipality_code), encoding)
        else:
            top = export_db.max_dose(conn, municipality_code)
            yield from write_ledger(export_db.ledger_records(conn, municipality_code), top, encoding)


def filename(municipality_code: str, layout: Layout, encoding: Encoding, stamp: str) -> str:
    return f"records_{municipality_code}_{layout}_{encoding.replace('-', '')}_{stamp}.csv"
