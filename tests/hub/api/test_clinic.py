"""The clinic's day view (venue_staff): its venue's records of a day from residents of any municipality,
counts per station and per hour to match the paper forms, and nothing else (404 everywhere else)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from hub.db.connect import connect
from protocol.records import JST
from tests.hub.api.conftest import MUNI_A, MUNI_B, VENUE_A, VENUE_B, login
from tests.hub.stations import Station
from tests.hub.test_ingest_apply import send

DAY = dt.date(2021, 7, 1)


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=JST)


@pytest.fixture
def venue_day(hub_db: str, users: dict[str, str]) -> None:
    """At VENUE_A on DAY: desk 1 scans 3 (one of another municipality, Q31), desk 2 scans 2 (one screened
    only); a record the day before; another venue's record the same day."""
    desk1 = Station("st-desk1", VENUE_A, MUNI_A)
    desk2 = Station("st-desk2", VENUE_A, MUNI_A)
    elsewhere = Station("st-b", VENUE_B, MUNI_B)
    for st in (desk1, desk2, elsewhere):
        st.enroll(hub_db)
    with connect(hub_db, "vrs_ingest") as conn:
        send(conn, desk1, [desk1.record("0000000001", scanned_at=at(9, 5)),
                           desk1.record("0000000002", scanned_at=at(9, 40)),
                           desk1.record("0000000003", municipality_code=MUNI_B, scanned_at=at(10, 15))])
        send(conn, desk2, [desk2.record("0000000004", scanned_at=at(10, 20)),
                           desk2.record("0000000005", scanned_at=at(14, 0), status="screened_only"),
                           desk2.record("0000000006", scanned_at=at(16, 0, DAY - dt.timedelta(days=1)))])
        send(conn, elsewhere, [elsewhere.record("0000000007", scanned_at=at(11))])


def test_the_days_records_and_counts(venue_day: None, client_factory: Callable[[], Any]) -> None:
    c = client_factory()
    login(c, "venue_a")
    r = c.get(f"/api/v1/venues/{VENUE_A}/day?day={DAY.isoformat()}")
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["records"], d["vaccinated"], d["screened_only"]) == (5, 4, 1)
    assert [(s["device_id"], s["records"], s["vaccinated"]) for s in d["by_station"]] == [
        ("st-desk1", 3, 3), ("st-desk2", 2, 1)]
    assert [(h["hour"], h["records"]) for h in d["by_hour"]] == [(9, 2), (10, 2), (14, 1)]
    assert sorted(x["voucher_no"] for x in d["rows"]) == [f"000000000{i}" for i in range(1, 6)]
    assert {x["municipality_code"] for x in d["rows"]} == {MUNI_A, MUNI_B}
    before = c.get(f"/api/v1/venues/{VENUE_A}/day?day={(DAY - dt.timedelta(days=1)).isoformat()}").json()
    assert before["records"] == 1
    # The page shows the same counts.
    page = c.get(f"/clinic?day={DAY.isoformat()}")
    assert page.status_code == 200 and 'id="total">5<' in page.text and "st-desk2" in page.text
    # The read of each municipality's records is in that municipality's audit chain.
    for who, code in (("clerk_a", MUNI_A), ("clerk_b", MUNI_B)):
        m = client_factory()
        login(m, who)
        reads = [e for e in m.get("/api/v1/audit/").json() if e["action"] == "venue_read"]
        assert reads and all(e["target"] == VENUE_A for e in reads), code


def test_nothing_else_is_visible_to_a_venue(venue_day: None, client_factory: Callable[[], Any]) -> None:
    c = client_factory()
    h = {"x-csrf-token": login(c, "venue_a")}
    assert c.get(f"/api/v1/venues/{VENUE_B}/day?day={DAY.isoformat()}").status_code == 404
    assert c.get(f"/api/v1/venues/{VENUE_A}/day?day=2021-13-01").status_code == 422
    assert c.get("/clinic?day=yesterday").status_code == 422
    for path in ("/residents", "/moves", "/stations", "/quality", "/records/import", "/audit",
                 f"/api/v1/municipalities/{MUNI_A}/residents", f"/api/v1/municipalities/{MUNI_A}/stations",
                 f"/api/v1/municipalities/{MUNI_A}/quality", f"/api/v1/municipalities/{MUNI_A}/transfer-inquiries"):
        assert c.get(path).status_code == 404, path
    assert c.post(f"/api/v1/municipalities/{MUNI_A}/transfer-inquiries", headers=h,
                  json={"from_municipality_code": MUNI_B, "my_number": "123456789018", "consent_kind": "written",
                        "consent_given_by": "本人"}).status_code == 404
    # Municipal staff have no clinic view.
    m = client_factory()
    login(m, "clerk_a")
    assert m.get("/clinic").status_code == 404
    assert m.get(f"/api/v1/venues/{VENUE_A}/day").status_code == 404
