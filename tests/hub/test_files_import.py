"""Reading clerks' resident and record files: encodings, normalisation, every error with its line."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import io
import tracemalloc

import msgspec
import pytest

from hub.files import (
    EncodingError,
    FileFormatError,
    HeaderError,
    ImportSetupError,
    parse_records,
    parse_residents,
    scan_residents,
)
from hub.files.encoding import TextLines
from hub.files.residents import my_number_ok
from hub.files.text import name_key
from protocol import is_valid_my_number

CODE = "131016"  # 千代田区
TODAY = datetime.date(2021, 6, 1)
SECRET = b"test-hub-secret"
RESIDENT_HEADER = "自治体コード,宛名番号,接種券番号,個人番号,氏名,氏名カナ,生年月日,性別,住所,異動区分,異動日"
RECORD_HEADER = "自治体コード,接種券番号,接種回数,接種状況,接種日,接種会場,ワクチンメーカー,ロット番号,医師名"
GOOD_MY_NUMBER = "123456789018"
MAKERS = "ファイザー, 武田/モデルナ, アストラゼネカ, 武田/ノババックス, その他"


def hash_my_number(number: str) -> bytes:
    return hmac.digest(SECRET, number.encode(), hashlib.sha256)


def resident_line(n: int = 1, **overrides: str) -> str:
    fields = {
        "自治体コード": CODE,
        "宛名番号": f"{n:08d}",
        "接種券番号": f"{n:010d}",
        "個人番号": "",
        "氏名": "山田　太郎",
        "氏名カナ": "ヤマダ　タロウ",
        "生年月日": "19480401",
        "性別": "1",
        "住所": "東京都千代田区千代田1-1",
        "異動区分": "",
        "異動日": "",
    }
    fields.update(overrides)
    return ",".join(fields.values())


def file_bytes(lines: list[str], encoding: str = "utf-8", header: str = RESIDENT_HEADER) -> bytes:
    return ("\r\n".join([header, *lines]) + "\r\n").encode(encoding)


def residents(data: bytes, **kwargs: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"municipality_code": CODE, "today": TODAY, "hash_my_number": hash_my_number}
    options.update(kwargs)
    return parse_residents(io.BytesIO(data), **options)  # type: ignore[arg-type]


def records(data: bytes, **kwargs: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"municipality_code": CODE, "today": TODAY}
    options.update(kwargs)
    return parse_records(io.BytesIO(data), **options)  # type: ignore[arg-type]


# --- encodings and normalisation -------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "expected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("cp932", "cp932")])
def test_each_encoding_is_detected_and_read(encoding: str, expected: str) -> None:
    parsed = residents(file_bytes([resident_line(1), resident_line(2)], encoding))
    assert parsed.report.ok, parsed.report.messages()
    assert parsed.report.encoding == expected
    assert parsed.report.bom is (encoding == "utf-8-sig")
    assert [row.name for row in parsed.rows] == ["山田　太郎", "山田　太郎"]
    assert parsed.rows[0].line == 2


def test_cp932_file_with_full_width_digits_and_half_width_kana_is_normalised() -> None:
    line = resident_line(
        **{
            "自治体コード": "１３１０１６",
            "宛名番号": "０００１２３",
            "接種券番号": "０１２３４５６７８９",
            "個人番号": "１２３４ ５６７８ ９０１８",
            "氏名": "ﾔﾏﾀﾞ 太郎",
            "氏名カナ": "ﾔﾏﾀﾞ ﾀﾛｳ",
            "生年月日": "昭和２３年４月１日",
            "性別": "男",
        }
    )
    parsed = residents(file_bytes([line], "cp932"))
    assert parsed.report.ok, parsed.report.messages()
    (row,) = parsed.rows
    assert row.municipality_code == CODE
    assert row.addressee_no == "000123"
    assert row.voucher_no == "0123456789"
    assert row.name_kana == "ヤマダ タロウ"
    assert row.kana_key == "ヤマダタロウ"
    assert row.name == "ﾔﾏﾀﾞ 太郎"  # the written name is kept as written; only its key is normalised
    assert name_key(row.name) == "ヤマダ太郎"
    assert row.birth_date == datetime.date(1948, 4, 1)
    assert row.sex == 1
    assert row.my_number_hmac == hash_my_number(GOOD_MY_NUMBER)


def test_kana_key_matches_hiragana_small_kana_and_separators() -> None:
    lines = [
        resident_line(1, 氏名カナ="しょうじ　ゆうこ"),
        resident_line(2, 氏名カナ="ｼﾖｳｼﾞ ﾕｳｺ"),
        resident_line(3, 氏名カナ="ショウジ・ユウコ"),
    ]
    parsed = residents(file_bytes(lines, "cp932"))
    assert parsed.report.ok, parsed.report.messages()
    assert {row.kana_key for row in parsed.rows} == {"シヨウジユウコ"}


def test_broken_bytes_are_reported_with_their_line_and_never_replaced() -> None:
    good = file_bytes([resident_line(1), resident_line(2), resident_line(3)], "cp932")
    lines = good.split(b"\r\n")
    lines[2] = lines[2].replace("山田".encode("cp932"), b"\x82\xff")  # 0x82 0xFF is no CP932 character
    parsed = residents(b"\r\n".join(lines))
    assert not parsed.report.ok
    assert [row.line for row in parsed.rows] == [2, 4]
    (error,) = parsed.report.errors
    assert error.line == 3
    assert "82 FF" in error.message and "CP932" in error.message
    assert not any("\ufffd" in row.name for row in parsed.rows)


def test_broken_bytes_far_after_the_detection_window_still_name_their_line() -> None:
    lines = [resident_line(n) for n in range(1, 400)]
    data = file_bytes(lines, "utf-8")
    broken = data + resident_line(400, 氏名="鈴木").encode("cp932") + b"\r\n"  # a CP932 row in a UTF-8 file
    scan = scan_residents(
        io.BytesIO(broken), municipality_code=CODE, today=TODAY, hash_my_number=hash_my_number, chunk_size=1024
    )
    rows = list(scan)
    assert len(rows) == 399
    assert [str(error)[:7] for error in scan.report.errors] == ["line 40"]
    assert scan.report.errors[0].line == 401
    assert "not UTF-8" in scan.report.errors[0].message


def test_a_cp932_file_of_romanised_rows_keeps_its_encoding_to_the_end() -> None:
    data = file_bytes([resident_line(n, 氏名="YAMADA TARO", 氏名カナ="YAMADA") for n in range(1, 300)], "cp932")
    data += resident_line(300, 氏名="ﾔﾏﾀﾞ", 氏名カナ="ﾔﾏﾀﾞ").encode("cp932") + b"\r\n"
    scan = scan_residents(
        io.BytesIO(data), municipality_code=CODE, today=TODAY, hash_my_number=hash_my_number, chunk_size=512
    )
    rows = list(scan)
    assert scan.report.ok, scan.report.messages()
    assert scan.report.encoding == "cp932"
    assert rows[-1].name_kana == "ヤマダ"


def test_an_ascii_start_does_not_decide_the_encoding_too_early() -> None:
    # Detection waits for the first non-ASCII byte, however late it comes.
    data = b"a,b\r\n" * 5000 + "ﾔﾏﾀﾞ,山田\r\n".encode("cp932")
    lines = TextLines(io.BytesIO(data), chunk_size=1024)
    read = list(lines)
    assert lines.encoding == "cp932" and not lines.bad_lines
    assert read[-1] == "ﾔﾏﾀﾞ,山田\r\n"
    assert len(read) == 5001


def test_header_in_neither_encoding_is_a_file_error() -> None:
    with pytest.raises(EncodingError) as caught:
        residents(b"\xff\xfe\xfd," + file_bytes([resident_line()]))
    assert caught.value.line == 1


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (RESIDENT_HEADER.encode("utf-16"), "UTF-16"),
        (b"PK\x03\x04" + b"\x00" * 100, "Excel"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 100, ".xls"),
        (b"abc\x00def\n", "NUL"),
    ],
)
def test_files_that_are_not_csv_text_are_refused_clearly(data: bytes, words: str) -> None:
    with pytest.raises(EncodingError, match=words):
        residents(data)


# --- header ----------------------------------------------------------------------------------------


def test_missing_columns_are_named() -> None:
    header = RESIDENT_HEADER.replace(",氏名カナ", "").replace(",性別", "")
    with pytest.raises(HeaderError) as caught:
        residents(file_bytes([], header=header))
    assert caught.value.missing == ("氏名カナ", "性別")
    assert "氏名カナ, 性別" in str(caught.value)
    assert caught.value.line == 1


def test_repeated_columns_are_named() -> None:
    with pytest.raises(HeaderError) as caught:
        residents(file_bytes([], header=RESIDENT_HEADER + ",氏名"))
    assert caught.value.repeated == ("氏名",)
    assert "repeated column(s) 氏名" in str(caught.value)


def test_a_file_without_header_row_says_so() -> None:
    with pytest.raises(HeaderError, match="not the header row"):
        residents(("\r\n".join([resident_line(1), resident_line(2)])).encode())


def test_an_empty_file_says_so() -> None:
    with pytest.raises(HeaderError, match="empty"):
        residents(b"")


def test_columns_in_another_order_and_extra_columns_are_read_by_name() -> None:
    names = RESIDENT_HEADER.split(",")
    values = resident_line(7, 氏名="佐藤 花子", 性別="女").split(",")
    order = list(reversed(range(len(names))))
    header = ",".join(["備考", *(names[i] for i in order)])
    line = ",".join(["memo", *(values[i] for i in order)])
    parsed = residents(file_bytes([line], header=header))
    assert parsed.report.ok, parsed.report.messages()
    assert parsed.rows[0].name == "佐藤 花子"
    assert parsed.rows[0].sex == 2
    assert parsed.report.ignored_columns == ["備考"]


def test_header_written_with_full_width_and_padding_is_recognised() -> None:
    header = " 自治体コード ,宛名番号,接種券番号,個人番号,氏名,氏名ｶﾅ,生年月日,性別,住所,異動区分,異動日"
    parsed = residents(file_bytes([resident_line()], "cp932", header=header))
    assert parsed.report.ok, parsed.report.messages()


# --- row validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"自治体コード": "131024"}, "line 2, 自治体コード: '131024' is not this municipality's code 131016"),
        ({"自治体コード": "13101"}, "line 2, 自治体コード: '13101' lacks its check digit; write 131016"),
        ({"宛名番号": ""}, "line 2, 宛名番号: is required"),
        ({"宛名番号": "12-34"}, "line 2, 宛名番号: '12-34' may hold only digits and letters"),
        ({"宛名番号": "1" * 21}, "line 2, 宛名番号: is longer than 20 characters"),
        (
            {"接種券番号": "123456789"},
            "line 2, 接種券番号: '123456789' is not the 10 digits of a voucher number"
            " (were leading zeros lost in a spreadsheet? format the column as text)",
        ),
        ({"接種券番号": "012345678a"}, "line 2, 接種券番号: '012345678a' is not the 10 digits of a voucher number"),
        ({"個人番号": "123456789019"}, "line 2, 個人番号: has a wrong check digit (a digit is mistyped)"),
        ({"個人番号": "12345"}, "line 2, 個人番号: is not 12 digits (leave it blank if unknown)"),
        ({"氏名": ""}, "line 2, 氏名: is required"),
        ({"氏名": "x" * 101}, "line 2, 氏名: is longer than 100 characters"),
        ({"氏名": "山田\t太郎"}, "line 2, 氏名: holds a line break, tab or other control character"),
        ({"氏名カナ": " "}, "line 2, 氏名カナ: is required"),
        (
            {"氏名カナ": "山田太郎"},
            "line 2, 氏名カナ: holds kanji; write the name in kana (are 氏名 and 氏名カナ swapped?)",
        ),
        (
            {"生年月日": "昭和64年2月1日"},
            "line 2, 生年月日: 昭和64年2月1日: 昭和 ended on 1989-01-07, this day is after it",
        ),
        ({"生年月日": "20210230"}, "line 2, 生年月日: 20210230: month 2 of 2021 has no day 30"),
        ({"生年月日": "20210602"}, "line 2, 生年月日: 2021-06-02 is in the future"),
        ({"生年月日": "18000101"}, "line 2, 生年月日: 1800-01-01 is before 1890"),
        ({"生年月日": ""}, "line 2, 生年月日: the date is blank"),
        ({"性別": "3"}, "line 2, 性別: '3' is not 1, 2, 男 or 女"),
        ({"性別": ""}, "line 2, 性別: '' is not 1, 2, 男 or 女"),
        ({"住所": "x" * 201}, "line 2, 住所: is longer than 200 characters"),
        ({"異動区分": "転入", "異動日": "20210401"}, "line 2, 異動区分: '転入' is not blank, 転出 or 死亡"),
        ({"異動区分": "死亡"}, "line 2, 異動日: is required when 異動区分 is '死亡'"),
        ({"異動日": "20210401"}, "line 2, 異動日: is given but 異動区分 is blank (転出 or 死亡)"),
        ({"異動区分": "死亡", "異動日": "20210701"}, "line 2, 異動日: 2021-07-01 is in the future"),
        ({"異動区分": "転出", "異動日": "19400101"}, "line 2, 異動日: 1940-01-01 is before the birth date"),
    ],
)
def test_each_bad_field_is_reported_by_line_and_column(overrides: dict[str, str], expected: str) -> None:
    parsed = residents(file_bytes([resident_line(1, **overrides)]))
    assert parsed.rows == []
    assert parsed.report.messages() == [expected]
    assert not parsed.report.ok


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"性別": "２"}, lambda row: row.sex == 2),
        ({"性別": "女"}, lambda row: row.sex == 2),
        ({"性別": "男性"}, lambda row: row.sex == 1),
        ({"生年月日": "1948/4/1 0:00"}, lambda row: row.birth_date == datetime.date(1948, 4, 1)),
        ({"異動区分": "転出", "異動日": "R3.4.1"}, lambda row: row.movement == "moved_out"),
        ({"異動区分": "転出", "異動日": "20210801"}, lambda row: row.moved_on == datetime.date(2021, 8, 1)),
        ({"異動区分": "死亡", "異動日": "2021/5/31"}, lambda row: row.movement == "deceased"),
        ({"個人番号": ""}, lambda row: row.my_number_hmac is None),
        ({"住所": ""}, lambda row: row.address == ""),
        ({"宛名番号": "A00123x"}, lambda row: row.addressee_no == "A00123x"),
    ],
)
def test_accepted_variants(overrides: dict[str, str], check: object) -> None:
    parsed = residents(file_bytes([resident_line(1, **overrides)]))
    assert parsed.report.ok, parsed.report.messages()
    assert check(parsed.rows[0])  # type: ignore[operator]


def test_my_number_is_never_in_a_row_or_a_message() -> None:
    lines = [resident_line(1, 個人番号=GOOD_MY_NUMBER), resident_line(2, 個人番号="983205673215")]
    parsed = residents(file_bytes(lines))
    (row,) = parsed.rows
    assert row.my_number_hmac == hash_my_number(GOOD_MY_NUMBER)
    dumped = msgspec.json.encode(parsed).decode()
    assert GOOD_MY_NUMBER not in dumped and "983205673215" not in dumped
    assert parsed.report.messages() == ["line 3, 個人番号: has a wrong check digit (a digit is mistyped)"]


def test_every_error_of_the_file_is_listed_in_file_order() -> None:
    lines = [
        resident_line(1),
        resident_line(2, 性別="x", 生年月日="S64.2.1"),
        resident_line(3),
        resident_line(4, 自治体コード="271004"),
    ]
    parsed = residents(file_bytes(lines))
    assert parsed.report.messages() == [
        "line 3, 生年月日: S64.2.1: 昭和 ended on 1989-01-07, this day is after it",
        "line 3, 性別: 'x' is not 1, 2, 男 or 女",
        "line 5, 自治体コード: '271004' is not this municipality's code 131016",
    ]
    assert parsed.report.rows == 4 and parsed.report.valid_rows == 2


def test_line_numbers_count_the_lines_of_quoted_fields_and_blank_lines() -> None:
    lines = [
        resident_line(1, 住所='"東京都千代田区\r\n千代田1-1\r\n(3階)"'),
        "",
        resident_line(2, 性別="9"),
        ",,,,,,,,,,",
        resident_line(3, 氏名='"山田, ""太郎"""', 性別="8"),
    ]
    parsed = residents(file_bytes(lines))
    assert parsed.report.messages() == [
        "line 6, 性別: '9' is not 1, 2, 男 or 女",
        "line 8, 性別: '8' is not 1, 2, 男 or 女",
    ]
    assert parsed.rows[0].address == "東京都千代田区\r\n千代田1-1\r\n(3階)"


