"""Whatever bytes a clerk uploads, the parsers answer with rows and a report or with their own errors."""

from __future__ import annotations

import datetime
import hashlib
import io
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from hub.files import FilesError, parse_records, parse_residents
from hub.files.text import kana_key
from tests.hub.test_files_import import CODE, RECORD_HEADER, RESIDENT_HEADER, TODAY, resident_line


def hash_my_number(number: str) -> bytes:
    return hashlib.sha256(number.encode()).digest()


def read_both(data: bytes) -> None:
    for parse in (
        lambda stream: parse_residents(
            stream, municipality_code=CODE, today=TODAY, hash_my_number=hash_my_number
        ),
        lambda stream: parse_records(stream, municipality_code=CODE, today=TODAY),
    ):
        try:
            parsed = parse(io.BytesIO(data))
        except FilesError as exc:
            assert str(exc)
        else:
            report = parsed.report
            assert report.valid_rows == len(parsed.rows)
            assert report.ok == (report.error_count == 0)
            assert all(error.line >= 2 for error in report.errors)
            assert all(row.line >= 2 for row in parsed.rows)


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_only_our_errors(data: bytes) -> None:
    read_both(data)


field_text = st.text(st.characters(codec="utf-8"), max_size=30)
csv_cells = st.lists(st.one_of(field_text, st.sampled_from(['"', '""', "\r\n", ",", "\n", "=1+1", "ｱ", "１"])))


@given(st.lists(csv_cells, max_size=8), st.sampled_from(["utf-8", "utf-8-sig", "cp932"]), st.binary(max_size=40))
def test_arbitrary_rows_after_a_valid_header_give_only_our_errors(
    rows: list[list[str]], encoding: str, tail: bytes
) -> None:
    for header in (RESIDENT_HEADER, RECORD_HEADER):
        text = "\r\n".join([header, *(",".join(cells) for cells in rows)])
        read_both(text.encode(encoding, "replace") + tail)


@given(st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=6), st.data())
def test_a_valid_row_stays_valid_wherever_bad_rows_sit_and_lines_are_counted(
    breaks: list[int], data: st.DataObject
) -> None:
    # Rows with quoted multi-line addresses shift the line numbers; the report must follow an editor's count.
    lines = []
    line_number = 2
    expected_lines = []
    for n, extra_lines in enumerate(breaks, start=1):
        address = '"' + "\r\n".join(["東京都"] * (extra_lines + 1)) + '"'
        bad = data.draw(st.booleans())
        lines.append(resident_line(n, 住所=address, 性別="x" if bad else "2"))
        if bad:
            expected_lines.append(line_number)
        line_number += extra_lines + 1
    text = "\r\n".join([RESIDENT_HEADER, *lines]) + "\r\n"
    parsed = parse_residents(
        io.BytesIO(text.encode("cp932")), municipality_code=CODE, today=TODAY, hash_my_number=hash_my_number
    )
    assert [error.line for error in parsed.report.errors] == expected_lines
    assert len(parsed.rows) == len(breaks) - len(expected_lines)


katakana = st.text(st.characters(min_codepoint=0x30A1, max_codepoint=0x30F6), min_size=1, max_size=12)


def _half_width_table() -> dict[str, str]:
    table = {}
    for code in range(0xFF66, 0xFF9E):
        half = chr(code)
        table[unicodedata.normalize("NFKC", half)] = half
        for mark in "ﾞﾟ":
            composed = unicodedata.normalize("NFKC", half + mark)
            if len(composed) == 1:
                table[composed] = half + mark
    return table


HALF_WIDTH = _half_width_table()


@given(katakana)
def test_kana_key_is_the_same_for_hiragana_katakana_and_half_width(name: str) -> None:
    hiragana = "".join(chr(ord(c) - 0x60) if c <= "ヶ" and c not in "ヷヸヹヺ" else c for c in name)
    assert kana_key(hiragana) == kana_key(name)
    if all(c in HALF_WIDTH for c in name):
        assert kana_key("".join(HALF_WIDTH[c] for c in name)) == kana_key(name)


def test_today_is_used_not_the_clock() -> None:
    parsed = parse_residents(
        io.BytesIO(("\r\n".join([RESIDENT_HEADER, resident_line(1, 生年月日="20300101")])).encode()),
        municipality_code=CODE,
        today=datetime.date(2031, 1, 1),
        hash_my_number=hash_my_number,
    )
    assert parsed.report.ok, parsed.report.messages()
