"""Each database role can do what its process needs and nothing more, proven against the real server."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from hub.db.connect import connect
from hub.db.migrate import available, migrate
from hub.db.scoped import Scope, scoped
from hub.errors import ScopeError

A, B = "131016", "271004"  # 千代田区, 大阪市
PERSONAL = ("residents", "my_number_hashes", "vaccinations", "vaccination_history", "audit_log")


def _seed(dsn: str) -> None:
    """Two municipalities' residents and records, one venue in each (inserted as the superuser)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO venues VALUES ('v-a', %s, 'A hall'), ('v-b', %s, 'B hall')", (A, B))
        for muni, n in ((A, "1"), (B, "2")):
            conn.execute(
                "INSERT INTO residents (municipality_code, atena_no, voucher_no, name) VALUES (%s, %s, %s, %s)",
                (muni, f"atena-{n}", n * 10, f"person {n}"),
            )
            conn.execute("INSERT INTO my_number_hashes VALUES (%s, %s, %s)", (muni, f"atena-{n}", n.encode() * 32))
            for venue in ("v-a", "v-b"):
                # A's resident vaccinated at B's venue and the other way round (Q6): both venues see both.
                dose = 1 if venue == "v-a" else 2
                rid = f"00000000-0000-7000-8000-00000000{n}{dose}{'0' * 2}"
                for table in ("vaccination_history", "vaccinations"):
                    extra = ", op" if table == "vaccination_history" else ""
                    conn.execute(
                        f"INSERT INTO {table} (municipality_code, voucher_no, dose, record_id, status,"
                        f" administered_on, venue_id, maker, lot, doctor, read_source, scanned_at{extra})"
                        f" VALUES (%s, %s, %s, %s, 'vaccinated', '2021-06-01', %s, 'pfizer', 'L1', 'Dr',"
                        f" 'qr', now(){', %s' if extra else ''})",
                        (muni, n * 10, dose, rid, venue, *(("register",) if extra else ())),
                    )
            conn.execute("INSERT INTO audit_log (municipality_code, actor, action) VALUES (%s, 'x', 'y')", (muni,))


def _count(conn: psycopg.Connection, table: str, where: str = "true") -> int:
    row = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])


def test_migrate_twice_applies_nothing_new(hub_db: str) -> None:
    with connect(hub_db, None) as conn:
        assert migrate(conn) == []
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [m.version for m in available()]
        assert _count(conn, "municipalities") > 1900
        assert _count(conn, "municipalities", f"code = '{A}' AND NOT is_ward") == 1


def test_personal_tables_have_forced_row_level_security(hub_db: str) -> None:
    with psycopg.connect(hub_db) as conn:
        rows = conn.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(%s)",
            (list(PERSONAL),),
        ).fetchall()
    assert sorted(rows) == sorted((t, True, True) for t in PERSONAL)


def test_reader_sees_only_aggregate_views(hub_db: str) -> None:
    _seed(hub_db)
    with connect(hub_db, "vrs_reader") as conn:
        for table in (*PERSONAL, "hourly_aggregates", "devices", "seen_records"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"SELECT 1 FROM {table} LIMIT 1")
        for view in ("agg_hourly", "agg_daily", "agg_municipalities"):
            conn.execute(f"SELECT * FROM {view} LIMIT 1")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("INSERT INTO hourly_aggregates VALUES (now(), '13', %s, 'v', 'pfizer', 1, 'vaccinated', 1)",
                         (A,))


CRAFTED = [
    "residents",
    f"residents WHERE municipality_code = '{B}'",
    f"residents WHERE municipality_code = '{B}' OR true",
    f"(SELECT * FROM residents UNION ALL SELECT * FROM residents WHERE municipality_code <> '{A}') r",
    "vaccinations",
    f"vaccinations WHERE municipality_code = '{B}' OR 1 = 1",
    "vaccination_history",
    "my_number_hashes",
    "audit_log",
]


@pytest.mark.parametrize("source", CRAFTED)
def test_api_scoped_to_one_municipality_never_sees_another(hub_db: str, source: str) -> None:
    _seed(hub_db)
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(A)):
        munis = {r[0] for r in conn.execute(f"SELECT municipality_code FROM {source}")}
        assert _count(conn, source.split()[0] if source[0] != "(" else "residents") > 0  # the scope works
    assert B not in munis
    assert munis <= {A}