def test_duplicate_addressee_and_voucher_numbers_name_the_first_line() -> None:
    lines = [
        resident_line(1),
        resident_line(2),
        resident_line(1, 接種券番号="0000000009"),
        resident_line(9, 接種券番号="0000000002"),
    ]
    parsed = residents(file_bytes(lines))
    assert parsed.report.messages() == [
        "line 4, 宛名番号: '00000001' is also on line 2",
        "line 5, 接種券番号: 0000000002 is also on line 3",
    ]


def test_rows_with_the_wrong_number_of_fields_are_errors() -> None:
    parsed = residents(file_bytes([resident_line(1) + ",extra", "131016,1,2"]))
    assert parsed.report.messages() == [
        "line 2: the row has 12 fields but the header has 11",
        "line 3: the row has 3 fields but the header has 11",
    ]


def test_formula_like_text_is_kept_as_given() -> None:
    lines = [resident_line(1, 氏名="=cmd|' /C calc'!A0", 住所="+81-3-1234", 氏名カナ="-ヤマダ")]
    parsed = residents(file_bytes(lines))
    assert parsed.report.ok, parsed.report.messages()
    (row,) = parsed.rows
    assert row.name == "=cmd|' /C calc'!A0"
    assert row.address == "+81-3-1234"
    assert row.name_kana == "-ヤマダ"


