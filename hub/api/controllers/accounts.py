"""Logging in and out, the home page, the caller's own account and API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from hub.api.context import CallerDep, Db, DbDep
from hub.api.controllers.pages import page
from hub.api.errors import InvalidInput, LoginThrottled, NotFound
from hub.api.services import accounts, tokens
from hub.db import accounts as accounts_db


class LoginForm(msgspec.Struct):
    """The login form's fields."""

    username: str = ""
    password: str = ""


class TokenForm(msgspec.Struct):
    """A new API token: a name for people, and an optional lifetime in days."""

    name: str = ""
    expires_in_days: int | None = None


class Me(msgspec.Struct):
    """The caller as the API sees it."""

    username: str
    display_name: str
    role: str
    municipality_code: str | None
    venue_id: str | None
    prefecture_code: str | None


class TokenCreated(msgspec.Struct):
    """A new token: `token` is shown this once and never again."""

    token_id: int
    name: str
    token: str


class TokenInfo(msgspec.Struct):
    """A token's public facts."""

    token_id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked: bool


def _cookie(secure: bool, key: str, value: str, max_age: int) -> Cookie:
    return Cookie(key=key, value=value, httponly=True, samesite="strict", secure=secure, path="/", max_age=max_age)


def _login_page(db: Db, request: Request[Any, Any, Any], error: str = "", status: int = 200,
                username: str = "") -> Template:
    login_cookie = request.cookies.get(tokens.LOGIN_COOKIE) or tokens.new_secret()
    return Template(
        "login.html",
        context={"csrf": tokens.csrf_token(db.state.csrf_key, login_cookie), "error": error, "username": username},
        status_code=status,
        cookies=[_cookie(db.state.settings.secure_cookies, tokens.LOGIN_COOKIE, login_cookie, 3600)],
    )


def _expires(days: int | None, now: dt.datetime) -> dt.datetime | None:
    if days is None:
        return None
    if not 1 <= days <= 3650:
        raise InvalidInput(["expires_in_days must be between 1 and 3650"])
    return now + dt.timedelta(days=days)


class AccountPages(Controller):
    """Login, logout, home and the account page."""

    include_in_schema = False

    @get("/login", sync_to_thread=True)
    def login_form(self, db: DbDep, request: Request[Any, Any, Any]) -> Template:
        return _login_page(db, request)

    @post("/login", sync_to_thread=True)
    def login(self, db: DbDep, request: Request[Any, Any, Any],
              data: URLEncodedBody[LoginForm]) -> Response[Any]:
        try:
            result = accounts.login(db.conn, username=data.username, password=data.password,
                                    remote_addr=db.remote_addr, now=db.now,
                                    idle=dt.timedelta(minutes=db.state.settings.session_idle_minutes))
        except LoginThrottled as exc:
            return _login_page(db, request, f"ログインの失敗が続いたため、{exc.retry_after}秒後に再度お試しください。",
                               429, data.username)
        if result is None:
            return _login_page(db, request, "ユーザー名またはパスワードが違います。", 401, data.username)
        secure = db.state.settings.secure_cookies
        return Redirect("/", status_code=303, cookies=[
            _cookie(secure, tokens.SESSION_COOKIE, result.session_id, int(accounts.SESSION_LIFETIME.total_seconds())),
            Cookie(key=tokens.LOGIN_COOKIE, value="", max_age=0, path="/", httponly=True, samesite="strict",
                   secure=secure),
        ])

    @post("/logout", sync_to_thread=True)
    def logout(self, caller: CallerDep) -> Redirect:
        if caller.identity.session_id:
            accounts.logout(caller.conn, caller.identity.session_id)
        return Redirect("/login", status_code=303, cookies=[
            Cookie(key=tokens.SESSION_COOKIE, value="", max_age=0, path="/", httponly=True, samesite="strict",
                   secure=caller.state.settings.secure_cookies),
        ])

    @get("/", sync_to_thread=True)
    def home(self, caller: CallerDep) -> Redirect:
        return Redirect("/residents" if caller.identity.is_municipal else "/account", status_code=303)

    @get("/account", sync_to_thread=True)
    def account(self, caller: CallerDep) -> Template:
        return page(caller, "account.html", tokens=accounts_db.list_api_tokens(caller.conn, caller.identity.user_id),
                    new_token=None)

    @post("/account/tokens", sync_to_thread=True)
    def create_token(self, caller: CallerDep,
                     data: URLEncodedBody[TokenForm]) -> Template:
        new = accounts.create_api_token(caller.conn, caller.identity.user_id, data.name,
                                        _expires(data.expires_in_days, caller.now))
        return page(caller, "account.html", tokens=accounts_db.list_api_tokens(caller.conn, caller.identity.user_id),
                    new_token=new)

    @post("/account/tokens/{token_id:int}/revoke", sync_to_thread=True)
    def revoke_token(self, caller: CallerDep, token_id: FromPath[int]) -> Redirect:
        if not accounts_db.revoke_api_token(caller.conn, caller.identity.user_id, token_id, caller.now):
            raise NotFound("no such token")
        return Redirect("/account", status_code=303)


class AccountsApi(Controller):
    """The caller's identity and API tokens, as JSON."""

    path = "/api/v1"
    tags = ("accounts",)

    @get("/me", sync_to_thread=True)
    def me(self, caller: CallerDep) -> Me:
        i = caller.identity
        return Me(username=i.username, display_name=i.display_name, role=i.role,
                  municipality_code=i.municipality_code, venue_id=i.venue_id, prefecture_code=i.prefecture_code)

    @get("/tokens", sync_to_thread=True)
    def list_tokens(self, caller: CallerDep) -> list[TokenInfo]:
        return [
            TokenInfo(token_id=t.token_id, name=t.name, created_at=t.created_at, last_used_at=t.last_used_at,
                      expires_at=t.expires_at, revoked=t.revoked_at is not None)
            for t in accounts_db.list_api_tokens(caller.conn, caller.identity.user_id)
        ]

    @post("/tokens", sync_to_thread=True)
    def create_token(self, caller: CallerDep, data: JSONBody[TokenForm]) -> TokenCreated:
        new = accounts.create_api_token(caller.conn, caller.identity.user_id, data.name,
                                        _expires(data.expires_in_days, caller.now))
        return TokenCreated(token_id=new.token_id, name=new.name, token=new.token)

    @delete("/tokens/{token_id:int}", sync_to_thread=True, status_code=204)
    def revoke_token(self, caller: CallerDep, token_id: FromPath[int]) -> None:
        if not accounts_db.revoke_api_token(caller.conn, caller.identity.user_id, token_id, caller.now):
            raise NotFound("no such token")
