"""Two provisioning scripts redeeming the same enrollment token at the same moment: exactly one station is
registered, the other is told the token is used."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg

from hub.db import enrollment
from hub.db.connect import connect
from hub.errors import InputError
from tests.hub.api.conftest import VENUE_A
from tests.hub.stations import Station


def test_one_token_two_concurrent_redemptions(hub_db: str, venues: None) -> None:
    now = dt.datetime.now(dt.UTC)
    with connect(hub_db, "vrs_api") as conn, conn.transaction():
        enrollment.add_token(conn, "vrs-enroll-race", VENUE_A, "admin", now + dt.timedelta(hours=1))
    stations = [Station(f"st-race-{i}", VENUE_A) for i in range(2)]
    first_holds = threading.Event()
    outcomes: dict[str, str] = {}

    def redeem(st: Station, hold: bool) -> None:
        with connect(hub_db, "vrs_api") as conn:
            try:
                with conn.transaction():
                    enrollment.redeem(conn, "vrs-enroll-race", st.device_id, st.public_pem, now)
                    if hold:  # keep the token row locked, uncommitted, while the other one tries
                        first_holds.set()
                        threading.Event().wait(0.5)
                outcomes[st.device_id] = "enrolled"
            except InputError:
                outcomes[st.device_id] = "refused"

    a = threading.Thread(target=redeem, args=(stations[0], True))
    a.start()
    assert first_holds.wait(30)
    b = threading.Thread(target=redeem, args=(stations[1], False))
    b.start()
    a.join(30)
    b.join(30)
    assert outcomes == {"st-race-0": "enrolled", "st-race-1": "refused"}
    with psycopg.connect(hub_db) as conn:
        assert conn.execute("SELECT device_id FROM devices").fetchall() == [("st-race-0",)]
        assert conn.execute("SELECT used_by_device FROM enrollment_tokens").fetchall() == [("st-race-0",)]