def test_huge_fields_are_refused_without_echoing_them() -> None:
    huge = "漢" * 200_000
    parsed = residents(file_bytes([resident_line(1, 氏名=huge, 宛名番号="9" * 50_000)]))
    assert parsed.report.messages() == [
        "line 2, 宛名番号: is longer than 20 characters",
        "line 2, 氏名: is longer than 100 characters",
    ]


def test_a_huge_quoted_field_or_line_stops_reading_with_its_line() -> None:
    with pytest.raises(FileFormatError) as caught:
        residents(file_bytes([resident_line(1), resident_line(2, 住所='"' + "x" * 200_000 + '"')]))
    assert caught.value.line == 3
    with pytest.raises(FileFormatError, match="longer than") as caught:
        residents(file_bytes([resident_line(1), resident_line(2, 住所="x" * 3_000_000)]))
    assert caught.value.line == 3


def test_an_unclosed_quote_is_reported_where_it_opens() -> None:
    parsed = residents(file_bytes([resident_line(1), resident_line(2, 氏名='"山田'), resident_line(3)]))
    assert parsed.report.messages() == [
        "line 3: the row has 5 fields but the header has 11 (it runs on to line 4: is a quote never closed?)"
    ]
    assert [row.line for row in parsed.rows] == [2]


def test_the_error_list_is_capped_but_counts_everything() -> None:
    lines = [resident_line(n, 性別="x") for n in range(1, 1501)]
    parsed = residents(file_bytes(lines), max_errors=1000)
    assert parsed.report.error_count == 1500
    assert len(parsed.report.errors) == 1000
    assert parsed.report.messages()[-1] == "... and 500 more errors"


