"""The ingest's transaction against a real database: exactly once, overwrites, voids, routing, warnings."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from hub.db import aggregates
from hub.db.connect import connect
from hub.db.devices import device_keys
from hub.db.scoped import Scope, scoped
from hub.ingest.apply import GroupResult, apply_group
from hub.ingest.verify import KeyCache, check_batch
from protocol.records import JST, Record, japan_today
from tests.hub.stations import MUNI_A, MUNI_B, Station

MIN_DAYS = {"pfizer": 18, "moderna": 24, "astrazeneca": 28, "novavax": 21}
T0 = datetime.datetime(2021, 7, 1, 9, 0, tzinfo=JST)


@pytest.fixture
def ingest_conn(hub_db: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(hub_db, "vrs_ingest") as conn:
        yield conn


@pytest.fixture
def station(hub_db: str) -> Station:
    st = Station()
    st.enroll(hub_db)
    return st


def send(conn: psycopg.Connection[Any], station: Station, *batches: list[Record]) -> GroupResult:
    """Verify and apply signed batches in one group, as the worker does."""
    with scoped(conn, Scope.ingest()):
        keys = device_keys(conn, [station.device_id])
    today = japan_today(datetime.datetime.now(JST))
    checked = [check_batch(station.topic, station.batch(list(b)), keys, KeyCache(), today) for b in batches]
    return apply_group(conn, checked, MIN_DAYS)


def current(dsn: str, municipality: str = MUNI_A) -> dict[tuple[str, int], tuple[str, str]]:
    """(voucher, dose) -> (record_id, lot) of the current state, read as the municipality's staff."""
    with connect(dsn, "vrs_api") as conn, scoped(conn, Scope.municipality(municipality)):
        rows = conn.execute("SELECT voucher_no, dose, record_id::text, lot FROM vaccinations").fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def history_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM vaccination_history").fetchone()[0])  # type: ignore[index]


def assert_aggregates_match_recount(conn: psycopg.Connection[Any]) -> None:
    with scoped(conn, Scope.ingest()):
        assert aggregates.stored(conn) == aggregates.recounted(conn)


def test_a_registration_lands_once_and_is_counted(hub_db: str, ingest_conn: Any, station: Station) -> None:
    rec = station.record("0000000001")
    first = send(ingest_conn, station, [rec])
    assert first.acks[0].accepted == [rec.record_id] and first.new_records == 1
    again = send(ingest_conn, station, [rec])
    assert again.acks[0].accepted == [rec.record_id] and again.new_records == 0 and again.duplicates == 1
    assert current(hub_db) == {("0000000001", 1): (rec.record_id, "FA1234")}
    assert history_count(hub_db) == 1
    assert_aggregates_match_recount(ingest_conn)
    with psycopg.connect(hub_db) as conn:
        assert conn.execute("SELECT last_batch_seq FROM devices").fetchone() == (2,)
        assert conn.execute("SELECT sum(count) FROM hourly_aggregates").fetchone() == (1,)


def test_the_same_record_twice_in_one_group_is_applied_once(hub_db: str, ingest_conn: Any, station: Station) -> None:
    rec = station.record()
    result = send(ingest_conn, station, [rec], [rec])
    assert [a.accepted for a in result.acks] == [[rec.record_id], [rec.record_id]]
    assert history_count(hub_db) == 1


def test_a_later_registration_overwrites_and_an_older_one_arriving_late_does_not(
    hub_db: str, ingest_conn: Any, station: Station
) -> None:
    old = station.record("0000000007", scanned_at=T0, lot="OLD")
    new = station.record("0000000007", scanned_at=T0 + datetime.timedelta(minutes=5), lot="NEW")
    send(ingest_conn, station, [new])
    send(ingest_conn, station, [old])  # a resend of an earlier scan arrives after the correction
    assert current(hub_db) == {("0000000007", 1): (new.record_id, "NEW")}
    assert history_count(hub_db) == 2
    assert_aggregates_match_recount(ingest_conn)


def test_a_void_restores_the_previous_version_and_a_replay_cannot_resurrect(
    hub_db: str, ingest_conn: Any, station: Station
) -> None:
    first = station.record("0000000009", scanned_at=T0, lot="FIRST")
    second = station.record("0000000009", scanned_at=T0 + datetime.timedelta(minutes=1), lot="SECOND")
    send(ingest_conn, station, [first], [second])
    send(ingest_conn, station, [station.void(second)])
    assert current(hub_db) == {("0000000009", 1): (first.record_id, "FIRST")}
    send(ingest_conn, station, [station.void(first)])
    assert current(hub_db) == {}
    replay = send(ingest_conn, station, [first, second])  # a replayed old batch
    assert replay.acks[0].accepted == [first.record_id, second.record_id] and replay.new_records == 0
    assert current(hub_db) == {}
    assert_aggregates_match_recount(ingest_conn)


def test_a_void_arriving_before_its_record_keeps_the_record_out(
    hub_db: str, ingest_conn: Any, station: Station
) -> None:
    rec = station.record("0000000011")
    send(ingest_conn, station, [station.void(rec)])
    result = send(ingest_conn, station, [rec])
    assert result.acks[0].accepted == [rec.record_id]
    assert current(hub_db) == {}
    assert_aggregates_match_recount(ingest_conn)


