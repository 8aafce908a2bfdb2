"""The reception desk's rules between an accepted voucher and the outbox: the preset in force, a second scan
of the same voucher and dose today held until staff confirm it, a dose chosen when the voucher does not
state one, and undo of a mis-scan (a void record).

Outcomes a person must act on are returned as data (``Held``); only faults raise.
"""

from __future__ import annotations

import datetime
import secrets
import threading
from collections.abc import Callable
from typing import Literal

import msgspec

from edge.queue.outbox import JournalEntry, Outbox
from edge.queue.records import Preset, ReadSource, ScanRefused, build_record, build_void, check_preset, dose_for
from protocol import Voucher
from protocol.records import JST, Record, japan_today

PRESET_KEY = "preset"
HoldCode = Literal["duplicate_today", "dose_unknown"]


class Held(msgspec.Struct, frozen=True, kw_only=True):
    """A read voucher waiting for staff: no record exists for it until they confirm."""

    hold_id: str
    code: HoldCode
    voucher: Voucher
    source: ReadSource
    frames: int
    seen_at: datetime.datetime
    existing: JournalEntry | None = None
    """For duplicate_today: the record already standing for this voucher and dose."""
    dose: int | None = None
    """The dose staff chose, when the voucher states none (kept when that choice turned out a duplicate)."""


class Committed(msgspec.Struct, frozen=True):
    """A record is in the outbox (committed): the station may beep."""

    record: Record


ScanOutcome = Committed | Held


def _now() -> datetime.datetime:
    return datetime.datetime.now(JST)


class Desk:
    """One station's desk; thread-safe (the capture thread scans, the kiosk confirms and undoes)."""

    def __init__(self, outbox: Outbox, preset: Preset, *, clock: Callable[[], datetime.datetime] | None = None,
                 on_commit: Callable[[Record], None] | None = None) -> None:
        self.outbox = outbox
        self._clock = clock or _now
        self._on_commit = on_commit
        self._lock = threading.Lock()
        saved = outbox.get_meta(PRESET_KEY)
        # Staff edits survive a restart; the config's preset is only the first morning's.
        self._preset = msgspec.json.decode(saved, type=Preset) if saved else preset
        self.held: Held | None = None

    @property
    def preset(self) -> Preset:
        return self._preset

    def set_preset(self, preset: Preset) -> Preset:
        """Check and keep a new preset; it applies from the next scan. PresetError names a bad field."""
        check_preset(preset, japan_today(self._clock()))
        with self._lock:
            self.outbox.set_meta(PRESET_KEY, msgspec.json.encode(preset))
            self._preset = preset
        return preset

    def scan(self, voucher: Voucher, *, source: ReadSource, frames: int) -> ScanOutcome:
        """A voucher the capture accepted: commit its record, or hold it for staff."""
        now = self._clock()
        with self._lock:
            preset = self._preset
            try:
                dose = dose_for(voucher, preset)
            except ScanRefused:
                return self._hold("dose_unknown", voucher, source, frames, now, None)
            existing = self.outbox.registered_today(voucher.municipality_code, voucher.voucher_no, dose,
                                                    japan_today(now))
            if existing is not None:
                return self._hold("duplicate_today", voucher, source, frames, now, existing)
            self.held = None
            return self._commit(build_record(voucher, preset, source=source, frames=frames, scanned_at=now))

    def confirm(self, hold_id: str, dose: int | None = None) -> ScanOutcome:
        """Staff confirm the held voucher (choosing the dose when it was unknown): commit its record.

        A dose chosen for a voucher that does not state one is checked like a scan: if that voucher and dose
        were already registered here today, the scan is held again as a duplicate.
        """
        now = self._clock()
        with self._lock:
            held = self.held
            if held is None or held.hold_id != hold_id:
                raise ScanRefused("hold_gone", "that scan is no longer waiting (another voucher was read)")
            chosen = dose_for(held.voucher, self._preset, dose if dose is not None else held.dose)
            if held.code == "dose_unknown":
                existing = self.outbox.registered_today(held.voucher.municipality_code, held.voucher.voucher_no,
                                                        chosen, japan_today(now))
                if existing is not None:
                    return self._hold("duplicate_today", held.voucher, held.source, held.frames, now, existing,
                                      dose=chosen)
            record = build_record(held.voucher, self._preset, source=held.source, frames=held.frames,
                                  scanned_at=now, dose=chosen)
            self.held = None
            return self._commit(record)

    def discard(self, hold_id: str) -> None:
        with self._lock:
            if self.held is not None and self.held.hold_id == hold_id:
                self.held = None

    def undo(self, record_id: str) -> Committed:
        """Cancel a mis-scan made here today: a void record goes to the hub after the record it cancels."""
        now = self._clock()
        with self._lock:
            entry = self.outbox.entry(record_id)
            original = self.outbox.record(record_id)
            if entry is None or original is None:
                raise ScanRefused("not_undoable", "no such record at this station")
            if not undoable(entry, japan_today(now)):
                raise ScanRefused("not_undoable", "only today's standing scans can be undone here")
            return self._commit(build_void(original, scanned_at=now))

    def _hold(self, code: HoldCode, voucher: Voucher, source: ReadSource, frames: int,
              now: datetime.datetime, existing: JournalEntry | None, dose: int | None = None) -> Held:
        self.held = Held(hold_id=secrets.token_hex(8), code=code, voucher=voucher, source=source,
                         frames=frames, seen_at=now, existing=existing, dose=dose)
        return self.held

    def _commit(self, record: Record) -> Committed:
        self.outbox.append(record)  # committed (fsync) before anyone is told: the beep means stored
        if self._on_commit is not None:
            self._on_commit(record)
        return Committed(record)


def undoable(entry: JournalEntry, today: datetime.date) -> bool:
    """A register record of today that still stands (not voided, not refused by the hub)."""
    return (entry.op == "register" and entry.voided_by is None and entry.state != "rejected"
            and entry.scanned_at.astimezone(JST).date() == today)
