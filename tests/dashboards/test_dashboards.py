"""Dashboards: rendered as committed, every panel's SQL runs as the reader role on a real database and
returns what the panel draws, and the reader can read nothing but aggregates."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from provisioning.grafana import DASHBOARD_SUFFIX, GrafanaPlan, provision_grafana
from tests.dashboards.grafana_sql import MacroError, expand
from tests.hub.conftest import hub_db, hub_template  # noqa: F401  (fixtures shared with the hub tests)

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "provisioning" / "grafana"
NOW = datetime(2021, 7, 15, 12, 0, tzinfo=UTC)
# Tokyo 131016 and 131024 (prefecture 13), Osaka 271004 (prefecture 27).
SEED = """
INSERT INTO venues (venue_id, municipality_code, name) VALUES
    ('v-tokyo', '131016', '千代田区役所'), ('v-osaka', '271004', '大阪市役所');
INSERT INTO devices (device_id, venue_id, public_key_pem, last_batch_at) VALUES
    ('st-1', 'v-tokyo', 'x', %(now)s - interval '1 hour'), ('st-2', 'v-osaka', 'x', %(now)s);
INSERT INTO device_status (device_id, state, queue_depth, version, last_seen_at) VALUES
    ('st-1', 'online', 40, '0.1.0', %(now)s), ('st-2', 'offline', 0, '0.1.0', %(now)s);
INSERT INTO residents (municipality_code, atena_no, voucher_no, name, status) VALUES
    ('131016', 'A1', '0000000001', '山田 太郎', 'active'),
    ('131016', 'A2', '0000000002', '山田 花子', 'active'),
    ('131024', 'B1', '0000000003', '佐藤 一郎', 'active'),
    ('271004', 'C1', '0000000004', '鈴木 次郎', 'moved_out');
INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, status, administered_on, venue_id,
                          maker, lot, doctor, read_source, scanned_at, atena_no) VALUES
    ('131016', '0000000001', 1, gen_random_uuid(), 'vaccinated', '2021-07-01', 'v-tokyo', 'pfizer', 'L1', 'Dr',
     'qr', %(now)s, 'A1'),
    ('131016', '0000000001', 2, gen_random_uuid(), 'vaccinated', '2021-07-14', 'v-tokyo', 'pfizer', 'L1', 'Dr',
     'qr', %(now)s, 'A1'),
    ('131016', '0000000009', 1, gen_random_uuid(), 'vaccinated', '2021-07-14', 'v-tokyo', 'moderna', 'L2', 'Dr',
     'ocr', %(now)s, NULL);
INSERT INTO hourly_aggregates (bucket, prefecture_code, municipality_code, venue_id, maker, dose, status, count)
VALUES
    (%(now)s - interval '14 days', '13', '131016', 'v-tokyo', 'pfizer', 1, 'vaccinated', 1),
    (%(now)s - interval '1 day', '13', '131016', 'v-tokyo', 'pfizer', 2, 'vaccinated', 1),
    (%(now)s - interval '1 day', '13', '131016', 'v-tokyo', 'moderna', 1, 'vaccinated', 1),
    (%(now)s - interval '2 hours', '27', '271004', 'v-osaka', 'astrazeneca', 1, 'screened_only', 3);
INSERT INTO audit_log (municipality_code, actor, action, target, seq, prev_hash, row_hash)
    VALUES ('131016', 'clerk', 'export_records', 'ledger', 0, '', '');
