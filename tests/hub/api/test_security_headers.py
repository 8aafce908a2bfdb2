"""Every route of the admin app, as every kind of visitor sees it, answers with the security headers; the
pages hold no inline script, event handler or style that the policy would block; oversized bodies are refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from hub.api.app import create_app
from hub.api.settings import ApiSettings
from tests.hub.api.conftest import MUNI_A, VENUE_A, login
from tests.hub.api.files import resident_csv, resident_line

# Stand-ins for path parameters: real ids where the tests' data has them, so pages render, not only 404s.
PARAMS = {"atena_no": "A001", "code": MUNI_A, "voucher_no": "0000000001", "dose": "1", "venue_id": VENUE_A,
          "link_text": "not-a-link", "name": "nothing.json", "path": "nothing", "file_path": "app.css"}
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|<[^>]+\sstyle\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def get_paths(app: Any) -> list[str]:
    paths = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and "GET" in route.methods:
            paths.append(route.path_format.format(**{k: PARAMS[k] for k in route.path_parameters}))
    return sorted(set(paths))


def check_headers(path: str, response: Any) -> None:
    h = response.headers
    csp = h.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (path, csp)
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, (path, csp)
    assert directives.get("script-src", directives.get("default-src", "")).endswith("'self'"), (path, csp)
    assert directives.get("object-src") == "object-src 'none'", (path, csp)
    assert h.get("x-content-type-options") == "nosniff", path
    assert h.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"), path


def check_page(path: str, response: Any) -> None:
    if "text/html" not in response.headers.get("content-type", ""):
        return
    page = response.text
    for pattern, what in ((INLINE_SCRIPT, "an inline <script>"), (EVENT_HANDLER, "an inline event handler"),
                          (INLINE_STYLE, "an inline style"), (JAVASCRIPT_URL, "a javascript: URL")):
        found = pattern.search(page)
        assert found is None, f"{path} has {what} that its CSP blocks: {found.group(0)[:80] if found else ''}"


@pytest.fixture
def data(app_client: TestClient, users: dict[str, str]) -> None:  # type: ignore[type-arg]
    csrf = login(app_client, "clerk_a")
    lines = [resident_line(MUNI_A, "A001", "0000000001"), resident_line(MUNI_A, "A002", "0000000002")]
    r = app_client.post(f"/api/v1/municipalities/{MUNI_A}/residents/import", content=resident_csv(lines),
                        headers={"x-csrf-token": csrf})
    assert r.status_code == 200, r.text


@pytest.mark.slow
@pytest.mark.parametrize("visitor", [None, "operator", "admin_a", "venue_a", "nation"])
def test_every_route_answers_with_the_security_headers(visitor: str | None, data: None,
                                                       client_factory: Callable[[], TestClient]) -> None:  # type: ignore[type-arg]
    client = client_factory()
    if visitor is not None:
        login(client, visitor)
    paths = get_paths(client.app)
    assert "/residents" in paths and "/login" in paths and len(paths) > 30
    statuses = {}
    for path in paths:
        r = client.get(path, follow_redirects=False)
        statuses[path] = r.status_code
        check_headers(path, r)
        check_page(path, r)
    # The check saw real pages, not only redirects and errors.
    assert any(code == 200 for code in statuses.values()), statuses
    if visitor == "admin_a":
        assert statuses["/residents"] == 200 and statuses["/residents/A001"] == 200


def test_error_answers_carry_the_headers_too(app_client: TestClient) -> None:  # type: ignore[type-arg]
    for r in (app_client.get("/no/such/page"), app_client.post("/login", data={"username": "x"}),
              app_client.request("PATCH", "/residents")):
        assert r.status_code >= 400
        check_headers(r.url.path, r)


def test_a_header_the_answer_sets_itself_is_kept_and_not_doubled(api_settings: ApiSettings, tmp_path: Path) -> None:
    """The public key set may be cached by verifiers for five minutes; pages must never be."""
    settings = ApiSettings(**{**{f: getattr(api_settings, f) for f in api_settings.__struct_fields__},
                              "certificate_issuer": "https://hub.example", "certificate_key_dir": tmp_path / "iss"})
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        jwks = client.get("/.well-known/jwks.json")
        page = client.get("/login")
    assert jwks.status_code == 200
    assert jwks.headers.get_list("cache-control") == ["public, max-age=300"]
    assert page.headers.get_list("cache-control") == ["no-store"]
    for r in (jwks, page):
        check_headers(r.url.path, r)
        assert len(r.headers.get_list("content-security-policy")) == 1


def test_hsts_only_when_served_over_tls(api_settings: ApiSettings, app_client: TestClient) -> None:  # type: ignore[type-arg]
    assert "strict-transport-security" not in app_client.get("/login").headers
    tls = ApiSettings(**{**{f: getattr(api_settings, f) for f in api_settings.__struct_fields__},
                         "secure_cookies": True})
    with TestClient(app=create_app(tls), base_url="https://testserver.local") as client:
        for r in (client.get("/login"), client.get("/", follow_redirects=False), client.get("/nothing")):
            assert r.headers["strict-transport-security"].startswith("max-age=31536000"), r.url


def test_a_body_over_the_limit_is_refused_before_it_is_read(api_settings: ApiSettings, users: dict[str, str]) -> None:
    small = ApiSettings(**{**{f: getattr(api_settings, f) for f in api_settings.__struct_fields__},
                           "max_upload_bytes": 4096})
    with TestClient(app=create_app(small), base_url="http://testserver.local") as client:
        csrf = login(client, "clerk_a")
        lines = [resident_line(MUNI_A, f"A{i:04d}", f"{i:010d}") for i in range(200)]
        r = client.post(f"/api/v1/municipalities/{MUNI_A}/residents/import", content=resident_csv(lines),
                        headers={"x-csrf-token": csrf})
        assert r.status_code == 413
        check_headers("upload", r)


def test_plain_http_is_served_only_on_loopback(hub_env: dict[str, str]) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    vrs_hub = str(Path(sys.executable).with_name("vrs-hub"))
    done = subprocess.run([vrs_hub, "serve", "--host", "0.0.0.0", "--port", "1"], env={**os.environ, **hub_env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "clear text" in done.stderr and "VRS_API_TLS_CERT" in done.stderr


def test_served_over_tls_with_hsts(hub_env: dict[str, str], tmp_path: Path) -> None:
    import os
    import ssl
    import subprocess
    import sys
    import time

    import httpx

    from provisioning.tls import cert_pem, create_ca, issue_server_cert, key_pem, write_private, write_public
    from tests.fixtures_postgres import free_port

    ca = create_ca("test CA")
    key, cert = issue_server_cert(ca, ["127.0.0.1"])
    write_public(tmp_path / "ca.pem", cert_pem(ca.cert))
    write_public(tmp_path / "api.pem", cert_pem(cert))
    write_private(tmp_path / "api.key", key_pem(key))
    port = free_port()
    env = {**os.environ, **hub_env, "VRS_API_TLS_CERT": str(tmp_path / "api.pem"),
           "VRS_API_TLS_KEY": str(tmp_path / "api.key")}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("vrs-hub")), "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/login", verify=trusted, timeout=2)
                break
            except httpx.ConnectError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert "secure" in r.headers.get("set-cookie", "secure").lower()
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the hub's CA gets nothing
            httpx.get(f"https://127.0.0.1:{port}/login", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
