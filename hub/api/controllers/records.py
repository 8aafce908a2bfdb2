"""Dose records: import (page and API), export downloads, correction and deletion with a reason."""

from __future__ import annotations

import datetime as dt
import inspect
import io
import time
from collections.abc import Generator
from typing import Any

import msgspec
from anyio import CancelScope, to_thread
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody, URLEncodedBody
from litestar.response import Redirect, Stream, Template
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Send

from hub.api.context import Caller, CallerDep
from hub.api.controllers.pages import page
from hub.api.controllers.scope import own_municipality
from hub.api.errors import InvalidInput, NotFound
from hub.api.services import exports
from hub.api.services.records import (
    CorrectionDone,
    CorrectionInput,
    RecordImportResult,
    correct_record,
    delete_record,
    import_records,
)
from hub.db import audit
from hub.db import records as records_db
from hub.db import residents as residents_db
from hub.files.export import Encoding
from protocol.records import JST, japan_today


class UploadForm(msgspec.Struct):
    """The record import form."""

    file: UploadFile
    dry_run: str = ""


class CorrectionForm(msgspec.Struct):
    """The correction form: every field as text, as a browser sends it."""

    reason: str = ""
    voucher_no: str = ""
    dose: str = ""
    status: str = ""
    administered_on: str = ""
    venue_id: str = ""
    maker: str = ""
    lot: str = ""
    doctor: str = ""


class DeleteInput(msgspec.Struct):
    """A deletion needs a reason too."""

    reason: str = ""


class RecordView(msgspec.Struct):
    """A current record and every version of its voucher's dose, with the reasons of corrections."""

    record: residents_db.Dose
    history: list[residents_db.HistoryEntry]
    corrections: dict[str, records_db.Correction]


def _key(code: str, voucher_no: str, dose: int) -> tuple[str, str, int]:
    if not (len(voucher_no) == 10 and voucher_no.isdigit() and 1 <= dose <= 9):
        raise NotFound("no such record")
    return (code, voucher_no, dose)


def _record(caller: Caller, code: str, voucher_no: str, dose: int) -> RecordView:
    key = _key(code, voucher_no, dose)
    rec = residents_db.dose(caller.conn, *key)
    if rec is None:
        raise NotFound("no such record")
    history = [h for h in residents_db.history_of(caller.conn, code, [voucher_no]) if h.dose == dose]
    return RecordView(record=rec, history=history,
                      corrections=records_db.corrections_for(caller.conn, code, [h.record_id for h in history]))


def _import(caller: Caller, code: str, file: Any, dry_run: bool, filename: str) -> RecordImportResult:
    return import_records(caller.conn, municipality_code=code, stream=file, dry_run=dry_run,
                          today=japan_today(caller.now), now=caller.now, actor=caller.identity.username,
                          filename=filename[:200])


def _form_to_input(form: CorrectionForm) -> CorrectionInput:
    problems = []
    dose = None
    if form.dose.strip():
        try:
            dose = int(form.dose)
        except ValueError:
            problems.append("接種回数 (dose): a number 1-9")
    day = None
    if form.administered_on.strip():
        try:
            day = dt.date.fromisoformat(form.administered_on.strip())
        except ValueError:
            problems.append("接種日 (administered_on): YYYY-MM-DD")
    if problems:
        raise InvalidInput(problems)
    return CorrectionInput(
        reason=form.reason, voucher_no=form.voucher_no or None, dose=dose, status=form.status or None,
        administered_on=day, venue_id=form.venue_id or None, maker=form.maker or None, lot=form.lot,
        doctor=form.doctor,
    )


def _close_when_idle(chunks: Generator[bytes, None, None]) -> None:
    # A disconnect cancels the stream without waiting for the worker thread inside next(): let it finish
    # its chunk (no other comes), then close.
    while inspect.getgeneratorstate(chunks) == inspect.GEN_RUNNING:
        time.sleep(0.005)
    chunks.close()


