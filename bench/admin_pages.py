"""Admin page latency under a steady 200 requests/s against `vrs-hub serve`; prints one JSON line. Run
from the repository root:

    .venv/bin/python bench/admin_pages.py [--residents 100000] [--rate 200] [--seconds 20] [--workers 2]

Open loop: requests are issued on a fixed schedule whatever the answers' pace, and each latency is
measured from its scheduled time (a slow server cannot hide its queue). The mix is what clerks click: the
residents page with coverage, a search by kana, a resident's page, a record's correction page, and the
JSON search. p95_ms is the target (< 100 ms).

The load generator shares the machine with the server and the database, so it is a small asyncio client
speaking HTTP/1.1 over kept-alive connections (a thread per request through httpx cost more CPU than the
server's own work); the line also gives the CPU time each side spent per request.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import resource
import sys
import time
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.admin_served import CODE, served


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q / 100 * len(s)))], 1)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and their live children (granian workers, backends)."""
    ticks = 0
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with suppress(OSError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
            for task in Path(f"/proc/{pid}/task").iterdir():
                with suppress(OSError, ValueError):
                    todo += [int(c) for c in (task / "children").read_text().split()]
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Client:
    """GET over a pool of kept-alive HTTP/1.1 connections; a new one opens whenever all are busy.

    The idle connection used longest ago goes first, as among many clerks' browsers: taking the one just
    freed would send nearly every request down the same one or two connections, and so to one of granian's
    worker processes while the other idles (each connection stays with the worker that accepted it).
    """

    def __init__(self, host: str, port: int, cookie: str) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nCookie: {cookie}\r\nAccept: */*\r\n\r\n".encode()
        self.idle: collections.deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = collections.deque()
        self.opened = 0

    async def get(self, path: str) -> int:
        """The answer's status code (0 when the connection failed); the body is read and dropped."""
        if self.idle:
            reader, writer = self.idle.popleft()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
        try:
            writer.write(f"GET {path} HTTP/1.1\r\n".encode() + self.head)
            status_line = await reader.readline()
            status = int(status_line.split()[1])
            length, chunked, keep = 0, False, True
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
                elif name == b"connection" and b"close" in value.lower():
                    keep = False
            if chunked:
                while size := int((await reader.readline()).split(b";")[0], 16):
                    await reader.readexactly(size + 2)
                await reader.readline()
            else:
                await reader.readexactly(length)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            writer.close()
            return 0
        if keep:
            self.idle.append((reader, writer))
        else:
            writer.close()
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def run(base_url: str, cookie: str, paths: list[str], rate: float, warmup: list[str],
              server_pids: list[int], database_pids: list[int]) -> dict[str, float]:
    url = urlsplit(base_url)
    client = Client(url.hostname or "127.0.0.1", url.port or 80, cookie)
    latencies: list[float] = []
    errors = 0

    async def fetch(path: str, scheduled: float) -> None:
        nonlocal errors
        status = await client.get(path)
        latencies.append((time.perf_counter() - scheduled) * 1000)
        errors += status != 200

    # Warm up the pools, caches and prepared statements before measuring.
    await asyncio.gather(*(fetch(p, time.perf_counter()) for p in warmup))
    latencies.clear()
    errors = 0
    tasks = []
    cpu0, server0, db0 = own_cpu(), cpu_seconds(server_pids), cpu_seconds(database_pids)
    start = time.perf_counter()
    for k, path in enumerate(paths):
        delay = start + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fetch(path, start + k / rate)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    cpu1, server1, db1 = own_cpu(), cpu_seconds(server_pids), cpu_seconds(database_pids)
    client.close()
    n = len(latencies)
    return {
        "achieved_rate": round(n / elapsed, 1), "requests": n, "errors": errors,
        "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95), "p99_ms": pct(latencies, 99),
        "max_ms": round(max(latencies), 1) if latencies else 0.0,
        "server_cpu_ms_per_request": round((server1 - server0) * 1000 / max(n, 1), 2),
        "database_cpu_ms_per_request": round((db1 - db0) * 1000 / max(n, 1), 2),
        "generator_cpu_ms_per_request": round((cpu1 - cpu0) * 1000 / max(n, 1), 2),
        "connections": client.opened,
    }


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
            "/residents?kana=" + quote(f"ヨコハマタロウ{i % 1000}"),
            f"/residents/{i:010d}",
            f"/records/{i:010d}/1/correct",
            f"/api/v1/municipalities/{CODE}/residents?atena_no={i:010d}",
        ])

    with served(args.residents, 2, workers=args.workers) as hub:
        with httpx.Client(base_url=hub.base_url) as login_client:
            hub.login(login_client)
            cookie = "; ".join(f"{k}={v}" for k, v in login_client.cookies.items())
        warmup = [url() for _ in range(200)]
        paths = [url() for _ in range(int(args.rate * args.seconds))]
        # PostgreSQL's backends are the postmaster's children, granian's workers the server's.
        database = [hub.postmaster_pid] if hub.postmaster_pid else []
        figures = asyncio.run(run(hub.base_url, cookie, paths, args.rate, warmup, [hub.pid], database))
    print(json.dumps({
        "bench": "admin_pages", "residents": args.residents, "target_rate": args.rate, **figures,
        "granian_workers": args.workers, "target_p95_ms": 100,
    }))


if __name__ == "__main__":
    main()
