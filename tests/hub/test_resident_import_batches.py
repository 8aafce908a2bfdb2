"""Resident import staged in batches (here of a row or two: the file is read in blocks of 64 bytes) while
the file is still being read: a bad row or a voucher conflict anywhere in the file leaves nothing applied,
counts and digests are right, and vouchers moving between residents work whatever their order in the file."""

from __future__ import annotations

import datetime as dt
import functools
import io
import threading
import time
from typing import Any

import psycopg
import pytest

from hub.api.services import residents as resident_service
from hub.api.services.residents import ResidentImportResult, import_residents
from hub.db import residents as residents_db
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from hub.files import scan_resident_copy
from hub.keys import my_number_hmac
from protocol.check_digits import my_number_check_digit
from tests.hub.api.files import resident_csv, resident_line

CODE = "131016"
SECRET = bytes(range(32))


@pytest.fixture(autouse=True)
def _small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # A COPY batch is one block of the file: blocks shorter than a row make a batch of every row or two.
    monkeypatch.setattr(resident_service, "scan_resident_copy", functools.partial(scan_resident_copy, chunk_size=64))
    # A first import's digests then go in by a COPY of their own every few batches, between residents' COPYs.
    monkeypatch.setattr(residents_db, "_DIGEST_SEGMENT", 150)


