"""The Litestar application: routes, templates, static files, error mapping and security headers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Message, Scope

from hub.api.context import ApiState, provide_caller, provide_db
from hub.api.controllers.accounts import AccountPages, AccountsApi
from hub.api.controllers.audit import AuditApi, AuditPages
from hub.api.controllers.certificates import CertificatePages, CertificatesApi, WellKnown
from hub.api.controllers.clinic import ClinicApi, ClinicPages
from hub.api.controllers.moves import MovePages, MovesApi
from hub.api.controllers.quality import QualityApi, QualityPages
from hub.api.controllers.records import RecordPages, RecordsApi
from hub.api.controllers.residents import ResidentPages, ResidentsApi
from hub.api.controllers.stations import EnrollmentApi, StationPages, StationsApi
from hub.api.controllers.venues import VenuesApi
from hub.api.errors import ApiError, CsrfRejected, InvalidInput, LoginThrottled, NotAuthenticated, NotFound
from hub.api.fragments import resident_rows, urlpath
from hub.api.identity import ROLE_LABELS
from hub.api.services import tokens
from hub.api.settings import ApiSettings
from hub.db.connect import pool as make_pool
from protocol.records import JST, MAKER_LABELS, STATUS_LABELS

HERE = Path(__file__).parent
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATH = "/login"

# No inline script or style anywhere, so the policy can be this strict.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none';"
        " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def label(value: str, labels: Mapping[str, str]) -> str:
    """Template filter: the label of a code, or the code itself when it has none."""
    return labels.get(value, value)


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.startswith("/schema")


def _error(request: Request[Any, Any, Any], status: int, message: str, **extra: Any) -> Response[Any]:
    if _wants_json(request):
        return Response({"detail": message, **extra}, status_code=status, media_type="application/json")
    return Template("error.html", context={"status": status, "message": message, **extra}, status_code=status)


def _on_not_authenticated(request: Request[Any, Any, Any], exc: NotAuthenticated) -> Response[Any]:
    if _wants_json(request):
        return Response({"detail": str(exc)}, status_code=401, headers={"www-authenticate": "Bearer"})
    return Redirect(LOGIN_PATH, status_code=303)


def _on_not_found(request: Request[Any, Any, Any], exc: NotFound) -> Response[Any]:
    return _error(request, 404, "見つかりません (not found)")


def _on_csrf(request: Request[Any, Any, Any], exc: CsrfRejected) -> Response[Any]:
    return _error(request, 403, "フォームの有効期限が切れました。ページを開き直してください (CSRF token wrong)")


def _on_throttled(request: Request[Any, Any, Any], exc: LoginThrottled) -> Response[Any]:
    resp = _error(request, 429, f"ログインの失敗が続いたため、{exc.retry_after}秒後に再度お試しください")
    resp.headers["retry-after"] = str(exc.retry_after)
    return resp


def _on_invalid(request: Request[Any, Any, Any], exc: InvalidInput) -> Response[Any]:
    return _error(request, 422, "入力に誤りがあります", errors=exc.messages)


async def check_csrf(request: Request[Any, Any, Any]) -> None:
    """Refuse an unsafe request that a session cookie authenticates unless it carries the session's token.

    Bearer-token requests are exempt (a browser never adds that header by itself); requests with no
    credential at all are left to fail authentication, except the login form, bound to its own cookie.
    """
    if request.method in SAFE_METHODS or request.headers.get("authorization"):
        return
    is_login = request.url.path == LOGIN_PATH
    bound = request.cookies.get(tokens.LOGIN_COOKIE if is_login else tokens.SESSION_COOKIE)
    if bound is None and not is_login:
        return
    presented = request.headers.get(tokens.CSRF_HEADER)
    if presented is None and request.content_type[0] in (RequestEncodingType.URL_ENCODED,
                                                          RequestEncodingType.MULTI_PART):
        value = (await request.form()).get(tokens.CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    st: ApiState = request.app.state.api
    if not tokens.csrf_ok(st.csrf_key, bound, presented):
        raise CsrfRejected("missing or wrong CSRF token")


# Sent only when served over TLS (VRS_API_TLS_CERT): browsers then refuse plain HTTP to the hub for a year.
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(*, hsts: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """A before_send hook: every answer gets the headers, also redirects, error pages and 404s, which are
    made by exception handlers and never pass an after_request hook."""
    extra = {**SECURITY_HEADERS, "cache-control": "no-store", **({"strict-transport-security": HSTS} if hsts else {})}
    # Encoded once; a header the answer already has is kept (names compared in lower case, as HTTP does).
    encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]

    async def add(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            headers = message.get("headers") or []
            present = {bytes(name).lower() for name, _ in headers}
            message["headers"] = [*headers, *(h for h in encoded if h[0] not in present)]

    return add


def create_app(settings: ApiSettings) -> Litestar:
    """The app for `settings`; the connection pool opens at startup and closes at shutdown."""
    csrf_key = hmac.new(settings.secret, b"vrs-api-csrf", hashlib.sha256).digest()
    db_pool = make_pool(settings.database_url, settings.db_role,  # type: ignore[arg-type]  # checked by connect
                        min_size=settings.pool_min_size, max_size=settings.pool_max_size, name="vrs-api")

    state = ApiState(settings=settings, pool=db_pool, csrf_key=csrf_key)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        state.start_limiters()
        db_pool.open(wait=True, timeout=30)
        try:
            yield
        finally:
            db_pool.close()

    def on_startup_state() -> State:
        return State({"api": state})

    engine_config = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)

    def _template_globals(engine: JinjaTemplateEngine) -> None:
        engine.engine.globals["ROLE_LABELS"] = ROLE_LABELS
        engine.engine.globals["CSRF_FIELD"] = tokens.CSRF_FIELD
        engine.engine.globals["MAKER_JA"] = MAKER_LABELS
        engine.engine.globals["STATUS_JA"] = STATUS_LABELS
        engine.engine.globals["JST"] = JST
        engine.engine.filters["urlpath"] = urlpath
        engine.engine.filters["label"] = label
        engine.engine.filters["resident_rows"] = resident_rows
        # Templates are part of the release, never edited in place: no stat() of the file on every page.
        engine.engine.auto_reload = False

    engine_config.engine_callback = _template_globals

    return Litestar(
        route_handlers=[
            CertificatePages, CertificatesApi, WellKnown,
            AccountPages, AccountsApi, ResidentPages, ResidentsApi, RecordPages, RecordsApi, AuditPages, AuditApi,
            VenuesApi,
            MovePages, MovesApi, StationPages, StationsApi, EnrollmentApi, ClinicPages, ClinicApi,
            QualityPages, QualityApi,
            create_static_files_router(path="/static", directories=[HERE / "static"], name="static",
                                       include_in_schema=False),
        ],
        dependencies={
            "db": Provide(provide_db),
            "caller": Provide(provide_caller),
        },
        state=on_startup_state(),
        lifespan=[lifespan],
        before_request=check_csrf,
        before_send=[security_headers(hsts=settings.secure_cookies)],
        exception_handlers={
            NotAuthenticated: _on_not_authenticated,
            NotFound: _on_not_found,
            CsrfRejected: _on_csrf,
            LoginThrottled: _on_throttled,
            InvalidInput: _on_invalid,
            ApiError: lambda request, exc: _error(request, 400, str(exc)),
        },
        template_config=engine_config,
        # The document only, as JSON and YAML: Litestar's interactive viewers load CDN scripts with inline
        # bootstraps, which the pages' Content-Security-Policy rightly refuses.
        openapi_config=OpenAPIConfig(title="VRS hub API", version="1.0.0", path="/schema",
                                     render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()]),
        request_max_body_size=settings.max_upload_bytes,
        debug=False,
    )
