"""The ledger cut by 宛名番号 into parts read over several connections that share one snapshot: the same
bytes as the one-query export wherever the cuts fall, every connection bounded by the first one's scope,
and every connection back in the pool however the download ends."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import psycopg
import pytest

from hub.api.services.exports import csv_chunks, pooled_chunks
from hub.db import export as export_db
from hub.db import ledger as ledger_db
from hub.db.connect import connect, pool
from hub.db.scoped import Scope, scoped
from hub.files.export import Encoding, from_copy, ledger_header

CODE = "131016"
OTHER = "131024"
ONE = "131032"  # a municipality of one person
EMPTY = "131041"  # a municipality with no records
T0 = dt.datetime(2021, 6, 1, 9, 0, tzinfo=dt.UTC)
# Person P010 has two vouchers holding dose 1 and two holding dose 2: the latest registered of each wins.
MANY = "P010"


def _records() -> list[tuple[Any, ...]]:
    """(municipality, voucher, dose, status, atena_no, hours after T0, lot)."""
    rows: list[tuple[Any, ...]] = []
    for i in range(1, 31):
        atena = f"P{i:03d}"
        doses = (1,) if i % 4 == 0 else (1, 2, 3) if i % 7 == 0 else (1, 2)
        # P021's lots hold what CP932 lacks (𠮷) and a character whose second CP932 byte is a backslash (ソ).
        rows += [(CODE, f"{i:010d}", d, "vaccinated", atena, i * 10 + d, f"{'𠮷ソ' if i == 21 else 'L'}{i}-{d}")
                 for d in doses]
    rows += [(CODE, "1000000010", 1, "vaccinated", MANY, 500, "LATER-1"),
             (CODE, "1000000011", 1, "vaccinated", MANY, 1, "EARLIER-1"),
             (CODE, "1000000010", 2, "vaccinated", MANY, 2, "EARLIER-2"),
             (CODE, "1000000011", 2, "vaccinated", MANY, 600, "LATER-2")]
    # No dose in the ledger: only screened, or not matched to a resident.
    rows += [(CODE, "2000000001", 1, "screened_only", "P500", 1, "SCREENED"),
             (CODE, "2000000002", 1, "vaccinated", None, 1, "UNMATCHED")]
    # 宛名番号 a spreadsheet would run as a formula: neutralised in the cell, ordered by the raw text.
    rows += [(CODE, "3000000001", 1, "vaccinated", "=P0", 1, "FORMULA"),
             (CODE, "3000000002", 1, "vaccinated", "-P9", 1, "DASH")]
    rows += [(OTHER, f"{i:010d}", 1, "vaccinated", f"P{i:03d}", 1, "SECRET") for i in range(1, 6)]
    rows += [(ONE, "0000000001", d, "vaccinated", "P001", d, f"ONE-{d}") for d in (1, 2)]
    return rows


def _load(dsn: str) -> None:
    with connect(dsn, None) as conn, conn.transaction():
        conn.execute("INSERT INTO venues (venue_id, municipality_code, name) VALUES ('v-1', %s, '会場, \"一\"')",
                     (CODE,))
        for code, voucher, dose, status, atena, hours, lot in _records():
            conn.execute(
                "INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, status, administered_on,"
                " venue_id, maker, lot, doctor, read_source, scanned_at, atena_no, registered_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'v-1', 'pfizer', %s, '山田', 'qr', now(), %s, %s)",
                (code, voucher, dose, uuid.uuid4(), status, dt.date(2021, 6, 1) + dt.timedelta(days=dose * 21),
                 lot, atena, T0 + dt.timedelta(hours=hours)),
            )


def _one_query(dsn: str, code: str, encoding: Encoding = "utf-8") -> bytes:
    with connect(dsn, "vrs_api") as conn, scoped(conn, Scope.municipality(code)):
        return b"".join(csv_chunks(conn, code, "ledger", encoding))


def _in_parts(dsn: str, code: str, starts: list[str], connections: int, encoding: Encoding = "utf-8",
              batch_bytes: int = 64, ahead_bytes: int = 64) -> bytes:
    scope = Scope.municipality(code)
    with ExitStack() as stack:
        conns = [stack.enter_context(connect(dsn, "vrs_api")) for _ in range(connections)]
        stack.enter_context(export_db.export_transaction(conns[0], scope))
        snapshot = export_db.share_snapshot(conns[0])
        for conn in conns[1:]:
            stack.enter_context(export_db.export_transaction(conn, scope, snapshot))
        doses = export_db.max_dose(conns[0], code, 2)
        cp932 = encoding == "cp932"
        parts = ledger_db.ledger_parts(code, doses, starts, cp932)
        batches = export_db.copy_csv_parts(conns, parts, batch_bytes, ahead_bytes, rendered=True, cp932=cp932)
        return b"".join(from_copy(ledger_header(doses), batches, encoding, converted=True))


EVERY_PERSON = ["-P9", "=P0", *(f"P{i:03d}" for i in range(2, 31))]


@pytest.mark.parametrize(("code", "starts", "connections"), [
    (CODE, [MANY], 2),  # the cut falls on the person with several records of one dose
    (CODE, ["P005", MANY, "P0100", "P011"], 2),  # cuts just after him too
    (CODE, ["", "+", "P000", "P0105", "Z", "ZZ"], 2),  # cuts between people, before the first, after the last
    (CODE, EVERY_PERSON, 2),
    (CODE, EVERY_PERSON, 3),
    (ONE, ["P001"], 2),
    (ONE, ["P000", "P002"], 3),
    (EMPTY, ["P001"], 2),
])
def test_parts_give_the_bytes_of_one_query(hub_db: str, code: str, starts: list[str], connections: int) -> None:
    _load(hub_db)
    whole = _one_query(hub_db, code)
    assert _in_parts(hub_db, code, starts, connections) == whole
    rows = whole.decode("utf-8-sig").split("\r\n")
    if code == CODE:
        assert len(rows) == 1 + 32 + 1  # header, 32 people, the empty text after the last row end
        assert sum(r.startswith(MANY + ",") for r in rows) == 1
        assert "LATER-1" in whole.decode() and "LATER-2" in whole.decode() and "EARLIER" not in whole.decode()
        assert "SECRET" not in whole.decode() and "SCREENED" not in whole.decode()
        assert "'=P0" in whole.decode()
    elif code == ONE:
        assert len(rows) == 3 and "ONE-2" in rows[1]
    else:
        assert len(rows) == 2 and rows[1] == ""


def test_parts_in_cp932_give_the_bytes_of_one_query(hub_db: str) -> None:
    _load(hub_db)
    # Before the one query stores the rows (the rows built from the records), and after (the rows stored).
    in_parts = _in_parts(hub_db, CODE, [MANY, "P020"], 2, "cp932", 1 << 18, 1 << 20)
    whole = _one_query(hub_db, CODE, "cp932")
    assert in_parts == whole
    assert _in_parts(hub_db, CODE, [MANY, "P020"], 2, "cp932", 1 << 18, 1 << 20) == whole
    text = whole.decode("cp932")
    assert all(f"〓ソ21-{d}" in text for d in (1, 2, 3)) and '"会場, ""一"""' in text
    assert whole.count(b"\r\n") == 1 + 32


