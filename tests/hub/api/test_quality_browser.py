"""The data-quality page in real Chromium: issues created by the ingest are listed per kind; the clerk
matches an unmatched voucher, dismisses a short interval with a reason and corrects a date."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from hub.api.services.residents import import_residents
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from hub.keys import load_secret
from tests.hub.api.conftest import MUNI_A, PASSWORD, VENUE_A, ServedHub
from tests.hub.api.files import resident_csv, resident_line
from tests.hub.stations import Station
from tests.hub.test_ingest_apply import send

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
D = dt.date


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_resolve_issues_in_the_browser(served_hub: ServedHub, hub_env: dict[str, str], hub_db: str,
                                       make_user: Callable[..., str], browser: Browser) -> None:
    make_user("clerk", "municipal_staff", municipality_code=MUNI_A)
    lines = [resident_line(MUNI_A, "R1", "0000000001"), resident_line(MUNI_A, "R2", "0000000002"),
             resident_line(MUNI_A, "R3", "0000000003")]
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(MUNI_A)):
        assert import_residents(conn, municipality_code=MUNI_A, stream=io.BytesIO(resident_csv(lines)), mode="diff",
                                dry_run=False, secret=load_secret(Path(hub_env["VRS_SECRET_FILE"])),
                                today=D(2021, 8, 1), actor="loader").ok
    st = Station("st-q", VENUE_A, MUNI_A)
    st.enroll(hub_db)
    with connect(hub_db, "vrs_ingest") as conn:
        send(conn, st, [st.record("0000000077", 1, administered_on=D(2021, 7, 1)),
                        st.record("0000000001", 1, administered_on=D(2021, 6, 1)),
                        st.record("0000000001", 2, administered_on=D(2021, 6, 5)),
                        st.record("0000000002", 1, administered_on=D(2021, 7, 1)),
                        st.record("0000000002", 2, administered_on=D(2021, 6, 1))])
    errors: list[str] = []
    page = browser.new_context(base_url=served_hub.base_url).new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/login")
    page.get_by_label("ユーザー名").fill("clerk")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name="データ品質").click()
    expect(page.locator("#counts td[data-kind=unmatched_voucher]")).to_have_text("1")
    expect(page.locator("#counts td[data-kind=dose_interval]")).to_have_text("1")
    expect(page.locator("#counts td[data-kind=dose_order]")).to_have_text("1")

    row = page.locator("#issues tr[data-kind=unmatched_voucher]")
    row.get_by_label("対応").select_option("match")
    row.get_by_placeholder("宛名番号").fill("R3")
    row.get_by_role("button", name="記録").click()
    expect(page.locator("#done")).to_contain_text("matched")

    row = page.locator("#issues tr[data-kind=dose_interval]")
    row.get_by_label("対応").select_option("dismiss")
    row.get_by_role("button", name="記録").click()
    expect(page.locator("#errors")).to_contain_text("理由")
    row = page.locator("#issues tr[data-kind=dose_interval]")
    row.get_by_label("対応").select_option("dismiss")
    row.get_by_placeholder("理由").fill("医師の判断")
    row.get_by_role("button", name="記録").click()
    expect(page.locator("#done")).to_contain_text("dismissed")

    row = page.locator("#issues tr[data-kind=dose_order]")
    row.get_by_label("対応").select_option("correct")
    row.get_by_label("正しい接種日").fill("2021-07-23")
    row.get_by_placeholder("理由").fill("予診票の日付")
    row.get_by_role("button", name="記録").click()
    expect(page.locator("#done")).to_contain_text("corrected")
    expect(page.locator("#issues")).to_contain_text("確認が必要な記録はありません")
    expect(page.locator("#resolved tbody tr")).to_have_count(3)
    page.get_by_role("link", name="監査ログ").click()
    expect(page.locator("body")).to_contain_text("quality.dismissed")
    assert errors == [], errors
