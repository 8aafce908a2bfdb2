"""Resident import (API and page), search, resident page, coverage, and matching of unmatched records."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from jinja2 import Environment
from jinja2.utils import url_quote

from hub.api.controllers.residents import STATUS_LABELS
from hub.api.fragments import resident_rows, urlpath
from hub.db.connect import connect
from hub.db.resident_search import prefix_end
from hub.db.residents import ResidentSummary
from hub.keys import load_secret, my_number_hmac
from tests.hub.api.conftest import MUNI_A, MUNI_B, VENUE_A, login
from tests.hub.api.files import resident_csv, resident_line

IMPORT = f"/api/v1/municipalities/{MUNI_A}/residents/import"


def _three(**overrides: str) -> list[str]:
    return [
        resident_line(MUNI_A, "A001", "0000000001", my_number="123456789018", kana="ﾔﾏﾀﾞ ﾀﾛｳ"),
        resident_line(MUNI_A, "A002", "0000000002", name="鈴木 花子", kana="スズキ ハナコ", birth="S55.1.2", sex="女"),
        resident_line(MUNI_A, "A003", "0000000003", name="佐藤 次郎", kana="サトウ ジロウ", birth="平成2年3月4日"),
    ]


def _vaccination(hub_db: str, voucher: str, dose: int, atena: str | None = None, code: str = MUNI_A) -> None:
    with connect(hub_db, None) as conn:
        conn.execute(
            "INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, status, administered_on,"
            " venue_id, maker, lot, doctor, read_source, scanned_at, atena_no)"
            " VALUES (%s, %s, %s, %s, 'vaccinated', '2021-06-01', %s, 'pfizer', 'FA1234', '山田 医師', 'qr',"
            " now(), %s)",
            (code, voucher, dose, str(uuid.uuid4()), VENUE_A, atena),
        )


def test_api_import_cp932_then_search_and_coverage(app_client: Any, users: dict[str, str], hub_db: str,
                                                  hub_key_files: Any) -> None:
    login(app_client, "clerk_a")
    csrf = login(app_client, "clerk_a")
    r = app_client.post(IMPORT, content=resident_csv(_three(), "cp932"), headers={"x-csrf-token": csrf})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] and body["applied"] and body["inserted"] == 3 and body["encoding"] == "cp932"
    # half-width kana was normalised: a full-width search finds it
    hits = app_client.get(f"/api/v1/municipalities/{MUNI_A}/residents", params={"kana": "ヤマダ"}).json()
    assert [h["atena_no"] for h in hits] == ["A001"]
    assert hits[0]["name_kana"] == "ヤマダ タロウ"
    by_birth = app_client.get(f"/api/v1/municipalities/{MUNI_A}/residents", params={"birth_date": "1980-01-02"})
    assert [h["atena_no"] for h in by_birth.json()] == ["A002"]
    by_voucher = app_client.get(f"/api/v1/municipalities/{MUNI_A}/residents",
                                params={"voucher_no": "０００００００００３"})
    assert [h["atena_no"] for h in by_voucher.json()] == ["A003"]
    # My Number only as its HMAC under the hub secret
    with connect(hub_db, None) as conn:
        stored = conn.execute("SELECT hmac FROM my_number_hashes").fetchall()
        assert stored == [(my_number_hmac(load_secret(hub_key_files[1]), "123456789018"),)]
        everything = str(conn.execute("SELECT * FROM residents").fetchall())
        assert "123456789018" not in everything
    _vaccination(hub_db, "0000000001", 1, "A001")
    cov = app_client.get(f"/api/v1/municipalities/{MUNI_A}/coverage").json()
    assert cov["residents"] == 3
    assert cov["doses"] == [{"dose": 1, "residents": 1, "share": 1 / 3}]


def test_one_bad_row_rejects_the_whole_file_with_lines(app_client: Any, users: dict[str, str]) -> None:
    csrf = login(app_client, "clerk_a")
    lines = [*_three(),
             resident_line(MUNI_A, "A004", "0000000004", birth="昭和64年2月1日"),
             resident_line(MUNI_A, "A005", "0000000005", my_number="123456789012"),
             resident_line(MUNI_B, "A006", "0000000006")]
    r = app_client.post(IMPORT, content=resident_csv(lines, "cp932"), headers={"x-csrf-token": csrf})
    assert r.status_code == 422
    body = r.json()
    assert not body["ok"] and not body["applied"] and body["error_count"] == 3
    assert body["errors"][0].startswith("line 5, 生年月日")
    assert body["errors"][1].startswith("line 6, 個人番号")
    assert body["errors"][2].startswith("line 7, 自治体コード")
    assert "123456789012" not in r.text
    assert app_client.get(f"/api/v1/municipalities/{MUNI_A}/residents").json() == []


def test_dry_run_reports_and_applies_nothing(app_client: Any, users: dict[str, str]) -> None:
    csrf = login(app_client, "clerk_a")
    r = app_client.post(IMPORT + "?dry_run=true", content=resident_csv(_three()), headers={"x-csrf-token": csrf})
    assert r.status_code == 200
    assert r.json()["ok"] and not r.json()["applied"] and r.json()["inserted"] == 3
    assert app_client.get(f"/api/v1/municipalities/{MUNI_A}/residents").json() == []


def test_full_mode_flags_missing_never_deletes_and_diff_updates(app_client: Any, users: dict[str, str]) -> None:
    csrf = login(app_client, "clerk_a")
    h = {"x-csrf-token": csrf}
    assert app_client.post(IMPORT, content=resident_csv(_three()), headers=h).json()["inserted"] == 3
    again = app_client.post(IMPORT, content=resident_csv(_three()), headers=h).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)
    moved = resident_line(MUNI_A, "A002", "0000000002", name="鈴木 花子", kana="スズキ ハナコ", birth="S55.1.2",
                          sex="女", movement="転出", moved="20210901")
    diff = app_client.post(IMPORT, content=resident_csv([moved]), headers=h).json()
    assert (diff["inserted"], diff["updated"]) == (0, 1)
    full = app_client.post(IMPORT + "?mode=full", content=resident_csv(_three()[:1]), headers=h).json()
    assert full["flagged_missing"] == 1  # A003; A002 had moved out already
    rows = {r["atena_no"]: r["status"] for r in app_client.get(f"/api/v1/municipalities/{MUNI_A}/residents").json()}
    assert rows == {"A001": "active", "A002": "moved_out", "A003": "missing_from_full_import"}


def test_unmatched_records_get_matched_after_upload(app_client: Any, users: dict[str, str], hub_db: str) -> None:
    _vaccination(hub_db, "0000000002", 1)
    _vaccination(hub_db, "0000000002", 2)
    _vaccination(hub_db, "0000000009", 1)
    csrf = login(app_client, "clerk_a")
    r = app_client.post(IMPORT, content=resident_csv(_three()), headers={"x-csrf-token": csrf}).json()
    assert r["matched_records"] == 2
    resident = app_client.get(f"/api/v1/municipalities/{MUNI_A}/residents/A002").json()
    assert [d["dose"] for d in resident["doses"]] == [1, 2]
    assert all(d["atena_no"] == "A002" for d in resident["doses"])
    assert app_client.get(f"/api/v1/municipalities/{MUNI_A}/coverage").json()["unmatched_records"] == 1


def test_upload_page_shows_errors_then_result(app_client: Any, users: dict[str, str]) -> None:
    csrf = login(app_client, "clerk_a")
    bad = resident_csv([*_three(), resident_line(MUNI_A, "A004", "12345")], "cp932")
    r = app_client.post("/residents/upload", data={"mode": "diff", "_csrf": csrf},
                        files={"file": ("jumin.csv", bad, "text/csv")})
    assert r.status_code == 422
    assert "何も取り込んでいません" in r.text and "line 5, 接種券番号" in r.text
    good = resident_csv(_three(), "cp932")
    r = app_client.post("/residents/upload", data={"mode": "diff", "_csrf": csrf},
                        files={"file": ("jumin.csv", good, "text/csv")})
    assert r.status_code == 200 and "取り込みました" in r.text
    page = app_client.get("/residents")
    assert "ヤマダ タロウ" in page.text and 'id="resident-count">3<' in page.text
    detail = app_client.get("/residents/A001")
    assert "登録あり" in detail.text and "123456789018" not in detail.text


def test_hostile_files_are_refused_with_reasons(app_client: Any, users: dict[str, str]) -> None:
    csrf = login(app_client, "clerk_a")
    h = {"x-csrf-token": csrf}
    cases = {
        b"\x00\x01\x02binary": "NUL",
        b"PK\x03\x04zip": "Excel",
        "自治体コード,宛名番号\r\n131016,A1\r\n".encode(): "missing",
        resident_csv(_three()).replace("氏名カナ".encode(), "氏名".encode(), 1): "氏名",
        resident_csv([resident_line(MUNI_A, "A1", "0000000001", name="x" * 100_000)]): "longer than",
        resident_csv([resident_line(MUNI_A, "A1", "0000000001")]) + b"131016,A2,\xff\xfe\xfa,,,,,,,,\r\n": "line 3",
    }
    for content, expected in cases.items():
        r = app_client.post(IMPORT, content=content, headers=h)
        assert r.status_code == 422, (content[:40], r.text)
        assert expected in " ".join(r.json()["errors"]), (expected, r.json()["errors"])
    assert app_client.get(f"/api/v1/municipalities/{MUNI_A}/residents").json() == []


def test_import_is_audited(app_client: Any, users: dict[str, str]) -> None:
    csrf = login(app_client, "clerk_a")
    app_client.post(IMPORT, content=resident_csv(_three()), headers={"x-csrf-token": csrf})
    actions = [r["action"] for r in app_client.get("/api/v1/audit/").json()]
    assert actions[0] == "import_residents"


def test_today_is_japan_day() -> None:
    assert dt.date.today() is not None


def test_kana_prefix_is_a_range_of_code_points() -> None:
    assert prefix_end("ヤマダ") == "ヤマチ"
    assert prefix_end("a") == "b"
    assert prefix_end("\ud7ff") == "\ue000"  # surrogates are skipped: they are not text
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\U0010ffff\U0010ffff") is None


def test_kana_search_finds_exactly_the_prefix_in_kana_order(app_client: Any, users: dict[str, str]) -> None:
    csrf = login(app_client, "clerk_a")
    lines = [
        resident_line(MUNI_A, "B001", "0000000011", kana="ヤマダ ハナコ"),
        resident_line(MUNI_A, "B002", "0000000012", kana="ﾔﾏﾀﾞ ｱｷﾗ"),
        resident_line(MUNI_A, "B003", "0000000013", kana="ヤマタ ジロウ"),  # just before the range
        resident_line(MUNI_A, "B004", "0000000014", kana="ヤマチ サブロウ"),  # the first text after it
        resident_line(MUNI_A, "B005", "0000000015", kana="ヤマダ"),
        resident_line(MUNI_A, "B006", "0000000016", kana="ヤマダ ハナコ"),
        resident_line(MUNI_A, "B007", "0000000017", kana="ヤマ"),
    ]
    r = app_client.post(IMPORT, content=resident_csv(lines), headers={"x-csrf-token": csrf})
    assert r.status_code == 200, r.text
    search = f"/api/v1/municipalities/{MUNI_A}/residents"
    hits = app_client.get(search, params={"kana": "ﾔﾏﾀﾞ"}).json()
    assert [h["atena_no"] for h in hits] == ["B005", "B002", "B001", "B006"]
    page2 = app_client.get(search, params={"kana": "ヤマダ", "limit": 2, "offset": 2}).json()
    assert [h["atena_no"] for h in page2] == ["B001", "B006"]
    assert [h["atena_no"] for h in app_client.get(search, params={"kana": "ヤマ"}).json()] == [
        "B007", "B003", "B005", "B002", "B001", "B006", "B004"]
    # LIKE's wildcards typed into the form are plain characters
    for typed in ("%", "_", "ヤマ%", "ヤ_ダ"):
        assert app_client.get(search, params={"kana": typed}).json() == []
    listed = app_client.get("/residents", params={"kana": "ヤマダ ハ"})
    assert listed.status_code == 200
    assert "B001" in listed.text and "B006" in listed.text and "B005" not in listed.text


def test_cells_with_commas_quotes_and_line_breaks_are_stored_as_written(app_client: Any, users: dict[str, str],
                                                                          hub_db: str, hub_key_files: Any) -> None:
    csrf = login(app_client, "clerk_a")
    lines = [
        resident_line(MUNI_A, "A001", "0000000001", my_number="123456789018", name='"山田, ""太郎"""',
                      address='"横浜市中区\r\n山下町 1,2"'),
        resident_line(MUNI_A, "A002", "0000000002", address=""),
        resident_line(MUNI_A, "A003", "0000000003", address='"\\N"', name="NULL", movement="転出",
                      moved="20210501"),
    ]
    r = app_client.post(IMPORT, content=resident_csv(lines), headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and r.json()["inserted"] == 3, r.text
    with connect(hub_db, None) as conn:
        rows = conn.execute("SELECT atena_no, name, address, status, status_date::text, voucher_no FROM residents"
                            " ORDER BY atena_no").fetchall()
        hashes = conn.execute("SELECT atena_no, hmac FROM my_number_hashes").fetchall()
    assert rows == [
        ("A001", '山田, "太郎"', "横浜市中区\r\n山下町 1,2", "active", None, "0000000001"),
        ("A002", "山田 太郎", "", "active", None, "0000000002"),
        ("A003", "NULL", "\\N", "moved_out", "2021-05-01", "0000000003"),
    ]
    assert hashes == [("A001", my_number_hmac(load_secret(hub_key_files[1]), "123456789018"))]
    again = app_client.post(IMPORT, content=resident_csv(lines), headers={"x-csrf-token": csrf}).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)
    lines[1] = resident_line(MUNI_A, "A002", "0000000002", address="中区 2")
    changed = app_client.post(IMPORT, content=resident_csv(lines), headers={"x-csrf-token": csrf}).json()
    assert (changed["inserted"], changed["updated"], changed["unchanged"]) == (0, 1, 2)


