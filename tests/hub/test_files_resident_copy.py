"""A resident file read into COPY text: blocks read by the C reader give exactly what reading every row one
by one gives (the same staged rows, the same report, the same errors on the same lines), and its own rules
(kana tables, dates, stripping, the HMAC) agree with the row rules value by value."""

from __future__ import annotations

import datetime
import gc
import hashlib
import hmac
import io
import itertools
import struct
import weakref
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.db import residents as residents_db
from hub.files import FilesError, _resident_block, parse_residents
from hub.files.my_number_hash import MyNumberHasher
from hub.files.resident_copy import (
    COPY_COLUMNS,
    DIGEST_COLUMNS,
    RESIDENT_COLUMNS,
    ResidentCopy,
    _ResidentBlocks,
    scan_resident_copy,
)
from hub.files.residents import Resident, resident_rules
from hub.files.table import ErrorSink, ImportReport, ProgressCallback
from hub.keys import my_number_hmac
from protocol.check_digits import my_number_check_digit
from tests.hub.test_files_import import CODE, RESIDENT_HEADER, SECRET, TODAY

COLUMNS = RESIDENT_HEADER.split(",")
HASHER = MyNumberHasher(SECRET)
POSTGRES_EPOCH = datetime.date(2000, 1, 1).toordinal()


def copy_rows(data: bytes, columns: Sequence[str]) -> list[list[object]]:
    """The rows of binary COPY data (no header) as values, read the way PostgreSQL reads them into ``columns``."""
    rows: list[list[object]] = []
    at = 0
    while at < len(data):
        (count,) = struct.unpack_from("!h", data, at)
        assert count == len(columns)
        at += 2
        row: list[object] = []
        for column in columns:
            (size,) = struct.unpack_from("!i", data, at)
            at += 4
            raw = data[at : at + max(size, 0)]
            at += max(size, 0)
            if size < 0:
                row.append(None)
            elif column in ("birth_date", "status_date"):
                row.append(datetime.date.fromordinal(struct.unpack("!i", raw)[0] + POSTGRES_EPOCH))
            elif column in ("line", "sex"):
                row.append(int.from_bytes(raw, "big", signed=True))
            elif column in ("my_number_hmac", "hmac"):
                row.append(raw)
            else:
                row.append(raw.decode())
        rows.append(row)
    return rows


def read_file(
    data: bytes, *, by_row: bool, chunk_size: int = 1 << 20, progress: ProgressCallback | None = None,
    hasher: MyNumberHasher = HASHER,
) -> ResidentCopy:
    return scan_resident_copy(
        io.BytesIO(data),
        municipality_code=CODE,
        today=TODAY,
        hash_my_number=hasher,
        chunk_size=chunk_size,
        progress=progress,
        by_row=by_row,
    )


def copy_text(
    data: bytes, *, by_row: bool, chunk_size: int = 1 << 20, progress: ProgressCallback | None = None
) -> tuple[bytes, ResidentCopy]:
    copy = read_file(data, by_row=by_row, chunk_size=chunk_size, progress=progress)
    return b"".join(copy), copy


def tables_text(
    data: bytes, *, by_row: bool, chunk_size: int = 1 << 20, progress: ProgressCallback | None = None
) -> tuple[tuple[bytes, bytes], ResidentCopy]:
    copy = read_file(data, by_row=by_row, chunk_size=chunk_size, progress=progress)
    batches = list(copy.tables())
    return (b"".join(b[0] for b in batches), b"".join(b[1] for b in batches)), copy


def outcome(data: bytes, *, by_row: bool, chunk_size: int, tables: bool = False) -> tuple[object, ...]:
    progress: list[tuple[int, int, int | None]] = []
    read = tables_text if tables else copy_text
    try:
        text, copy = read(data, by_row=by_row, chunk_size=chunk_size, progress=lambda *seen: progress.append(seen))
    except FilesError as exc:
        return ("refused", type(exc), str(exc), progress)
    return (text, copy.report, progress)


def my_number(n: int) -> str:
    first11 = f"{n * 7919:011d}"[-11:]
    return first11 + my_number_check_digit(first11)


