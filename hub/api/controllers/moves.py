"""Moves (pages and API): flag residents moved out or deceased; move-in inquiries with consent, their
answers, and copying the provided records into the new resident. Municipal roles only; others get 404."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from hub.api.context import Caller, CallerDep
from hub.api.controllers.pages import page
from hub.api.controllers.scope import own_municipality
from hub.api.errors import InvalidInput, NotFound
from hub.api.services import moves as moves_service
from hub.api.services.moves import CONSENT_LABELS, MOVEMENT_LABELS, InquiryInput, MovementInput
from hub.db import moves
from hub.db import residents as residents_db
from protocol.records import JST, japan_today


class ChooseInput(msgspec.Struct):
    """Which of several masked candidates is the person at the counter."""

    candidate_no: int


class CopyInput(msgspec.Struct):
    """The resident of the caller's municipality the provided records go to."""

    atena_no: str


class CopyResult(msgspec.Struct):
    """How many provided records were added (0 when all were copied before)."""

    inquiry_id: str
    atena_no: str
    copied: int


class MovementForm(msgspec.Struct):
    """The movement form of the moves page."""

    atena_no: str
    status: str
    date: str = ""


def _start(caller: Caller, code: str, data: InquiryInput) -> moves.InquiryAnswer:
    return moves_service.start_inquiry(caller.conn, code, data, secret=caller.state.settings.secret,
                                       actor=caller.identity.username, now=caller.now)


def _moves_page(caller: Caller, code: str, *, errors: list[str] | None = None, form: InquiryInput | None = None,
                notice: str = "", status_code: int = 200) -> Template:
    return page(caller, "moves.html", status_code=status_code, code=code, errors=errors or [],
                form=form or InquiryInput(from_municipality_code="", consent_kind="written", consent_given_by="本人"),
                inquiries=moves.inquiries(caller.conn, code, 50), CONSENT_LABELS=CONSENT_LABELS,
                MOVEMENT_LABELS=MOVEMENT_LABELS, label=moves_service.municipality_label, notice=notice, JST=JST,
                now_local=caller.now.astimezone(JST).strftime("%Y-%m-%dT%H:%M"))


def _answer_page(caller: Caller, answer: moves.InquiryAnswer, *, errors: list[str] | None = None,
                 status_code: int = 200) -> Template:
    return page(caller, "inquiry_answer.html", status_code=status_code, a=answer, errors=errors or [],
                label=moves_service.municipality_label)


class MovePages(Controller):
    """The moves page, an inquiry's answer, and a resident's provided records."""

    include_in_schema = False

    @get("/moves", sync_to_thread=True)
    def moves_page(self, caller: CallerDep, done: FromQuery[str] = "") -> Template:
        code = own_municipality(caller)
        return _moves_page(caller, code, notice=done)

    @post("/moves/inquiries", sync_to_thread=True, status_code=200)
    def inquire(self, caller: CallerDep, data: URLEncodedBody[InquiryInput]) -> Template:
        code = own_municipality(caller)
        try:
            answer = _start(caller, code, data)
        except InvalidInput as exc:
            return _moves_page(caller, code, errors=exc.messages, form=data, status_code=422)
        return _answer_page(caller, answer)

    @post("/moves/inquiries/{inquiry_id:str}/choose", sync_to_thread=True, status_code=200)
    def choose(self, caller: CallerDep, inquiry_id: FromPath[str], data: URLEncodedBody[ChooseInput]) -> Template:
        code = own_municipality(caller)
        return _answer_page(caller, moves_service.choose(caller.conn, code, inquiry_id, data.candidate_no,
                                                         caller.identity.username))

    @post("/moves/inquiries/{inquiry_id:str}/copy", sync_to_thread=True)
    def copy(self, caller: CallerDep, inquiry_id: FromPath[str], data: URLEncodedBody[CopyInput]) -> Response[Any]:
        code = own_municipality(caller)
        n = moves_service.copy(caller.conn, code, inquiry_id, data.atena_no, caller.identity.username)
        return Redirect(f"/moves/residents/{quote(data.atena_no.strip(), safe='')}?copied={n}", status_code=303)

    @post("/moves/movement", sync_to_thread=True)
    def movement(self, caller: CallerDep, data: URLEncodedBody[MovementForm]) -> Response[Any]:
        code = own_municipality(caller)
        try:
            moves_service.set_movement(caller.conn, code, data.atena_no.strip(),
                                       MovementInput(status=data.status, date=data.date),
                                       actor=caller.identity.username, today=japan_today(caller.now))
        except InvalidInput as exc:
            return _moves_page(caller, code, errors=exc.messages, status_code=422)
        except NotFound:
            return _moves_page(caller, code, errors=[f"宛名番号 {data.atena_no} の住民はいません"], status_code=422)
        return Redirect("/moves?done=movement", status_code=303)

    @get("/moves/residents/{atena_no:str}", sync_to_thread=True)
    def provided(self, caller: CallerDep, atena_no: FromPath[str], copied: FromQuery[int | None] = None) -> Template:
        code = own_municipality(caller)
        resident = residents_db.get(caller.conn, code, atena_no)
        if resident is None:
            raise NotFound("no such resident")
        return page(caller, "provided_records.html", atena_no=atena_no, name=resident.name, copied=copied,
                    rows=moves.provided_records(caller.conn, code, atena_no), label=moves_service.municipality_label)