def test_progress_reports_rows_and_bytes_up_to_the_total() -> None:
    data = file_bytes([resident_line(n) for n in range(1, 2001)])
    seen: list[tuple[int, int, int | None]] = []
    scan = scan_residents(
        io.BytesIO(data),
        municipality_code=CODE,
        today=TODAY,
        hash_my_number=hash_my_number,
        progress=lambda rows, done, total: seen.append((rows, done, total)),
        total_bytes=len(data),
        chunk_size=8192,
    )
    assert sum(1 for _ in scan) == 2000
    assert len(seen) > 5
    assert seen[-1] == (2000, len(data), len(data))
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


def test_an_importing_code_that_is_not_a_municipality_is_refused() -> None:
    with pytest.raises(ImportSetupError):
        residents(file_bytes([resident_line()]), municipality_code="271276")  # a ward of 大阪市


def test_the_report_is_not_given_before_the_file_is_read() -> None:
    scan = scan_residents(
        io.BytesIO(file_bytes([resident_line()])), municipality_code=CODE, today=TODAY, hash_my_number=hash_my_number
    )
    with pytest.raises(ImportSetupError):
        scan.report  # noqa: B018


def test_the_fast_check_digit_agrees_with_the_protocol() -> None:
    for n in range(0, 10**12, 7_919_777_777):
        first11 = f"{n:012d}"[:11]
        for last in "0123456789":
            assert my_number_ok(first11 + last) == is_valid_my_number(first11 + last)


