"""The kiosk over HTTP: what staff see after a scan, a duplicate, an unknown dose, an undo and a preset edit,
and the page's defences (strict CSP, JSON-only actions, loopback host names). The station runs for real:
outbox, publisher, real Mosquitto, the hub double answering."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge.display.buzzer import RecordingBuzzer, Tone
from edge.queue.backoff import Backoff
from edge.queue.publisher import parse_broker_url
from edge.queue.records import Preset
from edge.station import Station
from protocol import Voucher
from protocol.signing import generate_key
from tests.edge.hub_double import HubDouble
from tests.fixtures_postgres import free_port

DEVICE = "st-kiosk-01"
PRESET = Preset(venue_id="v-131016-001", maker="pfizer", lot="FA1234", doctor="山田 太郎")


class FastBackoff(Backoff):
    INITIAL = 0.05
    CAP = 0.5


def voucher(no: int, dose: int = 1, code: str = "131016") -> Voucher:
    return Voucher(municipality_code=code, voucher_no=f"{no:010d}", dose=dose, ticket_kind="1")


def nw7(no: int) -> Voucher:
    return Voucher(municipality_code="131016", voucher_no=f"{no:010d}", dose=0, ticket_kind=None,
                   source_municipality_preset=True)


class Running:
    def __init__(self, station: Station, hub: HubDouble, buzzer: RecordingBuzzer) -> None:
        self.station, self.hub, self.buzzer = station, hub, buzzer
        self.url = station.kiosk_url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def state(self) -> dict:
        return self.http.get("/api/state").raise_for_status().json()

    def post(self, path: str, body: dict) -> httpx.Response:
        return self.http.post(path, json=body)

    def wait(self, predicate, what: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)


@pytest.fixture
def hub_key():
    return generate_key()


@pytest.fixture
def running(tmp_path: Path, mosquitto, hub_key) -> Iterator[Running]:
    key = generate_key()
    buzzer = RecordingBuzzer()
    station = Station(
        device_id=DEVICE, outbox_path=tmp_path / "outbox.sqlite", preset=PRESET,
        broker=parse_broker_url(mosquitto.url), private_key=key, hub_keys=(hub_key.public_key(),),
        kiosk_port=free_port(), buzzer=buzzer, backoff=FastBackoff(), version="t1",
    )
    station.publisher.STATUS_INTERVAL = 0.1
    with HubDouble(mosquitto.url, {DEVICE: key.public_key()}, hub_key) as hub:
        station.start()
        r = Running(station, hub, buzzer)
        try:
            yield r
        finally:
            r.http.close()
            station.stop()


def test_a_scan_shows_ok_with_municipality_number_and_dose_and_beeps(running: Running) -> None:
    running.station.accept(voucher(123, dose=2), source="ocr", frames=3)
    s = running.state()
    assert s["screen"] == "ok" and s["title"].startswith("OK")
    assert s["scan"]["municipality_name"] == "東京都 千代田区"
    assert (s["scan"]["voucher_no"], s["scan"]["dose"], s["scan"]["status_label"]) == ("0000000123", 2, "接種済")
    assert s["tone"] == "success" and running.buzzer.played == [Tone.SUCCESS]
    assert s["count_total"] == 1 and s["recent"][0]["voucher_no"] == "0000000123"
    running.wait(lambda: running.state()["recent"][0]["state"] == "accepted", "the hub's ack")
    assert running.state()["queue_depth"] == 0


def test_the_same_voucher_and_dose_today_is_held_until_staff_confirm(running: Running) -> None:
    running.station.accept(voucher(5), source="qr", frames=1)
    running.station.accept(voucher(5), source="qr", frames=1)
    s = running.state()
    assert s["screen"] == "attention" and "登録済み" in s["message"]
    assert s["hold"]["code"] == "duplicate_today" and s["count_total"] == 1
    assert running.buzzer.played[-1] is Tone.ERROR  # the distinct tone, not the success beep

    r = running.post("/api/hold/confirm", {"hold_id": s["hold"]["hold_id"]})
    assert r.status_code == 200, r.text
    assert r.json()["screen"] == "ok" and r.json()["count_total"] == 2
    running.wait(lambda: len(running.hub.stored_ids()) == 2, "both records at the hub")
    # A confirmed hold cannot be confirmed twice.
    again = running.post("/api/hold/confirm", {"hold_id": s["hold"]["hold_id"]})
    assert again.status_code == 409 and running.state()["count_total"] == 2


def test_a_discarded_duplicate_makes_no_record(running: Running) -> None:
    running.station.accept(voucher(6), source="qr", frames=1)
    running.station.accept(voucher(6), source="qr", frames=1)
    hold = running.state()["hold"]
    assert running.post("/api/hold/discard", {"hold_id": hold["hold_id"]}).json()["screen"] == "ready"
    assert running.state()["count_total"] == 1 and running.station.outbox.depth() <= 1


def test_a_voucher_without_a_dose_asks_for_it(running: Running) -> None:
    running.station.accept(nw7(77), source="nw7", frames=2)
    s = running.state()
    assert s["screen"] == "attention" and s["hold"]["needs_dose"] and s["count_total"] == 0
    r = running.post("/api/hold/confirm", {"hold_id": s["hold"]["hold_id"], "dose": 3})
    assert r.status_code == 200 and r.json()["scan"]["dose"] == 3
    assert "会場の設定" in r.json()["message"]  # the municipality came from the preset: staff are told
    running.wait(lambda: len(running.hub.stored_ids()) == 1, "the record at the hub")
    [stored] = running.hub.stored.values()
    assert (stored.dose, stored.read.source, stored.ticket_kind) == (3, "nw7", None)


def test_a_chosen_dose_already_registered_today_is_held_as_a_duplicate(running: Running) -> None:
    running.station.accept(nw7(78), source="nw7", frames=2)
    running.post("/api/hold/confirm", {"hold_id": running.state()["hold"]["hold_id"], "dose": 1})
    running.station.accept(nw7(78), source="nw7", frames=2)
    again = running.post("/api/hold/confirm", {"hold_id": running.state()["hold"]["hold_id"], "dose": 1}).json()
    assert again["screen"] == "attention" and again["hold"]["code"] == "duplicate_today"
    assert again["count_total"] == 1 and again["scan"]["dose"] == 1
    # Staff insist: the second record keeps the dose they chose.
    done = running.post("/api/hold/confirm", {"hold_id": again["hold"]["hold_id"]}).json()
    assert done["screen"] == "ok" and done["count_total"] == 2 and done["scan"]["dose"] == 1


def test_undo_sends_a_void_for_the_record(running: Running) -> None:
    running.station.accept(voucher(9), source="qr", frames=1)
    [entry] = running.state()["recent"]
    assert entry["undoable"]
    r = running.post("/api/undo", {"record_id": entry["record_id"]})
    assert r.status_code == 200 and r.json()["title"] == "取り消しました"
    assert r.json()["count_total"] == 0
    running.wait(lambda: len(running.hub.stored_ids()) == 2, "record and void at the hub")
    void = next(rec for rec in running.hub.stored.values() if rec.op == "void")
    assert void.voids_record_id == entry["record_id"] and void.voucher_no == "0000000009"
    s = running.state()
    assert not any(e["undoable"] for e in s["recent"])
    assert running.post("/api/undo", {"record_id": entry["record_id"]}).status_code == 409  # not twice
    assert running.post("/api/undo", {"record_id": "nonsense"}).status_code == 409


def test_a_preset_change_applies_to_the_next_record_and_bad_values_name_the_field(running: Running) -> None:
    running.station.accept(voucher(1), source="qr", frames=1)
    new = {"venue_id": "v-131016-001", "maker": "moderna", "lot": "MD999", "doctor": "佐藤 花子",
           "status": "screened_only", "administered_on": "", "unstated_dose": None}
    r = running.post("/api/preset", new)
    assert r.status_code == 200 and r.json()["preset"]["maker_label"] == "武田/モデルナ"
    running.station.accept(voucher(2), source="qr", frames=1)
    running.wait(lambda: len(running.hub.stored_ids()) == 2, "both records")
    by_no = {rec.voucher_no: rec for rec in running.hub.stored.values()}
    assert (by_no["0000000001"].vaccine.lot, by_no["0000000001"].status) == ("FA1234", "vaccinated")
    assert (by_no["0000000002"].vaccine.maker, by_no["0000000002"].vaccine.lot) == ("moderna", "MD999")
    assert (by_no["0000000002"].doctor, by_no["0000000002"].status) == ("佐藤 花子", "screened_only")

    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    for change, field in [({"lot": ""}, "lot"), ({"lot": "L" * 40}, "lot"), ({"administered_on": tomorrow},
                          "administered_on"), ({"administered_on": "31/12/2021"}, "administered_on"),
                          ({"venue_id": "会場"}, "venue_id"), ({"doctor": "a\u0000b"}, "doctor")]:
        bad = running.post("/api/preset", {**new, **change})
        assert bad.status_code == 400, (change, bad.text)
        assert bad.json()["field"] == field and bad.json()["message"]
    assert running.post("/api/preset", {**new, "maker": "sputnik"}).status_code == 400
    assert running.state()["preset"]["lot"] == "MD999"  # the bad edits changed nothing


def test_a_preset_survives_a_restart(tmp_path: Path, mosquitto, hub_key) -> None:
    def make() -> Station:
        return Station(device_id=DEVICE, outbox_path=tmp_path / "o.sqlite", preset=PRESET,
                       broker=parse_broker_url(mosquitto.url), private_key=generate_key(),
                       hub_keys=(hub_key.public_key(),), kiosk_port=free_port())

    first = make()
    first.desk.set_preset(Preset(venue_id="v-131016-001", maker="novavax", lot="NV1", doctor="医師"))
    first.outbox.close()
    second = make()
    assert second.desk.preset.maker == "novavax"
    second.outbox.close()


def test_the_page_has_no_inline_script_and_a_strict_csp(running: Running) -> None:
    r = running.http.get("/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = r.text
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert not re.search(r"\son[a-z]+\s*=", html) and "style=" not in html
    assert 'lang="ja"' in html
    assert running.http.get("/static/kiosk.js").status_code == 200


def test_actions_accept_only_json_from_the_kiosk_host(running: Running) -> None:
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    form = running.http.post("/api/dismiss", content="x=1", headers=form_type)
    assert form.status_code == 415
    plain = running.http.post("/api/undo", content='{"record_id":"x"}', headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    evil = running.http.get("/api/state", headers={"host": "evil.example"})
    assert evil.status_code == 400
    junk = running.http.post("/api/undo", content=b"\xff{", headers={"content-type": "application/json"})
    assert junk.status_code == 400


def test_the_event_stream_sends_the_state_at_once_and_on_change(running: Running) -> None:
    with running.http.stream("GET", "/events") as stream:
        lines = stream.iter_lines()
        first = _next_state(lines)
        assert first["screen"] == "ready"
        running.station.accept(voucher(31), source="qr", frames=1)
        while True:
            s = _next_state(lines)
            if s["screen"] == "ok":
                break
        assert s["scan"]["voucher_no"] == "0000000031"


def _next_state(lines) -> dict:
    for line in lines:
        if line.startswith("data:"):
            return json.loads(line[5:])
    raise AssertionError("stream ended")


def test_a_record_that_cannot_be_stored_shows_an_error_and_never_the_ok_beep(running: Running) -> None:
    outbox = running.station.outbox
    with outbox._lock:  # SQLite itself refuses every write from now on, as on a failing SD card
        outbox._db.execute("PRAGMA query_only = ON")
    assert running.station.accept(voucher(8), source="qr", frames=1) is None
    s = running.state()
    assert s["screen"] == "error" and s["title"] == "保存できません" and "紙に控えて" in s["message"]
    assert s["tone"] == "error" and Tone.SUCCESS not in running.buzzer.played
    assert s["count_total"] == 0

    with outbox._lock:
        outbox._db.execute("PRAGMA query_only = OFF")
    assert running.post("/api/dismiss", {}).json()["screen"] == "ready"
    running.station.accept(voucher(8), source="qr", frames=1)
    assert running.state()["screen"] == "ok" and running.buzzer.played[-1] is Tone.SUCCESS


def test_a_voucher_the_hub_would_refuse_is_not_stored(running: Running) -> None:
    ward = voucher(1, code="271276")  # a ward of Osaka: a valid check digit, but not a municipality
    assert running.station.accept(ward, source="ocr", frames=2) is None
    s = running.state()
    assert s["screen"] == "error" and s["title"] == "登録できません" and s["count_total"] == 0
    assert running.station.outbox.depth() == 0


def test_a_camera_read_problem_asks_for_another_try_but_never_hides_a_held_scan(running: Running) -> None:
    board = running.station.board
    board.show_read_problem("conflict", "frames disagree on the voucher number (0000000101 vs 0000000401)")
    s = running.state()
    assert s["screen"] == "attention" and s["title"] == "もう一度かざしてください" and s["tone"] == "error"
    assert s["count_total"] == 0

    running.post("/api/dismiss", {})
    running.station.accept(voucher(3), source="qr", frames=1)
    running.station.accept(voucher(3), source="qr", frames=1)  # held: staff must decide
    board._read_problem_at = 0.0  # as if the last problem was long ago
    board.show_read_problem("invalid", "not a municipality")
    s = running.state()
    assert s["title"] == "確認してください" and s["hold"] is not None


def test_a_kiosk_port_in_use_stops_the_start_with_a_clear_error(tmp_path: Path, mosquitto, hub_key) -> None:
    import socket

    from edge import EdgeError

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        station = Station(device_id=DEVICE, outbox_path=tmp_path / "o.sqlite", preset=PRESET,
                          broker=parse_broker_url(mosquitto.url), private_key=generate_key(),
                          hub_keys=(hub_key.public_key(),), kiosk_port=port)
        with pytest.raises(EdgeError, match=r"kiosk\.port"):
            station.start()
