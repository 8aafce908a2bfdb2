"""Record export over HTTP from `vrs-hub serve`, streamed: rows per second and the server's memory before
and after; prints one JSON line. Run from the repository root:

    .venv/bin/python bench/admin_export.py [--residents 200000] [--doses 2] [--changed 2000]

Generates residents with vaccinated doses in a throwaway PostgreSQL, logs in as a clerk and downloads the
long layout (one row per record) and the ledger layout (one row per person), UTF-8 and CP932, reading the
body as it streams. rows_per_s counts CSV rows received / wall time of the download. rss_mb_* is the
serving processes' resident memory: flat memory means it does not grow with the size of the export.

The ledger's stored rows (hub.db.ledger) are first built by one download (`ledger_cold`: every person's
row built from the records and stored). Before each of the other ledger downloads, `--changed` people get
a record changed, so that download also rebuilds their rows, as the first export of a day rebuilds the
rows of those vaccinated or corrected since the one before.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.admin_served import CODE, served, tree_rss_mb
from hub.db.connect import connect


def change(dsn: str, first: int, people: int) -> None:
    """A record of each of `people` residents changed (its doctor written again), from resident `first` on."""
    with connect(dsn, None) as conn:
        conn.execute("UPDATE vaccinations SET doctor = doctor WHERE municipality_code = %s AND dose = 1"
                     " AND atena_no IN (SELECT lpad(i::text, 10, '0') FROM generate_series(%s::int, %s::int) AS i)",
                     (CODE, first + 1, first + people))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=200_000)
    parser.add_argument("--doses", type=int, default=2)
    parser.add_argument("--changed", type=int, default=2_000)
    args = parser.parse_args()
    out: dict[str, object] = {"bench": "admin_export", "residents": args.residents,
                              "records": args.residents * args.doses, "changed_per_ledger": args.changed}
    with served(args.residents, args.doses) as hub, httpx.Client(base_url=hub.base_url, timeout=600) as client:
        hub.login(client)
        out["rss_mb_before"] = tree_rss_mb(hub.pid)
        peak = 0.0
        downloads = [("long", "long", "utf-8"), ("long", "long", "cp932"), ("ledger_cold", "ledger", "utf-8"),
                     ("ledger", "ledger", "utf-8"), ("ledger", "ledger", "cp932")]
        for n_download, (label, layout, encoding) in enumerate(downloads):
            if label == "ledger":
                change(hub.dsn, n_download * args.changed, args.changed)
            started = time.perf_counter()
            rows = -1  # the header
            size = 0
            with client.stream("GET", f"/api/v1/municipalities/{CODE}/records/export",
                               params={"layout": layout, "encoding": encoding}) as r:
                r.raise_for_status()
                for n, chunk in enumerate(r.iter_raw()):
                    rows += chunk.count(b"\n")
                    size += len(chunk)
                    if n % 200 == 0:
                        peak = max(peak, tree_rss_mb(hub.pid))
            elapsed = time.perf_counter() - started
            key = label if label == "ledger_cold" else f"{layout}_{encoding.replace('-', '')}"
            out[f"{key}_rows"] = rows
            out[f"{key}_rows_per_s"] = round(rows / elapsed)
            out[f"{key}_mb"] = round(size / 1e6, 1)
        out["rss_mb_peak"] = peak
        out["rss_mb_after"] = tree_rss_mb(hub.pid)
    out["target_rows_per_s"] = 200_000
    print(json.dumps(out))


if __name__ == "__main__":
    main()
