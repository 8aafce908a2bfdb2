"""The resident import file of DESIGN.md, read and validated row by row into ``Resident`` structs.

Header (any column order, each exactly once)::

    自治体コード,宛名番号,接種券番号,個人番号,氏名,氏名カナ,生年月日,性別,住所,異動区分,異動日

My Number (個人番号) never leaves this module in clear: the caller passes ``hash_my_number`` (the hub's
HMAC-SHA256 with its secret) and each struct holds only that digest. Error messages never repeat a My
Number, a name or an address, only the codes and dates a clerk needs to find the row.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Final, Literal

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
from hub.files.text import fold_kana, has_control_character, has_ideograph, nfkc
from protocol import is_municipality

COLUMNS: Final = (
    "自治体コード",
    "宛名番号",
    "接種券番号",
    "個人番号",
    "氏名",
    "氏名カナ",
    "生年月日",
    "性別",
    "住所",
    "異動区分",
    "異動日",
)
MAX_ADDRESSEE_NO_LENGTH: Final = 20
MAX_NAME_LENGTH: Final = 100
MAX_ADDRESS_LENGTH: Final = 200
# Nobody born before this is alive; an earlier date is a typing or era mistake.
EARLIEST_BIRTH_DATE: Final = datetime.date(1890, 1, 1)

Sex = Literal[1, 2]
Movement = Literal["moved_out", "deceased"]
SEXES: Final[dict[str, Sex]] = {"1": 1, "2": 2, "男": 1, "女": 2, "男性": 1, "女性": 2}
MOVEMENTS: Final[dict[str, Movement]] = {"転出": "moved_out", "死亡": "deceased"}


class Resident(msgspec.Struct, frozen=True):
    """One valid row of a resident file (``line`` is where it starts, as an editor shows it).

    ``name`` and ``address`` are kept as written (surrounding spaces removed); ``name_kana`` is NFKC-normalised
    (half-width kana become full-width); ``kana_key`` is the form that kana searches and matches compare
    (hub.files.text.kana_key of a search text gives the same form; name_key does so for written names).
    ``my_number_hmac`` is ``hash_my_number(number)``, or None when the file left 個人番号 blank.
    """

    line: int
    municipality_code: str
    addressee_no: str
    voucher_no: str
    my_number_hmac: bytes | None
    name: str
    name_kana: str
    kana_key: str
    birth_date: datetime.date
    sex: Sex
    address: str
    movement: Movement | None
    moved_on: datetime.date | None


class ParsedResidents(msgspec.Struct):
    """A whole resident file read into memory: the valid rows and the report (apply only when ``report.ok``)."""

    rows: list[Resident]
    report: ImportReport


def code_text(value: str) -> str:
    """A code or number as read: full-width digits to ASCII, padding spaces dropped."""
    return (value if value.isascii() else nfkc(value)).strip()


_DATE_CACHE_SIZE: Final = 200_000
_MY_NUMBER_ZERO_SUM: Final = 48 * (6 + 5 + 4 + 3 + 2 + 7 + 6 + 5 + 4 + 3 + 2)


def my_number_ok(digits: str) -> bool:
    """protocol.is_valid_my_number for text already known to be 12 ASCII digits, inlined: it runs per row."""
    b = digits.encode("ascii")
    r = (
        b[0] * 6 + b[1] * 5 + b[2] * 4 + b[3] * 3 + b[4] * 2 + b[5] * 7
        + b[6] * 6 + b[7] * 5 + b[8] * 4 + b[9] * 3 + b[10] * 2
        - _MY_NUMBER_ZERO_SUM
    ) % 11  # fmt: skip
    return b[11] - 48 == (0 if r <= 1 else 11 - r)


class ResidentRow:
    """Validates one row; remembers 宛名番号 and 接種券番号 seen so far to refuse duplicates."""

    def __init__(
        self, municipality_code: str, today: datetime.date, hash_my_number: Callable[[str], bytes]
    ) -> None:
        self.municipality_code = municipality_code
        self.today = today
        self.hash_my_number = hash_my_number
        # Keys are kept as ints where the text is digits: a city of millions holds them all until the end.
        self.addressee_lines: dict[int | str, int] = {}
        self.voucher_lines: dict[int, int] = {}
        # Birth dates repeat a lot (some 40,000 days in a century): remember the texts already read.
        self.birth_dates: dict[str, datetime.date] = {}

    def __call__(self, fields: Sequence[str], line: int, sink: ErrorSink, /) -> Resident | None:
        # One straight function on purpose: it runs for every row of files with millions of rows.
        errors_before = sink.count
        (code, addressee, voucher, my_number, name, kana, birth, sex_text, address, movement_text, moved) = fields
        today = self.today

        if code != self.municipality_code:
            code = code_text(code)
            if code != self.municipality_code:
                sink.add(line, "自治体コード", wrong_municipality(code, self.municipality_code))

        # Each code is checked as written first; only a code that fails is normalised (NFKC, padding) and
        # checked again: most files need no normalising, and this runs per row.
        if not (addressee.isalnum() and addressee.isascii() and len(addressee) <= MAX_ADDRESSEE_NO_LENGTH):
            addressee = code_text(addressee)
        if not (addressee.isalnum() and addressee.isascii() and len(addressee) <= MAX_ADDRESSEE_NO_LENGTH):
            if not addressee:
                sink.add(line, "宛名番号", "is required")
            elif len(addressee) > MAX_ADDRESSEE_NO_LENGTH:
                sink.add(line, "宛名番号", f"is longer than {MAX_ADDRESSEE_NO_LENGTH} characters")
            else:
                sink.add(line, "宛名番号", f"{shown(addressee)} may hold only digits and letters")
        else:
            # A leading 1 keeps leading zeros apart ("10012" for "0012", "112" for "12").
            key = int("1" + addressee) if addressee.isdigit() else addressee
            first = self.addressee_lines.setdefault(key, line)
            if first != line:
                sink.add(line, "宛名番号", f"{shown(addressee)} is also on line {first}")

        if len(voucher) != 10 or not voucher.isdigit() or not voucher.isascii():
            voucher = code_text(voucher)
        if len(voucher) != 10 or not voucher.isdigit() or not voucher.isascii():
            sink.add(line, "接種券番号", voucher_message(voucher))
        else:
            first = self.voucher_lines.setdefault(int(voucher), line)
            if first != line:
                sink.add(line, "接種券番号", f"{voucher} is also on line {first}")

        my_number_hmac = None
        if my_number:
            if len(my_number) != 12 or not my_number.isascii():
                my_number = code_text(my_number).replace(" ", "").replace("-", "")
            if not my_number:
                pass  # only spaces or dashes: as good as blank
            elif len(my_number) != 12 or not my_number.isdigit() or not my_number.isascii():
                sink.add(line, "個人番号", "is not 12 digits (leave it blank if unknown)")
            elif not my_number_ok(my_number):
                sink.add(line, "個人番号", "has a wrong check digit (a digit is mistyped)")
            else:
                my_number_hmac = self.hash_my_number(my_number)

        name = name.strip()
        if not name:
            sink.add(line, "氏名", "is required")
        elif len(name) > MAX_NAME_LENGTH:
            sink.add(line, "氏名", f"is longer than {MAX_NAME_LENGTH} characters")
        elif not name.isprintable() and has_control_character(name):
            sink.add(line, "氏名", "holds a line break, tab or other control character")

        kana = nfkc(kana).strip()
        if not kana:
            sink.add(line, "氏名カナ", "is required")
        elif len(kana) > MAX_NAME_LENGTH:
            sink.add(line, "氏名カナ", f"is longer than {MAX_NAME_LENGTH} characters")
        elif not kana.isprintable() and has_control_character(kana):
            sink.add(line, "氏名カナ", "holds a line break, tab or other control character")
        elif has_ideograph(kana):
            sink.add(line, "氏名カナ", "holds kanji; write the name in kana (are 氏名 and 氏名カナ swapped?)")

        birth_date = self.birth_dates.get(birth)
        if birth_date is None:
            try:
                birth_date = parse_date(birth)
            except DateError as exc:
                sink.add(line, "生年月日", exc.reason)
            else:
                if len(self.birth_dates) < _DATE_CACHE_SIZE:
                    self.birth_dates[birth] = birth_date
        if birth_date is not None:
            if birth_date > today:
                sink.add(line, "生年月日", f"{birth_date.isoformat()} is in the future")
            elif birth_date < EARLIEST_BIRTH_DATE:
                sink.add(line, "生年月日", f"{birth_date.isoformat()} is before {EARLIEST_BIRTH_DATE.year}")

        sex = SEXES.get(sex_text) or SEXES.get(code_text(sex_text))  # the 2nd look-up only if needed
        if sex is None:
            sink.add(line, "性別", f"{shown(sex_text.strip())} is not 1, 2, 男 or 女")

        if address:
            address = address.strip()
            if len(address) > MAX_ADDRESS_LENGTH:
                sink.add(line, "住所", f"is longer than {MAX_ADDRESS_LENGTH} characters")
            elif not address.isprintable() and has_control_character(address.replace("\r\n", " ").replace("\n", " ")):
                sink.add(line, "住所", "holds a tab or other control character")

        movement: Movement | None = None
        moved_on = None
        if movement_text or moved:
            movement_text = code_text(movement_text)
            moved = moved.strip()
            if movement_text:
                movement = MOVEMENTS.get(movement_text)
                if movement is None:
                    sink.add(line, "異動区分", f"{shown(movement_text)} is not blank, 転出 or 死亡")
                if not moved:
                    sink.add(line, "異動日", f"is required when 異動区分 is {shown(movement_text)}")
            elif moved:
                sink.add(line, "異動日", "is given but 異動区分 is blank (転出 or 死亡)")
            if moved:
                try:
                    moved_on = parse_date(moved)
                except DateError as exc:
                    sink.add(line, "異動日", exc.reason)
                else:
                    if birth_date is not None and moved_on < birth_date:
                        sink.add(line, "異動日", f"{moved_on.isoformat()} is before the birth date")
                    elif movement == "deceased" and moved_on > today:
                        sink.add(line, "異動日", f"{moved_on.isoformat()} is in the future")

        if sink.count != errors_before or birth_date is None or sex is None:
            return None
        return Resident(
            line,
            code,
            addressee,
            voucher,
            my_number_hmac,
            name,
            kana,
            fold_kana(kana),
            birth_date,
            sex,
            address,
            movement,
            moved_on,
        )


def resident_rules(
    municipality_code: str, today: datetime.date, hash_my_number: Callable[[str], bytes]
) -> ResidentRow:
    """The row rules of one file's import; ImportSetupError if ``municipality_code`` is not a municipality."""
    if not is_municipality(municipality_code):
        raise ImportSetupError(f"{municipality_code!r} is not the code of a municipality")
    return ResidentRow(municipality_code, today, hash_my_number)


