"""Writing audit rows into the hash-chained audit_log, and verifying the chains.

Each municipality has its own chain ('000000' holds system-wide events). A row is written with the scope
of the chain it belongs to (the policies of audit_log allow nothing else), then the caller's scope is put
back: a venue user's cross-municipality read is audited in the chain of the municipality that was read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
import psycopg

from hub.db.scoped import Scope, scoped

SYSTEM_CHAIN = "000000"
GENESIS_HASH = "0" * 64


def _scope_of_chain(chain: str) -> Scope:
    return Scope.operator() if chain == SYSTEM_CHAIN else Scope.municipality(chain)


def write(conn: psycopg.Connection[Any], chain: str, *, actor: str, action: str, target: str = "",
          details: Mapping[str, Any] | None = None) -> None:
    """Append one row to `chain` inside the caller's open transaction (the trigger links the hashes)."""
    saved = conn.execute(
        "SELECT current_setting('vrs.scope', true), current_setting('vrs.municipality_code', true),"
        " current_setting('vrs.venue_id', true)"
    ).fetchone()
    with scoped(conn, _scope_of_chain(chain)):
        conn.execute(
            "INSERT INTO audit_log (municipality_code, actor, action, target, details, seq, prev_hash, row_hash)"
            " VALUES (%s, %s, %s, %s, %s::jsonb, 0, '', '')",
            (chain, actor, action, target, json.dumps(dict(details or {}), ensure_ascii=False, sort_keys=True)),
        )
    # Releasing the savepoint kept the chain's scope: give the transaction its caller's scope back.
    assert saved is not None
    conn.execute(
        "SELECT set_config('vrs.scope', %s, true), set_config('vrs.municipality_code', %s, true),"
        " set_config('vrs.venue_id', %s, true)",
        tuple("" if v is None else str(v) for v in saved),
    )


class AuditRow(msgspec.Struct, frozen=True):
    """One audit row as a municipality's staff sees it."""

    seq: int
    occurred_at: Any
    actor: str
    action: str
    target: str
    details: dict[str, Any]


def recent(conn: psycopg.Connection[Any], limit: int = 100) -> list[AuditRow]:
    """The newest rows the current scope may see, newest first."""
    rows = conn.execute(
        "SELECT seq, occurred_at, actor, action, target, details FROM audit_log ORDER BY occurred_at DESC, seq DESC"
        " LIMIT %s",
        (limit,),
    ).fetchall()
    return [AuditRow(int(r[0]), r[1], str(r[2]), str(r[3]), str(r[4]), dict(r[5])) for r in rows]


class ChainBreak(msgspec.Struct, frozen=True):
    """Where a chain stops being consistent, and how."""

    chain: str
    seq: int
    problem: str


def verify_chain(conn: psycopg.Connection[Any], chain: str) -> tuple[int, list[ChainBreak]]:
    """Check one chain (number of rows, breaks found); `conn` acts as vrs_api or the owner."""
    breaks: list[ChainBreak] = []
    count = 0
    with scoped(conn, _scope_of_chain(chain)), conn.cursor(name=f"audit_{chain}") as cur:
        cur.execute(
            "SELECT seq, prev_hash, row_hash, vrs_audit_row_hash(a) FROM audit_log a"
            " WHERE municipality_code = %s ORDER BY seq",
            (chain,),
        )
        expected_seq, expected_prev = 1, GENESIS_HASH
        for seq, prev_hash, row_hash, recomputed in cur:
            count += 1
            if seq != expected_seq:
                breaks.append(ChainBreak(chain, int(seq), f"row {expected_seq} is missing (next is {seq})"))
            if prev_hash != expected_prev:
                breaks.append(ChainBreak(chain, int(seq), "previous-row hash does not match the row before it"))
            if row_hash != recomputed:
                breaks.append(ChainBreak(chain, int(seq), "row content does not match its hash (altered)"))
            expected_seq, expected_prev = int(seq) + 1, str(row_hash)
    return count, breaks


def chains(conn: psycopg.Connection[Any]) -> Iterator[str]:
    """Every chain that may hold rows: the system chain and each municipality."""
    yield SYSTEM_CHAIN
    for (code,) in conn.execute("SELECT code FROM municipalities WHERE NOT is_ward ORDER BY code").fetchall():
        yield str(code)


def verify_all(conn: psycopg.Connection[Any]) -> tuple[int, list[ChainBreak]]:
    """Check every chain; returns the number of rows checked and all breaks found."""
    total, breaks = 0, []
    for chain in list(chains(conn)):
        count, found = verify_chain(conn, chain)
        total += count
        breaks.extend(found)
    return total, breaks
