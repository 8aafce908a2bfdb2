"""Account lockout: the failure that locks an account is audited in its municipality's chain, and the
locked account is refused even with the right password until the window has passed."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.hub.api.conftest import MUNI_A, PASSWORD, csrf_of


def _try(client: Any, username: str, password: str) -> int:
    page = client.get("/login")
    r = client.post("/login", data={"username": username, "password": password, "_csrf": csrf_of(page.text)},
                    follow_redirects=False)
    return int(r.status_code)


def test_the_locking_failure_is_audited_and_the_account_stays_locked(app_client: Any, users: dict[str, str],
                                                                     hub_db: str) -> None:
    codes = [_try(app_client, "clerk_a", "wrong guess") for _ in range(5)]
    assert 303 not in codes
    assert _try(app_client, "clerk_a", PASSWORD) == 429  # the right password does not open a locked account
    with psycopg.connect(hub_db) as conn:
        rows = conn.execute("SELECT municipality_code, actor, details->>'failures' FROM audit_log"
                            " WHERE action = 'login.locked'").fetchall()
    assert rows == [(MUNI_A, "clerk_a", "5")]
    # Guessing at a name that does not exist locks nothing worth auditing.
    for _ in range(5):
        _try(app_client, "nobody-here", "x")
    with psycopg.connect(hub_db) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'login.locked'").fetchone() == (1,)