def scan_residents(
    stream: BinaryReader,
    *,
    municipality_code: str,
    today: datetime.date,
    hash_my_number: Callable[[str], bytes],
    progress: ProgressCallback | None = None,
    total_bytes: int | None = None,
    max_errors: int = MAX_ERRORS,
    chunk_size: int = CHUNK_SIZE,
) -> TableScan[Resident]:
    """Read a resident file lazily: iterate for the valid rows, then check ``.report`` (see TableScan).

    ``today`` is the Japan day of the import (birth dates after it are refused). ``total_bytes`` is the
    file's size for the progress callback (None: unknown). Raises ImportSetupError if ``municipality_code``
    is not a municipality; FileFormatError subclasses while iterating if the file cannot be read as the table.
    """
    return TableScan(
        stream,
        columns=COLUMNS,
        read_row=resident_rules(municipality_code, today, hash_my_number),
        progress=progress,
        total_bytes=total_bytes,
        max_errors=max_errors,
        chunk_size=chunk_size,
    )


def parse_residents(
    stream: BinaryReader,
    *,
    municipality_code: str,
    today: datetime.date,
    hash_my_number: Callable[[str], bytes],
    progress: ProgressCallback | None = None,
    total_bytes: int | None = None,
    max_errors: int = MAX_ERRORS,
) -> ParsedResidents:
    """Read a whole resident file into memory (fine for a dry run or a small town; large files: scan)."""
    scan = scan_residents(
        stream,
        municipality_code=municipality_code,
        today=today,
        hash_my_number=hash_my_number,
        progress=progress,
        total_bytes=total_bytes,
        max_errors=max_errors,
    )
    rows = list(scan)
    return ParsedResidents(rows, scan.report)
