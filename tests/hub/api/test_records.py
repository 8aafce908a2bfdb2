"""Record import, correction with a reason, deletion as a correction, exports (ledger/long, UTF-8/CP932)."""

from __future__ import annotations

import csv
import io
from typing import Any

from hub.db import aggregates
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from tests.hub.api.conftest import MUNI_A, VENUE_A, login
from tests.hub.api.files import record_csv, resident_csv, resident_line

BASE = f"/api/v1/municipalities/{MUNI_A}"


def _setup(client: Any) -> dict[str, str]:
    csrf = login(client, "clerk_a")
    h = {"x-csrf-token": csrf}
    residents = [resident_line(MUNI_A, "A001", "0000000001"),
                 resident_line(MUNI_A, "A002", "0000000002", name="=cmd|' /C calc'!A0", kana="スズキ")]
    assert client.post(f"{BASE}/residents/import", content=resident_csv(residents), headers=h).status_code == 200
    records = [
        f"{MUNI_A},0000000001,1,接種済,20210601,{VENUE_A},ファイザー,FA1234,山田 太郎",
        f"{MUNI_A},0000000001,2,接種済,2021/06/22,千代田会場,ファイザー,FA5678,山田 太郎",
        f"{MUNI_A},0000000002,1,予診のみ,R3.6.1,よその会場,,,=HYPERLINK(\"x\")",
        f"{MUNI_A},0000000099,1,接種済,20210601,{VENUE_A},武田/モデルナ,MD0001,佐藤 花子",
    ]
    r = client.post(f"{BASE}/records/import", content=record_csv(records, "cp932"), headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["registered"] == 4 and body["unmatched"] == 1 and body["unknown_venues"] == ["よその会場"]
    return h


def _aggregates_match(hub_db: str) -> bool:
    with connect(hub_db, "vrs_ingest") as conn, scoped(conn, Scope.ingest()):
        return aggregates.stored(conn) == aggregates.recounted(conn)


def test_import_then_exports_parse(app_client: Any, users: dict[str, str], hub_db: str) -> None:
    _setup(app_client)
    assert _aggregates_match(hub_db)
    long = app_client.get(f"{BASE}/records/export", params={"layout": "long", "encoding": "cp932"})
    assert long.status_code == 200
    assert "attachment" in long.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(long.content.decode("cp932"))))
    assert rows[0][:3] == ["自治体コード", "接種券番号", "接種回数"]
    assert len(rows) == 5  # header + 4 records, the unmatched one included
    assert any(r[8] == "'=HYPERLINK(\"x\")" for r in rows[1:])  # formula neutralised
    assert {r[5] for r in rows[1:]} >= {"千代田会場", "よその会場"}
    ledger = app_client.get(f"{BASE}/records/export", params={"layout": "ledger"})
    text = ledger.content.decode("utf-8")
    assert text.startswith("\ufeff")
    lrows = list(csv.reader(io.StringIO(text[1:])))
    assert lrows[0][0] == "個別宛名番号" and lrows[0][1] == "1回目接種履歴登録日時"
    assert [r[0] for r in lrows[1:]] == ["A001"]  # screened-only and unmatched records are not in the ledger
    assert lrows[1][2] == "20210601" and lrows[1][10] == "20210622"
    actions = [r["action"] for r in app_client.get("/api/v1/audit/").json()]
    assert actions[:2] == ["export_records", "export_records"]


def test_cp932_exports_write_what_cp932_lacks_as_a_substitute(app_client: Any, users: dict[str, str],
                                                               hub_db: str) -> None:
    _setup(app_client)
    with connect(hub_db, None) as conn:  # a doctor's name that no CP932 file could have brought
        conn.execute("UPDATE vaccinations SET doctor = '𠮷田 ソ表' WHERE voucher_no = '0000000001' AND dose = 2")
    # The first ledger stores the person's row again; the second reads it as stored.
    ledgers = [app_client.get(f"{BASE}/records/export", params={"layout": "ledger", "encoding": "cp932"})
               for _ in range(2)]
    long = app_client.get(f"{BASE}/records/export", params={"layout": "long", "encoding": "cp932"})
    assert [r.status_code for r in (*ledgers, long)] == [200, 200, 200]
    assert ledgers[0].content == ledgers[1].content
    ledger = list(csv.reader(io.StringIO(ledgers[0].content.decode("cp932"))))
    assert [r[0] for r in ledger[1:]] == ["A001"]
    assert ledger[1][6] == "山田 太郎" and ledger[1][14] == "〓田 ソ表"
    assert [r[8] for r in csv.reader(io.StringIO(long.content.decode("cp932"))) if r[2] == "2"] == ["〓田 ソ表"]


