"""Parsing and validating a generated CP932 resident file into the binary COPY rows of the import: rows per
second, one JSON line (``copy_mb``: the size of those rows).

    .venv/bin/python bench/import_parse.py [--rows 1000000] [--by-row]

The end-to-end resident import target is 100,000 rows/s including the database, so this part must be well
above it. The file is generated once into a temporary directory (not timed), then read from disk.
``--by-row`` reads every row one by one (no block is read by the C reader), for comparison.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import random
import resource
import tempfile
import time
import unicodedata
from pathlib import Path

from hub.files.my_number_hash import MyNumberHasher
from hub.files.resident_copy import scan_resident_copy
from protocol.check_digits import my_number_check_digit

HEADER = "自治体コード,宛名番号,接種券番号,個人番号,氏名,氏名カナ,生年月日,性別,住所,異動区分,異動日\r\n"

# A city's file holds hundreds of thousands of different names, a few of them common; the kana index of a first
# import sorts by them. With the 25 names this file once had (5 family x 5 given), that sort went mostly by
# 宛名番号 within huge ties: 8.3-8.8 s for 3,800,000 residents against 5.0 s with these names (ad hoc, twice each).
# Names are made of morae; family names are drawn with Zipf weights (s=0.9) over 30,000 and given names (s=0.9)
# over 5,000. In 1,000,000 residents that makes about 650,000 kana names. The commonest family name is 5% of
# them (佐藤, Japan's commonest, is about 1.5% of its people) and the commonest given name 7%, so if anything
# this file has more ties than a city's.
MORAE = [*"アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ",
         *"ガギグゲゴザジズゼゾダデドバビブベボパピプペポ", "キョ", "シュ", "ショ", "チョ", "リュ", "ン"]
NAME_KANJI = "山田佐藤鈴木高橋渡辺伊中小林加吉松井上森清水池川石原野村岡本太郎花子翔陽菜健一美和真由香大樹"
FAMILY_NAMES, GIVEN_NAMES = 30_000, 5_000
# Every 5th name as a ledger system may write it: half-width kana (ｻﾄｳ), which the import normalises.
HALF_WIDTH = {unicodedata.normalize("NFKC", half): half
              for base in map(chr, range(0xFF66, 0xFF9E)) for half in (base, base + "\uff9e", base + "\uff9f")
              if len(unicodedata.normalize("NFKC", half)) == 1}


def _names(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """`count` made-up (kanji, kana) names of 2 to 4 morae."""
    names = []
    for _ in range(count):
        length = rng.choice((2, 3, 3, 4))
        kana = rng.choice(MORAE[:-1]) + "".join(rng.choice(MORAE) for _ in range(length - 1))  # never ン first
        names.append(("".join(rng.choice(NAME_KANJI) for _ in range(min(length, 3))), kana))
    return names


def generate(path: Path, rows: int, seed: int = 1) -> None:
    """Write ``rows`` valid residents of 横浜市 (141003) as CP932, with the mix a ledger system produces."""
    rng = random.Random(seed)
    family_names, given_names = _names(rng, FAMILY_NAMES), _names(rng, GIVEN_NAMES)
    family_weights = list(itertools.accumulate((i + 1) ** -0.9 for i in range(FAMILY_NAMES)))
    given_weights = list(itertools.accumulate((i + 1) ** -0.9 for i in range(GIVEN_NAMES)))
    with path.open("w", encoding="cp932", newline="") as out:
        out.write(HEADER)
        batch = []
        for n in range(rows):
            if n % 10_000 == 0:
                count = min(10_000, rows - n)
                families = iter(rng.choices(family_names, cum_weights=family_weights, k=count))
                givens = iter(rng.choices(given_names, cum_weights=given_weights, k=count))
            family, family_kana = next(families)
            given, given_kana = next(givens)
            kana = f"{family_kana} {given_kana}"
            if n % 5 == 0:
                kana = "".join(HALF_WIDTH.get(char, char) for char in kana)
            first11 = f"{rng.randrange(10**11):011d}"
            my_number = first11 + my_number_check_digit(first11) if n % 3 else ""
            year = rng.randrange(1927, 2015)
            if n % 4 == 0 and year < 1989:
                birth = f"S{year - 1925}.{rng.randrange(1, 13)}.{rng.randrange(1, 28)}"
            elif n % 4 == 1:
                birth = f"{year}/{rng.randrange(1, 13)}/{rng.randrange(1, 28)}"
            else:
                birth = f"{year}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
            moved = ",転出,20210401" if n % 97 == 0 else ",,"
            batch.append(
                f"141003,{n:010d},{n:010d},{my_number},{family}　{given},{kana},"
                f"{birth},{1 + n % 2},横浜市中区港町{n % 9 + 1}-{n % 30 + 1}{moved}\r\n"
            )
            if len(batch) == 10_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--by-row", action="store_true", help="read every row one by one")
    args = parser.parse_args()
    secret = os.urandom(32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "residents.csv"
        generate(path, args.rows)
        size = path.stat().st_size
        with path.open("rb") as stream:
            started = time.perf_counter()
            cpu_started = time.process_time()
            scan = scan_resident_copy(
                stream,
                municipality_code="141003",
                today=datetime.date(2021, 6, 1),
                hash_my_number=MyNumberHasher(secret),
                total_bytes=size,
                by_row=args.by_row,
            )
            copy_mb = sum(len(rows) for rows in scan) / 1e6
            count = scan.report.valid_rows
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        report = scan.report
    if not report.ok or count != args.rows:
        raise SystemExit(f"generated file did not validate: {report.messages()[:5]}")
    print(
        json.dumps(
            {
                "bench": "import_parse",
                "by_row": args.by_row,
                "rows": count,
                "encoding": report.encoding,
                "file_mb": round(size / 1e6, 1),
                "seconds": round(elapsed, 2),
                "rows_per_s": round(count / elapsed),
                # The machine is shared: CPU time shows the parser's own cost when others load the cores.
                "cpu_seconds": round(cpu, 2),
                "rows_per_cpu_s": round(count / cpu),
                "mb_per_s": round(size / 1e6 / elapsed, 1),
                "copy_mb": round(copy_mb, 1),
                # Rows are not kept; what remains is the duplicate check's memory (宛名番号, 接種券番号).
                "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
