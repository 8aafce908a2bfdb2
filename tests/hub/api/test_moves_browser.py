"""A move-in in real Chromium against `vrs-hub serve`: the new municipality's clerk records the consent,
asks by My Number and copies the records, asks by the 3 items and picks among masked candidates; both
municipalities' audit pages show the inquiry."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hub.api.services.residents import import_residents
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from hub.keys import load_secret
from tests.hub.api.conftest import MUNI_A, MUNI_B, PASSWORD, VENUE_A, ServedHub
from tests.hub.api.files import resident_csv, resident_line
from tests.hub.stations import Station
from tests.hub.test_ingest_apply import send

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MY_NUMBER = "123456789018"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def seed(hub_env: dict[str, str], hub_db: str) -> None:
    secret = load_secret(Path(hub_env["VRS_SECRET_FILE"]))
    for code, lines in ((MUNI_A, [resident_line(MUNI_A, "A001", "0000000001", my_number=MY_NUMBER),
                                  resident_line(MUNI_A, "A002", "0000000002", name="山田 大郎")]),
                        (MUNI_B, [resident_line(MUNI_B, "B001", "0000000101")])):
        with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(code)):
            assert import_residents(conn, municipality_code=code, stream=io.BytesIO(resident_csv(lines)),
                                    mode="diff", dry_run=False, secret=secret, today=dt.date(2021, 8, 1),
                                    actor="loader").ok
    st = Station("st-a1", VENUE_A, MUNI_A)
    st.enroll(hub_db)
    with connect(hub_db, "vrs_ingest") as conn:
        send(conn, st, [st.record("0000000001", 1, administered_on=dt.date(2021, 6, 1), lot="FA1111"),
                        st.record("0000000001", 2, administered_on=dt.date(2021, 6, 22), lot="FA2222"),
                        st.record("0000000002", 1, administered_on=dt.date(2021, 6, 3), lot="MO3333",
                                  maker="moderna")])


def logged_in(browser: Browser, hub: ServedHub, username: str, errors: list[str]) -> Page:
    page = browser.new_context(base_url=hub.base_url).new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/login")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.locator("header")).to_contain_text(username)
    return page


def test_move_in_inquiries_in_the_browser(served_hub: ServedHub, hub_env: dict[str, str], hub_db: str,
                                          make_user: Callable[..., str], browser: Browser) -> None:
    make_user("clerk_a", "municipal_staff", municipality_code=MUNI_A)
    make_user("clerk_b", "municipal_staff", municipality_code=MUNI_B)
    seed(hub_env, hub_db)
    errors: list[str] = []
    page = logged_in(browser, served_hub, "clerk_b", errors)

    page.get_by_role("link", name="転出・転入", exact=True).click()
    form = page.locator("#inquiry-form")
    form.locator("[name=consent_kind]").select_option("written")
    form.locator("[name=consent_given_by]").fill("本人")
    form.locator("[name=from_municipality_code]").fill(MUNI_A)
    form.locator("[name=my_number]").fill("1234 5678 9012")  # wrong check digit
    form.get_by_role("button", name="同意を記録して照会する").click()
    expect(page.locator("#errors")).to_contain_text("個人番号")

    page.locator("#inquiry-form [name=my_number]").fill(MY_NUMBER)
    page.locator("#inquiry-form [name=consent_given_by]").fill("本人")
    page.locator("#inquiry-form").get_by_role("button").click()
    expect(page.locator("#provided")).to_contain_text("FA1111")
    expect(page.locator("#provided")).to_contain_text("FA2222")
    expect(page.locator("#provided")).not_to_contain_text("MO3333")
    page.locator("#copy-form [name=atena_no]").fill("B001")
    page.locator("#copy-form").get_by_role("button", name="取り込む").click()
    expect(page.locator("#copied")).to_contain_text("2 件を取り込みました")
    expect(page.locator("#provided-records")).to_contain_text("千代田区")
    expect(page.locator("#provided-records tbody tr")).to_have_count(2)

    # By the 3 items: two namesakes with the same kana, birth date and sex.
    page.get_by_role("link", name="転出・転入", exact=True).click()
    form = page.locator("#inquiry-form")
    form.locator("[name=consent_kind]").select_option("verbal")
    form.locator("[name=consent_given_by]").fill("代理人 山田 花子")
    form.locator("[name=from_municipality_code]").fill(MUNI_A)
    form.locator("[name=name_kana]").fill("ﾔﾏﾀﾞ ﾀﾛｳ")
    form.locator("[name=birth_date]").fill("S55.4.1")
    form.locator("[name=sex]").select_option("1")
    form.get_by_role("button").click()
    expect(page.locator("#ambiguous")).to_contain_text("2 人")
    expect(page.locator("#candidates")).to_contain_text("山＊ 太＊")
    expect(page.locator("#candidates")).to_contain_text("山＊ 大＊")
    expect(page.locator("#candidates")).not_to_contain_text("太郎")
    page.locator("#candidates tbody tr").nth(1).get_by_role("button").click()
    expect(page.locator("#provided")).to_contain_text("MO3333")

    page.get_by_role("link", name="転出・転入", exact=True).click()
    expect(page.locator("#inquiries tbody tr")).to_have_count(2)
    expect(page.locator("#inquiries")).to_contain_text("代理人 山田 花子")
    page.get_by_role("link", name="監査ログ").click()
    expect(page.locator("body")).to_contain_text("transfer_inquiry")

    old = logged_in(browser, served_hub, "clerk_a", errors)
    old.goto("/audit")
    expect(old.locator("body")).to_contain_text("transfer_inquiry_provided")
    expect(old.locator("body")).to_contain_text("transfer_copy_provided")
    assert errors == [], errors