def test_api_cannot_write_into_another_municipality(hub_db: str) -> None:
    _seed(hub_db)
    with connect(hub_db, "vrs_api") as conn:
        with pytest.raises(errors.InsufficientPrivilege), scoped(conn, Scope.municipality(A)):
            conn.execute("INSERT INTO residents (municipality_code, atena_no, name) VALUES (%s, 'z', 'z')", (B,))
        with scoped(conn, Scope.municipality(A)):
            assert conn.execute("UPDATE residents SET name = 'hacked'").rowcount == 1
            assert conn.execute("DELETE FROM vaccinations WHERE municipality_code = %s", (B,)).rowcount == 0
        with pytest.raises(errors.InsufficientPrivilege), scoped(conn, Scope.municipality(A)):
            conn.execute("UPDATE residents SET municipality_code = %s", (B,))
    with psycopg.connect(hub_db) as conn:
        assert _count(conn, "residents", "name = 'hacked'") == 1
        assert _count(conn, "vaccinations", f"municipality_code = '{B}'") == 2


@pytest.mark.parametrize("role", ["vrs_api", "vrs_ingest"])
def test_no_scope_no_rows(hub_db: str, role: str) -> None:
    _seed(hub_db)
    with connect(hub_db, role) as conn:  # type: ignore[arg-type]
        for table in ("residents", "vaccinations", "vaccination_history"):
            assert _count(conn, table) == 0
        # A scope ends with its transaction: the same connection sees nothing afterwards.
        with scoped(conn, Scope.ingest() if role == "vrs_ingest" else Scope.municipality(A)):
            assert _count(conn, "residents") > 0
        assert _count(conn, "residents") == 0


def test_venue_scope_sees_records_made_there_of_any_municipality_and_no_residents(hub_db: str) -> None:
    _seed(hub_db)
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.venue("v-a", A)):
        rows = conn.execute("SELECT municipality_code, venue_id FROM vaccinations ORDER BY 1").fetchall()
        assert rows == [(A, "v-a"), (B, "v-a")]
        assert _count(conn, "residents") == 0
        assert _count(conn, "my_number_hashes") == 0
        assert conn.execute("UPDATE vaccinations SET lot = 'x'").rowcount == 0


def test_operator_scope_sees_no_personal_data(hub_db: str) -> None:
    _seed(hub_db)
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.operator()):
        for table in PERSONAL:
            assert _count(conn, table) == 0, table
        assert _count(conn, "venues") == 2


def test_ingest_reads_residents_writes_records_but_not_residents_or_audit(hub_db: str) -> None:
    _seed(hub_db)
    with connect(hub_db, "vrs_ingest") as conn:
        with scoped(conn, Scope.ingest()):
            assert _count(conn, "residents") == 2
            assert _count(conn, "vaccinations") == 4
        for statement in ("UPDATE residents SET name = 'x'", "SELECT 1 FROM audit_log",
                          "SELECT 1 FROM my_number_hashes", "DELETE FROM vaccination_history"):
            with pytest.raises(errors.InsufficientPrivilege), scoped(conn, Scope.ingest()):
                conn.execute(statement)


def test_history_and_audit_log_are_append_only_even_for_the_owner(hub_db: str) -> None:
    _seed(hub_db)
    with psycopg.connect(hub_db, autocommit=True) as conn:
        for statement in ("UPDATE vaccination_history SET lot = 'x'", "DELETE FROM vaccination_history",
                          "UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)


def test_audit_log_rows_chain_by_hash(hub_db: str) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:
        for action in ("a", "b", "c"):
            conn.execute("INSERT INTO audit_log (municipality_code, actor, action) VALUES (%s, 'me', %s)", (A, action))
        rows = conn.execute(
            "SELECT seq, prev_hash, row_hash, vrs_audit_row_hash(a) FROM audit_log a ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == [1, 2, 3]
    assert rows[0][1] == "0" * 64
    assert all(rows[i][1] == rows[i - 1][2] for i in (1, 2))
    assert all(r[2] == r[3] for r in rows)


def test_incomplete_scope_is_refused_before_touching_the_database(hub_db: str) -> None:
    with connect(hub_db, "vrs_api") as conn:
        with pytest.raises(ScopeError), scoped(conn, Scope("municipality")):
            pass
        with pytest.raises(ScopeError), scoped(conn, Scope("venue", municipality_code=A)):
            pass
