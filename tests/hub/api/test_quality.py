"""The data-quality page's API: every kind of issue created through the real ingest, then resolved by
matching, correcting and dismissing with a reason; each resolution audited; other tenants get 404."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from hub.db.connect import connect
from tests.hub.api.conftest import MUNI_A, MUNI_B, VENUE_A, login
from tests.hub.api.files import resident_csv, resident_line
from tests.hub.stations import Station
from tests.hub.test_ingest_apply import send

BASE = f"/api/v1/municipalities/{MUNI_A}/quality"
D = dt.date


@pytest.fixture
def flagged(hub_db: str, client_factory: Callable[[], Any], users: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """One record of each kind, scanned at VENUE_A and applied by the ingest."""
    c = client_factory()
    h = {"x-csrf-token": login(c, "clerk_a")}
    lines = [resident_line(MUNI_A, "R1", "0000000001"),
             resident_line(MUNI_A, "R2", "0000000002", movement="転出", moved="20210630"),
             resident_line(MUNI_A, "R3", "0000000003", movement="死亡", moved="20210615"),
             resident_line(MUNI_A, "R4", "0000000004", birth="20210710"),
             resident_line(MUNI_A, "R5", "0000000005"),
             resident_line(MUNI_A, "R6", "0000000006", name="佐藤 次郎", kana="サトウ ジロウ")]
    r = c.post(f"/api/v1/municipalities/{MUNI_A}/residents/import", content=resident_csv(lines), headers=h)
    assert r.status_code == 200, r.text
    st = Station("st-q", VENUE_A, MUNI_A)
    st.enroll(hub_db)
    with connect(hub_db, "vrs_ingest") as conn:
        result = send(conn, st, [
            st.record("0000000099", 1, administered_on=D(2021, 7, 1)),   # R6's voucher misread: no resident
            st.record("0000000002", 1, administered_on=D(2021, 7, 1)),   # after moving out
            st.record("0000000003", 1, administered_on=D(2021, 7, 1)),   # after death
            st.record("0000000004", 1, administered_on=D(2021, 7, 1)),   # before birth
            st.record("0000000005", 1, administered_on=D(2021, 7, 1)),
            st.record("0000000005", 2, administered_on=D(2021, 6, 20)),  # second dose before the first
            st.record("0000000001", 1, administered_on=D(2021, 6, 1)),
            st.record("0000000001", 2, administered_on=D(2021, 6, 10)),  # 9 days after a Pfizer dose
        ])
    assert result.acks[0].rejected == []
    return c, h


def open_issues(c: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for i in c.get(BASE + "/").json()["issues"]:
        out.setdefault(i["kind"], []).append(i)
    return out


def test_each_kind_is_listed_and_resolved(flagged: tuple[Any, dict[str, str]], hub_db: str) -> None:
    c, h = flagged
    view = c.get(BASE + "/").json()
    assert view["counts"] == {"unmatched_voucher": 1, "dose_order": 1, "dose_interval": 1, "resident_moved_out": 1,
                              "resident_deceased": 1, "impossible_date": 1}
    issues = open_issues(c)
    assert [(i["voucher_no"], i["dose"]) for i in issues["dose_order"]] == [("0000000005", 2)]
    assert [(i["voucher_no"], i["dose"]) for i in issues["dose_interval"]] == [("0000000001", 2)]
    assert "2021-07-10" in issues["impossible_date"][0]["detail"]

    def resolve(kind: str, body: dict[str, str]) -> Any:
        return c.post(f"{BASE}/{issues[kind][0]['record_id']}/resolve", json={"kind": kind, **body}, headers=h)

    # Match the misread voucher to the resident it belongs to.
    assert resolve("unmatched_voucher", {"action": "match", "atena_no": "NOPE"}).status_code == 422
    matched = resolve("unmatched_voucher", {"action": "match", "atena_no": "R6", "reason": "券番号の読取誤り"})
    assert matched.status_code == 200 and matched.json()["resolution"] == "matched"
    with psycopg.connect(hub_db) as conn:
        assert conn.execute("SELECT atena_no FROM vaccinations WHERE voucher_no = '0000000099'").fetchone() == ("R6",)
    # Correct the dates: the new versions have no issue, the old ones stay in the history.
    fixed = resolve("dose_order", {"action": "correct", "administered_on": "2021-07-22", "reason": "予診票で確認"})
    assert fixed.status_code == 200 and fixed.json()["new_record_id"]
    assert resolve("impossible_date", {"action": "correct", "administered_on": "2021-07-20",
                                       "reason": "接種日の入力誤り"}).status_code == 200
    # Dismissals need a reason.
    assert resolve("dose_interval", {"action": "dismiss"}).status_code == 422
    assert resolve("dose_interval", {"action": "dismiss", "reason": "医師の判断で接種"}).status_code == 200
    assert resolve("resident_moved_out", {"action": "dismiss", "reason": "転出前に接種券を使用"}).status_code == 200
    assert resolve("resident_deceased", {"action": "match", "atena_no": "R3"}).status_code == 422  # not unmatched
    assert resolve("resident_deceased", {"action": "dismiss", "reason": "死亡日の誤り"}).status_code == 200

    assert c.get(BASE + "/").json()["issues"] == []
    assert resolve("resident_deceased", {"action": "dismiss", "reason": "again"}).status_code == 404
    assert c.post(f"{BASE}/not-a-uuid/resolve", json={"kind": "dose_order", "action": "dismiss", "reason": "x"},
                  headers=h).status_code == 404
    done = c.get(BASE + "/resolutions").json()
    assert sorted(r["resolution"] for r in done) == ["corrected", "corrected", "dismissed", "dismissed", "dismissed",
                                                     "matched"]
    audited = [e["action"] for e in c.get("/api/v1/audit/?limit=200").json()]
    assert audited.count("quality.dismissed") == 3 and audited.count("quality.corrected") == 2
    assert audited.count("quality.matched") == 1 and audited.count("correct_record") == 2
    with psycopg.connect(hub_db) as conn:
        dates = conn.execute("SELECT administered_on FROM vaccination_history WHERE voucher_no = '0000000005'"
                             " AND dose = 2 ORDER BY recorded_at").fetchall()
    assert dates == [(D(2021, 6, 20),), (D(2021, 7, 22),)]


def test_other_tenants_see_and_resolve_nothing(flagged: tuple[Any, dict[str, str]],
                                                client_factory: Callable[[], Any]) -> None:
    c, _ = flagged
    rid = c.get(BASE + "/").json()["issues"][0]["record_id"]
    b = client_factory()
    hb = {"x-csrf-token": login(b, "clerk_b")}
    assert b.get(BASE + "/").status_code == 404
    body = {"kind": "unmatched_voucher", "action": "dismiss", "reason": "x"}
    assert b.post(f"{BASE}/{rid}/resolve", json=body, headers=hb).status_code == 404
    # Even through its own municipality's path, another municipality's record is not an issue it can close.
    assert b.post(f"/api/v1/municipalities/{MUNI_B}/quality/{rid}/resolve", json=body, headers=hb).status_code == 404
    assert b.get(f"/api/v1/municipalities/{MUNI_B}/quality/").json()["issues"] == []
    for who in ("venue_a", "pref13", "operator"):
        x = client_factory()
        login(x, who)
        assert x.get(BASE + "/").status_code == 404 and x.get("/quality").status_code == 404
    assert sum(c.get(BASE + "/").json()["counts"].values()) == 6
