"""Resident search on the server: a page of a wide kana range is read in index order and stops at the page's
end (no sort of the range), whether the municipality's residents are in the default partition or in one of
their own, and the page holds the right residents in kana order with their dose counts."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import pytest

from hub.api.services.residents import import_residents
from hub.db import resident_search
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from tests.hub.api.files import resident_csv, resident_line

CODE = "141003"  # 横浜市
RESIDENTS = 20_000


def _load_default_partition(dsn: str) -> None:
    with connect(dsn, None) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO residents (municipality_code, atena_no, voucher_no, name, name_kana, name_kana_norm,"
            " birth_date, sex, address) SELECT %s, lpad(i::text, 10, '0'), lpad(i::text, 10, '0'), '横浜 太郎',"
            " 'ヨコハマ タロウ', 'ヨコハマタロウ' || (i %% 100), date '1950-01-01' + (i %% 20000), 1, '中区'"
            " FROM generate_series(1, %s) AS i",
            (CODE, RESIDENTS),
        )


def _load_own_partition(dsn: str) -> None:
    lines = [resident_line(CODE, f"{i:010d}", f"{i:010d}", kana=f"ヨコハマ タロウ{i % 100}")
             for i in range(1, RESIDENTS + 1)]
    with connect(dsn, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        result = import_residents(conn, municipality_code=CODE, stream=io.BytesIO(resident_csv(lines)), mode="diff",
                                  dry_run=False, secret=bytes(32), today=dt.date(2021, 8, 1), actor="test")
    assert result.applied, result.errors


def _plan_nodes(plan: dict[str, Any]) -> list[str]:
    return [plan["Node Type"], *(n for child in plan.get("Plans", []) for n in _plan_nodes(child))]


@pytest.mark.parametrize("load", [_load_default_partition, _load_own_partition], ids=["default", "own"])
def test_a_wide_kana_range_is_read_in_index_order_and_stops_at_the_page(hub_db: str, load: Any) -> None:
    load(hub_db)
    with connect(hub_db, None) as conn:
        conn.execute("ANALYZE residents")
        conn.execute("INSERT INTO venues (venue_id, municipality_code, name) VALUES ('v-1', %s, '会場')", (CODE,))
        conn.execute(
            "INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, status, administered_on,"
            " venue_id, maker, lot, doctor, read_source, scanned_at, atena_no) VALUES"
            " (%s, '0000000001', 1, %s, 'vaccinated', '2021-06-01', 'v-1', 'pfizer', 'FA1', '', 'qr', now(),"
            "  '0000000001'),"
            " (%s, '0000000001', 2, %s, 'screened_only', '2021-06-22', 'v-1', 'pfizer', 'FA1', '', 'qr', now(),"
            "  '0000000001')",
            (CODE, str(uuid.uuid4()), CODE, str(uuid.uuid4())),
        )
    for prefix in ("ヨコハマタロウ", "ヨコハマタロウ1", None):
        query, params = resident_search.search_query(CODE, kana_prefix=prefix, limit=100)
        with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
            row = conn.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchone()
            hits = resident_search.search(conn, CODE, kana_prefix=prefix, limit=100)
        assert row is not None
        nodes = _plan_nodes(row[0][0]["Plan"])
        assert "Sort" not in nodes and "Bitmap Heap Scan" not in nodes, (prefix, nodes)
        # Kana order is byte order of "ヨコハマタロウ" + (i % 100): "…0" < "…1" < "…10" < "…11" …
        wanted = sorted((i for i in range(1, RESIDENTS + 1) if str(i % 100).startswith((prefix or "")[7:])),
                        key=lambda i: (str(i % 100), i))[:100]
        assert [h.atena_no for h in hits] == [f"{i:010d}" for i in wanted]
        assert {h.atena_no: h.doses for h in hits if h.doses} == ({"0000000001": 1} if 1 in wanted else {})
