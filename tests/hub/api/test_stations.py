"""Venues and stations through the API: venues, enrollment by key and by one-time token (a second use is
refused), revocation (the ingest then refuses the station's batches), and the station list with status."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization

from hub.db import devices
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from protocol.records import REVOKED_DEVICE
from tests.hub.api.conftest import MUNI_A, MUNI_B, VENUE_A, VENUE_B, login
from tests.hub.stations import Station
from tests.hub.test_ingest_apply import send


def jwk_of(station: Station) -> dict[str, str]:
    raw = station.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}


@pytest.fixture
def admin(client_factory: Callable[[], Any], users: dict[str, str]) -> tuple[Any, dict[str, str]]:
    c = client_factory()
    return c, {"x-csrf-token": login(c, "admin_a")}


BASE = f"/api/v1/municipalities/{MUNI_A}"


def test_token_enrolls_once_and_a_revoked_station_is_refused_by_the_ingest(
        admin: tuple[Any, dict[str, str]], client_factory: Callable[[], Any], hub_db: str) -> None:
    c, h = admin
    r = c.post(f"{BASE}/enrollment-tokens", json={"venue_id": VENUE_A, "valid_hours": 2}, headers=h)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    st = Station(device_id="st-enrolled", venue_id=VENUE_A, municipality_code=MUNI_A)
    anon = client_factory()  # the provisioning script: no login, only the token
    first = anon.post("/api/v1/enrollment/", json={"token": token, "device_id": st.device_id,
                                                   "public_key": jwk_of(st)})
    assert first.status_code == 201, first.text
    assert first.json() == {"device_id": st.device_id, "venue_id": VENUE_A, "municipality_code": MUNI_A}
    other = Station(device_id="st-thief", venue_id=VENUE_A)
    second = anon.post("/api/v1/enrollment/", json={"token": token, "device_id": other.device_id,
                                                    "public_key": other.public_pem})
    assert second.status_code == 422 and "already used" in second.text
    tokens = c.get(f"{BASE}/enrollment-tokens").json()
    assert tokens[0]["used_by_device"] == st.device_id and token not in str(tokens)

    with connect(hub_db, "vrs_ingest") as conn:
        rec = st.record("0000000001")
        assert send(conn, st, [rec]).acks[0].accepted == [rec.record_id]
        revoke = c.post(f"{BASE}/stations/{st.device_id}/revoke", headers=h)
        assert revoke.status_code == 200 and revoke.json()["changed"] is True
        later = st.record("0000000002")
        ack = send(conn, st, [later]).acks[0]
    assert ack.accepted == [] and [(x.record_id, x.reason) for x in ack.rejected] == [(later.record_id,
                                                                                     REVOKED_DEVICE)]
    with psycopg.connect(hub_db) as conn:
        assert conn.execute("SELECT voucher_no FROM vaccinations").fetchall() == [("0000000001",)]
    listed = {s["device_id"]: s for s in c.get(f"{BASE}/stations").json()}
    assert listed[st.device_id]["status"] == "revoked"
    actions = [e["action"] for e in c.get("/api/v1/audit/").json()]
    assert {"enrollment_token.create", "device.add", "device.revoke"} <= set(actions)


def test_expired_or_revoked_or_unknown_tokens_are_refused(admin: tuple[Any, dict[str, str]],
                                                         client_factory: Callable[[], Any], hub_db: str) -> None:
    c, h = admin
    anon = client_factory()
    st = Station(device_id="st-late", venue_id=VENUE_A)
    expired = c.post(f"{BASE}/enrollment-tokens", json={"venue_id": VENUE_A}, headers=h).json()
    with psycopg.connect(hub_db) as conn:
        conn.execute("UPDATE enrollment_tokens SET created_at = now() - interval '2 days',"
                     " expires_at = now() - interval '1 second' WHERE token_id = %s", (expired["token_id"],))
    revoked = c.post(f"{BASE}/enrollment-tokens", json={"venue_id": VENUE_A}, headers=h).json()
    assert c.post(f"{BASE}/enrollment-tokens/{revoked['token_id']}/revoke", headers=h).status_code == 200
    for token in (expired["token"], revoked["token"], "vrs-enroll-guessed", ""):
        r = anon.post("/api/v1/enrollment/", json={"token": token, "device_id": st.device_id,
                                                   "public_key": st.public_pem})
        assert r.status_code == 422, token
    with psycopg.connect(hub_db) as conn:
        assert conn.execute("SELECT count(*) FROM devices").fetchone() == (0,)
    # A token of another municipality's venue cannot be made; a taken device id leaves the token unused.
    assert c.post(f"{BASE}/enrollment-tokens", json={"venue_id": VENUE_B}, headers=h).status_code == 404
    good = c.post(f"{BASE}/enrollment-tokens", json={"venue_id": VENUE_A}, headers=h).json()
    taken = Station(device_id="st-taken", venue_id=VENUE_A)
    taken.enroll(hub_db)
    clash = anon.post("/api/v1/enrollment/", json={"token": good["token"], "device_id": "st-taken",
                                                   "public_key": st.public_pem})
    assert clash.status_code == 422 and "already registered" in clash.text
    ok = anon.post("/api/v1/enrollment/", json={"token": good["token"], "device_id": "st-late",
                                                "public_key": st.public_pem})
    assert ok.status_code == 201


@pytest.mark.parametrize("key", [
    "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
    {"kty": "OKP", "crv": "X25519", "x": "AAAA"},
    {"kty": "OKP", "crv": "Ed25519", "x": "short"},
    {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43, "d": "A" * 43},
    "{not json",
])
def test_malformed_public_keys_are_refused(admin: tuple[Any, dict[str, str]], key: Any, hub_db: str) -> None:
    c, h = admin
    r = c.post(f"{BASE}/stations", json={"device_id": "st-x", "venue_id": VENUE_A, "public_key": key}, headers=h)
    assert r.status_code == 422 and "public_key" in r.text


def test_venues_and_station_list_with_status(admin: tuple[Any, dict[str, str]], client_factory: Callable[[], Any],
                                             hub_db: str) -> None:
    c, h = admin
    assert c.post(f"{BASE}/venues", json={"venue_id": "v-131016-002", "name": "千代田第二会場"},
                  headers=h).status_code == 201
    assert c.post(f"{BASE}/venues", json={"venue_id": "v-131016-002", "name": "重複"}, headers=h).status_code == 422
    assert c.post(f"{BASE}/venues", json={"venue_id": "../x", "name": "bad"}, headers=h).status_code == 422
    st = Station(device_id="st-0100", venue_id="v-131016-002")
    r = c.post(f"{BASE}/stations", json={"device_id": st.device_id, "venue_id": "v-131016-002",
                                         "public_key": st.public_pem}, headers=h)
    assert r.status_code == 201, r.text
    with connect(hub_db, "vrs_ingest") as conn, scoped(conn, Scope.ingest()):
        devices.record_status(conn, st.device_id, "online", 7, "1.2.3", None, dt.datetime.now(dt.UTC))
    row = next(s for s in c.get(f"{BASE}/stations").json() if s["device_id"] == st.device_id)
    assert (row["state"], row["queue_depth"], row["version"]) == ("online", 7, "1.2.3") and row["last_seen_at"]
    assert [v["venue_id"] for v in c.get(f"{BASE}/venues").json()] == [VENUE_A, "v-131016-002"]

    # Staff may look but not change; other municipalities and other roles see nothing.
    staff = client_factory()
    hs = {"x-csrf-token": login(staff, "clerk_a")}
    assert staff.get(f"{BASE}/stations").status_code == 200
    assert staff.post(f"{BASE}/stations/{st.device_id}/revoke", headers=hs).status_code == 404
    assert staff.post(f"{BASE}/enrollment-tokens", json={"venue_id": VENUE_A}, headers=hs).status_code == 404
    b = client_factory()
    hb = {"x-csrf-token": login(b, "clerk_b")}
    assert b.get(f"{BASE}/stations").status_code == 404
    assert b.get(f"/api/v1/municipalities/{MUNI_B}/stations").json() == []
    assert b.post(f"/api/v1/municipalities/{MUNI_B}/stations/{st.device_id}/revoke", headers=hb).status_code == 404
    for who in ("venue_a", "pref13", "operator"):
        x = client_factory()
        login(x, who)
        assert x.get(f"{BASE}/stations").status_code == 404
        assert x.get("/stations").status_code == 404
    assert [s["status"] for s in c.get(f"{BASE}/stations").json()] == ["active"]
