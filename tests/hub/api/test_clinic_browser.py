"""A clinic's day in real Chromium: the venue's staff pick a day and see the count per station and per
hour next to the records; municipal pages answer 404."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from hub.db.connect import connect
from protocol.records import JST
from tests.hub.api.conftest import MUNI_A, MUNI_B, PASSWORD, VENUE_A, ServedHub
from tests.hub.stations import Station
from tests.hub.test_ingest_apply import send

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
DAY = dt.date(2021, 7, 1)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_a_clinics_day(served_hub: ServedHub, hub_db: str, make_user: Callable[..., str], browser: Browser) -> None:
    make_user("clinic", "venue_staff", venue_id=VENUE_A)
    desk1, desk2 = Station("st-desk1", VENUE_A, MUNI_A), Station("st-desk2", VENUE_A, MUNI_A)
    for st in (desk1, desk2):
        st.enroll(hub_db)
    with connect(hub_db, "vrs_ingest") as conn:
        send(conn, desk1, [desk1.record(scanned_at=dt.datetime(2021, 7, 1, 9, m, tzinfo=JST)) for m in (1, 2, 3)]
             + [desk1.record(municipality_code=MUNI_B, scanned_at=dt.datetime(2021, 7, 1, 13, 0, tzinfo=JST))])
        send(conn, desk2, [desk2.record("0000000050", scanned_at=dt.datetime(2021, 7, 1, 10, 30, tzinfo=JST),
                                        lot="EX9999")])
    errors: list[str] = []
    page = browser.new_context(base_url=served_hub.base_url).new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/login")
    page.get_by_label("ユーザー名").fill("clinic")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name="本日の接種記録").click()
    expect(page.locator("h1")).to_contain_text("千代田会場")
    page.get_by_label("日付").fill(DAY.isoformat())
    page.get_by_role("button", name="表示").click()
    expect(page.locator("#total")).to_have_text("5")
    expect(page.locator("#by-station")).to_contain_text("st-desk1")
    expect(page.locator("#by-station tbody tr").first).to_contain_text("4")
    expect(page.locator("#by-hour")).to_contain_text("09:00-09:59")
    expect(page.locator("#by-hour")).to_contain_text("13:00-13:59")
    expect(page.locator("#records")).to_contain_text("EX9999")
    expect(page.locator("#records")).to_contain_text(MUNI_B)  # a resident of another municipality (Q31)
    page.get_by_label("日付").fill("2021-07-02")
    page.get_by_role("button", name="表示").click()
    expect(page.locator("#total")).to_have_text("0")
    for path in ("/residents", "/moves", "/stations", "/quality", "/records/export"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.locator("body")).to_contain_text("見つかりません")
    assert errors == [], errors
