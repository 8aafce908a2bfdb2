"""The audit trail of the caller's municipality (or the system chain for operators)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery
from litestar.response import Template

from hub.api.context import Caller, CallerDep
from hub.api.controllers.pages import page
from hub.api.errors import NotFound
from hub.db import audit


class AuditEntry(msgspec.Struct):
    """One audit row."""

    seq: int
    occurred_at: dt.datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


def _entries(caller: Caller, limit: int) -> list[AuditEntry]:
    if not (caller.identity.is_municipal or caller.identity.role == "operator"):
        raise NotFound("no audit trail for this role")
    return [AuditEntry(r.seq, r.occurred_at, r.actor, r.action, r.target, r.details)
            for r in audit.recent(caller.conn, min(max(limit, 1), 1000))]


class AuditPages(Controller):
    """The audit page."""

    include_in_schema = False

    @get("/audit", sync_to_thread=True)
    def audit_page(self, caller: CallerDep) -> Template:
        return page(caller, "audit.html", entries=_entries(caller, 200))


class AuditApi(Controller):
    """Audit rows as JSON."""

    path = "/api/v1/audit"
    tags = ("audit",)

    @get("/", sync_to_thread=True)
    def list_audit(self, caller: CallerDep, limit: FromQuery[int] = 100) -> list[AuditEntry]:
        return _entries(caller, limit)
