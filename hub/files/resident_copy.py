"""A resident file read straight into the CSV text that PostgreSQL's COPY takes: for the staging table, or
for a municipality's first import the rows of its new residents and digests tables.

Most blocks of a file hold no quote and only valid rows: such a block is checked column by column, each rule
of hub.files.residents applied to a whole column in a few C-level calls, and written as CSV by joins. Any
block that this does not prove valid in every row (a quote, a blank or short row, a value in a form that
needs normalising, anything wrong) is read row by row by hub.files.residents instead, which reports what is
wrong and where. Both write the same text, and 宛名番号/接種券番号 seen by either count as seen.
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Final, NamedTuple, TypeVar

from hub.files.dates import parse_date, parse_dates
from hub.files.encoding import CHUNK_SIZE, BinaryReader
from hub.files.errors import DateError
from hub.files.residents import (
    COLUMNS,
    EARLIEST_BIRTH_DATE,
    MAX_ADDRESS_LENGTH,
    MAX_ADDRESSEE_NO_LENGTH,
    MAX_NAME_LENGTH,
    MOVEMENTS,
    SEXES,
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
"""The columns of each CSV row, in order: ``my_number_hmac`` as hex, empty (NULL) when the file left it blank;
``status`` "active", "moved_out" or "deceased" with ``status_date`` empty (NULL) for "active"."""
RESIDENT_COLUMNS: Final = (
    "municipality_code", "atena_no", "voucher_no", "name", "name_kana", "name_kana_norm", "birth_date", "sex",
    "address", "status", "status_date",
)  # fmt: skip
"""The columns of each residents row of ``ResidentCopy.tables``: those of COPY_COLUMNS that residents has."""
DIGEST_COLUMNS: Final = ("municipality_code", "atena_no", "hmac")
"""The columns of each my_number_hashes row of ``ResidentCopy.tables``, one per resident with a My Number."""

_MY_NUMBER_WEIGHTS: Final = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
# Digit d at position k as (weight * d) % 11, one byte per number: eleven such bytes sum to at most 110, so
# the numbers of a block add up lane by lane as big integers without a carry from one number into the next.
_MY_NUMBER_TERMS: Final = tuple(
    bytes.maketrans(b"0123456789", bytes(weight * digit % 11 for digit in range(10))) for weight in _MY_NUMBER_WEIGHTS
)
_MY_NUMBER_CHECK: Final = bytes(48 + (0 if total % 11 <= 1 else 11 - total % 11) for total in range(256))
_SEX_TEXT: Final = {text: str(sex) for text, sex in SEXES.items()}
_MEMO_SIZE: Final = 200_000
_UNKNOWN: Final = "\x00"  # a word whose answer is this is only worked out again each time
# Whitespace that str.strip takes, other than the space (and the line feed between fields).
_SPACE_BUT_SPACE: Final = re.compile(r"[^\S \n]")

KeyT = TypeVar("KeyT", int, int | str)


def my_numbers_ok(digits: bytes) -> bool:
    """Whether every number in ``digits`` (12-digit ASCII My Numbers, one after another) has its check digit."""
    count = len(digits) // 12
    total = sum(
        int.from_bytes(digits[position::12].translate(terms), "big")
        for position, terms in enumerate(_MY_NUMBER_TERMS)
    )
    return total.to_bytes(count, "big").translate(_MY_NUMBER_CHECK) == digits[11::12]


def _words(text: str) -> list[str]:
    """The words of ``text`` between spaces, with each line feed as a word of its own."""
    return text.replace("\n", " \n ").split(" ")


def _by_word(words: list[str], known: dict[str, str], function: Callable[[str], str]) -> list[str]:
    """``function`` of each word, remembered in ``known`` for the words that come again.

    For nfkc and fold_kana, the answer for words joined by spaces or line feeds is the answers joined by
    them: both are starters that nothing composes with, NFKC never makes a line feed, and fold_kana maps each
    character on its own (tests/hub/test_files_resident_copy.py).
    """
    answers = list(map(known.get, words, itertools.repeat(_UNKNOWN)))
    if _UNKNOWN not in answers:
        return answers
    new = {word: function(word) for word in set(itertools.compress(words, map(_UNKNOWN.__eq__, answers)))}
    if len(known) < _MEMO_SIZE:
        known.update(new)
    return list(map(new.get, words, answers))


def _rows_csv(rows: list[Resident]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(
        (r.line, r.addressee_no, r.voucher_no, r.my_number_hmac.hex() if r.my_number_hmac else None, r.name,
         r.name_kana, r.kana_key, r.birth_date, r.sex, r.address, r.movement or "active", r.moved_on)
        for r in rows
    )  # fmt: skip
    return buf.getvalue()


def _rows_tables_csv(municipality_code: str, rows: list[Resident]) -> tuple[str, str]:
    residents = io.StringIO()
    csv.writer(residents, lineterminator="\n").writerows(
        (municipality_code, r.addressee_no, r.voucher_no, r.name, r.name_kana, r.kana_key, r.birth_date, r.sex,
         r.address, r.movement or "active", r.moved_on)
        for r in rows
    )  # fmt: skip
    digests = io.StringIO()
    csv.writer(digests, lineterminator="\n").writerows(
        (municipality_code, r.addressee_no, r.my_number_hmac.hex()) for r in rows if r.my_number_hmac
    )
    return residents.getvalue(), digests.getvalue()


class _Block(NamedTuple):
    """The values of a block's rows as they go into the tables, column by column (all valid)."""

    first_line: int
    addressees: list[str]
    vouchers: list[str]
    my_numbers: list[str]
    digests: dict[str, str]  # hex of each given My Number, and "" of ""
    names: list[str]
    kanas: list[str]
    kana_keys: list[str]
    birth_isos: list[str]
    sexes: list[str]
    addresses: list[str]
    statuses: list[str]
    moved_on: list[str]


