"""Cross-tenant attempts on every endpoint family: always 404 (or 401), and nothing of the other
municipality in any answer. Also: a venue's cross-municipality read is audited in the read municipality."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from tests.hub.api.conftest import MUNI_A, MUNI_B, VENUE_A, login
from tests.hub.api.files import record_csv, resident_csv, resident_line

SECRET_NAME = "機密 太郎"
SECRET_KANA = "キミツ タロウ"


@pytest.fixture
def municipality_a_data(client_factory: Callable[[], Any], users: dict[str, str]) -> None:
    c = client_factory()
    h = {"x-csrf-token": login(c, "clerk_a")}
    lines = [resident_line(MUNI_A, "A001", "0000000001", name=SECRET_NAME, kana=SECRET_KANA)]
    assert c.post(f"/api/v1/municipalities/{MUNI_A}/residents/import", content=resident_csv(lines),
                  headers=h).status_code == 200
    recs = [f"{MUNI_A},0000000001,1,接種済,20210601,{VENUE_A},ファイザー,SECRETLOT,機密医師"]
    assert c.post(f"/api/v1/municipalities/{MUNI_A}/records/import", content=record_csv(recs),
                  headers=h).status_code == 200


def _attempts(code: str) -> list[tuple[str, str, dict[str, Any]]]:
    m = f"/api/v1/municipalities/{code}"
    return [
        ("GET", f"{m}/residents", {}),
        ("GET", f"{m}/residents?kana=キミツ", {}),
        ("GET", f"{m}/residents/A001", {}),
        ("GET", f"{m}/coverage", {}),
        ("GET", f"{m}/records/export?layout=long", {}),
        ("GET", f"{m}/records/export?layout=ledger", {}),
        ("GET", f"{m}/records/0000000001/1", {}),
        ("POST", f"{m}/records/0000000001/1/correct", {"json": {"reason": "x", "lot": "HACKED"}}),
        ("POST", f"{m}/records/0000000001/1/delete", {"json": {"reason": "x"}}),
        ("POST", f"{m}/residents/import", {"content": resident_csv([resident_line(code, "Z1", "0000000001")])}),
        ("POST", f"{m}/records/import",
         {"content": record_csv([f"{code},0000000001,1,接種済,20210601,v,ファイザー,L,D"])}),
        ("GET", f"/api/v1/venues/{VENUE_A}/records?day=2021-06-01", {}),
    ]


PAGE_ATTEMPTS = ["/residents", "/residents/A001", "/records/0000000001/1/correct", "/records/export.csv",
                 "/records/import", "/residents/upload", "/audit"]


def _unchanged(hub_db: str) -> None:
    with connect(hub_db, None) as conn:
        lot = conn.execute("SELECT lot FROM vaccinations WHERE municipality_code = %s", (MUNI_A,)).fetchall()
        assert lot == [("SECRETLOT",)]
        assert conn.execute("SELECT count(*) FROM residents").fetchone() == (1,)


@pytest.mark.parametrize("username", ["clerk_b", "venue_a", "operator", "pref13", "nation"])
def test_other_roles_get_404_and_nothing_leaks(client_factory: Callable[[], Any], municipality_a_data: None,
                                               hub_db: str, username: str) -> None:
    c = client_factory()
    csrf = login(c, username)
    for method, url, kwargs in _attempts(MUNI_A):
        if username == "venue_a" and "/venues/" in url:
            continue  # its own venue: allowed, tested below
        r = c.request(method, url, headers={"x-csrf-token": csrf}, **kwargs)
        assert r.status_code == 404, (username, method, url, r.status_code, r.text[:200])
        for secret in (SECRET_NAME, SECRET_KANA, "SECRETLOT", "機密医師", "0000000001"):
            assert secret not in r.text, (url, secret)
    for url in PAGE_ATTEMPTS:
        r = c.get(url)
        own_page = (username == "operator" and url == "/audit") or (
            username == "clerk_b" and url not in ("/residents/A001", "/records/0000000001/1/correct"))
        assert r.status_code == (200 if own_page else 404), (username, url, r.status_code)
        for secret in (SECRET_NAME, SECRET_KANA, "SECRETLOT", "機密医師", "0000000001"):
            assert secret not in r.text, (url, secret)
    _unchanged(hub_db)


def test_own_code_with_foreign_ids_is_404(client_factory: Callable[[], Any], municipality_a_data: None,
                                          hub_db: str) -> None:
    c = client_factory()
    h = {"x-csrf-token": login(c, "clerk_b")}
    for method, url, kwargs in _attempts(MUNI_B)[:9]:
        r = c.request(method, url, headers=h, **kwargs)
        if url.endswith(("/residents", "/coverage", "=キミツ")) or "/export" in url:
            assert r.status_code == 200
        else:
            assert r.status_code == 404, (url, r.status_code)
        assert SECRET_NAME not in r.text and "SECRETLOT" not in r.text
    assert c.get("/residents/A001").status_code == 404
    assert c.post("/records/0000000001/1/delete", data={"reason": "x", "_csrf": h["x-csrf-token"]}).status_code == 404
    _unchanged(hub_db)


def test_unauthenticated_gets_401_everywhere(app_client: Any, municipality_a_data: None) -> None:
    for method, url, kwargs in _attempts(MUNI_A):
        r = app_client.request(method, url, **kwargs)
        assert r.status_code == 401, (url, r.status_code)
        assert "SECRETLOT" not in r.text


def test_api_role_with_crafted_scope_sees_nothing_of_another(hub_db: str, municipality_a_data: None) -> None:
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(MUNI_B)):
        assert conn.execute("SELECT count(*) FROM residents").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM vaccinations WHERE municipality_code = %s",
                            (MUNI_A,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM record_corrections").fetchone() == (0,)


def test_venue_read_across_municipalities_is_audited(client_factory: Callable[[], Any], municipality_a_data: None,
                                                     hub_db: str) -> None:
    c = client_factory()
    login(c, "venue_a")
    rows = c.get(f"/api/v1/venues/{VENUE_A}/records", params={"day": "2021-06-01"}).json()
    assert [(r["municipality_code"], r["lot"]) for r in rows] == [(MUNI_A, "SECRETLOT")]
    assert "atena_no" not in rows[0]
    assert c.get("/api/v1/venues/v-131024-001/records").status_code == 404
    admin = client_factory()
    login(admin, "admin_a")
    audit = admin.get("/api/v1/audit/").json()
    reads = [a for a in audit if a["action"] == "venue_read"]
    assert len(reads) == 1 and reads[0]["actor"] == "venue_a" and reads[0]["details"]["records"] == 1