# --- record import ---------------------------------------------------------------------------------


def record_line(voucher: int = 1, **overrides: str) -> str:
    fields = {
        "自治体コード": CODE,
        "接種券番号": f"{voucher:010d}",
        "接種回数": "1",
        "接種状況": "接種済",
        "接種日": "20210601",
        "接種会場": "v-131016-001",
        "ワクチンメーカー": "ファイザー",
        "ロット番号": "FA1234",
        "医師名": "山田 一郎",
    }
    fields.update(overrides)
    return ",".join(fields.values())


def test_records_with_labels_and_wire_names_are_read() -> None:
    lines = [
        record_line(1),
        record_line(2, ワクチンメーカー="武田／モデルナ", 接種回数="２", 接種日="R3.5.31"),
        record_line(3, ワクチンメーカー="novavax", 接種会場="千代田区役所 集団接種会場"),
        record_line(4, 接種状況="予診のみ", ワクチンメーカー="", ロット番号=""),
        record_line(5, ワクチンメーカー="ｱｽﾄﾗｾﾞﾈｶ"),
        record_line(6, ワクチンメーカー="その他"),
    ]
    parsed = records(file_bytes(lines, "cp932", header=RECORD_HEADER))
    assert parsed.report.ok, parsed.report.messages()
    assert [(row.maker, row.status, row.dose) for row in parsed.rows] == [
        ("pfizer", "vaccinated", 1),
        ("moderna", "vaccinated", 2),
        ("novavax", "vaccinated", 1),
        (None, "screened_only", 1),
        ("astrazeneca", "vaccinated", 1),
        ("other", "vaccinated", 1),
    ]
    assert parsed.rows[1].administered_on == datetime.date(2021, 5, 31)
    assert parsed.rows[2].venue == "千代田区役所 集団接種会場"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"自治体コード": "131024"}, "line 2, 自治体コード: '131024' is not this municipality's code 131016"),
        ({"接種券番号": "12345678901"}, "line 2, 接種券番号: '12345678901' is not the 10 digits of a voucher number"),
        ({"接種回数": "0"}, "line 2, 接種回数: '0' is not a dose number from 1 to 9"),
        ({"接種回数": "10"}, "line 2, 接種回数: '10' is not a dose number from 1 to 9"),
        ({"接種状況": "済"}, "line 2, 接種状況: '済' is not 接種済 or 予診のみ"),
        ({"接種日": "20210602"}, "line 2, 接種日: 2021-06-02 is in the future"),
        ({"接種日": "20210216"}, "line 2, 接種日: 2021-02-16 is before vaccinations began (2021-02-17)"),
        ({"接種日": "令和3年2月30日"}, "line 2, 接種日: 令和3年2月30日: month 2 of 2021 has no day 30"),
        ({"接種会場": ""}, "line 2, 接種会場: is required (a venue id or its registered name)"),
        ({"ワクチンメーカー": "シノバック"}, f"line 2, ワクチンメーカー: 'シノバック' is not one of {MAKERS}"),
        ({"ワクチンメーカー": ""}, f"line 2, ワクチンメーカー: '' is not one of {MAKERS}"),
        ({"ロット番号": ""}, "line 2, ロット番号: is required for 接種済"),
        ({"ロット番号": "L" * 33}, "line 2, ロット番号: is longer than 32 characters"),
        ({"医師名": ""}, "line 2, 医師名: is required"),
        ({"医師名": "医" * 65}, "line 2, 医師名: is longer than 64 characters"),
    ],
)
def test_each_bad_record_field_is_reported(overrides: dict[str, str], expected: str) -> None:
    parsed = records(file_bytes([record_line(1, **overrides)], header=RECORD_HEADER))
    assert parsed.rows == []
    assert parsed.report.messages() == [expected]


