"""The ledger's stored rows (migration 0066, hub.db.ledger): every change of a record marks its person in
the change's own transaction, an export is right whether or not the rows were stored since, a change
committed while rows are being stored is never lost, and the stored rows keep to their municipality."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
import pytest

from hub.api.services.exports import csv_chunks
from hub.db import export as export_db
from hub.db import ledger as ledger_db
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from hub.files.export import write_ledger

CODE = "131016"
OTHER = "131024"
INSERT = (
    "INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, status, administered_on, venue_id,"
    " maker, lot, doctor, read_source, scanned_at, atena_no) VALUES (%s, %s, %s, %s, 'vaccinated', %s, 'v-1',"
    " 'pfizer', %s, '山田', 'qr', now(), %s)"
)


def _dose(conn: psycopg.Connection[Any], code: str, person: int, dose: int, lot: str) -> None:
    day = dt.date(2021, 6, 1) + dt.timedelta(days=21 * dose)
    conn.execute(INSERT, (code, f"{person:010d}", dose, uuid.uuid4(), day, lot, f"A{person:03d}"))


def _load(dsn: str) -> None:
    with connect(dsn, None) as conn, conn.transaction():
        conn.execute("INSERT INTO venues (venue_id, municipality_code, name) VALUES ('v-1', %s, '第一会場')", (CODE,))
        for person in range(1, 21):
            for dose in (1, 2):
                _dose(conn, CODE, person, dose, f"L{person}-{dose}")
        _dose(conn, OTHER, 1, 1, "SECRET")


def _export(dsn: str, code: str = CODE) -> str:
    with connect(dsn, "vrs_api") as conn, scoped(conn, Scope.municipality(code)):
        return b"".join(csv_chunks(conn, code, "ledger", "utf-8")).decode("utf-8-sig")


def _expected(dsn: str) -> str:
    with connect(dsn, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        doses = max(2, export_db.max_dose(conn, CODE))
        return b"".join(write_ledger(export_db.ledger_records(conn, CODE), doses, "utf-8")).decode("utf-8-sig")


def _marked(dsn: str, code: str = CODE) -> int:
    with connect(dsn, None) as conn:
        row = conn.execute("SELECT count(DISTINCT a) FROM ledger_stale, unnest(atena_nos) AS a"
                           " WHERE municipality_code = %s", (code,)).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_every_change_marks_its_person_and_the_export_follows(hub_db: str) -> None:
    _load(hub_db)
    assert _marked(hub_db) == 20  # new records
    first = _export(hub_db)
    assert _marked(hub_db) == 0 and first == _expected(hub_db) and "L7-2" in first
    with connect(hub_db, None) as conn:
        conn.execute("UPDATE vaccinations SET lot = 'FIXED' WHERE voucher_no = '0000000007' AND dose = 2")
        conn.execute("DELETE FROM vaccinations WHERE voucher_no = '0000000008' AND dose = 2")
        conn.execute("UPDATE vaccinations SET status = 'screened_only' WHERE voucher_no = '0000000009'")
        _dose(conn, CODE, 10, 3, "THIRD")
        conn.execute("UPDATE vaccinations SET doctor = doctor WHERE voucher_no = '0000000011' AND dose = 1")
    assert _marked(hub_db) == 5
    second = _export(hub_db)
    assert second == _expected(hub_db)
    assert "FIXED" in second and "L7-2" not in second and "L8-2" not in second and "A009" not in second
    assert "THIRD" in second and second.splitlines()[0].count("回目接種日") == 3
    with connect(hub_db, None) as conn:
        conn.execute("UPDATE venues SET name = '改名会場' WHERE venue_id = 'v-1'")
    assert _marked(hub_db) == 19  # everyone still vaccinated at the venue, whatever their municipality
    assert _marked(hub_db, OTHER) == 1
    third = _export(hub_db)
    assert third == _expected(hub_db) and "第一会場" not in third and third.count("改名会場") == 38
    # Nothing changed: nothing to rebuild, the same bytes.
    assert _export(hub_db) == third and _marked(hub_db) == 0


def test_a_change_committed_while_rows_are_stored_is_not_lost(hub_db: str) -> None:
    _load(hub_db)
    _export(hub_db)
    with connect(hub_db, None) as writer:
        writer.execute("BEGIN")
        _dose(writer, CODE, 3, 3, "LATE")  # its mark is not committed yet: the refresh cannot see it
        with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
            assert ledger_db.refresh(conn, CODE) == 0
        writer.execute("COMMIT")
    assert _marked(hub_db) == 1
    with connect(hub_db, "vrs_api") as conn, export_db.export_transaction(conn, Scope.municipality(CODE)):
        # Without a refresh: the stored rows of everyone else, the marked person's row from the records.
        query = ledger_db.ledger_query(CODE, 3)
        unrefreshed = b"".join(export_db.copy_csv(conn, query, rendered=True)).decode()
    assert "LATE" in unrefreshed and unrefreshed.count("\n") == 20
    assert "LATE" in _export(hub_db) and _marked(hub_db) == 0


def test_stored_rows_keep_to_their_municipality(hub_db: str) -> None:
    _load(hub_db)
    _export(hub_db)
    _export(hub_db, OTHER)
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        seen = conn.execute("SELECT DISTINCT municipality_code FROM ledger_rows").fetchall()
        asked = conn.execute("SELECT count(*) FROM ledger_rows WHERE municipality_code = %s", (OTHER,)).fetchone()
        stolen = b"".join(export_db.copy_csv(conn, ledger_db.ledger_query(OTHER, 2), rendered=True))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO ledger_rows (municipality_code, atena_no, doses, line)"
                         " VALUES (%s, 'A001', 1, 'A001,forged')", (OTHER,))
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)), \
            pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("INSERT INTO ledger_stale (municipality_code, atena_nos) VALUES (%s, '{A001}')", (CODE,))
    with connect(hub_db, None) as conn:
        conn.execute("UPDATE vaccinations SET lot = 'MARKED' WHERE municipality_code = %s AND voucher_no = '0000000001'"
                     " AND dose = 1", (CODE,))
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(OTHER)):
        refreshed_elsewhere = ledger_db.refresh(conn, CODE)  # another municipality's marks are not its to clear
    assert seen == [(CODE,)] and asked == (0,) and stolen == b"" and refreshed_elsewhere == 0
    assert _marked(hub_db) == 1
    assert "SECRET" in _export(hub_db, OTHER) and "SECRET" not in _export(hub_db)


def test_records_truncated_leave_no_stored_row(hub_db: str) -> None:
    _load(hub_db)
    assert _export(hub_db).count("\r\n") == 21
    with connect(hub_db, None) as conn:
        conn.execute("TRUNCATE vaccinations CASCADE")
        left = conn.execute("SELECT (SELECT count(*) FROM ledger_rows), (SELECT count(*) FROM ledger_stale)").fetchone()
    assert left == (0, 0)
    assert _export(hub_db).count("\r\n") == 1  # the header alone


def test_a_large_rebuild_renews_the_tables_statistics(hub_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _load(hub_db)
    monkeypatch.setattr(ledger_db, "ANALYZE_AFTER", 20)

    def analyzed() -> object:
        with connect(hub_db, None) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'ledger_rows'").fetchone()
        return row

    before = analyzed()
    _export(hub_db)  # 20 people rebuilt: the statistics are renewed as the owner, whoever downloads
    after = analyzed()
    assert before == (0,) and after == (1,)