class _ClosingStreamingResponse(ASGIStreamingResponse):
    """Streams a sync generator and closes it when the response ends, however it ends.

    Litestar never closes a sync iterator, and when the client goes away mid-download the failed send leaves
    the generator to garbage collection, holding its pooled connections and their running COPYs until then.
    """

    __slots__ = ("_chunks",)

    def __init__(self, chunks: Generator[bytes, None, None], **kwargs: Any) -> None:
        super().__init__(iterator=chunks, **kwargs)
        self._chunks = chunks

    async def send_body(self, send: Send, receive: Receive) -> None:
        try:
            await super().send_body(send, receive)
        finally:
            with CancelScope(shield=True):
                await to_thread.run_sync(_close_when_idle, self._chunks)


class _ClosingStream(Stream):
    """A Stream of a sync generator that is closed when the response ends (_ClosingStreamingResponse)."""

    def __init__(self, chunks: Generator[bytes, None, None], *, media_type: str, headers: dict[str, str]) -> None:
        super().__init__(chunks, media_type=media_type, headers=headers)
        self._chunks = chunks

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **kwargs: Any) -> ASGIResponse:
        headers = {**(kwargs.get("headers") or {}), **self.headers}
        return _ClosingStreamingResponse(
            self._chunks, background=self.background or kwargs.get("background"), content_length=0,
            cookies=self.cookies, encoded_headers=kwargs.get("encoded_headers"), encoding=self.encoding,
            headers=headers, is_head_response=kwargs.get("is_head_response", False), media_type=self.media_type,
            status_code=self.status_code or kwargs.get("status_code"))


