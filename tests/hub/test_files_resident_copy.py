"""A resident file read into COPY text: blocks checked column by column give exactly what reading every row
one by one gives (the same staged rows, the same report, the same errors on the same lines)."""

from __future__ import annotations

import csv
import datetime
import hashlib
import hmac
import io
import itertools
import sys
import unicodedata
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.api.services.residents import my_number_hasher
from hub.db import residents as residents_db
from hub.files import FilesError, parse_residents
from hub.files.dates import parse_date, parse_dates
from hub.files.errors import DateError
from hub.files.resident_copy import (
    COPY_COLUMNS,
    DIGEST_COLUMNS,
    RESIDENT_COLUMNS,
    ResidentCopy,
    my_numbers_ok,
    scan_resident_copy,
)
from hub.files.table import ProgressCallback
from hub.files.text import fold_kana, nfkc
from protocol import is_valid_my_number
from protocol.check_digits import my_number_check_digit
from tests.hub.test_files_import import CODE, RESIDENT_HEADER, TODAY, hash_my_number

COLUMNS = RESIDENT_HEADER.split(",")


def read_file(
    data: bytes, *, by_row: bool, chunk_size: int = 1 << 20, progress: ProgressCallback | None = None
) -> ResidentCopy:
    return scan_resident_copy(
        io.BytesIO(data),
        municipality_code=CODE,
        today=TODAY,
        hash_my_number=hash_my_number,
        chunk_size=chunk_size,
        progress=progress,
        by_row=by_row,
    )


def copy_text(
    data: bytes, *, by_row: bool, chunk_size: int = 1 << 20, progress: ProgressCallback | None = None
) -> tuple[str, ResidentCopy]:
    copy = read_file(data, by_row=by_row, chunk_size=chunk_size, progress=progress)
    return "".join(copy), copy


def tables_text(
    data: bytes, *, by_row: bool, chunk_size: int = 1 << 20, progress: ProgressCallback | None = None
) -> tuple[tuple[str, str], ResidentCopy]:
    copy = read_file(data, by_row=by_row, chunk_size=chunk_size, progress=progress)
    batches = list(copy.tables())
    return ("".join(b[0] for b in batches), "".join(b[1] for b in batches)), copy


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
def test_blocks_read_column_wise_give_what_reading_each_row_gives(data: bytes, chunk_size: int) -> None:
    assert outcome(data, by_row=False, chunk_size=chunk_size) == outcome(data, by_row=True, chunk_size=chunk_size)


