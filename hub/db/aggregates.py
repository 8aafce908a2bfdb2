"""The hourly aggregates: applying deltas, recounting from the current state, rebuilding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import psycopg

from hub.db.versions import AggKey

Conn = psycopg.Connection[Any]

_RECOUNT = (
    "SELECT date_trunc('hour', scanned_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', left(municipality_code, 2),"
    " municipality_code, venue_id, maker, dose, status, count(*) FROM vaccinations GROUP BY 1, 2, 3, 4, 5, 6, 7"
)


def apply_deltas(conn: Conn, deltas: Mapping[AggKey, int]) -> None:
    """Add count changes to their cells (sorted: concurrent writers lock cells in the same order)."""
    if not deltas:
        return
    cells = [
        {"b": k[0], "p": k[1], "m": k[2], "v": k[3], "k": k[4], "d": k[5], "s": k[6], "n": n}
        for k, n in sorted(deltas.items())
    ]
    conn.execute(
        "INSERT INTO hourly_aggregates (bucket, prefecture_code, municipality_code, venue_id, maker, dose, status,"
        " count) SELECT b, p, m, v, k, d, s, n FROM json_to_recordset(%s::json)"
        " AS x(b timestamptz, p text, m text, v text, k text, d smallint, s text, n bigint)"
        " ON CONFLICT (bucket, municipality_code, venue_id, maker, dose, status)"
        " DO UPDATE SET count = hourly_aggregates.count + excluded.count",
        (msgspec.json.encode(cells).decode(),),
    )


def stored(conn: Conn) -> dict[AggKey, int]:
    """The aggregates as kept (cells at zero left out)."""
    cur = conn.execute(
        "SELECT bucket, prefecture_code, municipality_code, venue_id, maker, dose, status, count"
        " FROM hourly_aggregates WHERE count <> 0"
    )
    return {(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6]): int(r[7]) for r in cur}


def recounted(conn: Conn) -> dict[AggKey, int]:
    """The aggregates counted afresh from the current state visible in the caller's scope."""
    return {(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6]): int(r[7]) for r in conn.execute(_RECOUNT)}


def rebuild(conn: Conn) -> int:
    """Replace every aggregate by a full recount (run in the ingest scope, which sees all records).

    Locks the table first, so a running ingest waits instead of adding deltas to cells being replaced.
    Returns the number of cells written.
    """
    conn.execute("LOCK TABLE hourly_aggregates IN EXCLUSIVE MODE")
    conn.execute("DELETE FROM hourly_aggregates")
    cur = conn.execute(
        "INSERT INTO hourly_aggregates (bucket, prefecture_code, municipality_code, venue_id, maker, dose, status,"
        f" count) {_RECOUNT}"
    )
    return cur.rowcount