VALID = {
    "自治体コード": [CODE],
    "個人番号": ["", "valid"],
    "氏名": ["山田　太郎", "ﾔﾏﾀﾞ 太郎", " 佐藤 花子 ", "O'Neil John"],
    "氏名カナ": ["ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ", "ｼｮｳﾀ", "やまだ たろう", " ヴァ・ノ ", "ｶﾞｯｺｳ-ｰ"],
    "生年月日": ["19480401", "S23.4.1", "1948/4/1", "1990-12-31", "H2.1.8", "s64.1.7", "R1.5.1", "T15.12.24"],
    "性別": ["1", "2", "男", "女性"],
    "住所": ["", "東京都千代田区千代田1-1", " 港町 3-4 "],
    "異動": ["", "", "転出,20210401", "死亡,20200101"],
}
# Values that the row rules refuse, or accept only once normalised.
UNUSUAL = {
    "自治体コード": ["１３１０１６", "13101", "", "999999"],
    "宛名番号": ["", "１２", " 12 ", "x" * 21, "A-1", "dup"],
    "接種券番号": ["", "12345", "１２３４５６７８９０", "dup"],
    "個人番号": ["1234-5678-9018", "123456789019", "１２３４５６７８９０１８", " ", "12345"],
    "氏名": ["", "a" * 101, "tab\there", '"quoted ""name"""', '"a,b"'],
    "氏名カナ": ["", "山田", "ア" * 101, "ｱﾞ\u3099", "ﾀ\u1680"],
    "生年月日": ["", "20990101", "18000101", "19480230", "H31.5.1", "昭和23年4月1日", "1948/4/1 0:00", "S0.1.1",
                 "0000/1/1", "19480401 "],
    "性別": ["", "１", "x", " 1"],
    "住所": ['"a\r\nb"', '"a,b"', "x" * 201, "a\u2028b"],
    "異動": ["転出,", ",20210401", "xx,20210401", "死亡,20990101", "転出,19000101", " , ", "転出, 20210401 "],
}  # fmt: skip


@st.composite
def resident_rows(draw: st.DrawFn, n: int) -> str:
    fields: dict[str, str] = {}
    bad = {draw(st.sampled_from(list(UNUSUAL)))} if draw(st.integers(0, 3)) == 0 else set()
    for column in [*COLUMNS[:-2], "異動"]:
        if column in bad:
            value = draw(st.sampled_from(UNUSUAL[column]))
        elif column == "宛名番号":
            value = draw(st.sampled_from([f"{n:08d}", f"A{n}", str(n)]))
        elif column == "接種券番号":
            value = f"{n:010d}"
        else:
            value = draw(st.sampled_from(VALID[column]))
        if value == "dup":
            value = f"{max(n - 1, 1):08d}" if column == "宛名番号" else f"{max(n - 1, 1):010d}"
        elif value == "valid":
            value = my_number(n)
        fields[column] = value
    if fields["異動"] == "":
        fields["異動"] = ","
    return ",".join(fields.values())


