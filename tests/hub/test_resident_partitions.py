"""A municipality's first resident file becomes a partition of its own (migration 0064): loaded, indexed and
attached inside the import's transaction, reachable only through the parents and their row-level security,
and gone again when the import is not applied. Proven on the server."""

from __future__ import annotations

import datetime as dt
import io
import threading

import psycopg
import pytest
from psycopg import errors

from hub.api.services.residents import ResidentImportResult, import_residents
from hub.db.connect import connect
from hub.db.migrate import migrate
from hub.db.scoped import Scope, scoped
from hub.keys import my_number_hmac
from tests.hub.api.files import resident_csv, resident_line

A, B = "131016", "271004"  # 千代田区, 大阪市
SECRET = bytes(range(32))


def _lines(code: str, n: int, *, prefix: str = "A") -> list[str]:
    return [resident_line(code, f"{prefix}{i:04d}", f"{i:010d}", my_number="123456789018" if i == 1 else "")
            for i in range(1, n + 1)]


def _import(dsn: str, code: str, lines: list[str], *, mode: str = "diff",
            dry_run: bool = False) -> ResidentImportResult:
    with connect(dsn, "vrs_api") as conn, scoped(conn, Scope.municipality(code)):
        return import_residents(conn, municipality_code=code, stream=io.BytesIO(resident_csv(lines)),
                                mode=mode, dry_run=dry_run, secret=SECRET,  # type: ignore[arg-type]
                                today=dt.date(2021, 8, 1), actor="test")