def _block_stage_csv(block: _Block) -> str:
    rows = zip(
        map(str, range(block.first_line, block.first_line + len(block.addressees))),
        block.addressees,
        block.vouchers,
        map(block.digests.__getitem__, block.my_numbers),
        block.names,
        block.kanas,
        block.kana_keys,
        block.birth_isos,
        block.sexes,
        block.addresses,
        block.statuses,
        block.moved_on,
        strict=True,
    )
    return "\n".join(map(",".join, rows)) + "\n"


def _block_tables_csv(municipality_code: str, block: _Block) -> tuple[str, str]:
    rows = zip(
        itertools.repeat(municipality_code),
        block.addressees,
        block.vouchers,
        block.names,
        block.kanas,
        block.kana_keys,
        block.birth_isos,
        block.sexes,
        block.addresses,
        block.statuses,
        block.moved_on,
    )
    given = list(filter(None, block.my_numbers))
    if not given:
        return "\n".join(map(",".join, rows)) + "\n", ""
    digest_rows = zip(
        itertools.repeat(municipality_code),
        itertools.compress(block.addressees, block.my_numbers),
        map(block.digests.__getitem__, given),
    )
    return "\n".join(map(",".join, rows)) + "\n", "\n".join(map(",".join, digest_rows)) + "\n"


def _new_keys(seen: dict[KeyT, int], keys: list[KeyT], first_line: int) -> dict[KeyT, int] | None:
    """The keys with their lines, or None if one repeats within them or was seen before."""
    found = dict(zip(keys, range(first_line, first_line + len(keys)), strict=True))
    if len(found) != len(keys) or not seen.keys().isdisjoint(found):
        return None
    return found


