"""The per-request caller: authenticated before any answer leaves, whether or not the handler uses it, and
whether the handler runs in a worker thread (the transaction opens there) or in the event loop."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.testing import TestClient

from hub.api.context import ApiState, CallerDep, provide_caller
from hub.api.errors import NotAuthenticated
from hub.api.services import tokens
from hub.api.settings import ApiSettings
from hub.db import accounts
from hub.db.connect import connect
from hub.db.connect import pool as make_pool
from tests.hub.api.conftest import MUNI_A

SID = "a-session-id-of-this-test"


@get("/threaded/ignores", sync_to_thread=True)
def threaded_ignores(caller: CallerDep) -> str:
    return "answered"


@get("/threaded/uses", sync_to_thread=True)
def threaded_uses(caller: CallerDep) -> str:
    row = caller.conn.execute("SELECT current_setting('vrs.municipality_code')").fetchone()
    assert row is not None
    return f"{caller.identity.username} {row[0]}"


@get("/async/ignores")
async def async_ignores(caller: CallerDep) -> str:
    return "answered"


@get("/async/uses")
async def async_uses(caller: CallerDep) -> str:
    return caller.identity.username


def _refused(request: Request[Any, Any, Any], exc: NotAuthenticated) -> Response[str]:
    return Response("refused", status_code=401)


@pytest.fixture
def client(api_settings: ApiSettings, users: dict[str, str], hub_db: str) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with connect(hub_db, None) as conn:
        user = accounts.user_by_name(conn, "clerk_a")
        assert user is not None
        now = dt.datetime.now(dt.UTC)
        accounts.create_session(conn, tokens.token_hash(SID), user.user_id, now, now + dt.timedelta(hours=1),
                                "127.0.0.1")
    db_pool = make_pool(api_settings.database_url, "vrs_api", min_size=1, max_size=2)
    state = ApiState(settings=api_settings, pool=db_pool, csrf_key=b"k" * 32)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        state.start_limiters()
        db_pool.open(wait=True, timeout=30)
        try:
            yield
        finally:
            db_pool.close()

    app = Litestar([threaded_ignores, threaded_uses, async_ignores, async_uses],
                   dependencies={"caller": Provide(provide_caller)}, state=State({"api": state}),
                   lifespan=[lifespan], exception_handlers={NotAuthenticated: _refused})
    with TestClient(app=app) as c:
        yield c


@pytest.mark.parametrize("path", ["/threaded/ignores", "/threaded/uses", "/async/ignores", "/async/uses"])
def test_nobody_gets_no_answer_even_from_a_handler_that_never_uses_its_caller(client: Any, path: str) -> None:
    assert (client.get(path).status_code, client.get(path).text) == (401, "refused")
    client.cookies.set(tokens.SESSION_COOKIE, "not-a-session")
    expired = client.get(path)
    assert (expired.status_code, expired.text) == (401, "refused")


def test_a_session_gets_its_answer_in_its_own_scope(client: Any) -> None:
    client.cookies.set(tokens.SESSION_COOKIE, SID)
    assert client.get("/threaded/ignores").text == "answered"
    assert client.get("/threaded/uses").text == f"clerk_a {MUNI_A}"
    assert client.get("/async/ignores").text == "answered"
    assert client.get("/async/uses").text == "clerk_a"