"""
VARIABLES = {"prefecture": "13", "municipality": "131016"}


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((COMMITTED / "dashboards").glob("*.json"))}


def _queries() -> list[tuple[str, str, str, str]]:
    """(dashboard, panel title, format, raw SQL) of every panel target and every variable query."""
    found = []
    for name, board in _dashboards().items():
        for panel in board["panels"]:
            for target in panel["targets"]:
                found.append((name, panel["title"], target["format"], target["rawSql"]))
        for var in board["templating"]["list"]:
            found.append((name, f"variable {var['name']}", "variable", var["query"]))
    return found


QUERIES = _queries()


def test_rendering_reproduces_the_committed_files(tmp_path: Path) -> None:
    plan = GrafanaPlan(out=tmp_path, sources=ROOT / "dashboards")
    provision_grafana(plan)
    rendered = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(COMMITTED) for p in COMMITTED.rglob("*") if p.is_file())
    assert rendered == committed
    for rel in rendered:
        assert (tmp_path / rel).read_text() == (COMMITTED / rel).read_text(), f"{rel} is stale: run make dashboards"
    assert len(list((ROOT / "dashboards").glob("*" + DASHBOARD_SUFFIX))) == 4


def test_make_dashboards_step_is_idempotent(tmp_path: Path) -> None:
    cmd = [str(Path(sys.executable).parent / "vrs-provision"), "grafana", "--out", str(tmp_path),
           "--sources", str(ROOT / "dashboards"), "--timescaledb"]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    second = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert first.count("wrote") == 6 and "kept" not in first
    assert second.count("kept") == 6 and "wrote" not in second
    assert "timescaledb: true" in (tmp_path / "datasources" / "vrs.yaml").read_text()
    assert "VRS_GRAFANA_DB_PASSWORD" in (tmp_path / "datasources" / "vrs.yaml").read_text()


@pytest.mark.parametrize("query", QUERIES, ids=[f"{q[0]}:{q[1][:30]}" for q in QUERIES])
def test_panels_read_only_aggregate_views(query: tuple[str, str, str, str]) -> None:
    sql = query[3]
    # Names after FROM/JOIN, except functions such as extract(epoch FROM now()).
    relations = re.findall(r"\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)\b(?!\s*\()", sql, flags=re.IGNORECASE)
    assert relations, sql
    ctes = set(re.findall(r"\bWITH\s+([a-z_]+)\s+AS", sql, flags=re.IGNORECASE))
    for rel in relations:
        assert rel.startswith("agg_") or rel in ctes, f"{query[1]} reads {rel}"


@pytest.fixture
def seeded(hub_db: str) -> str:  # noqa: F811  (the hub_db fixture imported above)
    with psycopg.connect(hub_db) as conn:
        for statement in filter(str.strip, SEED.split(";")):
            conn.execute(statement, {"now": NOW} if "%(now)s" in statement else None)  # type: ignore[arg-type]
    return hub_db


def _as_reader(dsn: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("SET ROLE vrs_reader")
    return conn


def test_every_panel_runs_as_the_reader_and_returns_what_it_draws(seeded: str) -> None:
    with _as_reader(seeded) as conn:
        for board, title, fmt, raw in QUERIES:
            sql = expand(raw, NOW - timedelta(days=30), NOW, VARIABLES)
            assert "$" not in sql.replace("$$", ""), f"{board} {title}: unexpanded {sql}"
            cur = conn.execute(sql)  # type: ignore[arg-type]  # panel SQL is ours
            cols = [d.name for d in cur.description or []]
            rows = cur.fetchall()
            assert rows, f"{board} {title} shows nothing on seeded data"
            if fmt == "time_series":
                assert cols[0] == "time", (board, title, cols)
                for row in rows:
                    assert all(isinstance(v, (int, float)) or v is None or hasattr(v, "as_integer_ratio")
                               for c, v in zip(cols[1:], row[1:], strict=True) if c != "metric"), (title, row)
            elif fmt == "variable":
                assert cols == ["__value", "__text"], (board, title, cols)


def test_numbers_match_the_seed(seeded: str) -> None:
    with _as_reader(seeded) as conn:
        coverage = dict(conn.execute(
            "SELECT municipality_code, vaccinated_residents FROM agg_coverage WHERE dose = 2").fetchall())
        registered = dict(conn.execute("SELECT municipality_code, registered FROM agg_residents").fetchall())
        unmatched = dict(conn.execute("SELECT municipality_code, unmatched FROM agg_quality").fetchall())
        fleet = conn.execute("SELECT device_id, state, queue_depth FROM agg_stations ORDER BY 1").fetchall()
    assert coverage == {"131016": 1}
    assert registered == {"131016": 2, "131024": 1}  # a moved-out resident is not registered
    assert unmatched == {"131016": 1}
    assert fleet == [("st-1", "online", 40), ("st-2", "offline", 0)]


def test_grafana_macros_expand_as_grafana_does() -> None:
    start, end = datetime(2021, 6, 1, tzinfo=UTC), datetime(2021, 6, 2, tzinfo=UTC)
    sql = "SELECT $__timeGroupAlias(bucket, '1h'), x FROM t WHERE $__timeFilter(bucket) AND p = '$prefecture'"
    assert expand(sql, start, end, {"prefecture": "13"}) == (
        "SELECT floor(extract(epoch from bucket)/3600)*3600 AS \"time\", x FROM t "
        "WHERE bucket BETWEEN '2021-06-01T00:00:00Z' AND '2021-06-02T00:00:00Z' AND p = '13'")
    assert expand("$__timeGroup(b, '1d')", start, end, {}, timescaledb=True) == "time_bucket('86400.000s',b)"
    with pytest.raises(MacroError):
        expand("$__nope(x)", start, end, {})


def test_reader_is_refused_every_table(seeded: str) -> None:
    with psycopg.connect(seeded) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()]
    assert {"residents", "vaccinations", "vaccination_history", "my_number_hashes", "audit_log"} <= set(tables)
    for table in tables:
        with _as_reader(seeded) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT * FROM {table} LIMIT 1")  # type: ignore[arg-type]


def test_no_view_for_the_reader_has_a_personal_column(seeded: str) -> None:
    with psycopg.connect(seeded) as conn:
        rows = conn.execute("""
            SELECT c.table_name, c.column_name FROM information_schema.column_privileges p
            JOIN information_schema.columns c USING (table_schema, table_name, column_name)
            WHERE p.grantee = 'vrs_reader' AND p.privilege_type = 'SELECT'""").fetchall()
    views = {t for t, _ in rows}
    assert views and all(v.startswith("agg_") for v in views)
    personal = {"atena_no", "voucher_no", "name", "name_kana", "birth_date", "address", "hmac", "doctor", "lot"}
    # agg_municipalities' name and name_kana are the municipalities' own names, not people's.
    assert not [(t, c) for t, c in rows if c in personal and t != "agg_municipalities"]