class _ResidentBlocks:
    """The column-wise reading of hub.files.table.BlockReader for resident files, sharing the row rules' state."""

    def __init__(self, rules: ResidentRow) -> None:
        self.rules = rules
        # Birth date texts already read, as the ISO text of a date within the accepted years.
        self.birth_texts: dict[str, str] = {}
        # nfkc of words of 氏名カナ, and fold_kana of those.
        self.normal_words: dict[str, str] = {}
        self.kana_key_words: dict[str, str] = {}

    def __call__(self, columns: Sequence[list[str]], first_line: int, /) -> _Block | None:
        # Every test below is one that ResidentRow passes for each of these rows as written; a block with a
        # value it would normalise, refuse or look at more closely is not decided here.
        rules = self.rules
        (codes, addressees, vouchers, my_numbers, names, kanas, births, sex_texts, addresses, movements, moved) = (
            columns
        )
        count = len(codes)
        if codes.count(rules.municipality_code) != count:
            return None

        joined = "".join(addressees)
        if not (joined.isascii() and joined.isalnum()) or "" in addressees:
            return None
        if max(map(len, addressees)) > MAX_ADDRESSEE_NO_LENGTH:
            return None
        addressee_keys: list[int | str]
        if joined.isdigit():
            addressee_keys = list(map(int, map("1".__add__, addressees)))
        else:
            addressee_keys = [int("1" + text) if text.isdigit() else text for text in addressees]
        new_addressees = _new_keys(rules.addressee_lines, addressee_keys, first_line)
        if new_addressees is None:
            return None

        joined = "".join(vouchers)
        if len(joined) != 10 * count or max(map(len, vouchers)) != 10 or not (joined.isascii() and joined.isdigit()):
            return None
        new_vouchers = _new_keys(rules.voucher_lines, list(map(int, vouchers)), first_line)
        if new_vouchers is None:
            return None

        given = list(filter(None, my_numbers))
        joined = "".join(given)
        if len(joined) != 12 * len(given) or (given and max(map(len, given)) != 12):
            return None
        if not (joined.isascii() and joined.isdigit() and my_numbers_ok(joined.encode("ascii"))):
            return None

        names = list(map(str.strip, names))
        if "" in names or max(map(len, names)) > MAX_NAME_LENGTH or has_control_character(",".join(names)):
            return None

        # NFKC and the kana key a word at a time (names repeat their family and given names), see _by_word.
        words = _words("\n".join(kanas).replace("\u3000", " "))
        normal_words = _by_word(words, self.normal_words, nfkc)
        joined = " ".join(normal_words).replace(" \n ", "\n")
        if _SPACE_BUT_SPACE.search(joined):
            return None  # strip() would take more than the spaces that fold_kana drops
        kanas = list(map(str.strip, joined.split("\n")))
        joined = ",".join(kanas)
        if len(kanas) != count or "" in kanas or max(map(len, kanas)) > MAX_NAME_LENGTH:
            return None
        if has_control_character(joined) or has_ideograph(joined):
            return None

        birth_isos = self._birth_isos(births)
        if birth_isos is None:
            return None

        try:
            sexes = list(map(_SEX_TEXT.__getitem__, sex_texts))
        except KeyError:
            return None

        addresses = list(map(str.strip, addresses))
        if max(map(len, addresses)) > MAX_ADDRESS_LENGTH or has_control_character(",".join(addresses)):
            return None

        statuses = ["active"] * count
        moved_on = [""] * count
        if movements.count("") != count or moved.count("") != count:
            for index in itertools.compress(range(count), map(operator.add, movements, moved)):
                movement = self._movement(movements[index], moved[index], birth_isos[index])
                if movement is None:
                    return None
                statuses[index], moved_on[index] = movement

        digests = dict(zip(given, map(bytes.hex, map(rules.hash_my_number, given)), strict=True))
        digests[""] = ""
        rules.addressee_lines.update(new_addressees)
        rules.voucher_lines.update(new_vouchers)
        kana_keys = "".join(_by_word(normal_words, self.kana_key_words, fold_kana)).split("\n")
        return _Block(first_line, addressees, vouchers, my_numbers, digests, names, kanas, kana_keys, birth_isos,
                      sexes, addresses, statuses, moved_on)

    def _birth_isos(self, texts: list[str]) -> list[str] | None:
        """The ISO texts of the birth dates, or None if one is not a date in the accepted years."""
        known = self.birth_texts
        isos = list(map(known.get, texts, itertools.repeat("")))
        if "" not in isos:
            return isos
        found = parse_dates(set(itertools.compress(texts, map(operator.not_, isos))))
        if found is None or min(found.values()) < EARLIEST_BIRTH_DATE or max(found.values()) > self.rules.today:
            return None
        new = dict(zip(found, map(datetime.date.isoformat, found.values()), strict=True))
        if len(known) < _MEMO_SIZE:
            known.update(new)
        return list(map(new.get, texts, isos))

    def _movement(self, movement_text: str, moved_text: str, birth_iso: str) -> tuple[str, str] | None:
        """(status, ISO date or "") of a valid 異動区分 and 異動日, None if they are not."""
        movement_text = code_text(movement_text)
        moved_text = moved_text.strip()
        if not movement_text and not moved_text:
            return "active", ""  # spaces only
        movement = MOVEMENTS.get(movement_text)
        if movement is None or not moved_text:
            return None
        try:
            moved_on = parse_date(moved_text)
        except DateError:
            return None
        if moved_on < datetime.date.fromisoformat(birth_iso):
            return None
        if movement == "deceased" and moved_on > self.rules.today:
            return None
        return movement, moved_on.isoformat()


class ResidentCopy:
    """One pass over a resident file: iterate for the COPY text of its valid rows (COPY_COLUMNS, one text per
    block of the file), or call ``tables`` instead, then read ``report``. As with TableScan, the caller must
    apply nothing unless ``report.ok`` once the iteration has finished."""

    def __init__(self, scan: TableScan[Resident], rules: ResidentRow, *, by_row: bool) -> None:
        self._scan = scan
        self._municipality_code = rules.municipality_code
        self._read_block = None if by_row else _ResidentBlocks(rules)

    def __iter__(self) -> Iterator[str]:
        read_block = self._read_block
        if read_block is None:
            return self._scan.batches(_rows_csv)

        def stage_csv(columns: Sequence[list[str]], first_line: int, /) -> str | None:
            block = read_block(columns, first_line)
            return None if block is None else _block_stage_csv(block)

        return self._scan.batches(_rows_csv, stage_csv)

    def tables(self) -> Iterator[tuple[str, str]]:
        """The valid rows a block at a time as the COPY text of new residents (RESIDENT_COLUMNS) and of their
        digests (DIGEST_COLUMNS, empty when no row of the block has a My Number): the rows COPY_COLUMNS
        stages, without their lines."""
        code = self._municipality_code
        read_block = self._read_block

        def rows_csv(rows: list[Resident]) -> tuple[str, str]:
            return _rows_tables_csv(code, rows)

        if read_block is None:
            return self._scan.batches(rows_csv)

        def tables_csv(columns: Sequence[list[str]], first_line: int, /) -> tuple[str, str] | None:
            block = read_block(columns, first_line)
            return None if block is None else _block_tables_csv(code, block)

        return self._scan.batches(rows_csv, tables_csv)

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
    hash_my_number: Callable[[str], bytes],
    progress: ProgressCallback | None = None,
    total_bytes: int | None = None,
    max_errors: int = MAX_ERRORS,
    chunk_size: int = CHUNK_SIZE,
    by_row: bool = False,
) -> ResidentCopy:
    """Read a resident file lazily into COPY text; the arguments and errors are those of scan_residents.

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
    return ResidentCopy(scan, rules, by_row=by_row)