def test_the_same_dose_twice_in_one_file_is_an_error() -> None:
    lines = [record_line(1), record_line(1, 接種回数="2"), record_line(1, 接種日="20210501")]
    parsed = records(file_bytes(lines, header=RECORD_HEADER))
    assert parsed.report.messages() == ["line 4, 接種回数: dose 1 of voucher 0000000001 is also on line 2"]


def test_record_venue_and_doctor_keep_formula_like_text() -> None:
    parsed = records(file_bytes([record_line(1, 接種会場="@SUM(A1)", 医師名="=HYPERLINK(1)")], header=RECORD_HEADER))
    assert parsed.report.ok, parsed.report.messages()
    assert parsed.rows[0].venue == "@SUM(A1)"
    assert parsed.rows[0].doctor == "=HYPERLINK(1)"


def test_a_resident_file_given_as_records_names_the_missing_columns() -> None:
    with pytest.raises(HeaderError) as caught:
        records(file_bytes([resident_line()]))
    assert "接種回数" in caught.value.missing


class _Unseekable:
    """A stream that can only be read, like a socket or a pipe."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def read(self, size: int, /) -> bytes:
        return self._inner.read(min(size, 100))  # short reads, as a network stream gives


def test_the_total_comes_from_a_seekable_stream_and_short_reads_work() -> None:
    data = file_bytes([resident_line(n) for n in range(1, 50)], "cp932")
    for stream, total in ((io.BytesIO(data), len(data)), (_Unseekable(data), None)):
        seen: list[tuple[int, int, int | None]] = []
        parsed = parse_residents(
            stream,
            municipality_code=CODE,
            today=TODAY,
            hash_my_number=hash_my_number,
            progress=lambda rows, done, total, seen=seen: seen.append((rows, done, total)),
        )
        assert parsed.report.ok, parsed.report.messages()
        assert len(parsed.rows) == 49
        assert seen[-1] == (49, len(data), total)


def test_a_stream_opened_as_text_is_refused_clearly() -> None:
    with pytest.raises(EncodingError, match="opened as text"):
        residents_text = io.StringIO(RESIDENT_HEADER)
        parse_residents(
            residents_text,  # type: ignore[arg-type]
            municipality_code=CODE,
            today=TODAY,
            hash_my_number=hash_my_number,
        )


class _GeneratedFile:
    """A large CP932 file made on the fly, so that the test itself holds none of it."""

    LINE = (resident_line(1, 氏名="ﾔﾏﾀﾞ 太郎") + "\r\n").encode("cp932")

    def __init__(self, rows: int) -> None:
        self._left = rows

    def read(self, size: int, /) -> bytes:
        count = min(self._left, max(1, size // len(self.LINE)))
        self._left -= count
        return self.LINE * count


def test_lines_are_read_in_bounded_memory() -> None:
    tracemalloc.start()
    try:
        lines = TextLines(_GeneratedFile(200_000), chunk_size=256 * 1024)
        count = sum(1 for _ in lines)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert lines.bytes_read > 12_000_000
    assert peak < 4_000_000  # a few chunks, never the file


def test_a_file_with_every_field_quoted_reads_the_same() -> None:
    def quoted(line: str) -> str:
        return ",".join(f'"{cell}"' for cell in line.split(","))

    plain = [resident_line(1), resident_line(2, 性別="x"), resident_line(3)]
    data = ("\r\n".join([quoted(RESIDENT_HEADER), *map(quoted, plain)]) + "\r\n").encode("utf-8-sig")
    parsed = residents(data)
    assert [row.line for row in parsed.rows] == [2, 4]
    assert parsed.report.messages() == ["line 3, 性別: 'x' is not 1, 2, 男 or 女"]
    assert parsed.report.bom


def test_record_file_with_broken_bytes_names_the_line() -> None:
    data = file_bytes([record_line(1), record_line(2), record_line(3)], "cp932", header=RECORD_HEADER)
    data = data.replace("山田 一郎".encode("cp932"), b"\x81\x7f", 1)  # 0x81 0x7F is no CP932 character
    parsed = records(data)
    assert [row.line for row in parsed.rows] == [3, 4]
    assert [error.line for error in parsed.report.errors] == [2]


def test_a_scan_reads_its_file_once() -> None:
    scan = scan_residents(
        io.BytesIO(file_bytes([resident_line()])), municipality_code=CODE, today=TODAY, hash_my_number=hash_my_number
    )
    assert len(list(scan)) == 1
    assert scan.report.ok
    with pytest.raises(ImportSetupError):
        list(scan)


def test_addressee_numbers_differing_only_in_leading_zeros_are_different_people() -> None:
    lines = [
        resident_line(1, 宛名番号="0012"),
        resident_line(2, 宛名番号="12"),
        resident_line(3, 宛名番号="012"),
        resident_line(4, 宛名番号="A12"),
        resident_line(5, 宛名番号="０１２"),  # full width: the same as line 4's 012
    ]
    parsed = residents(file_bytes(lines, "cp932"))
    assert parsed.report.messages() == ["line 6, 宛名番号: '012' is also on line 4"]