class MovesApi(Controller):
    """Moves as JSON."""

    path = "/api/v1/municipalities/{code:str}"
    tags = ("moves",)

    @post("/transfer-inquiries", sync_to_thread=True, status_code=201)
    def inquire(self, caller: CallerDep, code: FromPath[str], data: JSONBody[InquiryInput]) -> moves.InquiryAnswer:
        """Record a move-in inquiry with the person's consent and answer it: no match, masked candidates, or
        the records of the one person found. Audited in both municipalities."""
        return _start(caller, own_municipality(caller, code), data)

    @get("/transfer-inquiries", sync_to_thread=True)
    def list_inquiries(self, caller: CallerDep, code: FromPath[str],
                       limit: FromQuery[int] = 100) -> list[moves.InquirySummary]:
        return moves.inquiries(caller.conn, own_municipality(caller, code), min(max(limit, 1), 1000))

    @post("/transfer-inquiries/{inquiry_id:str}/choose", sync_to_thread=True, status_code=200)
    def choose(self, caller: CallerDep, code: FromPath[str], inquiry_id: FromPath[str],
               data: JSONBody[ChooseInput]) -> moves.InquiryAnswer:
        code = own_municipality(caller, code)
        return moves_service.choose(caller.conn, code, inquiry_id, data.candidate_no, caller.identity.username)

    @post("/transfer-inquiries/{inquiry_id:str}/copy", sync_to_thread=True, status_code=200)
    def copy(self, caller: CallerDep, code: FromPath[str], inquiry_id: FromPath[str],
             data: JSONBody[CopyInput]) -> CopyResult:
        code = own_municipality(caller, code)
        n = moves_service.copy(caller.conn, code, inquiry_id, data.atena_no, caller.identity.username)
        return CopyResult(inquiry_id=inquiry_id, atena_no=data.atena_no.strip(), copied=n)

    @post("/residents/{atena_no:str}/movement", sync_to_thread=True, status_code=200)
    def movement(self, caller: CallerDep, code: FromPath[str], atena_no: FromPath[str],
                 data: JSONBody[MovementInput]) -> dict[str, str]:
        code = own_municipality(caller, code)
        moves_service.set_movement(caller.conn, code, atena_no, data, actor=caller.identity.username,
                                   today=japan_today(caller.now))
        return {"atena_no": atena_no, "status": data.status}

    @get("/residents/{atena_no:str}/provided-records", sync_to_thread=True)
    def provided(self, caller: CallerDep, code: FromPath[str], atena_no: FromPath[str]) -> list[moves.CopiedRecord]:
        return moves.provided_records(caller.conn, own_municipality(caller, code), atena_no)
