"""The kiosk page in real Chromium: what reception staff see and touch. Vouchers are injected through
Station.accept, the function the capture loop calls; the broker is the real Mosquitto."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from edge.display.buzzer import RecordingBuzzer
from edge.queue.backoff import Backoff
from edge.queue.publisher import parse_broker_url
from edge.queue.records import Preset
from edge.station import Station
from protocol import Voucher
from protocol.signing import generate_key
from tests.edge.hub_double import HubDouble
from tests.fixtures_postgres import free_port

pytestmark = pytest.mark.browser

DEVICE = "st-browser-01"
PRESET = Preset(venue_id="v-131016-001", maker="pfizer", lot="FA1234", doctor="山田 太郎")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


class FastBackoff(Backoff):
    INITIAL = 0.05
    CAP = 0.3


def voucher(no: int, dose: int = 1) -> Voucher:
    return Voucher(municipality_code="131016", voucher_no=f"{no:010d}", dose=dose, ticket_kind="1")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


class Desk:
    def __init__(self, station: Station, hub: HubDouble, page: Page) -> None:
        self.station, self.hub, self.page = station, hub, page


@pytest.fixture
def desk(tmp_path: Path, mosquitto, browser: Browser) -> Iterator[Desk]:
    key, hub_key = generate_key(), generate_key()
    station = Station(
        device_id=DEVICE, outbox_path=tmp_path / "outbox.sqlite", preset=PRESET,
        broker=parse_broker_url(mosquitto.url), private_key=key, hub_keys=(hub_key.public_key(),),
        kiosk_port=free_port(), buzzer=RecordingBuzzer(), backoff=FastBackoff(), version="browser",
    )
    # After a broker restart the hub may resubscribe after the station has resent: then only the ack timeout
    # brings the batch back, so keep it short here.
    station.publisher.ACK_TIMEOUT = 2.0
    with HubDouble(mosquitto.url, {DEVICE: key.public_key()}, hub_key) as hub:
        station.start()
        context = browser.new_context(locale="ja-JP", viewport={"width": 1024, "height": 600})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # A refused action (400/409) is logged by Chromium as a failed load; that is the page working.
        page.on("console", lambda msg: errors.append(msg.text)
                if msg.type == "error" and "status of 40" not in msg.text else None)
        try:
            page.goto(station.kiosk_url)
            expect(page.get_by_test_id("link")).to_have_text("オンライン", timeout=15_000)
            yield Desk(station, hub, page)
            assert not errors, errors  # no script errors and no CSP violations
        finally:
            context.close()
            station.stop()


def wait(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_scan_appears_with_its_beep(desk: Desk) -> None:
    page = desk.page
    expect(page.get_by_test_id("state")).to_contain_text("準備完了")
    desk.station.accept(voucher(4242, dose=2), source="ocr", frames=3)
    state = page.get_by_test_id("state")
    expect(state).to_contain_text("OK 登録しました")
    expect(page.get_by_test_id("scan")).to_contain_text("東京都 千代田区")
    expect(page.get_by_test_id("scan")).to_contain_text("0000004242")
    expect(page.locator("#scan-dose")).to_have_text("2")
    expect(page.locator("body")).to_have_attribute("data-tone", "success")
    expect(page.locator("body")).to_have_attribute("data-screen", "ok")
    expect(page.get_by_test_id("count")).to_have_text("1")
    expect(page.get_by_test_id("recent")).to_contain_text("0000004242")
    expect(page.get_by_test_id("recent")).to_contain_text("登録済")  # the hub's ack arrived
    expect(page.get_by_test_id("queue")).to_have_text("0")


def test_undo_sends_a_void(desk: Desk) -> None:
    page = desk.page
    desk.station.accept(voucher(77), source="qr", frames=1)
    row = page.get_by_test_id("recent").locator("li").first
    expect(row).to_contain_text("0000000077")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="取消").click()
    expect(page.get_by_test_id("state")).to_contain_text("取り消しました")
    expect(page.get_by_test_id("count")).to_have_text("0")
    wait(lambda: any(r.op == "void" for r in desk.hub.stored.values()), "the void at the hub")
    [original] = [r for r in desk.hub.stored.values() if r.op == "register"]
    [void] = [r for r in desk.hub.stored.values() if r.op == "void"]
    assert void.voids_record_id == original.record_id and void.voucher_no == "0000000077"
    expect(page.get_by_test_id("recent").get_by_role("button", name="取消")).to_have_count(0)


def test_a_preset_change_applies_to_the_next_record(desk: Desk) -> None:
    page = desk.page
    page.get_by_test_id("open-preset").click()
    dialog = page.get_by_test_id("preset-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#f-lot").fill("   ")  # passes the browser's required check, not the station's
    page.get_by_test_id("save-preset").click()
    expect(dialog.locator('[data-error-for="lot"]')).to_contain_text("ロット番号")  # refused, says where
    dialog.locator("#f-maker").select_option("moderna")
    dialog.locator("#f-lot").fill("MD-0427")
    dialog.locator("#f-doctor").fill("佐藤 花子")
    dialog.get_by_label("予診のみ").check()
    page.get_by_test_id("save-preset").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("preset-summary")).to_contain_text("武田/モデルナ")
    expect(page.get_by_test_id("preset-summary")).to_contain_text("MD-0427")

    desk.station.accept(voucher(555), source="qr", frames=1)
    expect(page.get_by_test_id("scan")).to_contain_text("予診のみ")
    wait(lambda: len(desk.hub.stored) == 1, "the record at the hub")
    [record] = desk.hub.stored.values()
    assert (record.vaccine.maker, record.vaccine.lot, record.doctor, record.status) == (
        "moderna", "MD-0427", "佐藤 花子", "screened_only")


def test_the_duplicate_warning_shows_and_only_a_confirmation_registers_again(desk: Desk) -> None:
    page = desk.page
    desk.station.accept(voucher(31), source="qr", frames=1)
    expect(page.get_by_test_id("count")).to_have_text("1")
    desk.station.accept(voucher(31), source="qr", frames=1)
    state = page.get_by_test_id("state")
    expect(state).to_contain_text("確認してください")
    expect(state).to_contain_text("登録済み")
    expect(page.locator("body")).to_have_attribute("data-tone", "attention")
    expect(page.get_by_test_id("count")).to_have_text("1")  # no second record yet
    page.get_by_test_id("confirm").click()
    expect(state).to_contain_text("OK 登録しました")
    expect(page.get_by_test_id("count")).to_have_text("2")
    wait(lambda: len(desk.hub.stored) == 2, "both records at the hub")


@pytest.mark.fault
def test_offline_state_and_queue_depth_show_when_the_broker_is_down(desk: Desk, mosquitto) -> None:
    page = desk.page
    mosquitto.kill()
    expect(page.get_by_test_id("link")).to_have_text("オフライン", timeout=15_000)
    for n in range(3):
        desk.station.accept(voucher(900 + n), source="qr", frames=1)
    expect(page.get_by_test_id("queue")).to_have_text("3")
    expect(page.get_by_test_id("count")).to_have_text("3")  # stored here: still counted, still beeped
    expect(page.get_by_test_id("recent")).to_contain_text("送信待ち")
    mosquitto.start()
    expect(page.get_by_test_id("link")).to_have_text("オンライン", timeout=20_000)
    expect(page.get_by_test_id("queue")).to_have_text("0", timeout=20_000)
    wait(lambda: len(desk.hub.stored) == 3, "the queued records at the hub")


def test_hub_rejections_and_warnings_are_shown(desk: Desk) -> None:
    page = desk.page
    desk.hub.warn["0000000061"] = ("dose_interval_short", "1回目から10日")
    desk.hub.reject["0000000062"] = "venue_mismatch"
    desk.station.accept(voucher(61, dose=2), source="qr", frames=1)
    desk.station.accept(voucher(62), source="qr", frames=1)
    expect(page.get_by_test_id("warnings")).to_contain_text("前回接種からの間隔が短い")
    expect(page.get_by_test_id("rejections")).to_contain_text("会場が端末の登録と違います")
    expect(page.get_by_test_id("rejections")).to_contain_text("0000000062")
    expect(page.get_by_test_id("state")).to_contain_text("ハブが登録を拒否しました")
    expect(page.locator("body")).to_have_attribute("data-tone", "error")
    expect(page.get_by_test_id("recent")).to_contain_text("登録不可")
    expect(page.get_by_test_id("count")).to_have_text("1")  # the refused record does not count
