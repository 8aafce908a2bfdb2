"""Venues and stations in real Chromium: the admin adds a venue, issues an enrollment token shown once, a
provisioning script redeems it, the station appears with its status, and the admin revokes it."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, expect, sync_playwright

from tests.hub.api.conftest import MUNI_A, PASSWORD, ServedHub
from tests.hub.stations import Station

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_enroll_and_revoke_a_station(served_hub: ServedHub, make_user: Callable[..., str], browser: Browser) -> None:
    make_user("admin", "municipal_admin", municipality_code=MUNI_A)
    errors: list[str] = []
    page = browser.new_context(base_url=served_hub.base_url).new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/login")
    page.get_by_label("ユーザー名").fill("admin")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name="会場・端末").click()

    venue = page.locator("#venue-form")
    venue.get_by_label("会場ID").fill("v-131016-009")
    venue.get_by_label("会場名").fill("千代田体育館")
    venue.get_by_role("button").click()
    expect(page.locator("#venues")).to_contain_text("千代田体育館")

    page.locator("#token-form").get_by_label("会場").select_option("v-131016-009")
    page.locator("#token-form").get_by_role("button").click()
    token = page.locator("#token-value").inner_text().strip()
    assert token.startswith("vrs-enroll-")

    st = Station("st-gym-1", "v-131016-009", MUNI_A)
    raw = st.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
    first = httpx.post(served_hub.base_url + "/api/v1/enrollment/",
                       json={"token": token, "device_id": st.device_id, "public_key": jwk})
    assert first.status_code == 201, first.text
    again = httpx.post(served_hub.base_url + "/api/v1/enrollment/",
                       json={"token": token, "device_id": "st-gym-2", "public_key": st.public_pem})
    assert again.status_code == 422

    page.get_by_role("link", name="会場・端末").click()
    row = page.locator("#stations tr[data-device='st-gym-1']")
    expect(row).to_contain_text("千代田体育館")
    expect(row).to_contain_text("未接続")
    expect(page.locator("#tokens")).to_contain_text("使用済 (st-gym-1)")
    expect(page.locator("body")).not_to_contain_text(token)  # shown once only
    row.get_by_role("button", name="失効させる").click()
    expect(page.locator("#stations tr[data-device='st-gym-1']")).to_contain_text("失効")
    assert errors == [], errors