@pytest.mark.parametrize("code", [CODE, ONE, EMPTY])
def test_pooled_export_cut_from_a_sample_gives_the_bytes_of_one_query(hub_db: str, code: str) -> None:
    _load(hub_db)
    with pool(hub_db, "vrs_api", min_size=1, max_size=3) as p:
        starts = []
        with p.connection() as conn, export_db.export_transaction(conn, Scope.municipality(code)):
            starts = export_db.part_starts(conn, code, 8, 64)
        cut = b"".join(pooled_chunks(p, Scope.municipality(code), code, "ledger", "utf-8", connections=2,
                                         records_per_part=8))
    assert cut == _one_query(hub_db, code)
    if code == CODE:
        assert len(starts) >= 4  # the sample did cut it, so the parts were really read by turns


def test_parts_read_one_snapshot(hub_db: str) -> None:
    """A dose registered while an export runs is in none of its parts, whichever connection reads them."""
    _load(hub_db)
    before = _one_query(hub_db, CODE)
    scope = Scope.municipality(CODE)
    with connect(hub_db, "vrs_api") as first, connect(hub_db, "vrs_api") as second, \
            export_db.export_transaction(first, scope):
        snapshot = export_db.share_snapshot(first)
        with connect(hub_db, None) as writer:
            writer.execute(
                "INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, status,"
                " administered_on, venue_id, maker, lot, doctor, read_source, scanned_at, atena_no)"
                " VALUES (%s, '0000000029', 3, %s, 'vaccinated', '2021-09-01', 'v-1', 'pfizer', 'NEW', 'x',"
                " 'qr', now(), 'P029')", (CODE, uuid.uuid4()))
        with export_db.export_transaction(second, scope, snapshot):
            doses = export_db.max_dose(first, CODE, 2)
            parts = ledger_db.ledger_parts(CODE, doses, [MANY])
            during = b"".join(from_copy(ledger_header(doses), export_db.copy_csv_parts([first, second], parts,
                                                                                       rendered=True)))
    assert during == before
    assert b"NEW" in _one_query(hub_db, CODE)


