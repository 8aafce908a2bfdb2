"""The tenant scope of one transaction: who is asking, which the row-level security policies read.

The three settings are transaction-local (``set_config(..., true)``): they vanish at COMMIT or ROLLBACK,
so a pooled connection never carries one caller's scope into another's work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import msgspec
import psycopg

from hub.errors import ScopeError

ScopeKind = Literal["municipality", "venue", "operator", "ingest"]
Conn = TypeVar("Conn", bound="psycopg.Connection[Any]")


class Scope(msgspec.Struct, frozen=True):
    """Who the transaction acts for; build it with the class methods."""

    kind: ScopeKind
    municipality_code: str | None = None
    venue_id: str | None = None

    @classmethod
    def municipality(cls, code: str) -> Scope:
        """Staff of one municipality: its own residents and records."""
        return cls("municipality", municipality_code=code)

    @classmethod
    def venue(cls, venue_id: str, municipality_code: str) -> Scope:
        """Staff of one venue: the records made there, of any municipality (Q31)."""
        return cls("venue", municipality_code=municipality_code, venue_id=venue_id)

    @classmethod
    def operator(cls) -> Scope:
        """The system operator: venues, devices, users; no personal data."""
        return cls("operator")

    @classmethod
    def ingest(cls) -> Scope:
        """The ingest: writes records of every municipality, reads residents to match them."""
        return cls("ingest")

    def check(self) -> None:
        """Raise ScopeError unless the scope carries what its kind needs."""
        if self.kind in ("municipality", "venue") and not self.municipality_code:
            raise ScopeError(f"a {self.kind} scope needs a municipality code")
        if self.kind == "venue" and not self.venue_id:
            raise ScopeError("a venue scope needs a venue id")


def set_scope(conn: psycopg.Connection[Any], scope: Scope) -> None:
    """Act for `scope` in the transaction open on `conn`, until it ends (one round trip)."""
    scope.check()
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.INTRANS:
        raise ScopeError("a scope lives in a transaction: open one first")
    conn.execute(
        "SELECT set_config('vrs.scope', %s, true), set_config('vrs.municipality_code', %s, true),"
        " set_config('vrs.venue_id', %s, true)",
        (scope.kind, scope.municipality_code or "", scope.venue_id or ""),
    )


@contextmanager
def scoped(conn: Conn, scope: Scope) -> Iterator[Conn]:
    """Open a transaction on `conn` acting for `scope`; commits on success, rolls back on error."""
    scope.check()
    with conn.transaction():
        set_scope(conn, scope)
        yield conn