def test_resident_links_quote_what_jinjas_urlencode_quotes() -> None:
    for text in ("0000000001", "A-1.x~_", "a/b", "宛名", "a b&c\"<", "%41", "?#", ""):
        assert urlpath(text) == url_quote(text)


# The residents table's rows as the template wrote them before they were made in Python.
JINJA_ROWS = """{% for r in hits %}
    <tr><td><a href="/residents/{{ r.atena_no|urlencode }}">{{ r.atena_no }}</a></td><td>{{ r.voucher_no or "" }}</td>
      <td>{{ r.name }}</td><td>{{ r.name_kana }}</td><td>{{ r.birth_date or "" }}</td>
      <td>{{ labels.get(r.status, r.status) }}</td><td class="num">{{ r.doses }}</td></tr>
    {% endfor %}"""


def test_resident_rows_escape_hostile_names_as_jinja_does() -> None:
    hits = [
        ResidentSummary("A001", "0000000001", '<script>alert("x")</script>', "ヤマダ & 'タロウ'",
                        dt.date(1980, 1, 2), 1, "active", 2),
        ResidentSummary('a b&c"<', None, "&amp; <b>", '"', None, None, "<unknown>", 0),
        ResidentSummary("宛名/1", "12", "山田 太郎", "ヤマダ タロウ", dt.date(999, 12, 31), 2, "deceased", 9),
    ]
    made = resident_rows(hits, STATUS_LABELS)
    assert made == Environment(autoescape=True).from_string(JINJA_ROWS).render(hits=hits, labels=STATUS_LABELS)
    assert "<script>" not in made and "&lt;script&gt;alert(&#34;x&#34;)" in made
    assert 'href="/residents/a%20b%26c%22%3C"' in made and "<td>&lt;unknown&gt;</td>" in made
