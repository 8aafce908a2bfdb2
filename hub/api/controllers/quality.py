"""The data-quality page of a municipality (and its API): records that need a look, each resolvable by
matching, correcting or dismissing with a reason. Municipal roles only; others get 404."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from hub.api.context import Caller, CallerDep
from hub.api.controllers.pages import page
from hub.api.controllers.scope import own_municipality
from hub.api.errors import InvalidInput
from hub.api.services import quality as quality_service
from hub.api.services.quality import ACTION_LABELS, KIND_LABELS, QualityView, Resolved, ResolveInput
from hub.db import quality


class ResolveForm(ResolveInput, kw_only=True):
    """The resolve form of one issue row."""

    record_id: str


def _page(caller: Caller, code: str, *, errors: list[str] | None = None, done: str = "",
          status_code: int = 200) -> Template:
    return page(caller, "quality.html", status_code=status_code, v=quality_service.view(caller, code),
                resolved=quality.resolutions(caller.conn, code, 50), errors=errors or [], done=done,
                KIND_LABELS=KIND_LABELS, ACTION_LABELS=ACTION_LABELS)


class QualityPages(Controller):
    """The data-quality page."""

    include_in_schema = False

    @get("/quality", sync_to_thread=True)
    def quality_page(self, caller: CallerDep, done: FromQuery[str] = "") -> Template:
        return _page(caller, own_municipality(caller), done=done)

    @post("/quality/resolve", sync_to_thread=True)
    def resolve(self, caller: CallerDep, data: URLEncodedBody[ResolveForm]) -> Response[Any]:
        code = own_municipality(caller)
        fields = msgspec.structs.asdict(data)
        record_id = fields.pop("record_id")
        try:
            done = quality_service.resolve(caller, code, record_id, ResolveInput(**fields))
        except InvalidInput as exc:
            return _page(caller, code, errors=exc.messages, status_code=422)
        return Redirect(f"/quality?done={done.resolution}", status_code=303)


class QualityApi(Controller):
    """Data quality as JSON."""

    path = "/api/v1/municipalities/{code:str}/quality"
    tags = ("quality",)

    @get("/", sync_to_thread=True)
    def list_issues(self, caller: CallerDep, code: FromPath[str]) -> QualityView:
        """Open issues of the municipality's current records, with counts per kind."""
        return quality_service.view(caller, own_municipality(caller, code))

    @get("/resolutions", sync_to_thread=True)
    def list_resolutions(self, caller: CallerDep, code: FromPath[str]) -> list[quality.ResolutionRow]:
        return quality.resolutions(caller.conn, own_municipality(caller, code), 500)

    @post("/{record_id:str}/resolve", sync_to_thread=True, status_code=200)
    def resolve(self, caller: CallerDep, code: FromPath[str], record_id: FromPath[str],
                data: JSONBody[ResolveInput]) -> Resolved:
        """Resolve one issue of one record version: match (unmatched vouchers), correct, or dismiss."""
        return quality_service.resolve(caller, own_municipality(caller, code), record_id, data)
