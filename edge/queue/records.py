"""Turning an accepted voucher and the station's preset into a wire record, and a record into its void.

Pure: the caller passes the time and the record id source; nothing here touches the disk or the network.
"""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import Callable
from typing import Literal

import msgspec

from edge import EdgeError
from protocol import RecordError, Voucher
from protocol.records import (
    FIRST_VACCINATION_DAY,
    MAX_DOCTOR_LENGTH,
    MAX_LOT_LENGTH,
    Maker,
    ReadInfo,
    Record,
    Status,
    Vaccine,
    japan_today,
    new_record_id,
    validate_record,
)
from protocol.topics import is_valid_venue_id

ReadSource = Literal["qr", "nw7", "ocr", "manual", "import"]
"""How the voucher was read (the wire's ``read.source``)."""


class PresetError(EdgeError):
    """A preset value staff entered (or the config gave) cannot go into a record."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ScanRefused(EdgeError):
    """A voucher was read but no record may be made of it until staff decide (or fix the preset)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class Preset(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What every record made at this desk shares until staff change it (Q38, Q49)."""

    venue_id: str
    maker: Maker
    lot: str
    doctor: str
    status: Status = "vaccinated"
    administered_on: datetime.date | None = None
    """None means the Japan day of each scan; a fixed date is for entering a day's paper forms later."""
    unstated_dose: int | None = None
    """The dose recorded when the voucher does not state one (NW-7, 回数 0); None makes staff choose."""


def check_preset(preset: Preset, today: datetime.date) -> None:
    """Raise PresetError naming the first field that would make the hub refuse the records."""
    if not is_valid_venue_id(preset.venue_id):
        raise PresetError("venue_id", "会場IDは英数字と . _ - の1〜64文字です")
    if not preset.lot.strip():
        raise PresetError("lot", "ロット番号を入力してください")
    if len(preset.lot) > MAX_LOT_LENGTH:
        raise PresetError("lot", f"ロット番号は{MAX_LOT_LENGTH}文字以内です")
    if not preset.doctor.strip():
        raise PresetError("doctor", "医師名を入力してください")
    if len(preset.doctor) > MAX_DOCTOR_LENGTH:
        raise PresetError("doctor", f"医師名は{MAX_DOCTOR_LENGTH}文字以内です")
    for field, text in (("lot", preset.lot), ("doctor", preset.doctor)):
        if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text):
            raise PresetError(field, "制御文字は使えません")
    if preset.administered_on is not None:
        if preset.administered_on > today:
            raise PresetError("administered_on", "接種日に未来の日付は使えません")
        if preset.administered_on < FIRST_VACCINATION_DAY:
            raise PresetError("administered_on", "接種日が2021年2月17日より前です")
    if preset.unstated_dose is not None and not 1 <= preset.unstated_dose <= 9:
        raise PresetError("unstated_dose", "回数は1〜9です")


def dose_for(voucher: Voucher, preset: Preset, chosen: int | None = None) -> int:
    """The dose a record gets: the voucher's when stated, else staff's choice, else the preset's."""
    if 1 <= voucher.dose <= 9:
        return voucher.dose
    dose = chosen if chosen is not None else preset.unstated_dose
    if dose is None or not 1 <= dose <= 9:
        raise ScanRefused("dose_unknown", "the voucher does not state the dose; staff must choose it")
    return dose


def build_record(
    voucher: Voucher,
    preset: Preset,
    *,
    source: ReadSource,
    frames: int,
    scanned_at: datetime.datetime,
    dose: int | None = None,
    make_id: Callable[[], str] = new_record_id,
) -> Record:
    """A register record for this voucher, checked against the wire rules the hub applies."""
    today = japan_today(scanned_at)
    check_preset(preset, today)
    record = Record(
        record_id=make_id(),
        op="register",
        municipality_code=voucher.municipality_code,
        voucher_no=voucher.voucher_no,
        ticket_kind=voucher.ticket_kind,
        dose=dose_for(voucher, preset, dose),
        status=preset.status,
        administered_on=preset.administered_on or today,
        venue_id=preset.venue_id,
        vaccine=Vaccine(maker=preset.maker, lot=preset.lot),
        doctor=preset.doctor,
        read=ReadInfo(source=source, frames=max(frames, 1)),
        scanned_at=scanned_at,
    )
    return _checked(record, today)


def build_void(original: Record, *, scanned_at: datetime.datetime,
               make_id: Callable[[], str] = new_record_id) -> Record:
    """The record that cancels ``original`` (staff undid a mis-scan); it repeats the voided record's key."""
    if original.op != "register":
        raise ScanRefused("invalid_record", "only a register record can be voided")
    record = msgspec.structs.replace(
        original,
        record_id=make_id(),
        op="void",
        read=ReadInfo(source="manual", frames=0),
        scanned_at=scanned_at,
        voids_record_id=original.record_id,
    )
    return _checked(record, max(japan_today(scanned_at), original.administered_on))


def encode_record(record: Record) -> bytes:
    """The record's wire JSON, stored in the outbox and sent byte for byte on every retry."""
    return msgspec.json.encode(record)


def _checked(record: Record, today: datetime.date) -> Record:
    try:
        validate_record(encode_record(record), today=today)
    except RecordError as exc:
        raise ScanRefused("invalid_record", f"{exc.field}: {exc.detail}") from exc
    return record
