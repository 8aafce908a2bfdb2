"""Admin page latency under a steady 200 requests/s against `vrs-hub serve`; prints one JSON line. Run
from the repository root:

    .venv/bin/python bench/admin_pages.py [--residents 100000] [--rate 200] [--seconds 20] [--workers 2]

Open loop: requests are issued on a fixed schedule whatever the answers' pace, and each latency is
measured from its scheduled time (a slow server cannot hide its queue). The mix is what clerks click: the
residents page with coverage, a search by kana, a resident's page, a record's correction page, and the
JSON search. p95_ms is the target (< 100 ms).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.admin_served import CODE, served


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q / 100 * len(s)))], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    args = parser.parse_args()
    rng = random.Random(1)

    def url() -> str:
        i = rng.randrange(1, args.residents + 1)
        return rng.choice([
            "/residents",
            f"/residents?kana=ヨコハマタロウ{i % 1000}",
            f"/residents/{i:010d}",
            f"/records/{i:010d}/1/correct",
            f"/api/v1/municipalities/{CODE}/residents?atena_no={i:010d}",
        ])

    with served(args.residents, 2, workers=args.workers) as hub:
        with httpx.Client(base_url=hub.base_url) as login_client:
            hub.login(login_client)
            cookies = dict(login_client.cookies)
        local = threading.local()
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()

        def fetch(path: str, scheduled: float) -> None:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(base_url=hub.base_url, cookies=cookies, timeout=30)
            try:
                r = client.get(path)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            done = time.perf_counter()
            with lock:
                latencies.append((done - scheduled) * 1000)
                errors[0] += not ok

        # Warm up the pools and caches for a second before measuring.
        with ThreadPoolExecutor(max_workers=64) as pool:
            for _ in range(50):
                pool.submit(fetch, url(), time.perf_counter())
        latencies.clear()
        errors[0] = 0
        n = int(args.rate * args.seconds)
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=64) as pool:
            for k in range(n):
                at = start + k / args.rate
                delay = at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(fetch, url(), at)
        elapsed = time.perf_counter() - start
    print(json.dumps({
        "bench": "admin_pages", "residents": args.residents, "target_rate": args.rate,
        "achieved_rate": round(len(latencies) / elapsed, 1), "requests": len(latencies), "errors": errors[0],
        "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95), "p99_ms": pct(latencies, 99),
        "max_ms": round(max(latencies), 1) if latencies else 0.0, "granian_workers": args.workers,
        "target_p95_ms": 100,
    }))


if __name__ == "__main__":
    main()
