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
import json
import os
import random
import resource
import tempfile
import time
from pathlib import Path

from hub.files.my_number_hash import MyNumberHasher
from hub.files.resident_copy import scan_resident_copy
from protocol.check_digits import my_number_check_digit

HEADER = "自治体コード,宛名番号,接種券番号,個人番号,氏名,氏名カナ,生年月日,性別,住所,異動区分,異動日\r\n"
FAMILY = [("山田", "ヤマダ"), ("佐藤", "ｻﾄｳ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("渡辺", "ﾜﾀﾅﾍﾞ")]
GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("翔太", "ｼｮｳﾀ"), ("陽菜", "ヒナ"), ("健一", "ケンイチ")]


def generate(path: Path, rows: int, seed: int = 1) -> None:
    """Write ``rows`` valid residents of 横浜市 (141003) as CP932, with the mix a ledger system produces."""
    rng = random.Random(seed)
    with path.open("w", encoding="cp932", newline="") as out:
        out.write(HEADER)
        batch = []
        for n in range(rows):
            family, family_kana = rng.choice(FAMILY)
            given, given_kana = rng.choice(GIVEN)
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
                f"141003,{n:010d},{n:010d},{my_number},{family}　{given},{family_kana} {given_kana},"
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
