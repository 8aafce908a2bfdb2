"""Moves through the API: flag moved out / deceased; move-in inquiries by My Number and by the 3 items
with consent, copying the provided records, audit rows in both municipalities, and 404 for every role
that is not municipal staff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.hub.api.conftest import MUNI_A, MUNI_B, VENUE_A, login
from tests.hub.api.files import record_csv, resident_csv, resident_line

MY_NUMBER = "123456789018"
CONSENT = {"consent_kind": "verbal", "consent_given_by": "本人", "consent_at": "2021-08-01T10:00:00+09:00"}


@pytest.fixture
def moved(client_factory: Callable[[], Any], users: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """Old municipality A: a resident with My Number and two doses, and a namesake; new municipality B: the
    person's new resident row. Returns clerk_b's client and CSRF header."""
    a = client_factory()
    ha = {"x-csrf-token": login(a, "clerk_a")}
    lines = [resident_line(MUNI_A, "A001", "0000000001", my_number=MY_NUMBER, name="山田 太郎"),
             resident_line(MUNI_A, "A002", "0000000002", name="山田 大郎"),
             resident_line(MUNI_A, "A003", "0000000003", name="鈴木 花子", kana="スズキ ハナコ", sex="2")]
    assert a.post(f"/api/v1/municipalities/{MUNI_A}/residents/import", content=resident_csv(lines),
                  headers=ha).status_code == 200
    recs = [f"{MUNI_A},0000000001,1,接種済,20210601,{VENUE_A},ファイザー,FA1111,医師 一郎",
            f"{MUNI_A},0000000001,2,接種済,20210622,{VENUE_A},ファイザー,FA2222,医師 一郎",
            f"{MUNI_A},0000000002,1,接種済,20210603,{VENUE_A},武田/モデルナ,MO3333,医師 一郎"]
    assert a.post(f"/api/v1/municipalities/{MUNI_A}/records/import", content=record_csv(recs),
                  headers=ha).status_code == 200
    b = client_factory()
    hb = {"x-csrf-token": login(b, "clerk_b")}
    assert b.post(f"/api/v1/municipalities/{MUNI_B}/residents/import",
                  content=resident_csv([resident_line(MUNI_B, "B001", "0000000101", name="山田 太郎")]),
                  headers=hb).status_code == 200
    return b, hb


def audit_actions(client: Any) -> list[dict[str, Any]]:
    return [e for e in client.get("/api/v1/audit/?limit=100").json() if e["action"].startswith("transfer")]


def test_inquiry_by_my_number_with_consent_copies_and_audits_both_sides(
        moved: tuple[Any, dict[str, str]], client_factory: Callable[[], Any]) -> None:
    b, hb = moved
    url = f"/api/v1/municipalities/{MUNI_B}/transfer-inquiries"
    r = b.post(url, json={"from_municipality_code": MUNI_A, "my_number": MY_NUMBER, **CONSENT}, headers=hb)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["matches"] == 1 and answer["candidates"] == []
    assert [(x["dose"], x["lot"], x["venue_name"]) for x in answer["records"]] == [
        (1, "FA1111", "千代田会場"), (2, "FA2222", "千代田会場")]
    assert MY_NUMBER not in r.text

    copied = b.post(f"{url}/{answer['inquiry_id']}/copy", json={"atena_no": "B001"}, headers=hb)
    assert copied.status_code == 200 and copied.json()["copied"] == 2
    provided = b.get(f"/api/v1/municipalities/{MUNI_B}/residents/B001/provided-records").json()
    assert {(p["dose"], p["provided_by_municipality_code"]) for p in provided} == {(1, MUNI_A), (2, MUNI_A)}
    # The resident's own page leads the clerk to them.
    page = b.get("/residents/B001")
    assert page.status_code == 200 and 'href="/moves/residents/B001"' in page.text
    provided_page = b.get("/moves/residents/B001")
    assert provided_page.status_code == 200 and "FA2222" in provided_page.text
    # Copying into someone who is not a resident of B is refused.
    bad = b.post(f"{url}/{answer['inquiry_id']}/copy", json={"atena_no": "A001"}, headers=hb)
    assert bad.status_code == 422

    mine = audit_actions(b)
    assert {e["action"] for e in mine} == {"transfer_inquiry", "transfer_copy"}
    assert all(e["details"]["consent_kind"] == "verbal" and e["details"]["consent_given_by"] == "本人" for e in mine)
    a = client_factory()
    login(a, "clerk_a")
    theirs = audit_actions(a)
    assert {e["action"] for e in theirs} == {"transfer_inquiry_provided", "transfer_copy_provided"}
    assert all(e["actor"] == "clerk_b" and e["details"]["asking_municipality"] == MUNI_B for e in theirs)
    # The inquiry list shows the consent; the old municipality still sees nothing of B.
    listed = b.get(url).json()
    assert listed[0]["consent_kind"] == "verbal" and listed[0]["candidates"] == 1
    assert a.get(f"/api/v1/municipalities/{MUNI_B}/transfer-inquiries").status_code == 404


def test_inquiry_by_three_items_lists_masked_candidates_and_a_choice_gives_records(
        moved: tuple[Any, dict[str, str]]) -> None:
    b, hb = moved
    url = f"/api/v1/municipalities/{MUNI_B}/transfer-inquiries"
    r = b.post(url, json={"from_municipality_code": MUNI_A, "name_kana": "ﾔﾏﾀﾞ ﾀﾛｳ", "birth_date": "S55.4.1",
                          "sex": "男", **CONSENT}, headers=hb)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["matches"] == 2 and answer["records"] == []
    assert [(c["masked_name"], c["birth_date"]) for c in answer["candidates"]] == [
        ("山＊ 太＊", "1980-04-01"), ("山＊ 大＊", "1980-04-01")]
    for leaked in ("A001", "A002", "太郎", "0000000001", "FA1111"):
        assert leaked not in r.text
    chosen = b.post(f"{url}/{answer['inquiry_id']}/choose", json={"candidate_no": 2}, headers=hb)
    assert chosen.status_code == 200
    assert [x["lot"] for x in chosen.json()["records"]] == ["MO3333"]
    again = b.post(f"{url}/{answer['inquiry_id']}/choose", json={"candidate_no": 1}, headers=hb)
    assert again.status_code == 422


@pytest.mark.parametrize("body, problem", [
    ({"from_municipality_code": MUNI_A, "my_number": MY_NUMBER, "consent_kind": "", "consent_given_by": ""},
     "同意"),
    ({"from_municipality_code": MUNI_A, "my_number": "123456789012", **CONSENT}, "個人番号"),
    ({"from_municipality_code": MUNI_B, "my_number": MY_NUMBER, **CONSENT}, "自分の自治体"),
    ({"from_municipality_code": "271276", "my_number": MY_NUMBER, **CONSENT}, "市区町村コードではありません"),
    ({"from_municipality_code": MUNI_A, "name_kana": "山田", "birth_date": "19800401", "sex": "1", **CONSENT},
     "カナ"),
    ({"from_municipality_code": MUNI_A, "name_kana": "ヤマダ", "birth_date": "19800230", "sex": "3", **CONSENT},
     "性別"),
    ({"from_municipality_code": MUNI_A, "my_number": MY_NUMBER, **{**CONSENT, "consent_at": "2999-01-01T00:00"}},
     "未来"),
])
def test_bad_inquiries_are_refused_and_nothing_is_read(moved: tuple[Any, dict[str, str]],
                                                       client_factory: Callable[[], Any], body: dict[str, str],
                                                       problem: str) -> None:
    b, hb = moved
    r = b.post(f"/api/v1/municipalities/{MUNI_B}/transfer-inquiries", json=body, headers=hb)
    assert r.status_code == 422 and problem in r.text
    assert b.get(f"/api/v1/municipalities/{MUNI_B}/transfer-inquiries").json() == []
    a = client_factory()
    login(a, "clerk_a")
    assert audit_actions(a) == []


@pytest.mark.parametrize("who", ["venue_a", "pref13", "nation", "operator"])
def test_non_municipal_roles_get_404(moved: tuple[Any, dict[str, str]], client_factory: Callable[[], Any],
                                     who: str) -> None:
    c = client_factory()
    h = {"x-csrf-token": login(c, who)}
    base = f"/api/v1/municipalities/{MUNI_B}"
    body = {"from_municipality_code": MUNI_A, "my_number": MY_NUMBER, **CONSENT}
    assert c.post(f"{base}/transfer-inquiries", json=body, headers=h).status_code == 404
    assert c.get(f"{base}/transfer-inquiries").status_code == 404
    assert c.post(f"{base}/residents/B001/movement", json={"status": "moved_out"}, headers=h).status_code == 404
    assert c.get("/moves").status_code == 404
    assert c.post("/moves/inquiries", data={**body, "_csrf": h["x-csrf-token"]}).status_code == 404


def test_moved_out_and_deceased_flags(moved: tuple[Any, dict[str, str]], client_factory: Callable[[], Any]) -> None:
    a = client_factory()
    h = {"x-csrf-token": login(a, "clerk_a")}
    base = f"/api/v1/municipalities/{MUNI_A}/residents"
    r = a.post(f"{base}/A001/movement", json={"status": "moved_out", "date": "2021-07-31"}, headers=h)
    assert r.status_code == 200
    assert a.get(f"{base}/A001").json()["resident"]["status"] == "moved_out"
    assert a.post(f"{base}/A003/movement", json={"status": "deceased", "date": "20210705"},
                  headers=h).status_code == 200
    assert a.get(f"{base}/A003").json()["resident"]["status_date"] == "2021-07-05"
    assert a.post(f"{base}/A002/movement", json={"status": "gone"}, headers=h).status_code == 422
    assert a.post(f"{base}/A002/movement", json={"status": "moved_out", "date": "2999-01-01"},
                  headers=h).status_code == 422
    assert a.post(f"{base}/NOPE/movement", json={"status": "moved_out"}, headers=h).status_code == 404
    # Another municipality's resident is not found (404), and is left alone.
    b = client_factory()
    hb = {"x-csrf-token": login(b, "clerk_b")}
    assert b.post(f"{base}/A002/movement", json={"status": "moved_out"}, headers=hb).status_code == 404
    assert a.get(f"{base}/A002").json()["resident"]["status"] == "active"
    actions = [e["action"] for e in a.get("/api/v1/audit/").json()]
    assert actions.count("resident_movement") == 2


def test_the_inquiry_form_needs_its_csrf_token(moved: tuple[Any, dict[str, str]]) -> None:
    b, _ = moved
    form = {"from_municipality_code": MUNI_A, "my_number": MY_NUMBER, "consent_kind": "written",
            "consent_given_by": "本人"}
    assert b.post("/moves/inquiries", data=form).status_code == 403
    assert b.post("/moves/inquiries", data={**form, "_csrf": "forged"}).status_code == 403
    assert b.get(f"/api/v1/municipalities/{MUNI_B}/transfer-inquiries").json() == []
    page = b.get("/moves")
    assert page.status_code == 200 and 'name="_csrf"' in page.text