def test_bad_record_file_applies_nothing(app_client: Any, users: dict[str, str]) -> None:
    csrf = login(app_client, "clerk_a")
    rows = [f"{MUNI_A},0000000001,1,接種済,20210601,{VENUE_A},ファイザー,FA1234,山田",
            f"{MUNI_A},0000000001,2,接種済,20991231,{VENUE_A},ファイザー,FA1234,山田",
            f"{MUNI_A},12345,1,済,20210601,{VENUE_A},ファイザー,FA1234,山田"]
    r = app_client.post(f"{BASE}/records/import", content=record_csv(rows), headers={"x-csrf-token": csrf})
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert any(e.startswith("line 3, 接種日") for e in errors)
    assert any(e.startswith("line 4, 接種券番号") for e in errors)
    long = app_client.get(f"{BASE}/records/export", params={"layout": "long"}).content.decode("utf-8-sig")
    assert len(long.strip().splitlines()) == 1


def test_correction_keeps_old_version_and_needs_reason(app_client: Any, users: dict[str, str], hub_db: str) -> None:
    h = _setup(app_client)
    url = f"{BASE}/records/0000000001/1"
    before = app_client.get(url).json()
    r = app_client.post(url + "/correct", json={"reason": "", "lot": "FA9999"}, headers=h)
    assert r.status_code == 422 and "reason" in r.text
    r = app_client.post(url + "/correct", json={"reason": "ロット番号の読み違い", "lot": "FA9999"}, headers=h)
    assert r.status_code == 200, r.text
    after = app_client.get(url).json()
    assert after["record"]["lot"] == "FA9999" and after["record"]["atena_no"] == "A001"
    lots = [v["lot"] for v in after["history"]]
    assert lots == ["FA1234", "FA9999"]
    assert before["record"]["record_id"] in after["corrections"][after["record"]["record_id"]]["replaces_record_id"]
    assert after["corrections"][after["record"]["record_id"]]["reason"] == "ロット番号の読み違い"
    # moving the record to another dose number
    r = app_client.post(url + "/correct", json={"reason": "回数の誤り", "dose": 3}, headers=h)
    assert r.status_code == 200
    assert app_client.get(url).status_code == 404
    assert app_client.get(f"{BASE}/records/0000000001/3").json()["record"]["lot"] == "FA9999"
    # moving onto an occupied key is refused
    r = app_client.post(f"{BASE}/records/0000000001/3/correct", json={"reason": "x", "dose": 2}, headers=h)
    assert r.status_code == 422 and "already has" in r.text
    assert _aggregates_match(hub_db)
    audit = app_client.get("/api/v1/audit/").json()
    assert audit[0]["action"] == "correct_record" and audit[0]["details"]["reason"] == "回数の誤り"
    assert audit[1]["details"]["changed"] == {"lot": ["FA1234", "FA9999"]}


def test_deletion_is_a_correction(app_client: Any, users: dict[str, str], hub_db: str) -> None:
    h = _setup(app_client)
    url = f"{BASE}/records/0000000001/2"
    assert app_client.post(url + "/delete", json={"reason": ""}, headers=h).status_code == 422
    r = app_client.post(url + "/delete", json={"reason": "二重登録"}, headers=h)
    assert r.status_code == 200
    assert app_client.get(url).status_code == 404
    resident = app_client.get(f"{BASE}/residents/A001").json()
    assert [d["dose"] for d in resident["doses"]] == [1]
    assert [e["op"] for e in resident["history"] if e["dose"] == 2] == ["register", "void"]
    assert _aggregates_match(hub_db)
    with connect(hub_db, None) as conn:
        assert conn.execute("SELECT reason FROM record_corrections").fetchall() == [("二重登録",)]


def test_correction_page_round_trip(app_client: Any, users: dict[str, str]) -> None:
    h = _setup(app_client)
    page = app_client.get("/records/0000000001/1/correct")
    assert page.status_code == 200 and "訂正の理由" in page.text
    form = {"_csrf": h["x-csrf-token"], "voucher_no": "0000000001", "dose": "1", "status": "vaccinated",
            "administered_on": "2021-06-02", "venue_id": VENUE_A, "maker": "pfizer", "lot": "FA1234",
            "doctor": "山田 太郎", "reason": ""}
    r = app_client.post("/records/0000000001/1/correct", data=form)
    assert r.status_code == 422 and "reason" in r.text
    r = app_client.post("/records/0000000001/1/correct", data={**form, "reason": "接種日の誤り"})
    assert r.status_code == 200 and "接種日の誤り" in r.text and "2021-06-02" in r.text
