"""A resident file read straight into rows of PostgreSQL's binary COPY format: for the staging table, or for
a municipality's first import the rows of its new residents and digests tables.

Most blocks of a file hold no quote and only valid rows in the usual forms: such a block is read in one pass
by the C reader of hub.files._resident_block (resident_block.c), which asks the Python here for the rarer
forms of dates, kana and movements. Any block it does not prove valid in every row (a quote, a blank or
short row, a value in a form that needs normalising, anything wrong) is read row by row by
hub.files.residents instead, which reports what is wrong and where. Both write the same bytes, and
宛名番号/接種券番号 seen by either count as seen.
"""

from __future__ import annotations

import datetime
import struct
import unicodedata
from collections.abc import Iterator
from typing import Final, TypeVar

from hub.files import _resident_block
from hub.files.dates import ERAS, parse_date
from hub.files.encoding import CHUNK_SIZE, BinaryReader
from hub.files.errors import DateError
from hub.files.my_number_hash import MyNumberHasher
from hub.files.residents import (
    COLUMNS,
    EARLIEST_BIRTH_DATE,
    MAX_NAME_LENGTH,
    MOVEMENTS,
    Resident,
    ResidentRow,
    code_text,
    resident_rules,
)
from hub.files.table import MAX_ERRORS, ImportReport, ProgressCallback, TableScan
from hub.files.text import fold_kana, has_control_character, has_ideograph, nfkc

COPY_COLUMNS: Final = (
    "line", "atena_no", "voucher_no", "my_number_hmac", "name", "name_kana", "name_kana_norm", "birth_date", "sex",
    "address", "status", "status_date",
)  # fmt: skip
"""The columns of each staged row, in order: ``my_number_hmac`` the digest's 32 bytes, NULL when the file
left it blank; ``status`` "active", "moved_out" or "deceased" with ``status_date`` NULL for "active". Each
row is a tuple of the binary COPY format (hub.db.residents writes the format's header and trailer around
them): dates as dates, ``line`` an int4 and ``sex`` an int2, the digest a bytea, the rest text."""
RESIDENT_COLUMNS: Final = (
    "municipality_code", "atena_no", "voucher_no", "name", "name_kana", "name_kana_norm", "birth_date", "sex",
    "address", "status", "status_date",
)  # fmt: skip
"""The columns of each residents row of ``ResidentCopy.tables``: those of COPY_COLUMNS that residents has."""
DIGEST_COLUMNS: Final = ("municipality_code", "atena_no", "hmac")
"""The columns of each my_number_hashes row of ``ResidentCopy.tables``, one per resident with a My Number."""

_MEMO_SIZE: Final = 200_000

KeyT = TypeVar("KeyT", int, int | str)


def _kana_tables() -> tuple[list[int], list[int], list[int], list[int], list[int]]:
    """configure()'s tables, from unicodedata and hub.files.text: NFKC of U+3000-U+30FF and U+FF00-U+FFFF where it
    is one such character (or a space) that nothing composes with except by the tables of sound marks; the
    compositions with the voiced and semi-voiced sound marks; fold_kana of U+3000-U+30FF (0: dropped)."""

    def simple(char: str) -> int:
        normal = unicodedata.normalize("NFKC", char)
        if len(normal) != 1 or unicodedata.combining(normal) or unicodedata.combining(char):
            return 0
        code = ord(normal)
        return code if code == 0x20 or 0x3000 <= code <= 0x30FF else 0

    def composed(char: str, mark: str) -> int:
        both = unicodedata.normalize("NFC", char + mark)
        return ord(both) if len(both) == 1 and 0x3000 <= ord(both) <= 0x30FF else 0

    cjk = [chr(0x3000 + index) for index in range(256)]
    halfwidth = [simple(chr(0xFF00 + index)) for index in range(256)]
    halfwidth[0x9E] = halfwidth[0x9F] = 0  # the sound marks compose, by the tables that follow
    folded = [fold_kana(char) for char in cjk]
    return (
        [simple(char) for char in cjk],
        halfwidth,
        [composed(char, "\u3099") if simple(char) else 0 for char in cjk],
        [composed(char, "\u309a") if simple(char) else 0 for char in cjk],
        [ord(text) if text else 0 for text in folded],
    )


def _cp932_tables() -> tuple[list[int], bytes]:
    """configure()'s CP932, read off Python's own codec, so that the C reader takes a CP932 file's bytes for the
    characters hub.files.encoding reads in them: each byte's code point (-1 where a pair starts, -2 where no
    character does), and each pair's as 2 bytes, little-endian (0: none)."""

    def character(data: bytes) -> int | None:
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError:
            return None
        return ord(text) if len(text) == 1 else None

    single = [character(bytes([byte])) for byte in range(256)]
    pairs = bytearray(2 * 0x10000)
    leads = set()
    for lead in (byte for byte, code in enumerate(single) if code is None):
        for trail in range(256):
            code = character(bytes([lead, trail]))
            if code is not None:
                pairs[2 * (lead << 8 | trail) : 2 * (lead << 8 | trail) + 2] = code.to_bytes(2, "little")
                leads.add(lead)
    return [-1 if byte in leads else -2 if code is None else code for byte, code in enumerate(single)], bytes(pairs)


