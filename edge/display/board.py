"""What the kiosk shows, in Japanese: the big state (ready / OK / needs attention / error), the tone to play,
and the lists staff need (last scans, today's count, queue and link, hub warnings and rejections).

This is the one place that turns the station's outcomes and exceptions into screens. The board is fed from
the capture thread, the publisher thread and the web handlers, and wakes the page's event streams.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import Callable

import msgspec

from edge.capture import CaptureError
from edge.display.buzzer import Buzzer, Tone
from edge.queue.desk import Committed, Desk, Held, ScanOutcome, undoable
from edge.queue.outbox import JournalEntry, Outbox, OutboxError
from edge.queue.publisher import AckIgnored, Answered, ConnectionChanged, PublisherEvent
from edge.queue.records import PresetError, ScanRefused
from protocol import ProtocolError, VoucherError
from protocol.municipalities import lookup
from protocol.records import JST, MAKER_LABELS, STATUS_LABELS, japan_today

OK_SECONDS = 6.0
"""How long the big OK stays before the screen says ready again."""
ATTENTION_SECONDS = 8.0
"""How long a read problem stays (a held scan stays until staff decide)."""

REASON_LABELS = {
    "bad_signature": "署名を確認できませんでした（端末の鍵を確認してください）",
    "unknown_device": "未登録の端末です",
    "revoked_device": "この端末は無効化されています",
    "venue_mismatch": "会場が端末の登録と違います",
    "unknown_municipality": "自治体コードが登録されていません",
    "invalid_field": "記録の項目に誤りがあります",
    "future_date": "接種日が未来の日付です",
}
WARNING_LABELS = {
    "dose_interval_short": "前回接種からの間隔が短い",
    "dose_order": "接種回数の順序が不自然",
    "unknown_voucher": "住民名簿にない接種券",
    "resident_moved_out": "転出済みの住民",
    "resident_deceased": "死亡した住民",
}
STATE_LABELS = {"pending": "送信待ち", "accepted": "登録済", "rejected": "登録不可"}
SOURCE_LABELS = {"qr": "QR", "nw7": "バーコード", "ocr": "OCR", "manual": "手入力", "import": "取込"}


class ScanView(msgspec.Struct, frozen=True):
    municipality_code: str
    municipality_name: str
    voucher_no: str
    dose: int
    status_label: str
    source_label: str
    municipality_from_preset: bool


class HoldView(msgspec.Struct, frozen=True):
    hold_id: str
    code: str
    needs_dose: bool


class EntryView(msgspec.Struct, frozen=True):
    record_id: str
    time: str
    op: str
    municipality_name: str
    voucher_no: str
    dose: int
    status_label: str
    state: str
    state_label: str
    voided: bool
    undoable: bool
    reason_label: str
    warning_labels: list[str]


class NoticeView(msgspec.Struct, frozen=True):
    record_id: str
    voucher_no: str
    label: str
    detail: str


class PresetView(msgspec.Struct, frozen=True):
    venue_id: str
    maker: str
    maker_label: str
    lot: str
    doctor: str
    status: str
    status_label: str
    administered_on: str
    unstated_dose: int | None
    date_warning: str


class Snapshot(msgspec.Struct, frozen=True):
    """Everything the page draws; sent whole on every change (it is small)."""

    screen: str  # ready | ok | attention | error
    title: str
    message: str
    scan: ScanView | None
    hold: HoldView | None
    tone_seq: int
    tone: str
    today: str
    count_total: int
    count_vaccinated: int
    count_screened: int
    queue_depth: int
    online: bool
    link_label: str
    link_detail: str
    preset: PresetView
    recent: list[EntryView]
    warnings: list[NoticeView]
    rejections: list[NoticeView]
    version: str


def municipality_name(code: str) -> str:
    found = lookup(code)
    return f"{found.prefecture} {found.name}" if found is not None else code


def _scan_view(municipality_code: str, voucher_no: str, dose: int, status: str, source: str,
               from_preset: bool) -> ScanView:
    return ScanView(
        municipality_code=municipality_code,
        municipality_name=municipality_name(municipality_code),
        voucher_no=voucher_no,
        dose=dose,
        status_label=STATUS_LABELS.get(status, status),  # type: ignore[call-overload]  # status is a Status
        source_label=SOURCE_LABELS.get(source, source),
        municipality_from_preset=from_preset,
    )


class _Waiter:
    """One open event stream: an asyncio event set from whichever thread changed the board."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()

    def wake(self) -> None:
        self.loop.call_soon_threadsafe(self.event.set)


