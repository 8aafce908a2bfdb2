"""Connections that take on one of the hub's non-owner roles (``SET ROLE``) right after connecting.

Every connection is in autocommit mode so that ``conn.transaction()`` (and hub.db.scoped) is a real
BEGIN/COMMIT: a scope set with ``set_config(..., true)`` then lives exactly as long as one unit of work.
"""

from __future__ import annotations

from typing import Literal

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

Role = Literal["vrs_api", "vrs_ingest", "vrs_reader"]
ROLES: tuple[Role, ...] = ("vrs_api", "vrs_ingest", "vrs_reader")


def _set_role(conn: psycopg.Connection[object], role: Role | None) -> None:
    if role is not None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))


def connect(url: str, role: Role | None, *, connect_timeout: int = 10) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection acting as `role` (None: stay the owner, for migrations only)."""
    conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
    try:
        _set_role(conn, role)
    except BaseException:
        conn.close()
        raise
    return conn


def pool(url: str, role: Role, *, min_size: int = 1, max_size: int = 8, name: str | None = None) -> ConnectionPool:
    """A connection pool whose connections all act as `role`."""

    def configure(conn: psycopg.Connection[object]) -> None:
        conn.autocommit = True
        _set_role(conn, role)

    return ConnectionPool(url, min_size=min_size, max_size=max_size, configure=configure, name=name,
                          open=False, kwargs={"autocommit": True})
