"""Certificates on the web: the published keys and revocation lists (public, CORS), the admin page that
issues and revokes, the public verify page and the JSON API, through the real app on a real database."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from litestar.testing import TestClient

from hub.api.app import create_app
from hub.api.services import accounts
from hub.api.settings import ApiSettings
from hub.certificates import qr
from hub.db.connect import connect
from hub.keys import load_secret
from tests.hub.api.conftest import PASSWORD, csrf_of, login
from tests.hub.stations import MUNI_A, MUNI_B, Station
from tests.hub.test_certificates_db import ATENA, ISS, VOUCHER, records_for, send

SHC = Path(__file__).resolve().parents[2] / ".." / "shared" / "shc"


@pytest.fixture
def client(hub_db: str, hub_key_files: tuple[Path, Path], tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = ApiSettings(database_url=hub_db, secret=load_secret(hub_key_files[1]), pool_min_size=1,
                           pool_max_size=4, certificate_issuer=ISS, certificate_key_dir=tmp_path / "issuer")
    with connect(hub_db, None) as conn, conn.transaction():
        for name, role, code in (("clerk_a", "municipal_staff", MUNI_A), ("clerk_b", "municipal_staff", MUNI_B)):
            accounts.create_user(conn, username=name, password=PASSWORD, role=role, municipality_code=code,
                                 venue_id=None, prefecture_code=None)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as c:
        yield c


@pytest.fixture
def vaccinated(hub_db: str) -> None:
    st = Station()
    st.enroll(hub_db, venue_name="千代田区役所 集団接種会場")
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO residents (municipality_code, atena_no, voucher_no, name, name_kana, birth_date, sex)"
            " VALUES (%s, %s, %s, '千代田 花子', 'チヨダ ハナコ', '1960-05-05', 2)", (MUNI_A, ATENA, VOUCHER))
    with connect(hub_db, "vrs_ingest") as conn:
        send(conn, st, *records_for(st))


def issue_on_page(client: TestClient[Any]) -> str:
    csrf = login(client, "clerk_a")
    page = client.get(f"/residents/{ATENA}/certificates")
    assert page.status_code == 200 and "証明書を発行する" in page.text
    r = client.post(f"/residents/{ATENA}/certificates", data={"_csrf": csrf})
    assert r.status_code == 200, r.text
    m = re.search(r'id="qr" src="data:image/png;base64,([^"]+)"|src="data:image/png;base64,([^"]+)" alt', r.text)
    assert m, "no QR image on the page"
    png = base64.b64decode(m.group(1) or m.group(2))
    return qr.read_image(png).text


def verify_text(client: TestClient[Any], text: str) -> tuple[int, str]:
    form = client.get("/verify").text  # a logged-in visitor's form carries the session's CSRF token
    token = re.search(r'name="_csrf" value="([^"]*)"', form)
    r = client.post("/verify", files={"file": ("", b"", "application/octet-stream")},
                    data={"text": text, "_csrf": token.group(1) if token else ""})
    return r.status_code, r.text


def test_admin_issues_on_the_page_and_anyone_verifies_it(client: TestClient[Any], vaccinated: None) -> None:
    qr_text = issue_on_page(client)
    assert qr_text.startswith("shc:/")
    client.cookies.clear()  # anyone: no session
    form = client.get("/verify")
    assert form.status_code == 200 and 'name="file"' in form.text
    status, html = verify_text(client, qr_text)
    assert status == 200, html
    assert "有効な証明書です" in html and "千代田 花子" in html and "1960-05-05" in html
    assert "EY0583" in html and "FA7338" in html and "3003" not in html  # the screened-only visit is no dose


def test_uploaded_qr_image_and_file_verify_on_the_page(client: TestClient[Any], vaccinated: None) -> None:
    qr_text = issue_on_page(client)
    png = qr.png(qr_text)
    r = client.post("/verify", files={"file": ("card.png", png, "image/png")},
                    data={"_csrf": csrf_of(client.get("/verify").text)})
    assert r.status_code == 200 and "有効な証明書です" in r.text, r.text
    bad = client.post("/verify", files={"file": ("card.png", b"not an image", "image/png")},
                      data={"_csrf": csrf_of(client.get("/verify").text)})
    assert bad.status_code == 422 and "not_an_image" in bad.text
    empty = client.post("/verify", files={"file": ("", b"", "application/octet-stream")},
                        data={"_csrf": csrf_of(client.get("/verify").text), "text": ""})
    assert empty.status_code == 422 and "nothing_given" in empty.text


def test_wellknown_keys_and_revocation_list_are_public_with_cors(client: TestClient[Any], vaccinated: None) -> None:
    qr_text = issue_on_page(client)
    jwks = client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200, jwks.text
    assert jwks.headers["access-control-allow-origin"] == "*"
    (key,) = jwks.json()["keys"]
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256" and "d" not in key
    crl = client.get(f"/.well-known/crl/{key['kid']}.json")
    assert crl.status_code == 200 and crl.headers["access-control-allow-origin"] == "*"
    assert crl.json() == {"kid": key["kid"], "ctr": 0, "rids": [], "method": "rid"}
    assert client.get("/.well-known/crl/nokey.json").status_code == 404
    assert client.get("/.well-known/crl/..%2f..%2fetc.json").status_code == 404
    # A correction of a listed record revokes the card: the list grows and the page says so.
    csrf = csrf_of(client.get(f"/records/{VOUCHER}/1/correct").text)
    r = client.post(f"/records/{VOUCHER}/1/correct", data={"_csrf": csrf, "reason": "ロット誤り", "lot": "EY0584"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    crl = client.get(f"/.well-known/crl/{key['kid']}.json").json()
    assert crl["ctr"] == 1 and len(crl["rids"]) == 1
    assert client.get("/.well-known/jwks.json").json()["keys"][0]["crlVersion"] == 1
    status, html = verify_text(client, qr_text)
    assert status == 422 and "revoked" in html


def test_revoke_button_needs_a_reason_and_revokes(client: TestClient[Any], vaccinated: None) -> None:
    qr_text = issue_on_page(client)
    page = client.get(f"/residents/{ATENA}/certificates").text
    cert_id = re.search(r"/certificates/([0-9a-f-]{36})/revoke", page)
    assert cert_id
    url = f"/residents/{ATENA}/certificates/{cert_id.group(1)}/revoke"
    assert client.post(url, data={"_csrf": csrf_of(page), "reason": " "}).status_code == 422
    r = client.post(url, data={"_csrf": csrf_of(page), "reason": "紛失"}, follow_redirects=False)
    assert r.status_code == 303
    assert "失効" in client.get(f"/residents/{ATENA}/certificates").text
    assert "revoked" in verify_text(client, qr_text)[1]


def test_other_municipality_and_anonymous_cannot_issue(client: TestClient[Any], vaccinated: None) -> None:
    assert client.post(f"/api/v1/municipalities/{MUNI_A}/residents/{ATENA}/certificates").status_code == 401
    login(client, "clerk_b")
    assert client.get(f"/residents/{ATENA}/certificates").status_code == 404
    token_headers = {"x-csrf-token": csrf_of(client.get("/account").text)}
    r = client.post(f"/api/v1/municipalities/{MUNI_A}/residents/{ATENA}/certificates", headers=token_headers)
    assert r.status_code == 404
    r = client.post(f"/api/v1/municipalities/{MUNI_B}/residents/{ATENA}/certificates", headers=token_headers)
    assert r.status_code == 404  # no such resident in clerk_b's own municipality either


def test_json_api_issues_lists_and_verifies(client: TestClient[Any], vaccinated: None) -> None:
    csrf = login(client, "clerk_a")
    r = client.post(f"/api/v1/municipalities/{MUNI_A}/residents/{ATENA}/certificates", headers={"x-csrf-token": csrf})
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["doses"] == 2 and issued["qr_text"].startswith("shc:/")
    listed = client.get(f"/api/v1/municipalities/{MUNI_A}/residents/{ATENA}/certificates").json()
    assert [c["certificate_id"] for c in listed] == [issued["certificate_id"]]
    client.cookies.clear()  # anyone: no session
    ok = client.post("/api/v1/certificates/verify", json={"text": issued["jws"]}).json()
    assert ok[0]["valid"] is True and ok[0]["card"]["summary"]["name"] == "千代田 花子"
    bad = client.post("/api/v1/certificates/verify", json={"text": "/etc/passwd"}).json()
    assert bad[0]["valid"] is False and bad[0]["reason"] == "bad_qr_header"


@pytest.mark.skipif(not SHC.is_dir(), reason=f"the shared SHC test data is missing ({SHC})")
def test_card_of_another_issuer_is_refused_as_untrusted(client: TestClient[Any], vaccinated: None) -> None:
    card = (SHC / "testdata" / "test-example-00-fhirhealthcard.json").read_bytes()
    r = client.post("/verify", files={"file": ("example.json", card, "application/json")})
    assert r.status_code == 422 and "untrusted_issuer" in r.text


def test_resident_without_vaccinated_doses_gets_a_clear_refusal(client: TestClient[Any], hub_db: str) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute("INSERT INTO residents (municipality_code, atena_no, name, birth_date) VALUES (%s, 'B-1',"
                     " '未接種 太郎', '1980-01-01')", (MUNI_A,))
    csrf = login(client, "clerk_a")
    r = client.post("/residents/B-1/certificates", data={"_csrf": csrf})
    assert r.status_code == 422 and "nothing to certify" in r.text
    assert msgspec.json.decode(client.get(f"/api/v1/municipalities/{MUNI_A}/residents/B-1/certificates").content) == []


def test_resident_fetches_their_own_card_through_the_link_the_municipality_hands_out(
        client: TestClient[Any], vaccinated: None, hub_db: str) -> None:
    csrf = login(client, "clerk_a")
    r = client.post(f"/residents/{ATENA}/certificates/link", data={"_csrf": csrf})
    assert r.status_code == 200, r.text
    m = re.search(r'id="link-url">http://testserver\.local(/certificate/[^<]+)<', r.text)
    assert m, "the link is shown once"
    path = m.group(1)
    client.cookies.clear()  # the resident has no account
    landing = client.get(path)
    assert landing.status_code == 200 and "証明書を受け取る" in landing.text
    assert "千代田 花子" not in landing.text  # nothing personal before the resident asks for the card
    got = client.post(path)
    assert got.status_code == 200, got.text
    png = re.search(r'src="data:image/png;base64,([^"]+)"', got.text)
    assert png
    status, html = verify_text(client, qr.read_image(base64.b64decode(png.group(1))).text)
    assert status == 200 and "千代田 花子" in html
    with psycopg.connect(hub_db, autocommit=True) as conn:
        actors = conn.execute("SELECT actor, action FROM audit_log WHERE action LIKE 'certificate.%%'"
                              " ORDER BY seq").fetchall()
        assert actors == [("clerk_a", "certificate.link"), ("resident-link", "certificate.issue")]
        code, secret = path.rsplit("/", 1)[1].split(".")
        # The same secret under another municipality's code, a guessed secret, and an expired link find nothing.
        assert client.get(f"/certificate/{MUNI_B}.{secret}").status_code == 404
        assert client.get(f"/certificate/{code}.{'A' * 22}").status_code == 404
        assert client.get("/certificate/../../etc/passwd").status_code == 404
        conn.execute("UPDATE certificate_links SET expires_at = now() - interval '1 second'")
    assert client.get(path).status_code == 404
    assert client.post(path).status_code == 404
