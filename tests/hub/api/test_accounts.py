"""Accounts: login, sessions, CSRF, throttling, API tokens, role bindings."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from hub.db.connect import connect
from tests.hub.api.conftest import MUNI_A, PASSWORD, csrf_of, login


def test_login_sets_strict_httponly_cookie_and_lands_on_residents(app_client: Any, users: dict[str, str]) -> None:
    page = app_client.get("/login")
    assert page.status_code == 200
    assert "ログイン" in page.text
    r = app_client.post("/login", data={"username": "clerk_a", "password": PASSWORD, "_csrf": csrf_of(page.text)},
                        follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers.get_list("set-cookie")
    session = next(c for c in cookie if c.startswith("vrs_session="))
    assert "HttpOnly" in session and "samesite=strict" in session.lower() and "Secure" not in session
    home = app_client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/residents"
    me = app_client.get("/api/v1/me").json()
    assert me["role"] == "municipal_staff" and me["municipality_code"] == MUNI_A


def test_wrong_password_refused_and_page_needs_login(app_client: Any, users: dict[str, str]) -> None:
    page = app_client.get("/login")
    r = app_client.post("/login", data={"username": "clerk_a", "password": "wrong password!",
                                        "_csrf": csrf_of(page.text)})
    assert r.status_code == 401
    assert "ユーザー名またはパスワードが違います" in r.text
    assert app_client.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert app_client.get("/api/v1/me").status_code == 401


def test_login_without_csrf_token_is_refused(app_client: Any, users: dict[str, str]) -> None:
    app_client.get("/login")
    r = app_client.post("/login", data={"username": "clerk_a", "password": PASSWORD, "_csrf": "forged"})
    assert r.status_code == 403
    assert app_client.get("/api/v1/me").status_code == 401


def test_session_form_post_needs_csrf(app_client: Any, users: dict[str, str]) -> None:
    csrf = login(app_client, "clerk_a")
    assert app_client.post("/account/tokens", data={"name": "x"}).status_code == 403
    assert app_client.post("/api/v1/tokens", json={"name": "x"}).status_code == 403
    r = app_client.post("/account/tokens", data={"name": "script", "_csrf": csrf})
    assert r.status_code == 201 or r.status_code == 200
    assert "vrs_" in r.text


def test_throttling_after_five_failures_even_with_right_password(app_client: Any, users: dict[str, str]) -> None:
    for _ in range(5):
        page = app_client.get("/login")
        r = app_client.post("/login", data={"username": "clerk_a", "password": "nope nope nope",
                                            "_csrf": csrf_of(page.text)})
        assert r.status_code == 401
    page = app_client.get("/login")
    r = app_client.post("/login", data={"username": "clerk_a", "password": PASSWORD, "_csrf": csrf_of(page.text)})
    assert r.status_code == 429
    assert "秒後に再度お試しください" in r.text
    assert app_client.get("/api/v1/me").status_code == 401
    # Another user from the same address is not locked out by clerk_a's failures.
    login(app_client, "admin_a")


def test_api_token_shown_once_stored_hashed_and_revocable(app_client: Any, users: dict[str, str],
                                                          hub_db: str) -> None:
    csrf = login(app_client, "clerk_a")
    r = app_client.post("/api/v1/tokens", json={"name": "nightly export", "expires_in_days": 30},
                        headers={"x-csrf-token": csrf})
    assert r.status_code == 201
    token = r.json()["token"]
    assert token.startswith("vrs_")
    listed = app_client.get("/api/v1/tokens").json()
    assert listed[0]["name"] == "nightly export" and "token" not in listed[0]
    with connect(hub_db, None) as conn:
        stored = conn.execute("SELECT token_hash FROM api_tokens").fetchone()
        assert stored is not None and token.encode() not in bytes(stored[0])
    app_client.cookies.clear()
    bearer = {"authorization": f"Bearer {token}"}
    assert app_client.get("/api/v1/me", headers=bearer).json()["username"] == "clerk_a"
    # A bearer request needs no CSRF token.
    r2 = app_client.post("/api/v1/tokens", json={"name": "second"}, headers=bearer)
    assert r2.status_code == 201
    assert app_client.delete(f"/api/v1/tokens/{r.json()['token_id']}", headers=bearer).status_code == 204
    assert app_client.get("/api/v1/me", headers=bearer).status_code == 401
    assert app_client.get("/api/v1/me", headers={"authorization": "Bearer vrs_forged"}).status_code == 401
    assert app_client.get("/api/v1/me", headers={"authorization": "Basic abc"}).status_code == 401


def test_logout_ends_the_session_in_the_database(app_client: Any, users: dict[str, str]) -> None:
    csrf = login(app_client, "clerk_a")
    stolen = app_client.cookies.get("vrs_session")
    r = app_client.post("/logout", data={"_csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    app_client.cookies.set("vrs_session", stolen)
    assert app_client.get("/api/v1/me").status_code == 401


def test_login_is_audited(app_client: Any, users: dict[str, str]) -> None:
    login(app_client, "clerk_a")
    rows = app_client.get("/api/v1/audit/").json()
    assert [r["action"] for r in rows] == ["login"]
    assert rows[0]["actor"] == "clerk_a"


def test_role_bindings_are_checked(hub_db: str, users: dict[str, str]) -> None:
    from hub.api.errors import InvalidInput
    from hub.api.services import accounts

    with connect(hub_db, None) as conn:
        for kwargs in (
            {"role": "municipal_staff"},
            {"role": "venue_staff", "venue_id": "no-such-venue"},
            {"role": "operator", "municipality_code": MUNI_A},
            {"role": "municipal_staff", "municipality_code": "271276"},  # a ward, not a municipality
            {"role": "god"},
        ):
            with pytest.raises(InvalidInput):
                accounts.create_user(conn, username="x", password=PASSWORD, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="already taken"):
            accounts.create_user(conn, username="clerk_a", password=PASSWORD, role="national_viewer")
        with pytest.raises(InvalidInput, match="at least"):
            accounts.create_user(conn, username="y", password="short", role="national_viewer")


def test_api_role_cannot_touch_accounts_as_ingest(hub_db: str) -> None:
    with connect(hub_db, "vrs_ingest") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM users")


def test_cookies_are_secure_when_served_over_tls(api_settings: Any, users: dict[str, str]) -> None:
    import msgspec
    from litestar.testing import TestClient

    from hub.api.app import create_app

    tls = msgspec.structs.replace(api_settings, secure_cookies=True)
    with TestClient(app=create_app(tls), base_url="https://testserver.local") as client:
        page = client.get("/login")
        assert "Secure" in page.headers["set-cookie"]
        r = client.post("/login", data={"username": "clerk_a", "password": PASSWORD, "_csrf": csrf_of(page.text)},
                        follow_redirects=False)
        session = next(c for c in r.headers.get_list("set-cookie") if c.startswith("vrs_session="))
        assert "Secure" in session and "HttpOnly" in session


def test_a_request_never_waits_for_another_touching_its_session_or_token(app_client: Any, users: dict[str, str],
                                                                         hub_db: str) -> None:
    """A session's or token's row held by another transaction (one of the same user's requests sliding
    the expiry) does not hold up the next request; the expiry still slides once the row is free."""
    csrf = login(app_client, "clerk_a")
    token = app_client.post("/api/v1/tokens", json={"name": "parallel"}, headers={"x-csrf-token": csrf}).json()["token"]
    bearer = {"authorization": f"Bearer {token}"}
    with connect(hub_db, None) as conn:
        conn.execute("UPDATE sessions SET last_seen_at = last_seen_at - interval '5 minutes',"
                     " expires_at = expires_at - interval '5 minutes'")
        conn.execute("UPDATE api_tokens SET last_used_at = now() - interval '5 minutes'")
        before = conn.execute("SELECT expires_at FROM sessions").fetchone()
    with connect(hub_db, None) as holder, holder.transaction():
        holder.execute("SET LOCAL lock_timeout = '20s'")
        holder.execute("SELECT 1 FROM sessions FOR UPDATE")
        holder.execute("SELECT 1 FROM api_tokens FOR UPDATE")
        answers: list[int] = []
        worker = threading.Thread(target=lambda: answers.extend([
            app_client.get("/api/v1/me").status_code, app_client.get("/api/v1/me", headers=bearer).status_code]))
        worker.start()
        worker.join(timeout=15)
        assert not worker.is_alive(), "the requests waited for the row another transaction holds"
        assert answers == [200, 200]
    assert app_client.get("/api/v1/me").status_code == 200
    with connect(hub_db, None) as conn:
        after = conn.execute("SELECT expires_at FROM sessions").fetchone()
    assert before is not None and after is not None and after[0] > before[0]
    assert app_client.get("/api/v1/me", headers=bearer).status_code == 200
    with connect(hub_db, None) as conn:
        used = conn.execute("SELECT last_used_at > now() - interval '1 minute' FROM api_tokens"
                            " WHERE name = 'parallel'").fetchone()
    assert used == (True,)