class Board:
    """The kiosk's state; every method may be called from any thread."""

    def __init__(self, desk: Desk, *, buzzer: Buzzer | None = None, version: str = "",
                 clock: Callable[[], datetime.datetime] | None = None) -> None:
        self.desk = desk
        self.buzzer = buzzer
        self.version = version
        self._clock = clock or (lambda: datetime.datetime.now(JST))
        self._lock = threading.Lock()
        self._screen = "ready"
        self._title = "準備完了"
        self._message = "接種券をカメラにかざしてください"
        self._scan: ScanView | None = None
        self._until = 0.0
        self._tone_seq = 0
        self._tone = ""
        self.online = False
        self._link_detail = "接続を待っています"
        self._read_problem_at = 0.0
        self._waiters: set[_Waiter] = set()
        self.closed = False

    # -- feeding the board ----------------------------------------------------------------------------

    def show_outcome(self, outcome: ScanOutcome) -> None:
        """After the desk acted on a voucher: OK (the record is committed) or a held scan to decide."""
        if isinstance(outcome, Committed):
            r = outcome.record
            if r.op == "void":
                self._set("ok", "取り消しました", f"券番号 {r.voucher_no} {r.dose}回目 の登録を取り消しました",
                          None, "success", OK_SECONDS)
                return
            # An NW-7 barcode carries no municipality: it came from the station's preset, and staff must know.
            from_preset = r.read.source == "nw7"
            scan = _scan_view(r.municipality_code, r.voucher_no, r.dose, r.status, r.read.source, from_preset)
            note = "自治体は会場の設定です（券のバーコードに自治体はありません）。違う場合は取り消してください" if (
                from_preset) else ""
            # The scan block shows municipality, number and dose in large type; the message adds only the note.
            self._set("ok", "OK 登録しました", note, scan, "success", OK_SECONDS)
        else:
            self._show_held(outcome)

    def _show_held(self, held: Held) -> None:
        dose = held.voucher.dose or held.dose or (held.existing.dose if held.existing else 0)
        v = held.voucher
        scan = _scan_view(v.municipality_code, v.voucher_no, dose, self.desk.preset.status, held.source,
                          v.source_municipality_preset)
        if held.code == "duplicate_today":
            at = held.existing.scanned_at.astimezone(JST).strftime("%H:%M") if held.existing else ""
            title, message = ("確認してください",
                              f"この接種券の{dose}回目は本日 {at} にこの端末で登録済みです。"
                              "もう一度登録する場合だけ「登録する」を押してください")
        else:
            title, message = ("回数を選んでください", "この接種券には接種回数が書かれていません")
        with self._lock:
            self._screen, self._title, self._message, self._scan = "attention", title, message, scan
            self._until = 0.0  # stays until staff decide
            self._tone_locked("attention")
        self._changed()

    def show_error(self, error: BaseException) -> None:
        """A fault while making or storing a record: nothing was stored, so staff must know at once."""
        if isinstance(error, PresetError):
            title, message = "設定を確認してください", error.message
        elif isinstance(error, ScanRefused):
            title, message = "登録できません", _refusal_message(error)
        elif isinstance(error, OutboxError):
            title = "保存できません"
            message = "記録を端末に保存できませんでした。この券は紙に控えて、管理者に連絡してください"
        elif isinstance(error, VoucherError):
            title, message = "読み取れません", f"接種券として読めませんでした（{error.reason}）"
        elif isinstance(error, CaptureError):
            title, message = "カメラの異常", f"カメラから画像を取れません: {error}"
        elif isinstance(error, ProtocolError):
            title, message = "登録できません", str(error)
        else:
            title, message = "エラー", f"予期しないエラー: {error.__class__.__name__}"
        self._set("error", title, message, None, "error", 0.0)

    def show_read_problem(self, outcome: str, reason: str) -> None:
        """The camera sees a voucher it cannot accept (digits disagree between frames, not a valid code)."""
        now = time.monotonic()
        with self._lock:
            if self._screen in ("attention", "error") and self._until == 0.0:
                return  # a decision or an error is on screen: do not hide it
            if now - self._read_problem_at < ATTENTION_SECONDS:
                return
            self._read_problem_at = now
        title = "もう一度かざしてください" if outcome == "conflict" else "読み取れない接種券です"
        self._set("attention", title, reason, None, "error", ATTENTION_SECONDS)

    def show_message(self, screen: str, title: str, message: str, tone: str = "") -> None:
        self._set(screen, title, message, None, tone, OK_SECONDS if screen == "ok" else 0.0)

    def dismiss(self) -> None:
        """Staff closed the error or attention screen."""
        self._set("ready", "準備完了", "接種券をカメラにかざしてください", None, "", 0.0)

    def on_publisher_event(self, event: PublisherEvent) -> None:
        if isinstance(event, ConnectionChanged):
            with self._lock:
                self.online = event.online
                self._link_detail = "" if event.online else (event.detail or "接続が切れました")
        elif isinstance(event, Answered) and event.result.rejected:
            self._set("error", "ハブが登録を拒否しました",
                      "「登録不可」の記録を確認してください: "
                      + "、".join(REASON_LABELS.get(r.reason, r.reason) for r in event.result.rejected),
                      None, "error", 0.0)
            return
        elif isinstance(event, AckIgnored):
            return  # logged; nothing changed and nothing for staff to do
        self._changed()

    def _set(self, screen: str, title: str, message: str, scan: ScanView | None, tone: str,
             seconds: float) -> None:
        with self._lock:
            self._screen, self._title, self._message, self._scan = screen, title, message, scan
            self._until = time.monotonic() + seconds if seconds else 0.0
            if tone:
                self._tone_locked(tone)
        self._changed()

    def _tone_locked(self, tone: str) -> None:
        self._tone_seq += 1
        self._tone = tone
        if self.buzzer is not None:
            self.buzzer.play(Tone.SUCCESS if tone == "success" else Tone.ERROR)

    # -- reading the board ----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        now = self._clock()
        today = japan_today(now)
        outbox = self.desk.outbox
        with self._lock:
            if self._until and time.monotonic() >= self._until:
                self._screen, self._title = "ready", "準備完了"
                self._message, self._scan, self._until = "接種券をカメラにかざしてください", None, 0.0
            screen, title, message, scan = self._screen, self._title, self._message, self._scan
            tone_seq, tone, online, link_detail = self._tone_seq, self._tone, self.online, self._link_detail
        held = self.desk.held
        hold = None
        if screen == "attention" and held is not None:
            hold = HoldView(hold_id=held.hold_id, code=held.code, needs_dose=held.code == "dose_unknown")
        counts = outbox.count_day(today)
        recent = outbox.recent(12)
        return Snapshot(
            screen=screen, title=title, message=message, scan=scan, hold=hold, tone_seq=tone_seq, tone=tone,
            today=f"{today.month}月{today.day}日",
            count_total=sum(counts.values()), count_vaccinated=counts.get("vaccinated", 0),
            count_screened=counts.get("screened_only", 0),
            queue_depth=outbox.depth(), online=online,
            link_label="オンライン" if online else "オフライン", link_detail="" if online else link_detail,
            preset=self._preset_view(today),
            recent=[_entry_view(e, today) for e in recent],
            warnings=[
                NoticeView(record_id=w.record_id, voucher_no=_voucher_of(outbox, w.record_id),
                           label=WARNING_LABELS.get(w.code, w.code), detail=w.detail)
                for w in outbox.warnings(10)
            ],
            rejections=[
                NoticeView(record_id=r.record_id, voucher_no=r.record.voucher_no,
                           label=REASON_LABELS.get(r.reason, r.reason),
                           detail=f"{municipality_name(r.record.municipality_code)} {r.record.dose}回目")
                for r in outbox.rejections(10)
            ],
            version=self.version,
        )

    def _preset_view(self, today: datetime.date) -> PresetView:
        p = self.desk.preset
        warning = ""
        if p.administered_on is not None and p.administered_on != today:
            warning = f"接種日が今日ではありません（{p.administered_on.isoformat()}）"
        return PresetView(
            venue_id=p.venue_id, maker=p.maker, maker_label=MAKER_LABELS[p.maker], lot=p.lot, doctor=p.doctor,
            status=p.status, status_label=STATUS_LABELS[p.status],
            administered_on=p.administered_on.isoformat() if p.administered_on else "",
            unstated_dose=p.unstated_dose, date_warning=warning,
        )

    # -- event streams --------------------------------------------------------------------------------

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> _Waiter:
        waiter = _Waiter(loop)
        with self._lock:
            self._waiters.add(waiter)
        return waiter

    def unsubscribe(self, waiter: _Waiter) -> None:
        with self._lock:
            self._waiters.discard(waiter)

    def close(self) -> None:
        """End every open event stream (the station is stopping)."""
        self.closed = True
        self._changed()

    def _changed(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for waiter in waiters:
            try:
                waiter.wake()
            except RuntimeError:  # its loop is closed: the stream is gone
                self.unsubscribe(waiter)


def _refusal_message(error: ScanRefused) -> str:
    return {
        "invalid_record": f"記録の内容に誤りがあります（{error.detail}）。設定を確認してください",
        "dose_unknown": "接種回数を選んでください",
        "hold_gone": "確認待ちの券はもうありません。もう一度読み取ってください",
        "not_undoable": "この記録は取り消せません（本日この端末で登録し、取り消されていない記録だけです）",
    }.get(error.code, error.detail or error.code)


def _voucher_of(outbox: Outbox, record_id: str) -> str:
    entry = outbox.entry(record_id)
    return entry.voucher_no if entry is not None else ""


def _entry_view(e: JournalEntry, today: datetime.date) -> EntryView:
    return EntryView(
        record_id=e.record_id,
        time=e.scanned_at.astimezone(JST).strftime("%H:%M:%S"),
        op=e.op,
        municipality_name=municipality_name(e.municipality_code),
        voucher_no=e.voucher_no,
        dose=e.dose,
        status_label="取消" if e.op == "void" else STATUS_LABELS.get(e.status, e.status),  # type: ignore[call-overload]  # a Status
        state=e.state,
        state_label=STATE_LABELS[e.state],
        voided=e.voided_by is not None,
        undoable=undoable(e, today),
        reason_label=REASON_LABELS.get(e.reason, e.reason) if e.reason else "",
        warning_labels=[WARNING_LABELS.get(w.code, w.code) for w in e.warnings],
    )