def _import(dsn: str, lines: list[str], mode: str = "diff") -> ResidentImportResult:
    with connect(dsn, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        return import_residents(conn, municipality_code=CODE, stream=io.BytesIO(resident_csv(lines)),
                                mode=mode, dry_run=False, secret=SECRET,  # type: ignore[arg-type]
                                today=dt.date(2021, 8, 1), actor="test")


def _residents(dsn: str) -> list[tuple[object, ...]]:
    with connect(dsn, None) as conn:
        return conn.execute("SELECT atena_no, voucher_no, name FROM residents ORDER BY atena_no").fetchall()


def test_a_bad_row_in_a_later_batch_leaves_everything_out(hub_db: str) -> None:
    lines = [resident_line(CODE, f"A{i:03d}", f"{i:010d}", my_number="123456789018" if i == 1 else "")
             for i in range(1, 6)]
    lines.append(resident_line(CODE, "A099", "0000000099", birth="20990101"))
    result = _import(hub_db, lines)
    assert not result.ok and not result.applied
    assert result.errors == ["line 7, 生年月日: 2099-01-01 is in the future"]
    assert _residents(hub_db) == []
    with connect(hub_db, None) as conn:
        assert conn.execute("SELECT count(*) FROM my_number_hashes").fetchone() == (0,)
        # The rows already copied into the municipality's new tables went with them.
        assert _tables_of(conn) == []


def _tables_of(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relname LIKE %s", (f"%{CODE}%",))]


def test_a_first_file_with_a_wrong_header_leaves_no_tables(hub_db: str) -> None:
    data = resident_csv([resident_line(CODE, "A001", "0000000001")]).replace("氏名カナ".encode(), "カナ".encode(), 1)
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        result = import_residents(conn, municipality_code=CODE, stream=io.BytesIO(data), mode="diff", dry_run=False,
                                  secret=SECRET, today=dt.date(2021, 8, 1), actor="test")
    assert not result.ok and result.error_count == 1 and "氏名カナ" in result.errors[0]
    with connect(hub_db, None) as conn:
        assert _tables_of(conn) == []
    assert _import(hub_db, [resident_line(CODE, "A001", "0000000001")]).inserted == 1


def test_a_first_files_digests_from_every_batch_land_with_their_residents(hub_db: str) -> None:
    numbers = {f"A{i:03d}": f"{i:011d}" + my_number_check_digit(f"{i:011d}") for i in range(1, 41, 3)}
    lines = [resident_line(CODE, f"A{i:03d}", f"{i:010d}", my_number=numbers.get(f"A{i:03d}", ""))
             for i in range(1, 41)]
    result = _import(hub_db, lines)
    assert (result.ok, result.inserted) == (True, 40)
    with connect(hub_db, None) as conn:
        assert conn.execute(f"SELECT count(*) FROM ONLY my_number_hashes_{CODE}").fetchone() == (len(numbers),)
        assert conn.execute("SELECT atena_no, hmac FROM my_number_hashes ORDER BY atena_no").fetchall() == [
            (atena, my_number_hmac(SECRET, number)) for atena, number in sorted(numbers.items())]


def test_new_residents_and_their_digests_go_in_with_the_right_counts(hub_db: str) -> None:
    first = _import(hub_db, [resident_line(CODE, "A001", "0000000001", my_number="123456789018"),
                             resident_line(CODE, "A002", "0000000002")])
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    with connect(hub_db, None) as conn:
        assert conn.execute("SELECT atena_no, hmac FROM my_number_hashes").fetchall() == [
            ("A001", my_number_hmac(SECRET, "123456789018"))]
    again = _import(hub_db, [resident_line(CODE, "A001", "0000000001", my_number="123456789018"),
                             resident_line(CODE, "A002", "0000000002", name="山田 次郎"),
                             resident_line(CODE, "A003", "0000000003")])
    assert (again.inserted, again.updated, again.unchanged) == (1, 1, 1)


def test_a_later_file_replaces_a_changed_digest_adds_a_new_one_and_keeps_the_rest(hub_db: str) -> None:
    assert _import(hub_db, [resident_line(CODE, "A001", "0000000001", my_number="123456789018"),
                            resident_line(CODE, "A002", "0000000002"),
                            resident_line(CODE, "A003", "0000000003", my_number="234567890121")]).ok
    later = [resident_line(CODE, "A001", "0000000001", my_number="345678901234"),
             resident_line(CODE, "A002", "0000000002", my_number="456789012346"),
             resident_line(CODE, "A003", "0000000003", my_number="234567890121")]
    assert _import(hub_db, later).ok
    with connect(hub_db, None) as conn:
        assert conn.execute("SELECT atena_no, hmac FROM my_number_hashes ORDER BY atena_no").fetchall() == [
            ("A001", my_number_hmac(SECRET, "345678901234")), ("A002", my_number_hmac(SECRET, "456789012346")),
            ("A003", my_number_hmac(SECRET, "234567890121"))]


def test_vouchers_swapped_across_batches_and_a_new_resident_taking_a_freed_one(hub_db: str) -> None:
    assert _import(hub_db, [resident_line(CODE, "A001", "0000000001"),
                            resident_line(CODE, "A002", "0000000002")]).ok
    # The new resident comes first and takes 0000000001, which A001 gives up two batches later.
    result = _import(hub_db, [resident_line(CODE, "A003", "0000000001"),
                              resident_line(CODE, "A002", "0000000003"),
                              resident_line(CODE, "A001", "0000000002")])
    assert result.ok, result.errors
    assert (result.inserted, result.updated) == (1, 2)
    assert [r[:2] for r in _residents(hub_db)] == [("A001", "0000000002"), ("A002", "0000000003"),
                                                   ("A003", "0000000001")]


def test_a_voucher_held_by_a_resident_outside_the_file_refuses_everything(hub_db: str) -> None:
    assert _import(hub_db, [resident_line(CODE, "A001", "0000000001")]).ok
    result = _import(hub_db, [resident_line(CODE, "A002", "0000000002"),
                              resident_line(CODE, "A003", "0000000001")])
    assert not result.applied
    assert result.errors == ["line 3, 接種券番号: 0000000001 already belongs to resident A001 (not in this file);"
                             " correct the number or include that resident"]
    assert [r[0] for r in _residents(hub_db)] == ["A001"]


def test_a_resident_changing_to_a_voucher_held_outside_the_file_refuses_everything(hub_db: str) -> None:
    assert _import(hub_db, [resident_line(CODE, "A001", "0000000001"), resident_line(CODE, "A002", "0000000002"),
                            resident_line(CODE, "A003", "0000000003")]).ok
    # A002 is already a resident, and its other fields stay as they were; A003 is unchanged.
    result = _import(hub_db, [resident_line(CODE, "A003", "0000000003"),
                              resident_line(CODE, "A002", "0000000001")])
    assert not result.applied
    assert result.errors == ["line 3, 接種券番号: 0000000001 already belongs to resident A001 (not in this file);"
                             " correct the number or include that resident"]
    assert [r[:2] for r in _residents(hub_db)] == [("A001", "0000000001"), ("A002", "0000000002"),
                                                   ("A003", "0000000003")]


def test_a_full_file_adds_changes_and_flags_in_one_go_and_a_flagged_resident_comes_back(hub_db: str) -> None:
    other = "271004"  # 大阪市: its residents share the 宛名番号 and are never flagged by this file
    with connect(hub_db, None) as conn:
        conn.execute("INSERT INTO residents (municipality_code, atena_no, name) VALUES (%s, 'A003', 'x'),"
                     " (%s, 'A009', 'y')", (other, other))
    assert _import(hub_db, [resident_line(CODE, f"A{i:03d}", f"{i:010d}") for i in range(1, 5)]).ok
    # A001 unchanged, A002 renamed, A005 new; A003 and A004 left out.
    result = _import(hub_db, [resident_line(CODE, "A001", "0000000001"),
                              resident_line(CODE, "A002", "0000000002", name="山田 次郎"),
                              resident_line(CODE, "A005", "0000000005")], mode="full")
    assert result.applied, result.errors
    assert (result.inserted, result.updated, result.unchanged, result.flagged_missing) == (1, 1, 1, 2)

    def statuses() -> dict[tuple[str, str], str]:
        with connect(hub_db, None) as conn:
            return {(str(m), str(a)): str(s) for m, a, s in conn.execute(
                "SELECT municipality_code, atena_no, status FROM residents")}

    missing = "missing_from_full_import"
    assert statuses() == {(CODE, "A001"): "active", (CODE, "A002"): "active", (CODE, "A003"): missing,
                          (CODE, "A004"): missing, (CODE, "A005"): "active",
                          (other, "A003"): "active", (other, "A009"): "active"}
    # Listed again, A003 is active again; a file in diff mode flags no one.
    again = _import(hub_db, [resident_line(CODE, "A003", "0000000003")])
    assert (again.inserted, again.updated, again.flagged_missing) == (0, 1, 0)
    assert statuses()[(CODE, "A003")] == "active" and statuses()[(CODE, "A001")] == "active"


def test_two_clerks_importing_at_once_both_succeed_one_after_the_other(hub_db: str) -> None:
    # A first import inserts plainly: a second one starting meanwhile must wait for it, then find the
    # residents it added (and not fail on a duplicate 宛名番号).
    first_file = [resident_line(CODE, "A001", "0000000001", my_number="123456789018"),
                  resident_line(CODE, "A002", "0000000002")]
    second_file = [resident_line(CODE, "A001", "0000000001", my_number="123456789018"),
                   resident_line(CODE, "A002", "0000000002", name="山田 次郎")]
    second: list[ResidentImportResult] = []
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        first = import_residents(conn, municipality_code=CODE, stream=io.BytesIO(resident_csv(first_file)),
                                 mode="diff", dry_run=False, secret=SECRET, today=dt.date(2021, 8, 1), actor="a")
        worker = threading.Thread(target=lambda: second.append(_import(hub_db, second_file)))
        worker.start()
        with connect(hub_db, None) as watcher:
            for _ in range(3000):  # up to 30 s for the second import to reach the lock
                waiting = watcher.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity"
                                          " WHERE wait_event_type = 'Lock'").fetchall()
                if waiting or not worker.is_alive():
                    break
                time.sleep(0.01)
            # It waits for this import to end (a wait on a row or a key of ours would be too late).
            assert waiting == [("Lock", "advisory")]
    worker.join()
    assert (first.inserted, first.updated) == (2, 0)
    assert second[0].ok, second[0].errors
    assert (second[0].inserted, second[0].updated, second[0].unchanged) == (0, 1, 1)
    assert [r[2] for r in _residents(hub_db)] == ["山田 太郎", "山田 次郎"]


@pytest.mark.fault
def test_a_first_import_whose_connection_dies_mid_file_fails_at_once_and_stops_reading(hub_db: str) -> None:
    lines = [resident_line(CODE, f"A{i:04d}", f"{i:010d}") for i in range(1, 401)]
    killed: list[int] = []
    with connect(hub_db, "vrs_api") as conn:
        pid = conn.info.backend_pid

        def kill_at_row_50(rows_done: int, _bytes_done: int, _total: int | None) -> None:
            if rows_done >= 50 and not killed:
                with connect(hub_db, None) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                killed.append(rows_done)

        with pytest.raises(psycopg.OperationalError), scoped(conn, Scope.municipality(CODE)):
            import_residents(conn, municipality_code=CODE, stream=io.BytesIO(resident_csv(lines)), mode="diff",
                             dry_run=False, secret=SECRET, today=dt.date(2021, 8, 1), actor="test",
                             progress=kill_at_row_50)
    assert killed
    # The file is no longer read once the import has failed.
    assert [t.name for t in threading.enumerate() if t.name == "resident-file-reader"] == []
    assert _residents(hub_db) == []
    with connect(hub_db, None) as conn:
        assert _tables_of(conn) == []
