"""The record import file of DESIGN.md (Q42, Q51), read and validated row by row into ``ImportedRecord``s.

Header (any column order, each exactly once)::

    自治体コード,接種券番号,接種回数,接種状況,接種日,接種会場,ワクチンメーカー,ロット番号,医師名

接種状況 is 接種済 or 予診のみ; ワクチンメーカー is a Japanese label (ファイザー, 武田/モデルナ, ...) or a wire name
(pfizer, moderna, ...). 接種会場 is kept as written: the caller decides whether it names a known venue.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Final

import msgspec

from hub.files.dates import parse_date
from hub.files.encoding import CHUNK_SIZE, BinaryReader
from hub.files.errors import DateError, ImportSetupError
from hub.files.table import (
    MAX_ERRORS,
    ErrorSink,
    ImportReport,
    ProgressCallback,
    TableScan,
    shown,
    voucher_message,
    wrong_municipality,
)
from hub.files.text import has_control_character, nfkc
from protocol import is_municipality
from protocol.records import (
    FIRST_VACCINATION_DAY,
    MAKER_LABELS,
    MAX_DOCTOR_LENGTH,
    MAX_LOT_LENGTH,
    STATUS_LABELS,
    Maker,
    Status,
)

COLUMNS: Final = (
    "自治体コード",
    "接種券番号",
    "接種回数",
    "接種状況",
    "接種日",
    "接種会場",
    "ワクチンメーカー",
    "ロット番号",
    "医師名",
)
MAX_VENUE_LENGTH: Final = 100


def _maker_names() -> dict[str, Maker]:
    names: dict[str, Maker] = {}
    for maker, label in MAKER_LABELS.items():
        names[maker] = maker
        names[nfkc(label)] = maker
        # Without the distributor: "モデルナ" for "武田/モデルナ".
        names[nfkc(label).rsplit("/", 1)[-1]] = maker
    return names


_MAKERS: Final = _maker_names()
_STATUSES: Final[dict[str, Status]] = {label: status for status, label in STATUS_LABELS.items()}
_MAKER_HINT: Final = ", ".join(MAKER_LABELS.values())


class ImportedRecord(msgspec.Struct, frozen=True):
    """One valid row of a record import file (``line`` is where it starts, as an editor shows it).

    ``maker`` is None only for 予診のみ rows that name no maker (nobody was vaccinated); ``lot`` may then be
    blank too. ``venue`` is 接種会場 as written, surrounding spaces removed.
    """

    line: int
    municipality_code: str
    voucher_no: str
    dose: int
    status: Status
    administered_on: datetime.date
    venue: str
    maker: Maker | None
    lot: str
    doctor: str


class ParsedRecords(msgspec.Struct):
    """A whole record import file in memory: the valid rows and the report (apply only when ``report.ok``)."""

    rows: list[ImportedRecord]
    report: ImportReport


def _code_text(value: str) -> str:
    return (value if value.isascii() else nfkc(value)).strip()


class _RecordRow:
    """Validates one row; remembers voucher and dose pairs seen so far to refuse the same dose twice."""

    def __init__(self, municipality_code: str, today: datetime.date) -> None:
        self.municipality_code = municipality_code
        self.today = today
        # voucher * 10 + dose: an int takes far less room than a tuple, for files of millions of records.
        self.dose_lines: dict[int, int] = {}

    def __call__(self, fields: Sequence[str], line: int, sink: ErrorSink, /) -> ImportedRecord | None:
        errors_before = sink.count
        code, voucher, dose_text, status_text, day, venue, maker_text, lot, doctor = fields

        code = _code_text(code)
        if code != self.municipality_code:
            sink.add(line, "自治体コード", wrong_municipality(code, self.municipality_code))

        voucher = _code_text(voucher)
        voucher_ok = len(voucher) == 10 and voucher.isascii() and voucher.isdigit()
        if not voucher_ok:
            sink.add(line, "接種券番号", voucher_message(voucher))

        dose_text = _code_text(dose_text)
        dose = int(dose_text) if len(dose_text) == 1 and dose_text in "123456789" else 0
        if dose == 0:
            sink.add(line, "接種回数", f"{shown(dose_text)} is not a dose number from 1 to 9")
        elif voucher_ok:
            first = self.dose_lines.setdefault(int(voucher) * 10 + dose, line)
            if first != line:
                sink.add(line, "接種回数", f"dose {dose} of voucher {voucher} is also on line {first}")

        status = _STATUSES.get(_code_text(status_text))
        if status is None:
            sink.add(line, "接種状況", f"{shown(status_text.strip())} is not 接種済 or 予診のみ")

        administered_on = None
        try:
            administered_on = parse_date(day)
        except DateError as exc:
            sink.add(line, "接種日", exc.reason)
        else:
            if administered_on > self.today:
                sink.add(line, "接種日", f"{administered_on.isoformat()} is in the future")
            elif administered_on < FIRST_VACCINATION_DAY:
                sink.add(
                    line,
                    "接種日",
                    f"{administered_on.isoformat()} is before vaccinations began "
                    f"({FIRST_VACCINATION_DAY.isoformat()})",
                )

        venue = venue.strip()
        if not venue:
            sink.add(line, "接種会場", "is required (a venue id or its registered name)")
        elif len(venue) > MAX_VENUE_LENGTH:
            sink.add(line, "接種会場", f"is longer than {MAX_VENUE_LENGTH} characters")
        elif has_control_character(venue):
            sink.add(line, "接種会場", "holds a line break, tab or other control character")

        maker_text = _code_text(maker_text)
        maker = _MAKERS.get(maker_text) or _MAKERS.get(maker_text.lower())
        if maker is None and (maker_text or status != "screened_only"):
            sink.add(line, "ワクチンメーカー", f"{shown(maker_text)} is not one of {_MAKER_HINT}")

        lot = _code_text(lot)
        if not lot and status == "vaccinated":
            sink.add(line, "ロット番号", "is required for 接種済")
        elif len(lot) > MAX_LOT_LENGTH:
            sink.add(line, "ロット番号", f"is longer than {MAX_LOT_LENGTH} characters")
        elif has_control_character(lot):
            sink.add(line, "ロット番号", "holds a line break, tab or other control character")

        doctor = doctor.strip()
        if not doctor:
            sink.add(line, "医師名", "is required")
        elif len(doctor) > MAX_DOCTOR_LENGTH:
            sink.add(line, "医師名", f"is longer than {MAX_DOCTOR_LENGTH} characters")
        elif has_control_character(doctor):
            sink.add(line, "医師名", "holds a line break, tab or other control character")

        if sink.count != errors_before or status is None or administered_on is None:
            return None
        return ImportedRecord(line, code, voucher, dose, status, administered_on, venue, maker, lot, doctor)


def scan_records(
    stream: BinaryReader,
    *,
    municipality_code: str,
    today: datetime.date,
    progress: ProgressCallback | None = None,
    total_bytes: int | None = None,
    max_errors: int = MAX_ERRORS,
    chunk_size: int = CHUNK_SIZE,
) -> TableScan[ImportedRecord]:
    """Read a record import file lazily: iterate for the valid rows, then check ``.report`` (see TableScan).

    ``today`` is the Japan day of the import (later vaccination days are refused). Raises ImportSetupError
    if ``municipality_code`` is not a municipality; FileFormatError subclasses while iterating.
    """
    if not is_municipality(municipality_code):
        raise ImportSetupError(f"{municipality_code!r} is not the code of a municipality")
    return TableScan(
        stream,
        columns=COLUMNS,
        read_row=_RecordRow(municipality_code, today),
        progress=progress,
        total_bytes=total_bytes,
        max_errors=max_errors,
        chunk_size=chunk_size,
    )


def parse_records(
    stream: BinaryReader,
    *,
    municipality_code: str,
    today: datetime.date,
    progress: ProgressCallback | None = None,
    total_bytes: int | None = None,
    max_errors: int = MAX_ERRORS,
) -> ParsedRecords:
    """Read a whole record import file into memory; see scan_records."""
    scan = scan_records(
        stream,
        municipality_code=municipality_code,
        today=today,
        progress=progress,
        total_bytes=total_bytes,
        max_errors=max_errors,
    )
    rows = list(scan)
    return ParsedRecords(rows, scan.report)
