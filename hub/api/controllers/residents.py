"""Residents: upload (page and API), search, one resident with doses and history, coverage."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import msgspec
from anyio import to_thread
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, MultipartBody
from litestar.response import Template

from hub.api.context import Caller, CallerDep
from hub.api.controllers.pages import page
from hub.api.controllers.scope import own_municipality
from hub.api.errors import InvalidInput, NotFound
from hub.api.services.residents import ResidentImportResult, import_residents
from hub.db import resident_search
from hub.db import residents as residents_db
from hub.files import DateError, nfkc, parse_date
from hub.files.text import kana_key
from protocol.records import japan_today

# Coverage is a pass over every resident: pages show a copy at most this old (imports drop it at once).
COVERAGE_MAX_AGE = dt.timedelta(seconds=60)
STATUS_LABELS = {
    "active": "在住", "moved_out": "転出", "deceased": "死亡", "missing_from_full_import": "全件取込に無し",
}


class SearchQuery(msgspec.Struct):
    """Search criteria as typed by a clerk (normalised before use)."""

    atena_no: str = ""
    voucher_no: str = ""
    kana: str = ""
    birth_date: str = ""


class ResidentView(msgspec.Struct):
    """A resident with every current dose and the full history of its vouchers."""

    resident: residents_db.ResidentDetail
    doses: list[residents_db.Dose]
    history: list[residents_db.HistoryEntry]


class CoverageView(msgspec.Struct):
    """Coverage of a municipality: active residents, and per dose how many and what share."""

    municipality_code: str
    residents: int
    doses: list[dict[str, Any]]
    unmatched_records: int
    computed_at: dt.datetime


class UploadForm(msgspec.Struct):
    """The resident upload form."""

    file: UploadFile
    mode: str = "diff"
    dry_run: str = ""


def _search(caller: Caller, code: str, q: SearchQuery, limit: int = 100,
            offset: int = 0) -> list[residents_db.ResidentSummary]:
    birth = None
    if q.birth_date.strip():
        try:
            birth = parse_date(q.birth_date)
        except DateError as exc:
            raise InvalidInput([f"生年月日: {exc.reason}"]) from None
    if not any((q.atena_no.strip(), q.voucher_no.strip(), q.kana.strip(), birth)):
        return resident_search.search(caller.conn, code, limit=limit, offset=offset)
    return resident_search.search(
        caller.conn, code, atena_no=nfkc(q.atena_no).strip() or None,
        voucher_no=nfkc(q.voucher_no).replace("-", "").replace(" ", "") or None,
        kana_prefix=kana_key(q.kana) if q.kana.strip() else None, birth_date=birth,
        limit=min(max(limit, 1), 1000), offset=max(offset, 0),
    )


def _coverage(caller: Caller, code: str) -> CoverageView:
    cov = residents_db.coverage(caller.conn, code, caller.now, COVERAGE_MAX_AGE)
    return CoverageView(
        municipality_code=code, residents=cov.residents, unmatched_records=cov.unmatched_records,
        computed_at=cov.computed_at,
        doses=[{"dose": d, "residents": n, "share": (n / cov.residents) if cov.residents else 0.0}
               for d, n in cov.by_dose],
    )


def _resident(caller: Caller, code: str, atena_no: str) -> ResidentView:
    r = residents_db.get(caller.conn, code, atena_no)
    if r is None:
        raise NotFound("no such resident")
    doses = residents_db.doses_of(caller.conn, code, r.atena_no, r.voucher_no)
    vouchers = sorted({d.voucher_no for d in doses} | ({r.voucher_no} if r.voucher_no else set()))
    return ResidentView(resident=r, doses=doses, history=residents_db.history_of(caller.conn, code, vouchers))


def _import(caller: Caller, code: str, file: Any, *, mode: str, dry_run: bool, filename: str,
            total: int | None) -> ResidentImportResult:
    if mode not in ("diff", "full"):
        raise InvalidInput(["mode must be diff or full"])
    return import_residents(
        caller.conn, municipality_code=code, stream=file, mode=mode,  # type: ignore[arg-type]  # checked above
        dry_run=dry_run, secret=caller.state.settings.secret, today=japan_today(caller.now),
        actor=caller.identity.username, filename=filename[:200], total_bytes=total,
    )


class ResidentPages(Controller):
    """Admin pages for residents."""

    include_in_schema = False

    @get("/residents", sync_to_thread=True)
    def list_page(self, caller: CallerDep, atena_no: FromQuery[str] = "", voucher_no: FromQuery[str] = "",
                  kana: FromQuery[str] = "", birth_date: FromQuery[str] = "") -> Template:
        code = own_municipality(caller)
        q = SearchQuery(atena_no=atena_no, voucher_no=voucher_no, kana=kana, birth_date=birth_date)
        error = ""
        try:
            hits = _search(caller, code, q)
        except InvalidInput as exc:
            hits, error = [], "; ".join(exc.messages)
        return page(caller, "residents.html", coverage=_coverage(caller, code), hits=hits, q=q, error=error,
                    STATUS_LABELS=STATUS_LABELS, searched=any((atena_no, voucher_no, kana, birth_date)))

    @get("/residents/upload", sync_to_thread=True)
    def upload_form(self, caller: CallerDep) -> Template:
        own_municipality(caller)
        return page(caller, "residents_upload.html", result=None)

    @post("/residents/upload", sync_to_thread=True, status_code=200)
    def upload(self, caller: CallerDep, data: MultipartBody[UploadForm]) -> Template:
        code = own_municipality(caller)
        result = _import(caller, code, data.file.file, mode=data.mode, dry_run=bool(data.dry_run),
                         filename=data.file.filename or "", total=None)
        return page(caller, "residents_upload.html", result=result, filename=data.file.filename,
                    status_code=200 if result.ok else 422)

    @get("/residents/{atena_no:str}", sync_to_thread=True)
    def resident_page(self, caller: CallerDep, atena_no: FromPath[str]) -> Template:
        code = own_municipality(caller)
        view = _resident(caller, code, atena_no)
        return page(caller, "resident.html", v=view, STATUS_LABELS=STATUS_LABELS)


class ResidentsApi(Controller):
    """Residents as JSON."""

    path = "/api/v1/municipalities/{code:str}"
    tags = ("residents",)

    @get("/residents", sync_to_thread=True)
    def search(self, caller: CallerDep, code: FromPath[str], atena_no: FromQuery[str] = "",
               voucher_no: FromQuery[str] = "", kana: FromQuery[str] = "", birth_date: FromQuery[str] = "",
               limit: FromQuery[int] = 100, offset: FromQuery[int] = 0) -> list[residents_db.ResidentSummary]:
        code = own_municipality(caller, code)
        q = SearchQuery(atena_no=atena_no, voucher_no=voucher_no, kana=kana, birth_date=birth_date)
        return _search(caller, code, q, limit, offset)

    @get("/residents/{atena_no:str}", sync_to_thread=True)
    def resident(self, caller: CallerDep, code: FromPath[str], atena_no: FromPath[str]) -> ResidentView:
        return _resident(caller, own_municipality(caller, code), atena_no)

    @get("/coverage", sync_to_thread=True)
    def coverage(self, caller: CallerDep, code: FromPath[str]) -> CoverageView:
        return _coverage(caller, own_municipality(caller, code))

    @post("/residents/import", status_code=200)
    async def import_file(self, caller: CallerDep, code: FromPath[str], request: Request[Any, Any, Any],
                          mode: FromQuery[str] = "diff",
                          dry_run: FromQuery[bool] = False) -> Response[ResidentImportResult]:
        """Import a resident CSV sent as the raw request body (text/csv); 422 with every error if any row is bad."""
        code = own_municipality(caller, code)
        body = await request.body()
        result = await to_thread.run_sync(lambda: _import(caller, code, io.BytesIO(body), mode=mode,
                                                          dry_run=dry_run, filename="api", total=len(body)))
        return Response(result, status_code=200 if result.ok else 422)
