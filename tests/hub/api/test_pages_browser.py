"""A clerk's path in real Chromium against `vrs-hub serve`: log in, upload a CP932 resident file with a bad
row and read the error with its line, fix it and upload, import records, see coverage, correct a record with
a reason, download an export and parse it."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.hub.api.conftest import MUNI_A, PASSWORD, ServedHub
from tests.hub.api.files import record_csv, resident_csv, resident_line

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def _create_clerk(hub_env: dict[str, str]) -> None:
    with_venue = subprocess.run(
        [str(Path(sys.executable).with_name("vrs-hub")), "venue", "add", "--id", "v-131016-001", "--municipality",
         MUNI_A, "--name", "千代田区役所会場"], env={**os.environ, **hub_env}, capture_output=True, text=True)
    assert with_venue.returncode == 0, with_venue.stderr
    r = subprocess.run([str(Path(sys.executable).with_name("vrs-hub")), "create-user", "--username", "clerk",
                        "--role", "municipal_staff", "--municipality", MUNI_A, "--display-name", "千代田 事務",
                        "--password-stdin"], input=PASSWORD + "\n", env={**os.environ, **hub_env},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_clerk_path(served_hub: ServedHub, hub_env: dict[str, str], browser: Browser, tmp_path: Path) -> None:
    _create_clerk(hub_env)
    residents = [resident_line(MUNI_A, "A001", "0000000001", name="山田 太郎", kana="ﾔﾏﾀﾞ ﾀﾛｳ"),
                 resident_line(MUNI_A, "A002", "0000000002", name="鈴木 花子", kana="スズキ ハナコ", sex="女")]
    bad = tmp_path / "jumin_bad.csv"
    bad.write_bytes(resident_csv([*residents, resident_line(MUNI_A, "A003", "0000000003", birth="昭和64年2月1日")],
                                 "cp932"))
    good = tmp_path / "jumin.csv"
    good.write_bytes(resident_csv(residents, "cp932"))
    records = tmp_path / "kiroku.csv"
    line = f"{MUNI_A},0000000001,1,接種済,20210601,千代田区役所会場,ファイザー,FA1234,医師 一郎"
    records.write_bytes(record_csv([line], "cp932"))

    context = browser.new_context(base_url=served_hub.base_url, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    # A page script failing or anything refused by the Content-Security-Policy is a defect.
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/login")
    page.get_by_label("ユーザー名").fill("clerk")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="接種率")).to_be_visible()
    expect(page.locator("header")).to_contain_text("千代田 事務")

    page.get_by_role("link", name="住民データ取込").click()
    page.get_by_label("ファイル").set_input_files(str(bad))
    page.get_by_role("button", name="取り込む").click()
    expect(page.locator("#result")).to_contain_text("何も取り込んでいません")
    expect(page.locator("#errors")).to_contain_text("line 4, 生年月日")

    page.get_by_label("ファイル").set_input_files(str(good))
    page.get_by_role("button", name="取り込む").click()
    expect(page.locator("#result")).to_contain_text("取り込みました")
    expect(page.locator("#inserted")).to_have_text("2")

    page.get_by_role("link", name="接種記録取込").click()
    page.get_by_label("ファイル").set_input_files(str(records))
    page.get_by_role("button", name="取り込む").click()
    expect(page.locator("#result")).to_contain_text("取り込みました")

    page.get_by_role("link", name="住民・接種率").click()
    expect(page.locator("#resident-count")).to_have_text("2")
    expect(page.locator("#coverage")).to_contain_text("1回目")
    expect(page.locator("#coverage")).to_contain_text("50.0%")

    page.get_by_label("氏名カナ").fill("ヤマダ")
    page.get_by_role("button", name="検索").click()
    page.get_by_role("link", name="A001").click()
    expect(page.locator("#doses")).to_contain_text("FA1234")
    page.get_by_role("link", name="訂正・削除").click()
    page.locator("#correct-form input[name=lot]").fill("FA4321")
    page.locator("#correct-form button").click()
    expect(page.locator("#correct-form + ul.errors, ul.errors")).to_have_count(0)
    page.locator("#correct-form textarea[name=reason]").fill("ロット番号の記入誤り")
    page.locator("#correct-form button").click()
    expect(page.locator("#history")).to_contain_text("ロット番号の記入誤り")
    expect(page.locator("#history")).to_contain_text("FA1234")  # the old version stays in the history

    page.get_by_role("link", name="接種記録出力").click()
    page.get_by_label("様式").select_option("long")
    page.get_by_label("文字コード").select_option("cp932")
    with page.expect_download() as dl:
        page.get_by_role("button", name="ダウンロード").click()
    path = dl.value.path()
    rows = list(csv.reader(io.StringIO(Path(path).read_bytes().decode("cp932"))))
    assert rows[0][:2] == ["自治体コード", "接種券番号"]
    assert rows[1][1] == "0000000001" and rows[1][7] == "FA4321" and rows[1][5] == "千代田区役所会場"
    assert dl.value.suggested_filename.endswith(".csv")
    assert errors == [], errors
    context.close()
