"""Move-in inquiry benchmark: latency of one inquiry (record the consented inquiry, answer it through the
SECURITY DEFINER path, audit on both sides, commit) with millions of residents spread over municipalities,
by My Number and by the 3 items; prints one JSON line. Run from the repository root:

    .venv/bin/python bench/inquiry.py [--residents 5000000] [--municipalities 200] [--queries 2000]

Residents, their My Number HMACs and one dose each are COPYed in through the owner connection of a
throwaway PostgreSQL 15; each query then runs as the API role in the asking municipality's scope, exactly
as hub.api.services.moves does (HMAC computed in the client), on one connection, sequentially.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from hub.db import moves
from hub.db.connect import connect
from hub.db.migrate import migrate
from hub.db.scoped import Scope, scoped
from hub.files.text import kana_key
from protocol.check_digits import my_number_check_digit
from protocol.municipalities import all_municipalities
from tests.fixtures_postgres import PgCluster

FAMILY = ["ヤマダ", "スズキ", "タナカ", "サトウ", "ワタナベ", "イトウ", "ナカムラ", "コバヤシ", "カトウ", "ヨシダ",
          "ヤマモト", "マツモト", "イノウエ", "キムラ", "ハヤシ", "シミズ", "ヤマザキ", "モリ", "アベ", "イケダ"]
GIVEN = ["タロウ", "ハナコ", "イチロウ", "ジロウ", "サクラ", "ユウキ", "ケンタ", "ミサキ", "ショウタ", "アヤ",
         "ダイスケ", "ナオミ", "ヒロシ", "ユミ", "タクヤ", "メグミ", "リョウ", "カオリ", "マコト", "エミ"]
CHUNK = 200_000
NOW = dt.datetime(2021, 9, 1, 1, 0, tzinfo=dt.UTC)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Person:
    """What the generator knows of resident `i` (derived, so nothing is kept for 5 million of them)."""

    def __init__(self, i: int, codes: list[str]) -> None:
        rnd = random.Random(i)
        self.code = codes[i % len(codes)]
        self.atena = f"{i:012d}"
        self.voucher = f"{i:010d}"
        first = f"{i:011d}"
        self.my_number = first + my_number_check_digit(first)
        self.kana = f"{rnd.choice(FAMILY)} {rnd.choice(GIVEN)}{rnd.choice(GIVEN)}"
        self.birth = dt.date(1930, 1, 1) + dt.timedelta(days=rnd.randrange(30_000))
        self.sex = 1 + rnd.randrange(2)


def _chunks(n: int, codes: list[str], secret: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    res, mn, vac = [], [], []
    for i in range(n):
        p = Person(i, codes)
        res.append(f"{p.code}\t{p.atena}\t{p.voucher}\t住民 {i}\t{p.kana}\t{kana_key(p.kana)}\t{p.birth}\t{p.sex}\n")
        digest = hmac.new(secret, p.my_number.encode("ascii"), hashlib.sha256).hexdigest()
        mn.append(f"{p.code}\t{p.atena}\t\\\\x{digest}\n")  # bytea in COPY's text format: \x and hex
        rid = f"{i:032x}"
        vac.append(f"{p.code}\t{p.voucher}\t1\t{rid}\tvaccinated\t2021-06-01\tv-bench\tpfizer\tFA{i % 9999:04d}"
                   f"\t医師\tqr\t2021-06-01 09:00:00+09\t{p.atena}\n")
        if len(res) == CHUNK:
            yield "".join(res).encode(), "".join(mn).encode(), "".join(vac).encode()
            res, mn, vac = [], [], []
    if res:
        yield "".join(res).encode(), "".join(mn).encode(), "".join(vac).encode()


def load(dsn: str, n: int, codes: list[str], secret: bytes) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO venues (venue_id, municipality_code, name) VALUES ('v-bench', %s, 'ベンチ会場')",
                     (codes[0],))
        for res, mn, vac in _chunks(n, codes, secret):
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy("COPY residents (municipality_code, atena_no, voucher_no, name, name_kana,"
                              " name_kana_norm, birth_date, sex) FROM STDIN") as copy:
                    copy.write(res)
                with cur.copy("COPY my_number_hashes (municipality_code, atena_no, hmac) FROM STDIN") as copy:
                    copy.write(mn)
                with cur.copy("COPY vaccinations (municipality_code, voucher_no, dose, record_id, status,"
                              " administered_on, venue_id, maker, lot, doctor, read_source, scanned_at, atena_no)"
                              " FROM STDIN") as copy:
                    copy.write(vac)
        conn.execute("VACUUM ANALYZE residents, my_number_hashes, vaccinations")
    return time.perf_counter() - t0


def one(conn: psycopg.Connection[Any], asking: str, q: moves.NewInquiry) -> tuple[float, int]:
    t0 = time.perf_counter()
    with scoped(conn, Scope.municipality(asking)):
        answer = moves.ask(conn, asking, q, asked_by="bench")
    return (time.perf_counter() - t0) * 1000, len(answer.records) if answer.matches == 1 else -answer.matches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=5_000_000)
    parser.add_argument("--municipalities", type=int, default=200)
    parser.add_argument("--queries", type=int, default=2000, help="timed queries per method")
    args = parser.parse_args()
    # A stopped run still stops its PostgreSQL and removes its files (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    secret = os.urandom(32)
    codes = [m.code for m in all_municipalities() if not m.is_ward][: args.municipalities]
    cluster = PgCluster(Path(tempfile.mkdtemp(prefix="vrs-bench-pg-", dir="/tmp")))
    try:
        cluster.init()
        cluster.start()
        dsn = cluster.create_database("bench")
        with connect(dsn, None) as conn:
            migrate(conn)
        load_s = load(dsn, args.residents, codes, secret)
        rnd = random.Random(7)
        out: dict[str, Any] = {"bench": "inquiry", "residents": args.residents, "municipalities": len(codes),
                               "load_s": round(load_s, 1), "queries_per_method": args.queries}
        with connect(dsn, "vrs_api") as conn:
            for method in ("my_number", "three_items"):
                times: list[float] = []
                found = ambiguous = 0
                for k in range(args.queries + 100):
                    p = Person(rnd.randrange(args.residents), codes)
                    asking = codes[(codes.index(p.code) + 1) % len(codes)]
                    fields: dict[str, Any] = (
                        {"my_number_hmac": hmac.new(secret, p.my_number.encode(), hashlib.sha256).digest()}
                        if method == "my_number" else
                        {"name_kana_norm": kana_key(p.kana), "birth_date": p.birth, "sex": p.sex})
                    q = moves.NewInquiry(from_municipality_code=p.code, method=method,
                                         consent_kind="written", consent_at=NOW, consent_given_by="本人",
                                         consent_taken_by="bench", **fields)
                    ms, records = one(conn, asking, q)
                    if k >= 100:  # the first 100 warm the caches
                        times.append(ms)
                        found += records > 0
                        ambiguous += records < -1
                out[method] = {"p50_ms": round(pct(times, 0.5), 2), "p99_ms": round(pct(times, 0.99), 2),
                               "max_ms": round(max(times), 2), "found": found, "ambiguous": ambiguous}
        out["target_p99_ms"] = 20
        print(json.dumps(out, ensure_ascii=False))
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.base, ignore_errors=True)


if __name__ == "__main__":
    main()