def _export(caller: Caller, code: str, layout: str, encoding: str) -> Stream:
    if layout not in exports.LAYOUTS or encoding not in exports.ENCODINGS:
        raise InvalidInput([f"layout must be one of {exports.LAYOUTS}, encoding one of {exports.ENCODINGS}"])
    audit.write(caller.conn, code, actor=caller.identity.username, action="export_records",
                details={"layout": layout, "encoding": encoding})
    enc: Encoding = "cp932" if encoding == "cp932" else "utf-8"
    name = exports.filename(code, layout, enc, caller.now.astimezone(JST).strftime("%Y%m%d%H%M%S"))
    charset = "utf-8" if enc == "utf-8" else "shift_jis"
    return _ClosingStream(
        exports.export_chunks(caller.state, caller.identity, code, "long" if layout == "long" else "ledger", enc),
        media_type=f"text/csv; charset={charset}",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


class RecordPages(Controller):
    """Admin pages for records."""

    include_in_schema = False

    @get("/records/import", sync_to_thread=True)
    def import_form(self, caller: CallerDep) -> Template:
        own_municipality(caller)
        return page(caller, "records_import.html", result=None)

    @post("/records/import", sync_to_thread=True, status_code=200)
    def import_upload(self, caller: CallerDep, data: MultipartBody[UploadForm]) -> Template:
        code = own_municipality(caller)
        result = _import(caller, code, data.file.file, bool(data.dry_run), data.file.filename or "")
        return page(caller, "records_import.html", result=result, filename=data.file.filename,
                    status_code=200 if result.ok else 422)

    @get("/records/export", sync_to_thread=True)
    def export_page(self, caller: CallerDep) -> Template:
        own_municipality(caller)
        return page(caller, "records_export.html")

    @get("/records/export.csv", sync_to_thread=True)
    def export_download(self, caller: CallerDep, layout: FromQuery[str] = "ledger",
                        encoding: FromQuery[str] = "utf-8") -> Stream:
        return _export(caller, own_municipality(caller), layout, encoding)

    @get("/records/{voucher_no:str}/{dose:int}/correct", sync_to_thread=True)
    def correct_form(self, caller: CallerDep, voucher_no: FromPath[str], dose: FromPath[int]) -> Template:
        code = own_municipality(caller)
        return page(caller, "record_correct.html", v=_record(caller, code, voucher_no, dose), errors=[])

    @post("/records/{voucher_no:str}/{dose:int}/correct", sync_to_thread=True)
    def correct(self, caller: CallerDep, voucher_no: FromPath[str], dose: FromPath[int],
                data: URLEncodedBody[CorrectionForm]) -> Response[Any]:
        code = own_municipality(caller)
        key = _key(code, voucher_no, dose)
        try:
            done = correct_record(caller.conn, key, _form_to_input(data), actor=caller.identity.username,
                                  today=japan_today(caller.now), now=caller.now)
        except InvalidInput as exc:
            return page(caller, "record_correct.html", v=_record(caller, code, voucher_no, dose),
                        errors=exc.messages, status_code=422)
        return Redirect(f"/records/{done.voucher_no}/{done.dose}/correct?done=1", status_code=303)

    @post("/records/{voucher_no:str}/{dose:int}/delete", sync_to_thread=True)
    def delete(self, caller: CallerDep, voucher_no: FromPath[str], dose: FromPath[int],
               data: URLEncodedBody[DeleteInput]) -> Response[Any]:
        code = own_municipality(caller)
        key = _key(code, voucher_no, dose)
        view = _record(caller, code, voucher_no, dose)
        try:
            delete_record(caller.conn, key, data.reason, actor=caller.identity.username, now=caller.now)
        except InvalidInput as exc:
            return page(caller, "record_correct.html", v=view, errors=exc.messages, status_code=422)
        if view.record.atena_no:
            return Redirect(f"/residents/{view.record.atena_no}", status_code=303)
        return Redirect("/residents", status_code=303)


class RecordsApi(Controller):
    """Records as JSON, and CSV in and out."""

    path = "/api/v1/municipalities/{code:str}/records"
    tags = ("records",)

    @get("/export", sync_to_thread=True)
    def export(self, caller: CallerDep, code: FromPath[str], layout: FromQuery[str] = "ledger",
               encoding: FromQuery[str] = "utf-8") -> Stream:
        """Stream the municipality's records as CSV (ledger or long layout; utf-8 with BOM or cp932)."""
        return _export(caller, own_municipality(caller, code), layout, encoding)

    @post("/import", status_code=200)
    async def import_file(self, caller: CallerDep, code: FromPath[str], request: Request[Any, Any, Any],
                          dry_run: FromQuery[bool] = False) -> Response[RecordImportResult]:
        """Import a record CSV sent as the raw request body; 422 with every error if any row is bad."""
        code = own_municipality(caller, code)
        body = await request.body()
        result = await to_thread.run_sync(lambda: _import(caller, code, io.BytesIO(body), dry_run, "api"))
        return Response(result, status_code=200 if result.ok else 422)

    @get("/{voucher_no:str}/{dose:int}", sync_to_thread=True)
    def get_record(self, caller: CallerDep, code: FromPath[str], voucher_no: FromPath[str],
                   dose: FromPath[int]) -> RecordView:
        return _record(caller, own_municipality(caller, code), voucher_no, dose)

    @post("/{voucher_no:str}/{dose:int}/correct", sync_to_thread=True, status_code=200)
    def correct(self, caller: CallerDep, code: FromPath[str], voucher_no: FromPath[str], dose: FromPath[int],
                data: JSONBody[CorrectionInput]) -> CorrectionDone:
        """Correct any field of the current record; `reason` is required; the old version stays in history."""
        key = _key(own_municipality(caller, code), voucher_no, dose)
        return correct_record(caller.conn, key, data, actor=caller.identity.username,
                              today=japan_today(caller.now), now=caller.now)

    @post("/{voucher_no:str}/{dose:int}/delete", sync_to_thread=True, status_code=200)
    def delete(self, caller: CallerDep, code: FromPath[str], voucher_no: FromPath[str], dose: FromPath[int],
               data: JSONBody[DeleteInput]) -> CorrectionDone:
        """Delete the record as a correction (voids in the history); `reason` is required."""
        key = _key(own_municipality(caller, code), voucher_no, dose)
        return delete_record(caller.conn, key, data.reason, actor=caller.identity.username, now=caller.now)