def test_a_joined_connection_reads_only_the_scope_s_municipality(hub_db: str) -> None:
    _load(hub_db)
    scope = Scope.municipality(CODE)
    with connect(hub_db, "vrs_api") as first, connect(hub_db, "vrs_api") as second, \
            export_db.export_transaction(first, scope):
        snapshot = export_db.share_snapshot(first)
        with export_db.export_transaction(second, scope, snapshot):
            asked = second.execute("SELECT count(*) FROM vaccinations WHERE municipality_code = %s",
                                   (OTHER,)).fetchone()
            seen = second.execute("SELECT DISTINCT municipality_code FROM vaccinations").fetchall()
            stolen = b"".join(export_db.copy_csv_parts([first, second], ledger_db.ledger_parts(OTHER, 2, ["P003"]),
                                                        rendered=True))
    assert asked == (0,)
    assert seen == [(CODE,)]
    assert stolen == b""


def test_a_snapshot_cannot_be_joined_after_its_export_ended(hub_db: str) -> None:
    scope = Scope.municipality(CODE)
    with connect(hub_db, "vrs_api") as first, connect(hub_db, "vrs_api") as second:
        with export_db.export_transaction(first, scope):
            snapshot = export_db.share_snapshot(first)
        # The export that shared it has ended: its snapshot is gone, and no later one is taken instead.
        with pytest.raises(psycopg.errors.InvalidParameterValue), \
                export_db.export_transaction(second, scope, snapshot):
            pass


def test_cut_points_are_increasing_and_cut_off_no_first_value() -> None:
    assert export_db.cut_points([f"{i:03d}" for i in range(100)], 4) == ["025", "050", "075"]
    assert export_db.cut_points(["a", "a", "a", "b", "b", "b", "c"], 3) == ["b"]
    assert export_db.cut_points(["a"] * 10, 5) == []
    assert export_db.cut_points([], 5) == []


def _busy_backends(dsn: str) -> list[tuple[Any, ...]]:
    with connect(dsn, None) as conn:
        return conn.execute("SELECT state, query FROM pg_stat_activity WHERE datname = current_database()"
                            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                            " AND state <> 'idle'").fetchall()


def _big_load(dsn: str, people: int) -> None:
    with connect(dsn, None) as conn, conn.transaction():
        conn.execute("INSERT INTO venues (venue_id, municipality_code, name) VALUES ('v-1', %s, '会場')", (CODE,))
        conn.execute(
            "INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, status, administered_on,"
            " venue_id, maker, lot, doctor, read_source, scanned_at, atena_no)"
            " SELECT %s, lpad(i::text, 10, '0'), d, gen_random_uuid(), 'vaccinated', date '2021-06-01' + d * 21,"
            " 'v-1', 'pfizer', 'FA' || i, repeat('医', 20), 'qr', now(), lpad(i::text, 10, '0')"
            " FROM generate_series(1, %s) AS i, generate_series(1, 2) AS d", (CODE, people))


def test_abandoned_downloads_give_every_connection_back(hub_db: str) -> None:
    _big_load(hub_db, 20_000)
    scope = Scope.municipality(CODE)
    with pool(hub_db, "vrs_api", min_size=2, max_size=2) as p:
        p.wait()
        for n in range(5):  # more downloads than the pool has connections: a leak would stall the next one
            chunks: Iterator[bytes] = pooled_chunks(p, scope, CODE, "ledger", ("utf-8", "cp932")[n % 2],
                                                    connections=2, records_per_part=4000)
            next(chunks)
            next(chunks)
            assert p.get_stats()["pool_available"] == 0  # both connections are reading
            chunks.close()  # as when the client goes away half-way
            assert p.get_stats()["pool_available"] == 2
            assert _busy_backends(hub_db) == []
        with p.connection() as first, p.connection() as second:  # CP932 was the abandoned transactions' only
            assert [c.execute("SHOW client_encoding").fetchone() for c in (first, second)] == [("UTF8",)] * 2
        whole = b"".join(pooled_chunks(p, scope, CODE, "ledger", "utf-8", connections=2, records_per_part=4000))
    assert whole.count(b"\r\n") == 1 + 20_000