def test_a_void_naming_another_voucher_than_its_record_is_rejected(
    hub_db: str, ingest_conn: Any, station: Station
) -> None:
    rec = station.record("0000000012")
    send(ingest_conn, station, [rec])
    wrong = station.void(station.record("0000000013"))
    wrong = Record(**{**{f: getattr(wrong, f) for f in wrong.__struct_fields__}, "voids_record_id": rec.record_id})
    result = send(ingest_conn, station, [wrong])
    assert [(r.record_id, r.reason) for r in result.acks[0].rejected] == [(wrong.record_id, "invalid_field")]
    assert current(hub_db) == {("0000000012", 1): (rec.record_id, "FA1234")}


def test_records_belong_to_the_municipality_on_the_voucher(hub_db: str, ingest_conn: Any, station: Station) -> None:
    visitor = station.record("0000000100", municipality_code=MUNI_B)  # an Osaka resident vaccinated in Tokyo
    send(ingest_conn, station, [visitor])
    assert current(hub_db, MUNI_B) == {("0000000100", 1): (visitor.record_id, "FA1234")}
    assert current(hub_db, MUNI_A) == {}
    with psycopg.connect(hub_db) as conn:
        assert conn.execute("SELECT prefecture_code, municipality_code FROM hourly_aggregates").fetchall() == [
            ("27", MUNI_B)]


def _warnings(result: GroupResult) -> list[tuple[str, str]]:
    return [(w.record_id, w.code) for a in result.acks for w in a.warnings]


def test_dose_order_and_interval_warnings_never_refuse(hub_db: str, ingest_conn: Any, station: Station) -> None:
    d1 = station.record("0000000200", 1, administered_on=datetime.date(2021, 6, 10), scanned_at=T0)
    early = station.record("0000000200", 2, administered_on=datetime.date(2021, 6, 1), scanned_at=T0)
    result = send(ingest_conn, station, [d1, early])
    # Each of the two contradicts the other.
    assert sorted(_warnings(result)) == sorted([(d1.record_id, "dose_order"), (early.record_id, "dose_order")])
    late_first = station.record("0000000203", 1, administered_on=datetime.date(2021, 6, 10), scanned_at=T0)
    send(ingest_conn, station, [station.record("0000000203", 2, administered_on=datetime.date(2021, 6, 5),
                                               scanned_at=T0)])
    assert _warnings(send(ingest_conn, station, [late_first])) == [(late_first.record_id, "dose_order")]
    short = station.record("0000000201", 2, administered_on=datetime.date(2021, 6, 20), scanned_at=T0)
    d1b = station.record("0000000201", 1, administered_on=datetime.date(2021, 6, 10), scanned_at=T0)
    r1 = send(ingest_conn, station, [d1b])
    r2 = send(ingest_conn, station, [short])
    assert _warnings(r1) == [] and _warnings(r2) == [(short.record_id, "dose_interval_short")]
    ok = station.record("0000000202", 2, administered_on=datetime.date(2021, 6, 28), scanned_at=T0)
    d1c = station.record("0000000202", 1, administered_on=datetime.date(2021, 6, 10), scanned_at=T0)
    assert _warnings(send(ingest_conn, station, [d1c, ok])) == []
    assert len(current(hub_db)) == 8


def test_resident_warnings_and_matching(hub_db: str, ingest_conn: Any, station: Station) -> None:
    stranger = station.record("0000000300")
    assert _warnings(send(ingest_conn, station, [stranger])) == []  # no residents uploaded yet: no noise
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO residents (municipality_code, atena_no, voucher_no, name, status) VALUES"
            " (%s, 'A1', '0000000301', 'a', 'active'), (%s, 'A2', '0000000302', 'b', 'moved_out'),"
            " (%s, 'A3', '0000000303', 'c', 'deceased')", (MUNI_A, MUNI_A, MUNI_A))
    recs = [station.record(f"000000030{i}") for i in range(1, 5)]
    result = send(ingest_conn, station, recs)
    assert _warnings(result) == [(recs[1].record_id, "resident_moved_out"), (recs[2].record_id, "resident_deceased"),
                                 (recs[3].record_id, "unknown_voucher")]
    assert result.acks[0].accepted == [r.record_id for r in recs]
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(MUNI_A)):
        matched = dict(conn.execute("SELECT voucher_no, atena_no FROM vaccinations").fetchall())
    assert matched == {"0000000300": None, "0000000301": "A1", "0000000302": "A2", "0000000303": "A3",
                       "0000000304": None}


def test_a_full_batch_with_one_invalid_record(hub_db: str, ingest_conn: Any, station: Station) -> None:
    import msgspec

    records: list[bytes] = [msgspec.json.encode(station.record()) for _ in range(200)]
    bad = msgspec.json.decode(records[57])
    bad["dose"] = 12
    records[57] = msgspec.json.encode(bad)
    result = send(ingest_conn, station, records)  # type: ignore[arg-type]
    assert len(result.acks[0].accepted) == 199
    assert [(r.record_id, r.reason) for r in result.acks[0].rejected] == [(bad["record_id"], "invalid_field")]
    assert history_count(hub_db) == 199