@settings(max_examples=200)
@given(resident_files(), st.sampled_from([64, 700, 1 << 20]))
def test_blocks_read_column_wise_give_the_tables_what_reading_each_row_gives(data: bytes, chunk_size: int) -> None:
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
    staged = list(csv.reader(io.StringIO(staged_text)))
    at = {column: COPY_COLUMNS.index(column) for column in COPY_COLUMNS}
    assert list(csv.reader(io.StringIO(residents))) == [
        [CODE, *(row[at[column]] for column in RESIDENT_COLUMNS[1:])] for row in staged
    ]
    assert list(csv.reader(io.StringIO(digests))) == [
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
    parsed = parse_residents(io.BytesIO(data), municipality_code=CODE, today=TODAY, hash_my_number=hash_my_number)
    staged = [
        (r.line, r.addressee_no, r.voucher_no, r.my_number_hmac.hex() if r.my_number_hmac else None, r.name,
         r.name_kana, r.kana_key, r.birth_date, r.sex, r.address, r.movement or "active", r.moved_on)
        for r in parsed.rows
    ]  # fmt: skip
    # What COPY's CSV reader takes back field for field: the csv module's own quoting of the same values.
    written = io.StringIO()
    csv.writer(written, lineterminator="\n").writerows(staged)
    assert text == written.getvalue()


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


def test_a_file_of_valid_rows_is_read_column_wise_into_the_same_rows() -> None:
    data = valid_file(3000)
    scan = scan_resident_copy(
        io.BytesIO(data), municipality_code=CODE, today=TODAY, hash_my_number=hash_my_number, chunk_size=8192
    )
    read_block = scan._read_block
    assert read_block is not None
    answers: list[object] = []

    def counted(columns: Sequence[list[str]], line: int) -> object:
        answers.append(read_block(columns, line))
        return answers[-1]

    scan._read_block = counted  # type: ignore[assignment]  # counts the blocks decided column-wise
    text = "".join(scan)
    assert scan.report.ok and scan.report.rows == 3000
    assert len(answers) > 10 and None not in answers
    assert text == copy_text(data, by_row=True)[0]
    first = text.split("\n", 1)[0].split(",")
    assert first[0] == "2" and first[4:7] == ["山田　太郎", "ヤマダ タロウ", "ヤマダタロウ"]


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


def test_bytes_that_are_no_text_are_reported_on_their_line_as_before() -> None:
    data = valid_file(200) + b"\x82\xff\r\n" + valid_rows(2, first=901)
    _, scan = copy_text(data, by_row=False, chunk_size=1024)
    assert [error.line for error in scan.report.errors] == [202]
    assert (scan.report.rows, scan.report.valid_rows) == (203, 202)


# --- the column-wise operations, against their one-value forms -------------------------------------------


def test_no_character_has_a_line_feed_or_space_split_in_its_nfkc_form() -> None:
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        normal = unicodedata.normalize("NFKC", char)
        assert "\n" not in normal or char == "\n"


name_text = st.text(
    st.one_of(
        st.characters(codec="utf-8", exclude_characters="\n"),
        st.sampled_from("ｱｶﾞﾊﾟﾞﾟ\u3099\u309a\u0301\u0316ー－ｰ\u3000 ・=.,~ぁゔヴ"),
    ),
    max_size=12,
)


@given(st.lists(name_text, max_size=6), st.sampled_from([" ", "\n"]))
def test_nfkc_and_fold_kana_of_joined_words_are_the_joined_answers(words: list[str], separator: str) -> None:
    joined = separator.join(words)
    assert nfkc(joined) == separator.join(map(nfkc, words))
    assert fold_kana(joined) == fold_kana(separator).join(map(fold_kana, words))


twelve_digits = st.text(st.sampled_from("0123456789"), min_size=12, max_size=12)


@given(st.lists(st.one_of(twelve_digits, st.integers(0, 10**11 - 1).map(my_number)), max_size=30))
def test_check_digits_of_many_numbers_at_once_agree_with_each(numbers: list[str]) -> None:
    assert my_numbers_ok("".join(numbers).encode()) == all(map(is_valid_my_number, numbers))


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


@given(st.lists(date_text, max_size=12))
def test_dates_read_together_are_those_read_one_by_one(texts: list[str]) -> None:
    expected: dict[str, datetime.date] | None = {}
    for text in texts:
        try:
            expected[text] = parse_date(text)  # type: ignore[index]
        except DateError:
            expected = None
            break
    assert parse_dates(set(texts)) == expected


def test_the_hub_secrets_hmac_is_hmac_sha256() -> None:
    for size in (0, 1, 32, 63, 64, 65, 200):
        secret = bytes(range(size % 256)) * (1 + size // 256)
        hasher = my_number_hasher(secret[:size])
        for number in ("123456789018", "000000000000"):
            assert hasher(number) == hmac.new(secret[:size], number.encode(), hashlib.sha256).digest()


@pytest.mark.parametrize("rows", [0, 1, 2])
def test_small_files_read_the_same_both_ways(rows: int) -> None:
    data = valid_file(rows)
    for cut in itertools.product([b"", b"\r\n"], repeat=1):
        trimmed = data.removesuffix(b"\r\n") + cut[0]
        assert outcome(trimmed, by_row=False, chunk_size=64) == outcome(trimmed, by_row=True, chunk_size=64)