_resident_block.configure(
    *_kana_tables(),
    [(key, era.first.year - 1, era.first.toordinal(), (era.last or datetime.date.max).toordinal())
     for era in ERAS for key in (era.letter, era.letter.lower())],
    *_cp932_tables(),
)


_COUNT: Final = struct.Struct("!h")
_LENGTH: Final = struct.Struct("!i")
_NULL: Final = _LENGTH.pack(-1)
_INT4: Final = struct.Struct("!ii")  # length 4, value
_SEX: Final = struct.Struct("!ih")  # length 2, value
_POSTGRES_EPOCH: Final = datetime.date(2000, 1, 1).toordinal()
_STAGE_FIELDS: Final = _COUNT.pack(len(COPY_COLUMNS))
_RESIDENT_FIELDS: Final = _COUNT.pack(len(RESIDENT_COLUMNS))
_DIGEST_FIELDS: Final = _COUNT.pack(len(DIGEST_COLUMNS))


def _text(value: str) -> bytes:
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


def _bytes(value: bytes) -> bytes:
    return _LENGTH.pack(len(value)) + value


def _date(value: datetime.date | None) -> bytes:
    return _NULL if value is None else _INT4.pack(4, value.toordinal() - _POSTGRES_EPOCH)


def _resident_fields(r: Resident) -> bytes:
    """The fields from name to status_date, which the staged rows and the residents rows share."""
    return b"".join((_text(r.name), _text(r.name_kana), _text(r.kana_key), _date(r.birth_date), _SEX.pack(2, r.sex),
                     _text(r.address), _text(r.movement or "active"), _date(r.moved_on)))


def _rows_copy(rows: list[Resident]) -> bytes:
    return b"".join(
        b"".join((_STAGE_FIELDS, _INT4.pack(4, r.line), _text(r.addressee_no), _text(r.voucher_no),
                  _bytes(r.my_number_hmac) if r.my_number_hmac else _NULL, _resident_fields(r)))
        for r in rows
    )


def _rows_tables_copy(municipality_code: str, rows: list[Resident]) -> tuple[bytes, bytes]:
    code = _text(municipality_code)
    residents = b"".join(
        b"".join((_RESIDENT_FIELDS, code, _text(r.addressee_no), _text(r.voucher_no), _resident_fields(r)))
        for r in rows
    )
    digests = b"".join(
        b"".join((_DIGEST_FIELDS, code, _text(r.addressee_no), _bytes(r.my_number_hmac)))
        for r in rows if r.my_number_hmac
    )
    return residents, digests


def _add_keys(seen: dict[KeyT, int], keys: list[KeyT], first_line: int) -> bool:
    """Record the keys with their lines (the first on `first_line`, the next on the line after, ...), unless
    one repeats within them or was seen before: then record none and answer False."""
    if not seen.keys().isdisjoint(keys):
        return False
    before = len(seen)
    seen.update(zip(keys, range(first_line, first_line + len(keys)), strict=True))
    if len(seen) == before + len(keys):
        return True
    _forget_keys(seen, keys)
    return False


def _forget_keys(seen: dict[KeyT, int], keys: list[KeyT]) -> None:
    """Undo _add_keys (none of the keys was seen before it)."""
    for key in keys:
        seen.pop(key, None)


class _RarerForms:
    """What the C reader asks Python for: the rules of ResidentRow for the forms its tables leave out, each
    answer remembered per text (dates and kana repeat)."""

    def __init__(self, today: datetime.date) -> None:
        self._today = today
        self._dates: dict[str, int | None] = {}
        self._kanas: dict[str, tuple[str, str] | None] = {}

    def date(self, text: str) -> int | None:
        """The ordinal of a date in a form the C reader leaves to parse_date; None if it is none."""
        known = self._dates
        if text in known:
            return known[text]
        try:
            value: int | None = parse_date(text).toordinal()
        except DateError:
            value = None
        if len(known) < _MEMO_SIZE:
            known[text] = value
        return value

    def kana(self, text: str) -> tuple[str, str] | None:
        """氏名カナ as ResidentRow reads it (normal form, kana key), for kana the C tables do not cover; None if
        ResidentRow would refuse it."""
        known = self._kanas
        if text in known:
            return known[text]
        kana = nfkc(text).strip()
        answer = None
        if kana and len(kana) <= MAX_NAME_LENGTH and not has_control_character(kana) and not has_ideograph(kana):
            answer = kana, fold_kana(kana)
        if len(known) < _MEMO_SIZE:
            known[text] = answer
        return answer

    def movement(self, movement_text: str, moved_text: str, birth: int) -> tuple[str, int] | None:
        """(status, ordinal of 異動日 or 0) of a valid 異動区分 and 異動日, None if they are not."""
        movement_text = code_text(movement_text)
        moved_text = moved_text.strip()
        if not movement_text and not moved_text:
            return "active", 0  # spaces only
        movement = MOVEMENTS.get(movement_text)
        if movement is None or not moved_text:
            return None
        try:
            moved_on = parse_date(moved_text)
        except DateError:
            return None
        if moved_on.toordinal() < birth:
            return None
        if movement == "deceased" and moved_on > self._today:
            return None
        return movement, moved_on.toordinal()


