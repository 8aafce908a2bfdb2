"""The kiosk page served on loopback by the station: one HTML page, its static script and style, a stream
of server-sent events carrying the board's snapshot, and the few actions staff take (confirm or discard a
held scan, undo a scan, edit the preset, close an error).

No inline script or style anywhere, so the Content-Security-Policy below can forbid them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.datastructures import ResponseHeader
from litestar.exceptions import HTTPException
from litestar.params import JSONBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import ServerSentEvent, ServerSentEventMessage, Template
from litestar.template.config import TemplateConfig

from edge import EdgeError
from edge.display.board import Board, Snapshot
from edge.queue.records import Preset, PresetError
from protocol.records import MAKER_LABELS, STATUS_LABELS, Maker, Status

HERE = Path(__file__).parent
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEARTBEAT_SECONDS = 15.0


class PresetIn(msgspec.Struct, forbid_unknown_fields=True):
    """The preset form as the page posts it (an empty date means "the day of each scan")."""

    venue_id: str
    maker: Maker
    lot: str
    doctor: str
    status: Status
    administered_on: str = ""
    unstated_dose: int | None = None


class UndoIn(msgspec.Struct, forbid_unknown_fields=True):
    record_id: str


class HoldIn(msgspec.Struct, forbid_unknown_fields=True):
    hold_id: str
    dose: int | None = None


class Problem(msgspec.Struct):
    """An action that did not happen, said for staff (``field`` names a form field when one is wrong)."""

    message: str
    field: str = ""


def create_app(board: Board, *, allowed_hosts: list[str] | None = None) -> Litestar:
    """The kiosk application for one station's board."""

    def snapshot_json() -> bytes:
        return msgspec.json.encode(board.snapshot())

    @get("/", sync_to_thread=False)
    def page() -> Template:
        return Template("kiosk.html", context={
            "makers": list(MAKER_LABELS.items()),
            "statuses": list(STATUS_LABELS.items()),
            "version": board.version,
        })

    @get("/api/state", sync_to_thread=True)
    def state() -> Snapshot:
        return board.snapshot()

    @get("/events")
    async def events() -> ServerSentEvent:
        return ServerSentEvent(_stream(), headers={"Cache-Control": "no-store"})

    async def _stream() -> AsyncIterator[ServerSentEventMessage]:
        waiter = board.subscribe(asyncio.get_running_loop())
        last = b""
        try:
            while not board.closed:
                data = await anyio.to_thread.run_sync(snapshot_json)
                if data != last:
                    last = data
                    yield ServerSentEventMessage(data=data.decode(), event="state")
                waiter.event.clear()
                # Wake on a change, or once a second so the OK screen times out into ready on time.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.event.wait(), timeout=1.0)
        finally:
            board.unsubscribe(waiter)

    def act(fn: Any) -> Snapshot:
        """Run a staff action; a fault is shown on the board and answered as a Problem."""
        try:
            outcome = fn()
        except PresetError as exc:
            raise HTTPException(status_code=400, detail=exc.message, extra={"field": exc.field}) from exc
        except EdgeError as exc:
            board.show_error(exc)
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        if outcome is not None:
            board.show_outcome(outcome)
        return board.snapshot()

    @post("/api/preset", sync_to_thread=True, status_code=200)
    def set_preset(data: JSONBody[PresetIn]) -> Snapshot:
        def run() -> None:
            try:
                day = datetime.date.fromisoformat(data.administered_on) if data.administered_on else None
            except ValueError as exc:
                raise PresetError("administered_on", "日付の形式が正しくありません") from exc
            board.desk.set_preset(Preset(
                venue_id=data.venue_id.strip(), maker=data.maker, lot=data.lot.strip(),
                doctor=data.doctor.strip(), status=data.status, administered_on=day,
                unstated_dose=data.unstated_dose,
            ))
            board.show_message("ok", "設定を変更しました", "次の読み取りから新しい設定で登録します")
        return act(run)

    @post("/api/undo", sync_to_thread=True, status_code=200)
    def undo(data: JSONBody[UndoIn]) -> Snapshot:
        return act(lambda: board.desk.undo(data.record_id))

    @post("/api/hold/confirm", sync_to_thread=True, status_code=200)
    def confirm(data: JSONBody[HoldIn]) -> Snapshot:
        return act(lambda: board.desk.confirm(data.hold_id, data.dose))

    @post("/api/hold/discard", sync_to_thread=True, status_code=200)
    def discard(data: JSONBody[HoldIn]) -> Snapshot:
        def run() -> None:
            board.desk.discard(data.hold_id)
            board.dismiss()
        return act(run)

    @post("/api/dismiss", sync_to_thread=True, status_code=200)
    def dismiss() -> Snapshot:
        board.dismiss()
        return board.snapshot()

    # Two small files, read once and served from memory (no file handle per request).
    script = (HERE / "static" / "kiosk.js").read_bytes()
    style = (HERE / "static" / "kiosk.css").read_bytes()

    @get("/static/kiosk.js", sync_to_thread=False)
    def kiosk_js() -> Response[bytes]:
        return Response(script, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})

    @get("/static/kiosk.css", sync_to_thread=False)
    def kiosk_css() -> Response[bytes]:
        return Response(style, media_type="text/css; charset=utf-8", headers={"Cache-Control": "no-cache"})

    def problem(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
        extra = exc.extra if isinstance(exc.extra, dict) else {}
        return Response(Problem(message=exc.detail, field=str(extra.get("field", ""))), status_code=exc.status_code)

    async def json_only(request: Request[Any, Any, Any]) -> None:
        # A page on another site can post a "simple" form or text/plain body, never application/json
        # without a CORS preflight (which this app never grants): so only JSON bodies are accepted.
        if request.method == "POST" and request.headers.get("content-type", "").split(";")[0] != "application/json":
            raise HTTPException(status_code=415, detail="application/json のみ受け付けます")

    return Litestar(
        route_handlers=[page, state, events, set_preset, undo, confirm, discard, dismiss,
                        kiosk_js, kiosk_css],
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=CSP),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="Referrer-Policy", value="no-referrer"),
        ],
        allowed_hosts=AllowedHostsConfig(allowed_hosts=allowed_hosts or ["127.0.0.1", "localhost", "::1"]),
        before_request=json_only,
        exception_handlers={HTTPException: problem},
        debug=False,
    )
