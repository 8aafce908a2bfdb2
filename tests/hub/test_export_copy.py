"""The export as PostgreSQL renders it (COPY of a query) against the Python csv writer: the same bytes for
hostile cells, both layouts and both encodings; and row-level security still bounds it."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from hub.db import export as export_db
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from hub.files.export import (
    LEDGER_MIN_DOSES,
    LONG_HEADER,
    Encoding,
    crlf_rows,
    from_copy,
    ledger_header,
    write_ledger,
    write_long,
)

CODE = "131016"
OTHER = "131024"
HOSTILE = [
    "=cmd|' /C calc'!A0", "+81 3", "-1", "@SUM(A1)", "\tTAB", "\rCR", 'say "hi"', "a,b", "two\nlines",
    "crlf\r\nin cell", '"', "", " ", "髙橋 😀", "ｱｲｳ", "①②", "\\.", "\\N", "NULL", "'quoted", "末尾\n",
]


def _load(dsn: str) -> None:
    with connect(dsn, None) as conn, conn.transaction():
        conn.execute("INSERT INTO venues (venue_id, municipality_code, name) VALUES ('v-1', %s, %s),"
                     " ('v-2', %s, '=他市,会場')", (CODE, '千代田 "第一", 会場', OTHER))
        rows = []
        for i, text in enumerate(HOSTILE):
            voucher = f"{i:010d}"
            for dose in (1, 2, 3) if i % 3 == 0 else (1,):
                rows.append((CODE, voucher, dose, "vaccinated" if i % 4 else "screened_only",
                             dt.date(2021, 6, 1) + dt.timedelta(days=i), "v-1" if i % 2 else "v-2",
                             ("pfizer", "moderna", "astrazeneca", "novavax", "other")[i % 5],
                             text, HOSTILE[-1 - i], None if i % 5 == 4 else text or f"A{i}",
                             dt.datetime(2021, 6, 1, 9, 8, 7, tzinfo=dt.UTC) + dt.timedelta(hours=i * 7 + dose)))
        # Two records of one dose under one 宛名番号: the latest registered is the ledger's.
        rows.append((CODE, "9999999999", 1, "vaccinated", dt.date(2021, 7, 1), "v-1", "pfizer", "LATER", "",
                     "'quoted", dt.datetime(2022, 1, 1, tzinfo=dt.UTC)))
        # Years of other than four digits: written without padding, as strftime("%Y") writes them.
        rows.append((CODE, "9999999998", 1, "vaccinated", dt.date(999, 1, 2), "v-1", "pfizer", "OLD", "",
                     "A-old", dt.datetime(1000, 1, 1, 1, 2, 3, tzinfo=dt.UTC)))
        rows.append((OTHER, "0000000001", 1, "vaccinated", dt.date(2021, 7, 1), "v-2", "pfizer", "SECRET", "",
                     "X1", dt.datetime(2022, 1, 1, tzinfo=dt.UTC)))
        for r in rows:
            conn.execute(
                "INSERT INTO vaccinations (municipality_code, voucher_no, dose, record_id, status, administered_on,"
                " venue_id, maker, lot, doctor, read_source, scanned_at, atena_no, registered_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'qr', now(), %s, %s)",
                (r[0], r[1], r[2], uuid.uuid4(), *r[3:]),
            )


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_copy_writer_gives_the_python_writers_bytes_for_hostile_cells(hub_db: str, encoding: Encoding) -> None:
    _load(hub_db)
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        python_long = b"".join(write_long(export_db.current_records(conn, CODE), encoding))
        copy_long = b"".join(from_copy(LONG_HEADER, export_db.copy_csv(conn, export_db.long_query(CODE)), encoding))
        doses = max(LEDGER_MIN_DOSES, export_db.max_dose(conn, CODE))
        python_ledger = b"".join(write_ledger(export_db.ledger_records(conn, CODE), doses, encoding))
        copy_ledger = b"".join(from_copy(ledger_header(doses),
                                         export_db.copy_csv(conn, export_db.ledger_query(CODE, doses), 64),
                                         encoding))
    assert doses == 3
    assert copy_long == python_long
    assert copy_ledger == python_ledger
    text = copy_long.decode("utf-8-sig" if encoding == "utf-8" else "cp932")
    assert "'=cmd|" in text and '"two\nlines"' in text and "SECRET" not in text
    assert copy_ledger.count(b"\r\n") > 5 and b"LATER" in copy_ledger
    assert b",9990102," in copy_long and b"9990102" in copy_ledger


def test_copy_export_of_another_municipality_yields_no_row(hub_db: str) -> None:
    _load(hub_db)
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        stolen = b"".join(export_db.copy_csv(conn, export_db.long_query(OTHER)))
        stolen_ledger = b"".join(export_db.copy_csv(conn, export_db.ledger_query(OTHER, 2)))
    assert stolen == b"" and stolen_ledger == b""


def test_crlf_only_at_row_ends() -> None:
    assert crlf_rows(b"a,b\nc,d\n") == b"a,b\r\nc,d\r\n"
    assert crlf_rows(b'a,"x\ny"\n"q""\n""",z\n') == b'a,"x\ny"\r\n"q""\n""",z\r\n'
    assert crlf_rows(b"") == b""