class _ResidentBlocks:
    """hub.files.table.BlockReader for resident files: the C reader of hub.files._resident_block, with the
    Python it asks for the rarer forms, sharing the row rules' state (the 宛名番号 and 接種券番号 seen)."""

    def __init__(self, rules: ResidentRow, hasher: MyNumberHasher, *, stage: bool) -> None:
        self.rules = rules
        rarer = _RarerForms(rules.today)  # holds nothing of this object: the reader's callbacks make no cycle
        self._reader = _resident_block.Reader(
            municipality_code=rules.municipality_code,
            earliest=EARLIEST_BIRTH_DATE.toordinal(),
            today=rules.today.toordinal(),
            inner_pad=hasher.inner_pad,
            outer_pad=hasher.outer_pad,
            stage=stage,
            read_date=rarer.date,
            read_kana=rarer.kana,
            read_movement=rarer.movement,
        )

    def __call__(
        self, block: bytes, cp932: bool, first_line: int, width: int, order: tuple[int, ...], /
    ) -> tuple[bytes, bytes] | None:
        answer = self._reader.read(block, cp932, first_line, width, order)
        if answer is None:
            return None
        rows, digests, addressees, vouchers = answer
        # A repeat goes row by row, which reports it with the line it repeats.
        rules = self.rules
        if not _add_keys(rules.addressee_lines, addressees, first_line):
            return None
        if not _add_keys(rules.voucher_lines, vouchers, first_line):
            _forget_keys(rules.addressee_lines, addressees)
            return None
        return rows, digests


class ResidentCopy:
    """One pass over a resident file: iterate for its valid rows as binary COPY rows (COPY_COLUMNS, one bytes
    per block of the file), or call ``tables`` instead, then read ``report``. As with TableScan, the caller
    must apply nothing unless ``report.ok`` once the iteration has finished."""

    def __init__(self, scan: TableScan[Resident], rules: ResidentRow, hasher: MyNumberHasher, *, by_row: bool) -> None:
        self._scan = scan
        self._rules = rules
        self._hasher = None if by_row else hasher

    def __iter__(self) -> Iterator[bytes]:
        if self._hasher is None:
            return self._scan.batches(_rows_copy)
        read_block = _ResidentBlocks(self._rules, self._hasher, stage=True)

        def stage_copy(
            block: bytes, cp932: bool, first_line: int, width: int, order: tuple[int, ...], /
        ) -> bytes | None:
            answer = read_block(block, cp932, first_line, width, order)
            return None if answer is None else answer[0]  # the stage writes no digests apart

        return self._scan.batches(_rows_copy, stage_copy)

    def tables(self) -> Iterator[tuple[bytes, bytes]]:
        """The valid rows a block at a time as binary COPY rows of new residents (RESIDENT_COLUMNS) and of
        their digests (DIGEST_COLUMNS, empty when no row of the block has a My Number): the rows COPY_COLUMNS
        stages, without their lines."""
        code = self._rules.municipality_code

        def rows_copy(rows: list[Resident]) -> tuple[bytes, bytes]:
            return _rows_tables_copy(code, rows)

        if self._hasher is None:
            return self._scan.batches(rows_copy)
        return self._scan.batches(rows_copy, _ResidentBlocks(self._rules, self._hasher, stage=False))

    @property
    def report(self) -> ImportReport:
        """The report; complete only once the iteration has finished."""
        return self._scan.report

    @property
    def error_count(self) -> int:
        """Errors found so far (the file may be applied only if it is 0 at the end)."""
        return self._scan.error_count


def scan_resident_copy(
    stream: BinaryReader,
    *,
    municipality_code: str,
    today: datetime.date,
    hash_my_number: MyNumberHasher,
    progress: ProgressCallback | None = None,
    total_bytes: int | None = None,
    max_errors: int = MAX_ERRORS,
    chunk_size: int = CHUNK_SIZE,
    by_row: bool = False,
) -> ResidentCopy:
    """Read a resident file lazily into binary COPY rows; the arguments and errors are those of scan_residents.

    ``by_row`` reads every row one by one (the text, the report and the errors are the same, only slower).
    """
    rules = resident_rules(municipality_code, today, hash_my_number)
    scan = TableScan(
        stream,
        columns=COLUMNS,
        read_row=rules,
        progress=progress,
        total_bytes=total_bytes,
        max_errors=max_errors,
        chunk_size=chunk_size,
    )
    return ResidentCopy(scan, rules, hash_my_number, by_row=by_row)
