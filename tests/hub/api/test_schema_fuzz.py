"""schemathesis against the served API's own OpenAPI document: whatever it sends, no answer is a 5xx,
for a municipal clerk's bearer token (with a little data in place) and for no credential at all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from hub.api.services import accounts
from hub.db.connect import connect
from tests.hub.api.conftest import MUNI_A, PASSWORD, ServedHub, csrf_of
from tests.hub.api.files import resident_csv, resident_line

pytestmark = pytest.mark.slow


@pytest.fixture
def clerk_token(served_hub: ServedHub, hub_db: str) -> str:
    with connect(hub_db, None) as conn, conn.transaction():
        accounts.create_user(conn, username="fuzz", password=PASSWORD, role="municipal_staff",
                             municipality_code=MUNI_A)
    with httpx.Client(base_url=served_hub.base_url) as c:
        page = c.get("/login")
        c.post("/login", data={"username": "fuzz", "password": PASSWORD, "_csrf": csrf_of(page.text)})
        csrf = csrf_of(c.get("/account").text)
        token = str(c.post("/api/v1/tokens", json={"name": "fuzz"}, headers={"x-csrf-token": csrf}).json()["token"])
        c.post(f"/api/v1/municipalities/{MUNI_A}/residents/import", headers={"authorization": f"Bearer {token}"},
               content=resident_csv([resident_line(MUNI_A, "A001", "0000000001")]))
    return token


def test_no_server_errors(served_hub: ServedHub, clerk_token: str) -> None:
    schema = schemathesis.openapi.from_url(served_hub.base_url + "/schema/openapi.json")
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_5xx(case: Any) -> None:
            for headers in ({"authorization": f"Bearer {clerk_token}"}, {}):
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                     response.text[:300])

        no_5xx()
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert len(checked) >= 10, checked
