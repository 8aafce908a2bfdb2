"""The per-request database transaction and the caller it is scoped to.

A request gets one pooled connection and one transaction. The caller is authenticated inside it (session
cookie or bearer token), then the transaction's scope is set from the caller's role so that row-level
security, not only the queries' WHERE clauses, keeps each municipality's data apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncGenerator, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, TypeVar

import msgspec
import psycopg
from anyio import CapacityLimiter, to_thread
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from psycopg_pool import ConnectionPool

from hub.api.errors import NotAuthenticated
from hub.api.identity import Identity
from hub.api.services import tokens
from hub.api.settings import ApiSettings
from hub.db import accounts
from hub.db.scoped import Scope, set_scope

T = TypeVar("T")


class ApiState(msgspec.Struct):
    """What the app keeps between requests: settings, the pool and the key CSRF tokens are made with.

    The limiters (made at startup, in the event loop) give opening and closing a request's transaction
    worker threads of their own, as many as the pool has connections. A request waiting for a connection
    or a lock then never holds a thread that the request it waits for needs to finish its work and
    commit: with one shared set of threads, a burst could fill them all with waiters and stall every
    request until the pool's timeout.
    """

    settings: ApiSettings
    pool: ConnectionPool[Any]
    csrf_key: bytes
    open_limiter: CapacityLimiter | None = None
    close_limiter: CapacityLimiter | None = None

    def start_limiters(self) -> None:
        """Make the limiters (in the event loop, which they belong to)."""
        self.open_limiter = CapacityLimiter(self.settings.pool_max_size)
        self.close_limiter = CapacityLimiter(self.settings.pool_max_size)


class Db(msgspec.Struct):
    """A transaction with no caller yet (the login form); no scope is set, so it sees no personal data."""

    conn: psycopg.Connection[Any]
    now: dt.datetime
    remote_addr: str
    state: ApiState


class Caller:
    """An authenticated caller and its scoped transaction.

    For a handler that runs in a worker thread the transaction opens (connection, authentication, scope) at
    the handler's first use of `conn`, `identity` or `csrf`, in that thread: the request then crosses from
    the event loop to a thread and back twice (handler, commit) instead of three times. A handler that never
    uses its caller is still authenticated, before its answer leaves (`provide_caller`).
    """

    __slots__ = ("_conn", "_identity", "_opening", "_request", "_stack", "now", "remote_addr", "state")

    def __init__(self, request: Request[Any, Any, Any], state: ApiState, now: dt.datetime) -> None:
        self.now = now
        self.remote_addr = remote_addr(request)
        self.state = state
        self._request = request
        self._stack = ExitStack()
        self._conn: psycopg.Connection[Any] | None = None
        self._identity: Identity | None = None
        self._opening = False

    def open(self) -> None:
        """Take a connection, begin the transaction, authenticate the caller and set its scope (once)."""
        if self._identity is not None:
            return
        if _in_event_loop():
            raise RuntimeError("a caller's transaction must not open in the event loop: it would block it")
        if self._opening:
            raise RuntimeError("the caller's transaction failed to open")
        self._opening = True
        conn = self._stack.enter_context(self.state.pool.connection())
        self._stack.enter_context(conn.transaction())
        self._conn = conn
        identity = _identity(conn, self._request, self.state, self.now)
        # In the request's own transaction, not a nested one: a savepoint would cost two more round trips.
        set_scope(conn, scope_for(identity))
        self._identity = identity

    def close(self, exc: BaseException | None) -> bool:
        """End the transaction (commit, or roll back on `exc`) and give the connection back; True when `exc`
        was handled and must not propagate (it never is)."""
        if exc is None:
            return bool(self._stack.__exit__(None, None, None))
        return bool(self._stack.__exit__(type(exc), exc, exc.__traceback__))

    @property
    def opened(self) -> bool:
        return self._identity is not None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        self.open()
        assert self._conn is not None
        return self._conn

    @property
    def identity(self) -> Identity:
        self.open()
        assert self._identity is not None
        return self._identity

    @property
    def csrf(self) -> str:
        """The CSRF token forms of this session must carry ('' for bearer tokens, which need none)."""
        sid = self.identity.session_id
        return tokens.csrf_token(self.state.csrf_key, sid) if sid else ""


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def api_state(state: State) -> ApiState:
    value: ApiState = state.api
    return value


def remote_addr(request: Request[Any, Any, Any]) -> str:
    client = request.client
    return client.host if client else ""


def scope_for(identity: Identity) -> Scope:
    """The database scope of a caller: its municipality, its venue, or nothing personal at all."""
    if identity.is_municipal and identity.municipality_code:
        return Scope.municipality(identity.municipality_code)
    if identity.role == "venue_staff" and identity.venue_id and identity.municipality_code:
        return Scope.venue(identity.venue_id, identity.municipality_code)
    return Scope.operator()


def _identity(conn: psycopg.Connection[Any], request: Request[Any, Any, Any], st: ApiState,
              now: dt.datetime) -> Identity:
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("Authorization must be 'Bearer <token>'")
        row = accounts.user_by_api_token(conn, tokens.token_hash(token.strip()), now)
        via, sid = "token", None
    else:
        sid = request.cookies.get(tokens.SESSION_COOKIE)
        if not sid:
            raise NotAuthenticated("not logged in")
        idle = dt.timedelta(minutes=st.settings.session_idle_minutes)
        row = accounts.user_by_session(conn, tokens.token_hash(sid), now, idle)
        via = "session"
    if row is None:
        raise NotAuthenticated("session expired or token not valid")
    venue_municipality = None
    if row.venue_id is not None:
        venue_municipality = accounts.venue_municipality(conn, row.venue_id)
    return Identity(
        user_id=row.user_id, username=row.username, display_name=row.display_name,
        role=row.role,  # type: ignore[arg-type]  # the table's CHECK constraint allows only Role values
        municipality_code=row.municipality_code or venue_municipality, venue_id=row.venue_id,
        prefecture_code=row.prefecture_code, via=via,  # type: ignore[arg-type]  # one of the two literals
        session_id=sid,
    )


@contextmanager
def _db_tx(request: Request[Any, Any, Any], st: ApiState) -> Iterator[Db]:
    with st.pool.connection() as conn, conn.transaction():
        yield Db(conn=conn, now=dt.datetime.now(dt.UTC), remote_addr=remote_addr(request), state=st)


async def _in_thread(cm: AbstractContextManager[T], st: ApiState) -> AsyncGenerator[T, None]:
    """Run a blocking context manager's enter and exit in worker threads, around an async yield.

    Litestar runs a sync generator dependency on the event loop; the database waits must not block it.
    """
    value = await to_thread.run_sync(cm.__enter__, limiter=st.open_limiter)
    try:
        yield value
    except BaseException as exc:
        if not await to_thread.run_sync(cm.__exit__, type(exc), exc, exc.__traceback__, limiter=st.close_limiter):
            raise
    else:
        await to_thread.run_sync(cm.__exit__, None, None, None, limiter=st.close_limiter)


async def provide_db(request: Request[Any, Any, Any], state: State) -> AsyncGenerator[Db, None]:
    """Dependency: one unscoped transaction (for logging in)."""
    st = api_state(state)
    async for db in _in_thread(_db_tx(request, st), st):
        yield db


def _runs_in_thread(request: Request[Any, Any, Any]) -> bool:
    """True when the request's handler is a plain function Litestar runs in a worker thread."""
    handler = request.scope.get("route_handler")
    return isinstance(handler, HTTPRouteHandler) and handler.sync_to_thread is True


async def provide_caller(request: Request[Any, Any, Any], state: State) -> AsyncGenerator[Caller, None]:
    """Dependency: the caller and its scoped transaction (NotAuthenticated if nobody), opened here in a
    worker thread for an async handler, or by a threaded handler itself at first use (see Caller)."""
    st = api_state(state)
    caller = Caller(request, st, dt.datetime.now(dt.UTC))
    try:
        if not _runs_in_thread(request):
            await to_thread.run_sync(caller.open, limiter=st.open_limiter)
        yield caller
        if not caller.opened:
            # The handler never used its caller: authenticate anyway before its answer goes out.
            await to_thread.run_sync(caller.open, limiter=st.open_limiter)
    except BaseException as exc:
        if not await to_thread.run_sync(caller.close, exc, limiter=st.close_limiter):
            raise
    else:
        await to_thread.run_sync(caller.close, None, limiter=st.close_limiter)


CallerDep = NamedDependency[Caller]
DbDep = NamedDependency[Db]