@st.composite
def resident_files(draw: st.DrawFn) -> bytes:
    lines = [RESIDENT_HEADER]
    for n in range(1, draw(st.integers(0, 40)) + 1):
        kind = draw(st.integers(0, 30))
        if kind == 0:
            lines.append("")
        elif kind == 1:
            lines.append("," * 10)
        elif kind == 2:
            lines.append(",".join([CODE, f"{n:08d}", f"{n:010d}"]))  # too few fields
        else:
            lines.append(draw(resident_rows(n)))
    end = draw(st.sampled_from(["\r\n", "\n"]))
    text = end.join(lines) + draw(st.sampled_from([end, ""]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp932"]))
    data = text.encode(encoding, "replace")
    if draw(st.integers(0, 20)) == 0:
        data += b"\x82\xff\r\n"  # neither UTF-8 nor CP932
    return data


@settings(max_examples=400)
@given(resident_files(), st.sampled_from([64, 200, 700, 1 << 20]))
def test_blocks_read_in_c_give_what_reading_each_row_gives(data: bytes, chunk_size: int) -> None:
    assert outcome(data, by_row=False, chunk_size=chunk_size) == outcome(data, by_row=True, chunk_size=chunk_size)


@settings(max_examples=200)
@given(resident_files(), st.sampled_from([64, 700, 1 << 20]))
def test_blocks_read_in_c_give_the_tables_what_reading_each_row_gives(data: bytes, chunk_size: int) -> None:
    assert outcome(data, by_row=False, chunk_size=chunk_size, tables=True) == outcome(
        data, by_row=True, chunk_size=chunk_size, tables=True
    )


@settings(max_examples=100)
@given(resident_files(), st.booleans())
def test_the_tables_get_the_staged_rows_without_their_lines_and_digests_apart(data: bytes, by_row: bool) -> None:
    try:
        staged_text, _ = copy_text(data, by_row=by_row, chunk_size=200)
    except FilesError:
        return
    (residents, digests), _ = tables_text(data, by_row=by_row, chunk_size=200)
    staged = copy_rows(staged_text, COPY_COLUMNS)
    at = {column: COPY_COLUMNS.index(column) for column in COPY_COLUMNS}
    assert copy_rows(residents, RESIDENT_COLUMNS) == [
        [CODE, *(row[at[column]] for column in RESIDENT_COLUMNS[1:])] for row in staged
    ]
    assert copy_rows(digests, DIGEST_COLUMNS) == [
        [CODE, row[at["atena_no"]], row[at["my_number_hmac"]]] for row in staged if row[at["my_number_hmac"]]
    ]


def test_the_table_columns_are_those_a_first_import_copies_into() -> None:
    assert RESIDENT_COLUMNS == residents_db.FIRST_RESIDENT_COLUMNS
    assert DIGEST_COLUMNS == residents_db.FIRST_DIGEST_COLUMNS


@settings(max_examples=50)
@given(resident_files())
def test_reading_each_row_writes_what_the_staging_rows_were_written_as(data: bytes) -> None:
    try:
        text, _ = copy_text(data, by_row=True)
    except FilesError:
        return
    parsed = parse_residents(io.BytesIO(data), municipality_code=CODE, today=TODAY, hash_my_number=HASHER)
    staged = [
        [r.line, r.addressee_no, r.voucher_no, r.my_number_hmac, r.name,
         r.name_kana, r.kana_key, r.birth_date, r.sex, r.address, r.movement or "active", r.moved_on]
        for r in parsed.rows
    ]  # fmt: skip
    assert copy_rows(text, COPY_COLUMNS) == staged


@pytest.mark.parametrize(
    ("column", "value"), [(column, value) for column, values in UNUSUAL.items() for value in values if value != "dup"]
)
def test_each_unusual_value_among_valid_rows_reads_as_when_reading_each_row(column: str, value: str) -> None:
    lines = valid_file(6).decode("cp932").split("\r\n")
    fields = lines[3].split(",")
    if column == "異動":
        fields[-2:] = value.split(",")
    else:
        fields[COLUMNS.index(column)] = value
    lines[3] = ",".join(fields)
    data = "\r\n".join(lines).encode("utf-8")
    for chunk_size in (64, 1 << 20):
        assert outcome(data, by_row=False, chunk_size=chunk_size) == outcome(data, by_row=True, chunk_size=chunk_size)


def test_the_copy_columns_are_the_staging_tables() -> None:
    assert COPY_COLUMNS == residents_db.STAGE_COLUMNS


def valid_rows(rows: int, first: int = 1) -> bytes:
    lines = []
    for n in range(first, first + rows):
        birth = ["19480401", "S23.4.1", f"19{n % 90 + 10}/{n % 12 + 1}/{n % 28 + 1}"][n % 3]
        moved = "転出,20210401" if n % 7 == 0 else ","
        lines.append(
            f"{CODE},{n:08d},{n:010d},{my_number(n) if n % 2 else ''},山田　太郎,ﾔﾏﾀﾞ ﾀﾛｳ,{birth},{1 + n % 2},"
            f"港町{n % 9}-{n % 30},{moved}\r\n"
        )
    return "".join(lines).encode("cp932")


def valid_file(rows: int) -> bytes:
    return (RESIDENT_HEADER + "\r\n").encode("cp932") + valid_rows(rows)


def test_a_file_of_valid_rows_is_read_in_blocks_into_the_same_rows() -> None:
    data = valid_file(3000)
    scan = scan_resident_copy(
        io.BytesIO(data), municipality_code=CODE, today=TODAY, hash_my_number=HASHER, chunk_size=8192
    )
    read_row = scan._scan._read_row
    rows_read_one_by_one: list[int] = []

    def counted(fields: Sequence[str], line: int, sink: ErrorSink, /) -> Resident | None:
        rows_read_one_by_one.append(line)
        return read_row(fields, line, sink)

    scan._scan._read_row = counted
    text = b"".join(scan)
    assert scan.report.ok and scan.report.rows == 3000
    assert rows_read_one_by_one == []
    assert text == copy_text(data, by_row=True)[0]
    first = copy_rows(text, COPY_COLUMNS)[0]
    assert first[0] == 2 and first[4:7] == ["山田　太郎", "ヤマダ タロウ", "ヤマダタロウ"]


def test_a_repeat_across_blocks_and_ways_of_reading_is_reported_on_its_line() -> None:
    lines = valid_file(300).split(b"\r\n")[:-1]
    lines.insert(250, lines[4].replace(b"S23.4.1", "Ｓ23.4.1".encode("cp932")))
    lines.append(lines[200].replace(b",00000200,", b",99999,", 1))
    _, scan = copy_text(b"\r\n".join(lines), by_row=False, chunk_size=2048)
    assert scan.report.messages() == [
        "line 251, 宛名番号: '00000004' is also on line 5",
        "line 251, 接種券番号: 0000000004 is also on line 5",
        "line 303, 接種券番号: 0000000200 is also on line 201",
    ]


@pytest.mark.parametrize("by_row", [False, True])
def test_a_repeat_within_one_block_is_reported_on_its_later_line(by_row: bool) -> None:
    lines = valid_file(300).split(b"\r\n")
    lines[20] = lines[20].replace(b",00000020,", b",00000010,", 1)
    lines[30] = lines[30].replace(b",0000000030,", b",0000000025,", 1)
    _, scan = copy_text(b"\r\n".join(lines), by_row=by_row)
    assert scan.report.messages() == [
        "line 21, 宛名番号: '00000010' is also on line 11",
        "line 31, 接種券番号: 0000000025 is also on line 26",
    ]


@pytest.mark.parametrize("extra", [1, 60, 100])
def test_columns_of_the_clerks_own_are_ignored_however_many_and_wherever_they_stand(extra: int) -> None:
    # Reordered, with columns of an old system's own before and after: the C reader takes headers of up to 64
    # columns, wider ones are read row by row; both give the same rows.
    names = [f"備考{n}" for n in range(extra)]
    header = ",".join([names[0], *reversed(COLUMNS), *names[1:]])
    lines = [header]
    for line in valid_rows(500).decode("cp932").split("\r\n")[:-1]:
        fields = line.split(",")
        lines.append(",".join(["x", *reversed(fields), *["y"] * (extra - 1)]))
    data = "\r\n".join(lines).encode("cp932")
    fast, by_row = outcome(data, by_row=False, chunk_size=8192), outcome(data, by_row=True, chunk_size=8192)
    assert fast == by_row
    report = fast[1]
    assert isinstance(report, ImportReport) and report.ok and report.valid_rows == 500
    assert report.ignored_columns == names
    assert copy_rows(copy_text(valid_file(500), by_row=True)[0], COPY_COLUMNS) == copy_rows(fast[0], COPY_COLUMNS)


@pytest.mark.parametrize("by_row", [False, True])
def test_a_finished_scan_is_freed_at_once_not_at_the_next_garbage_collection(by_row: bool) -> None:
    # A scan holds the 宛名番号 and 接種券番号 of every row of its file: a cycle would keep them until a full
    # collection, which a server holding many objects runs rarely.
    gc.disable()
    try:
        copy = read_file(valid_file(300), by_row=by_row, chunk_size=1024, progress=lambda *seen: None)
        assert len(b"".join(rows for rows, _ in copy.tables())) > 0 and copy.report.ok
        scan, rules = weakref.ref(copy._scan), weakref.ref(copy._rules)
        del copy
        assert scan() is None and rules() is None
    finally:
        gc.enable()


def test_bytes_that_are_no_text_are_reported_on_their_line_as_before() -> None:
    data = valid_file(200) + b"\x82\xff\r\n" + valid_rows(2, first=901)
    _, scan = copy_text(data, by_row=False, chunk_size=1024)
    assert [error.line for error in scan.report.errors] == [202]
    assert (scan.report.rows, scan.report.valid_rows) == (203, 202)


@pytest.mark.parametrize("encoding, bad", [("utf-8", b"\xed\xa0\x80"), ("cp932", b"\x82\xff")])
def test_bytes_that_are_no_text_within_a_valid_row_are_reported_on_its_line(encoding: str, bad: bytes) -> None:
    # An encoded surrogate is not UTF-8 to Python; 0x82 0xFF is no CP932 pair.
    def rows(count: int, first: int) -> bytes:
        return valid_rows(count, first).decode("cp932").encode(encoding)

    broken = rows(1, 201).replace("港".encode(encoding), bad)
    data = (RESIDENT_HEADER + "\r\n").encode(encoding) + rows(200, 1) + broken + rows(2, 901)
    for by_row in (False, True):
        _, scan = copy_text(data, by_row=by_row, chunk_size=1024)
        errors = scan.report.errors
        assert [(error.line, bad[:2].hex(" ").upper() in error.message) for error in errors] == [(202, True)]
        assert (scan.report.rows, scan.report.valid_rows) == (203, 202)


# --- the block's bytes as the C reader takes them: as Python's codecs read them, or not at all --------------


def python_utf8(data: bytes, encoding: str) -> bytes | None:
    try:
        return data.decode(encoding).encode()
    except UnicodeDecodeError:
        return None


def test_every_cp932_byte_and_pair_reads_as_pythons_codec_reads_it() -> None:
    for first in range(256):
        assert _resident_block.utf8(bytes([first]), True) == python_utf8(bytes([first]), "cp932")
        for second in range(256):
            pair = bytes([first, second])
            assert _resident_block.utf8(pair, True) == python_utf8(pair, "cp932"), pair.hex()


# Edges of UTF-8: a surrogate, past U+10FFFF, overlong forms, the last of each length, a cut sequence, and
# CP932 pairs whose second byte is ASCII.
ODD_BYTES = [b"\xed\xa0\x80", b"\xed\x9f\xbf", b"\xf4\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xc0\x80", b"\xc1\xbf",
             b"\xc2\x80", b"\xe0\x80\x80", b"\xe0\xa0\x80", b"\xf0\x80\x80\x80", b"\xf0\x90\x80\x80", b"\xef\xbf\xbf",
             b"\xe3\x81", b"\xf8\x88\x80\x80\x80", b"\x81\x40", b"\x83\x5c", b"\xfc\x4b", b"\x81\x7f"]  # fmt: skip


@settings(max_examples=500)
@given(
    st.lists(
        st.one_of(st.binary(max_size=4), st.sampled_from(ODD_BYTES), st.text(max_size=4).map(str.encode),
                  st.text(max_size=4).map(lambda text: text.encode("cp932", "ignore"))),
        max_size=30,
    ).map(b"".join),
    st.booleans(),
)
def test_any_bytes_read_as_pythons_codecs_read_them_or_not_at_all(data: bytes, cp932: bool) -> None:
    assert _resident_block.utf8(data, cp932) == python_utf8(data, "cp932" if cp932 else "utf-8")


# --- the C reader's own rules, one row at a time, against the row rules ---------------------------------


def fast_row(fields: dict[str, str]) -> list[object] | None:
    """The staged row the C reader writes for one line of these fields (in COLUMNS order) in UTF-8, or None;
    the same line in CP932, where it has those characters (and they read back as themselves), must give the same."""
    line = ",".join(fields.get(column, "") for column in COLUMNS)
    answers = []
    for encoding in ("utf-8", "cp932"):
        block = line.encode(encoding, "replace")
        if block.decode(encoding) != line:
            continue
        blocks = _ResidentBlocks(resident_rules(CODE, TODAY, HASHER), HASHER, stage=True)
        answer = blocks(block, encoding == "cp932", 7, len(COLUMNS), tuple(range(len(COLUMNS))))
        answers.append(None if answer is None else copy_rows(answer[0], COPY_COLUMNS)[0])
    assert answers[1:] in ([], answers[:1])
    return answers[0]


def row_path(fields: dict[str, str]) -> list[object] | None:
    """What the row rules make of the same fields: the staged row's values, or None if they refuse it."""
    sink = ErrorSink(10)
    row = resident_rules(CODE, TODAY, HASHER)([fields.get(column, "") for column in COLUMNS], 7, sink)
    if row is None:
        return None
    return [row.line, row.addressee_no, row.voucher_no, row.my_number_hmac,
            row.name, row.name_kana, row.kana_key, row.birth_date, row.sex, row.address, row.movement or "active",
            row.moved_on]  # fmt: skip


BASE = {"自治体コード": CODE, "宛名番号": "00000001", "接種券番号": "0000000001", "個人番号": "",
        "氏名": "山田　太郎", "氏名カナ": "ヤマダ タロウ", "生年月日": "19480401", "性別": "1", "住所": "港町1-1",
        "異動区分": "", "異動日": ""}  # fmt: skip


def agrees(*, normalised: str = "", **changes: str) -> list[object] | None:
    """The C reader's row for BASE with ``changes``, checked against the row rules: when it answers, it writes
    what they write; when they take the row, so does it (or a Python rule it asks), unless they only take it
    ``normalised`` (a code or number written in full-width digits, say: left to them)."""
    fields = {**BASE, **changes}
    fast, expected = fast_row(fields), row_path(fields)
    if fast is not None:
        assert fast == expected
    else:
        assert expected is None or normalised
    return fast


def test_every_kana_character_and_sound_mark_reads_as_nfkc_and_fold_kana_read_it() -> None:
    singles = [chr(code) for code in (*range(0x3000, 0x3100), *range(0xFF00, 0x10000), 0x20, 0x41, 0x4E00)]
    marks = ["", "ﾞ", "ﾟ", "ﾞﾞ", "\u3099", "ﾟﾞ"]
    for char in singles:
        for mark in marks:
            agrees(氏名カナ=f"ア{char}{mark} カ")
    assert agrees(氏名カナ="ｶﾞｯｺｳ ﾊﾟﾊﾟ") == row_path({**BASE, "氏名カナ": "ガッコウ パパ"})


def test_kana_the_tables_leave_to_python_still_go_in_unquoted_or_row_by_row() -> None:
    assert agrees(氏名カナ="ＡＢＣ ﾀﾛｳ") is not None  # full-width letters: NFKC in Python
    assert (agrees(氏名カナ="ﾀ，ﾛｳ") or [])[5] == "タ,ロウ"  # NFKC makes a comma, which binary COPY takes as it is
    assert (agrees(氏名カナ="ﾀ＂ﾛｳ") or [])[5] == 'タ"ロウ'
    assert agrees(氏名カナ="山田") is None  # kanji: refused
    assert agrees(氏名カナ="　 ") is None  # blank once stripped


def test_names_and_addresses_lose_exactly_what_str_strip_takes() -> None:
    # Line feeds and CRs come only inside quotes, which the row reading takes.
    spaces = [chr(code) for code in range(0x3100) if chr(code).isspace() and chr(code) not in "\r\n"]
    spaces += ["\u202f", "\u205f", "\u180e", "\u200b"]
    for space in spaces:
        for text in (f"{space}山田{space}", f"{space}", f"山{space}田"):
            agrees(氏名=text)
            agrees(住所=text)
    assert agrees(氏名=" 佐藤 花子 ", 住所=" 港町 3-4 ") is not None


def test_control_characters_and_long_values_are_left_to_the_row_reading() -> None:
    for text in ("山\x00田", "山\x7f田", "山\x85田", "山\u2028田", "a" * 101):
        assert agrees(氏名=text) is None
    assert agrees(氏名="a" * 100) is not None
    assert agrees(住所="b" * 200) is not None and agrees(住所="b" * 201) is None


date_text = st.one_of(
    st.builds(
        "{}{}{}{}{}".format,
        st.sampled_from(["", "S", "H", "R", "M", "T", "s", "X"]),
        st.integers(0, 2100).map(str),
        st.sampled_from(["/", "-", ".", ""]),
        st.integers(0, 13).map(str),
        st.sampled_from(["/", "-", ".", ""]).flatmap(lambda sep: st.integers(0, 32).map(lambda d: f"{sep}{d}")),
    ),
    st.dates().map(lambda d: d.strftime("%Y%m%d")),
    st.text(st.sampled_from("0123456789/.-S年月日 "), max_size=12),
)


@given(date_text)
def test_birth_dates_read_in_c_are_those_parse_date_reads(text: str) -> None:
    assert "," not in text
    agrees(生年月日=text)


@given(st.dates(datetime.date(1880, 1, 1), datetime.date(2030, 1, 1)),
       st.sampled_from(["{:%Y%m%d}", "{:%Y/%-m/%-d}", "{:%Y-%m-%d}", "{:%Y.%-m.%d}"]))
def test_dates_of_every_year_and_form_read_as_parse_date_reads_them(day: datetime.date, form: str) -> None:
    fast = agrees(生年月日=form.format(day), 異動区分="転出", 異動日=form.format(day + datetime.timedelta(days=400)))
    if datetime.date(1890, 1, 1) <= day <= TODAY:
        assert fast is not None and fast[7] == day


def test_era_dates_at_each_eras_ends() -> None:
    for text, iso in [("S64.1.7", "1989-01-07"), ("H1.1.8", "1989-01-08"), ("h31.4.30", "2019-04-30"),
                      ("R1.5.1", "2019-05-01"), ("T15.12.24", "1926-12-24"), ("S1.12.25", "1926-12-25"),
                      ("M45.7.29", "1912-07-29"), ("T1-7/30", "1912-07-30"), ("S23.4.1", "1948-04-01")]:
        assert (agrees(生年月日=text) or [""] * 8)[7] == datetime.date.fromisoformat(iso), text
    for text in ("S64.1.8", "H31.5.1", "S0.1.1", "S23.2.30", "X23.4.1", "S23.4.1.", "1948/4-1"):
        assert agrees(生年月日=text) is None, text


def test_movements_and_sexes_read_as_the_row_rules_read_them() -> None:
    for movement, moved in [("転出", "20210401"), ("死亡", "R2.1.1"), ("転出", ""), ("", "20210401"), (" ", " "),
                            ("死亡", "20990101"), ("転出", "19000101"), ("ﾃﾝｼｭﾂ", "20210401"), (" 転出 ", "2021/4/1")]:
        agrees(異動区分=movement, 異動日=moved)
    for sex in ("1", "2", "男", "女", "男性", "女性", "x", ""):
        agrees(性別=sex)
    for sex in ("１", " 1", "男 "):
        assert agrees(性別=sex, normalised="性別") is None


def test_codes_numbers_and_my_numbers_read_as_the_row_rules_read_them() -> None:
    for addressee in ("1", "0012", "A-1", "Ab9", "x" * 20, "x" * 21, "9" * 18, "9" * 19, "9" * 20, "0" * 20):
        agrees(宛名番号=addressee)
    for voucher in ("123456789", "12345678901", "0000000000", "9999999999"):
        agrees(接種券番号=voucher)
    for number in ("123456789018", "123456789019", "12345678901", ""):
        agrees(個人番号=number)
    for column, value in [("宛名番号", "１２"), ("宛名番号", " 12"), ("接種券番号", "１２３４５６７８９０"),
                          ("個人番号", "1234-5678-9018"), ("個人番号", " ")]:
        assert agrees(**{column: value}, normalised=column) is None
    assert agrees(自治体コード="131017") is None and agrees(自治体コード="13101") is None


@pytest.fixture(params=_resident_block.sha256_engines())
def sha256_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each SHA-256 this CPU runs (the x86 SHA extensions where it has them), the fastest again afterwards."""
    _resident_block.use_sha256(request.param)
    yield request.param
    _resident_block.use_sha256(_resident_block.sha256_engines()[-1])


def test_an_unknown_sha256_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="no SHA-256 engine 'md5'"):
        _resident_block.use_sha256("md5")


def test_the_c_hmac_is_hmac_sha256_for_many_numbers_and_secrets(sha256_engine: str) -> None:
    for size in (0, 12, 32, 64, 65, 131):
        secret = hashlib.sha256(f"{sha256_engine}{size}".encode()).digest() * 5
        hasher = MyNumberHasher(secret[:size])
        data = valid_file(500)
        rows = copy_rows(b"".join(digests for _, digests in read_file(data, by_row=False, hasher=hasher).tables()),
                         DIGEST_COLUMNS)
        numbers = [my_number(n) for n in range(1, 501, 2)]  # valid_rows gives odd rows a My Number
        assert [row[2] for row in rows] == [
            hmac.new(secret[:size], number.encode(), hashlib.sha256).digest() for number in numbers]


def test_a_callback_that_reads_again_with_the_same_reader_is_refused() -> None:
    # The reader keeps a block's UTF-8 from one read to the next: a second read would overwrite the first's.
    def read_date(text: str) -> int | None:
        reader.read(line, False, 3, len(COLUMNS), tuple(range(len(COLUMNS))))
        return None

    reader = _resident_block.Reader(
        municipality_code=CODE, earliest=1, today=TODAY.toordinal(), inner_pad=HASHER.inner_pad,
        outer_pad=HASHER.outer_pad, stage=True, read_date=read_date, read_kana=lambda text: None,
        read_movement=lambda movement, moved, birth: None)  # fmt: skip
    line = ",".join({**BASE, "生年月日": "昭和23年4月1日"}.values()).encode()
    with pytest.raises(RuntimeError, match=r"read\(\) within read\(\)"):
        reader.read(line, False, 2, len(COLUMNS), tuple(range(len(COLUMNS))))
    assert reader.read(",".join(BASE.values()).encode(), False, 2, len(COLUMNS), tuple(range(len(COLUMNS))))


def test_the_c_hmac_is_the_hubs_hmac_for_any_secret_length(sha256_engine: str) -> None:
    number = "123456789018"
    for size in (0, 1, 32, 63, 64, 65, 200):
        hasher = MyNumberHasher(bytes(range(size % 256)) * (1 + size // 256))
        rules = resident_rules(CODE, TODAY, hasher)
        line = ",".join({**BASE, "個人番号": number}.values())
        answer = _ResidentBlocks(rules, hasher, stage=False)(
            line.encode(), False, 2, len(COLUMNS), tuple(range(len(COLUMNS))))
        assert answer is not None
        assert copy_rows(answer[1], DIGEST_COLUMNS) == [[CODE, "00000001", hasher(number)]]


def test_the_hub_secrets_hmac_is_hmac_sha256() -> None:
    for size in (0, 1, 32, 63, 64, 65, 200):
        secret = bytes(range(size % 256)) * (1 + size // 256)
        hasher = MyNumberHasher(secret[:size])
        for number in ("123456789018", "000000000000"):
            assert hasher(number) == hmac.new(secret[:size], number.encode(), hashlib.sha256).digest()
            # What an import stores is what a move-in inquiry by My Number looks for.
            assert hasher(number) == my_number_hmac(secret[:size], number)


@pytest.mark.parametrize("rows", [0, 1, 2])
def test_small_files_read_the_same_both_ways(rows: int) -> None:
    data = valid_file(rows)
    for cut in itertools.product([b"", b"\r\n"], repeat=1):
        trimmed = data.removesuffix(b"\r\n") + cut[0]
        assert outcome(trimmed, by_row=False, chunk_size=64) == outcome(trimmed, by_row=True, chunk_size=64)
