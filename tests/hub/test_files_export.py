"""The CSV export writer (pure): layouts, encodings, formula neutralising, streaming."""

from __future__ import annotations

import csv
import datetime
import io

from hub.db.export import ExportRecord
from hub.files.export import from_copy, ledger_header, write_ledger, write_long

JST = datetime.timezone(datetime.timedelta(hours=9))


def rec(voucher: str = "0000000001", dose: int = 1, *, atena: str | None = "A1", lot: str = "FA1234",
        doctor: str = "山田 太郎", status: str = "vaccinated", venue: str = "千代田会場") -> ExportRecord:
    return ExportRecord(municipality_code="131016", voucher_no=voucher, dose=dose, status=status,
                        administered_on=datetime.date(2021, 6, dose), venue_name=venue,
                        venue_municipality_code="131016", maker="moderna", lot=lot, doctor=doctor,
                        registered_at=datetime.datetime(2021, 6, dose, 10, 20, 30, tzinfo=JST), atena_no=atena)


def read(chunks: list[bytes], encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(chunks).decode(encoding), newline="")))


def test_long_layout_has_the_record_import_columns_and_japanese_labels() -> None:
    data = list(write_long([rec(), rec("0000000002", status="screened_only", atena=None)]))
    assert data[0].startswith(b"\xef\xbb\xbf")
    rows = read(data)
    assert rows[0] == ["自治体コード", "接種券番号", "接種回数", "接種状況", "接種日", "接種会場", "ワクチンメーカー",
                       "ロット番号", "医師名"]
    assert rows[1] == ["131016", "0000000001", "1", "接種済", "20210601", "千代田会場", "武田/モデルナ", "FA1234",
                       "山田 太郎"]
    assert rows[2][3] == "予診のみ"


def test_cells_a_spreadsheet_would_run_are_neutralised() -> None:
    rows = read(list(write_long([rec(lot="=HYPERLINK(\"http://x\")", doctor="+81 tel", venue="@SUM(A1)"),
                                 rec(lot="-1", doctor="\tx", venue="ok")])))
    assert rows[1][5:] == ["'@SUM(A1)", "武田/モデルナ", "'=HYPERLINK(\"http://x\")", "'+81 tel"]
    assert rows[2][7:] == ["'-1", "'\tx"]


def test_cp932_output_substitutes_what_it_cannot_hold() -> None:
    data = b"".join(write_long([rec(doctor="髙橋 😀")], "cp932"))
    assert not data.startswith(b"\xef\xbb\xbf")
    rows = read([data], "cp932")
    assert rows[1][8] == "髙橋 〓"


def test_cp932_from_copy_substitutes_what_the_stored_cp932_rows_do() -> None:
    """PostgreSQL's UTF-8 rows turned into CP932 in Python: 〓 also for 外字 (private use area) and vendor
    codes, which Python's codec holds and the server's conversion does not, and for ¥ and ‾."""
    rows = ["髙橋,\ue000\ue757\uf8f0,\x80x,¥‾,ｱ（\uf000）,\"a\nb\"\n", "plain,ascii\n"]
    chunks = list(from_copy(("医師名", "ロット番号"), [r.encode() for r in rows], "cp932"))
    assert chunks[1:] == ["髙橋,〓〓〓,〓x,〓〓,ｱ（〓）,\"a\nb\"\r\n".encode("cp932"), b"plain,ascii\r\n"]
    assert chunks[0].decode("cp932") == "医師名,ロット番号\r\n"


def test_ledger_has_one_row_per_person_with_eight_columns_per_dose() -> None:
    records = [rec(dose=1), rec(dose=2), rec("0000000009", 1, atena="B2"), rec("0000000009", 3, atena="B2")]
    rows = read(list(write_ledger(records, max_dose=3)))
    assert rows[0] == list(ledger_header(3)) and len(rows[0]) == 1 + 3 * 8
    assert rows[0][1:9] == ["1回目接種履歴登録日時", "1回目接種日", "1回目券番号", "1回目接種自治体コード",
                            "1回目接種会場名", "1回目接種医師名", "1回目ワクチンメーカー", "1回目ワクチンロット番号"]
    assert [r[0] for r in rows[1:]] == ["A1", "B2"]
    assert rows[1][1:9] == ["20210601102030", "20210601", "0000000001", "131016", "千代田会場", "山田 太郎",
                            "武田/モデルナ", "FA1234"]
    assert rows[1][9:11] == ["20210602102030", "20210602"] and rows[1][17:] == [""] * 8
    assert rows[2][9:17] == [""] * 8 and rows[2][17] == "20210603102030"


def test_an_empty_ledger_still_has_its_header_for_two_doses() -> None:
    rows = read(list(write_ledger([], max_dose=0)))
    assert rows == [list(ledger_header(2))]


def test_export_streams_in_chunks() -> None:
    chunks = list(write_long(rec(f"{i:010d}") for i in range(2000)))
    assert len(chunks) > 3
    assert len(read(chunks)) == 2001
