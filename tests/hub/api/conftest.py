"""API test fixtures: the Litestar app on a freshly migrated database, users of each role, logged-in clients."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from hub.api.app import create_app
from hub.api.services import accounts
from hub.api.settings import ApiSettings
from hub.db.connect import connect
from hub.keys import load_secret
from tests.fixtures_postgres import free_port

MUNI_A = "131016"  # 千代田区
MUNI_B = "131024"  # 中央区
VENUE_A = "v-131016-001"
VENUE_B = "v-131024-001"
PASSWORD = "correct horse battery"


@pytest.fixture
def api_settings(hub_db: str, hub_key_files: tuple[Path, Path]) -> ApiSettings:
    return ApiSettings(database_url=hub_db, secret=load_secret(hub_key_files[1]), pool_min_size=1, pool_max_size=4)


@pytest.fixture
def venues(hub_db: str) -> None:
    with connect(hub_db, None) as conn:
        conn.execute(
            "INSERT INTO venues (venue_id, municipality_code, name)"
            " VALUES (%s, %s, '千代田会場'), (%s, %s, '中央会場')",
            (VENUE_A, MUNI_A, VENUE_B, MUNI_B),
        )


@pytest.fixture
def make_user(hub_db: str, venues: None) -> Callable[..., str]:
    def make(username: str, role: str, *, municipality_code: str | None = None, venue_id: str | None = None,
             prefecture_code: str | None = None, password: str = PASSWORD) -> str:
        with connect(hub_db, None) as conn, conn.transaction():
            accounts.create_user(conn, username=username, password=password, role=role,
                                 municipality_code=municipality_code, venue_id=venue_id,
                                 prefecture_code=prefecture_code)
        return username

    return make


@pytest.fixture
def users(make_user: Callable[..., str]) -> dict[str, str]:
    """One user of each role, named after it; clerk_a/clerk_b are staff of two municipalities."""
    make_user("operator", "operator")
    make_user("admin_a", "municipal_admin", municipality_code=MUNI_A)
    make_user("clerk_a", "municipal_staff", municipality_code=MUNI_A)
    make_user("clerk_b", "municipal_staff", municipality_code=MUNI_B)
    make_user("venue_a", "venue_staff", venue_id=VENUE_A)
    make_user("pref13", "prefecture_viewer", prefecture_code="13")
    make_user("nation", "national_viewer")
    return {}


@pytest.fixture
def app_client(api_settings: ApiSettings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(api_settings), base_url="http://testserver.local") as client:
        yield client


def csrf_of(html: str) -> str:
    m = re.search(r'name="_csrf" value="([^"]*)"', html)
    assert m, "page has no CSRF field"
    return m.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:  # type: ignore[type-arg]
    """Log in through the form; returns the CSRF token of the new session (from the account page)."""
    page = client.get("/login")
    r = client.post("/login", data={"username": username, "password": password, "_csrf": csrf_of(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/account").text)


@pytest.fixture
def client_factory(api_settings: ApiSettings) -> Iterator[Callable[[], TestClient]]:  # type: ignore[type-arg]
    """Extra independent clients (own cookie jars), each on its own app instance (own pool, same database)."""
    opened: list[TestClient] = []  # type: ignore[type-arg]

    def make() -> TestClient:  # type: ignore[type-arg]
        c = TestClient(app=create_app(api_settings), base_url="http://testserver.local")
        c.__enter__()
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)


class ServedHub:
    """`vrs-hub serve` running in a subprocess (granian) on a free port."""

    def __init__(self, base_url: str, proc: subprocess.Popen[bytes]) -> None:
        self.base_url, self.proc = base_url, proc


@pytest.fixture
def served_hub(hub_env: dict[str, str], tmp_path: Path) -> Iterator[ServedHub]:
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    vrs_hub = str(Path(sys.executable).with_name("vrs-hub"))
    proc = subprocess.Popen([vrs_hub, "serve", "--port", str(port)], env={**os.environ, **hub_env},
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/login", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("vrs-hub serve did not start: " + (tmp_path / "serve.log").read_text()) from None
                time.sleep(0.2)
        yield ServedHub(base, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