def _partitions(dsn: str) -> dict[str, list[str]]:
    """Each parent's partitions, by name."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT p.relname, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname IN ('residents', 'my_number_hashes')"
            " ORDER BY 1, 2").fetchall()
    found: dict[str, list[str]] = {}
    for parent, child in rows:
        found.setdefault(parent, []).append(child)
    return found


def _tables_named(dsn: str, code: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relname LIKE %s ORDER BY 1",
                                           (f"%{code}%",))]


def test_a_first_import_lands_in_the_municipalitys_own_partition_behind_the_same_security(hub_db: str) -> None:
    result = _import(hub_db, A, _lines(A, 30))
    assert result.applied and result.inserted == 30
    assert _partitions(hub_db) == {
        "my_number_hashes": [f"my_number_hashes_{A}", "my_number_hashes_default"],
        "residents": [f"residents_{A}", "residents_default"]}
    with psycopg.connect(hub_db) as conn:
        assert conn.execute(f"SELECT count(*) FROM ONLY residents_{A}").fetchone() == (30,)
        # The parent's indexes were adopted from the ones built after the load, not built again.
        assert sorted(r[0] for r in conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
            (f"residents_{A}",))) == [f"residents_{A}_kana_c", f"residents_{A}_pkey", f"residents_{A}_voucher"]
    with connect(hub_db, "vrs_api") as conn:
        with scoped(conn, Scope.municipality(A)):
            assert conn.execute("SELECT count(*) FROM residents").fetchone() == (30,)
            assert conn.execute("SELECT atena_no, hmac FROM my_number_hashes").fetchall() == [
                ("A0001", my_number_hmac(SECRET, "123456789018"))]
            # The voucher stays unique within the municipality, now enforced by the partition's index.
            with pytest.raises(errors.UniqueViolation):
                conn.execute("INSERT INTO residents (municipality_code, atena_no, voucher_no, name)"
                             " VALUES (%s, 'X1', '0000000001', 'x')", (A,))
        with scoped(conn, Scope.municipality(B)):
            assert conn.execute("SELECT count(*) FROM residents").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM my_number_hashes").fetchone() == (0,)


def test_a_later_import_into_a_partitioned_municipality_updates_inserts_and_flags(hub_db: str) -> None:
    assert _import(hub_db, A, _lines(A, 5)).applied
    later = _lines(A, 4)
    later[1] = resident_line(A, "A0002", "0000000002", name="山田 次郎", my_number="234567890121")
    later.append(resident_line(A, "A0006", "0000000006"))
    diff = _import(hub_db, A, later)
    assert (diff.inserted, diff.updated, diff.unchanged) == (1, 1, 3)
    full = _import(hub_db, A, later, mode="full")
    assert (full.inserted, full.updated, full.flagged_missing) == (0, 0, 1)
    assert _partitions(hub_db)["residents"] == [f"residents_{A}", "residents_default"]
    with psycopg.connect(hub_db) as conn:
        assert conn.execute(f"SELECT count(*) FROM ONLY residents_{A}").fetchone() == (6,)
        assert conn.execute("SELECT count(*) FROM ONLY residents_default").fetchone() == (0,)
        assert conn.execute(f"SELECT atena_no FROM my_number_hashes_{A} ORDER BY 1").fetchall() == [
            ("A0001",), ("A0002",)]
        assert conn.execute("SELECT name FROM residents WHERE atena_no = 'A0002'").fetchone() == ("山田 次郎",)


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_dry_run_or_a_file_with_errors_leaves_no_partition(hub_db: str, dry_run: bool) -> None:
    lines = _lines(A, 3)
    if not dry_run:
        lines.append(resident_line(A, "A0099", "0000000099", birth="20990101"))
    result = _import(hub_db, A, lines, dry_run=dry_run)
    assert result.ok == dry_run and not result.applied
    assert (result.inserted, result.error_count) == ((3, 0) if dry_run else (0, 1))
    assert _tables_named(hub_db, A) == []
    assert _partitions(hub_db)["residents"] == ["residents_default"]
    # The municipality's real first import afterwards still gets its partition.
    assert _import(hub_db, A, _lines(A, 3)).applied
    assert f"residents_{A}" in _partitions(hub_db)["residents"]


def test_a_clerk_of_one_municipality_cannot_create_or_attach_anothers_tables(hub_db: str) -> None:
    with connect(hub_db, "vrs_api") as conn:
        for call in ("vrs_resident_partition_open", "vrs_resident_partition_attach"):
            with pytest.raises(errors.InsufficientPrivilege, match="only in that municipality's scope"), \
                    scoped(conn, Scope.municipality(A)):
                conn.execute(f"SELECT {call}(%s)", (B,))
            with pytest.raises(errors.InsufficientPrivilege), scoped(conn, Scope.operator()):
                conn.execute(f"SELECT {call}(%s)", (B,))
    assert _tables_named(hub_db, B) == []


def test_the_api_role_cannot_name_a_partition(hub_db: str) -> None:
    assert _import(hub_db, A, _lines(A, 3)).applied
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute("INSERT INTO residents (municipality_code, atena_no, name) VALUES (%s, 'B1', 'b')", (B,))
    partitions = [f"residents_{A}", f"my_number_hashes_{A}", "residents_default", "my_number_hashes_default"]
    with connect(hub_db, "vrs_api") as conn:
        for table in partitions:
            for statement in (f"SELECT count(*) FROM {table}",
                              f"INSERT INTO {table} (municipality_code, atena_no) SELECT '{A}', 'Z' WHERE false",
                              f"UPDATE {table} SET atena_no = atena_no", f"DELETE FROM {table}"):
                with pytest.raises(errors.InsufficientPrivilege), scoped(conn, Scope.municipality(A)):
                    conn.execute(statement)
        with scoped(conn, Scope.municipality(A)):
            assert conn.execute("SELECT count(*) FROM residents").fetchone() == (3,)


def test_digests_loaded_into_a_partition_must_name_its_residents(hub_db: str) -> None:
    """The load goes in as the caller: a caller that slips in a stray digest gets nothing attached."""
    with connect(hub_db, "vrs_api") as conn:
        with pytest.raises(errors.ForeignKeyViolation, match="no resident 'ghost'"), \
                scoped(conn, Scope.municipality(A)):
            assert conn.execute("SELECT vrs_resident_partition_open(%s)", (A,)).fetchone() == (True,)
            conn.execute(f"INSERT INTO residents_{A} (municipality_code, atena_no, name) VALUES (%s, 'A1', 'a')",
                         (A,))
            conn.execute(f"INSERT INTO my_number_hashes_{A} VALUES (%s, 'ghost', %s)", (A, bytes(32)))
            conn.execute("SELECT vrs_resident_partition_attach(%s)", (A,))
        with pytest.raises(errors.CheckViolation), scoped(conn, Scope.municipality(A)):
            conn.execute("SELECT vrs_resident_partition_open(%s)", (A,))
            conn.execute(f"INSERT INTO residents_{A} (municipality_code, atena_no, name) VALUES (%s, 'B1', 'b')",
                         (B,))
    assert _tables_named(hub_db, A) == []


def test_a_municipality_whose_tables_exist_already_imports_through_the_parents(hub_db: str) -> None:
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(A)):
        conn.execute("SELECT vrs_resident_partition_open(%s)", (A,))
        conn.execute("SELECT vrs_resident_partition_attach(%s)", (A,))
    result = _import(hub_db, A, _lines(A, 4))
    assert result.applied and result.inserted == 4
    with psycopg.connect(hub_db) as conn:
        assert conn.execute(f"SELECT count(*) FROM ONLY residents_{A}").fetchone() == (4,)
        assert conn.execute(f"SELECT count(*) FROM my_number_hashes_{A}").fetchone() == (1,)


def test_a_municipality_with_residents_in_the_default_partition_stays_there(hub_db: str) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute("INSERT INTO residents (municipality_code, atena_no, name) VALUES (%s, 'A0001', 'a')", (A,))
    result = _import(hub_db, A, _lines(A, 3))
    assert (result.inserted, result.updated) == (2, 1)
    assert _tables_named(hub_db, A) == []
    with psycopg.connect(hub_db) as conn:
        assert conn.execute("SELECT count(*) FROM ONLY residents_default").fetchone() == (3,)


def test_two_first_imports_of_different_municipalities_at_once_both_land(hub_db: str) -> None:
    results: dict[str, ResidentImportResult] = {}
    failures: list[BaseException] = []

    def run(code: str) -> None:
        try:
            results[code] = _import(hub_db, code, _lines(code, 2000))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(code,)) for code in (A, B)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    assert {code: r.inserted for code, r in results.items()} == {A: 2000, B: 2000}
    assert _partitions(hub_db)["residents"] == [f"residents_{A}", f"residents_{B}", "residents_default"]
    for code in (A, B):
        with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(code)):
            assert conn.execute("SELECT count(*) FROM residents").fetchone() == (2000,)


def test_a_table_left_unattached_refuses_the_municipalitys_import_instead_of_hiding_beside_it(hub_db: str) -> None:
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(A)):
        conn.execute("SELECT vrs_resident_partition_open(%s)", (A,))  # committed without being attached
    with pytest.raises(errors.ObjectNotInPrerequisiteState, match=f"_{A} exists but is not attached"):
        _import(hub_db, A, _lines(A, 3))
    with psycopg.connect(hub_db) as conn:
        assert conn.execute("SELECT count(*) FROM residents").fetchone() == (0,)


def _kana_indexes(dsn: str) -> dict[str, str]:
    """The kana indexes on residents and its partitions: name -> definition."""
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
            " WHERE x.indrelid IN (SELECT 'residents'::regclass UNION SELECT inhrelid FROM pg_inherits"
            "  WHERE inhparent = 'residents'::regclass) AND c.relname LIKE '%%kana_c' ORDER BY 1").fetchall())


def test_a_partition_made_before_migration_0068_gets_its_own_kana_index(hub_db: str) -> None:
    assert _import(hub_db, A, _lines(A, 30)).applied
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute("INSERT INTO residents (municipality_code, atena_no, name, name_kana_norm)"
                     " VALUES (%s, 'B1', 'b', 'オオサカ')", (B,))
        # The indexes as migration 0064 left them: one on the parent, the same on every partition.
        conn.execute(f"DROP INDEX residents_{A}_kana_c, residents_default_kana_c")
        conn.execute('CREATE INDEX residents_kana_c ON residents (municipality_code, (name_kana_norm COLLATE "C"),'
                     " atena_no)")
        conn.execute("DELETE FROM schema_migrations WHERE version = 68")
        assert migrate(conn) == ["0068_resident_kana_index_per_partition.sql"]
    assert _kana_indexes(hub_db) == {
        f"residents_{A}_kana_c": f"CREATE INDEX residents_{A}_kana_c ON public.residents_{A} USING btree"
                                 ' (name_kana_norm COLLATE "C", atena_no)',
        "residents_default_kana_c": "CREATE INDEX residents_default_kana_c ON public.residents_default USING btree"
                                    ' (municipality_code, name_kana_norm COLLATE "C", atena_no)'}
    # A later municipality's first file builds its own the same way.
    assert _import(hub_db, "011002", _lines("011002", 5)).applied
    assert _kana_indexes(hub_db)["residents_011002_kana_c"].endswith(' (name_kana_norm COLLATE "C", atena_no)')
