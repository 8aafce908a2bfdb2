"""The export as PostgreSQL renders it (COPY of a query) against the Python csv writer: the same bytes for
hostile cells, both layouts and both encodings (the same text for the CP932 ledger, which the server
converts); and row-level security still bounds it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
import pytest

from hub.db import export as export_db
from hub.db import ledger as ledger_db
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from hub.files.export import (
    LEDGER_MIN_DOSES,
    LONG_HEADER,
    Encoding,
    crlf_rows,
    from_copy,
    ledger_header,
    to_cp932,
    write_ledger,
    write_long,
)

CODE = "131016"
OTHER = "131024"
HOSTILE = [
    "=cmd|' /C calc'!A0", "+81 3", "-1", "@SUM(A1)", "\tTAB", "\rCR", 'say "hi"', "a,b", "two\nlines",
    "crlf\r\nin cell", '"', "", " ", "髙橋 😀", "ｱｲｳ", "①②", "\\.", "\\N", "NULL", "'quoted", "ソ表\\n十",
    "𠮷田 ¥100‾ \ue000\x80", "末尾\n",
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
        built_ledger = _ledger(conn, doses, encoding)  # every person marked stale: rows built from the records
        people = conn.execute(VACCINATED_PEOPLE).fetchone()
        assert people is not None and ledger_db.refresh(conn, CODE) == people[0] > 5
        copy_ledger = _ledger(conn, doses, encoding)  # the stored rows
    assert doses == 3
    assert copy_long == python_long
    if encoding == "utf-8":
        assert built_ledger == python_ledger
        assert copy_ledger == python_ledger
    else:
        # CP932 has two codes for 髙: Python's codec writes EE E0, the server FB FC; both read as 髙.
        assert built_ledger.decode("cp932") == python_ledger.decode("cp932")
        assert copy_ledger.decode("cp932") == python_ledger.decode("cp932")
        assert b"\xfb\xfc" in copy_ledger and b"\xee\xe0" in python_ledger
        assert copy_ledger.count("〓田 〓100〓 〓〓".encode("cp932")) > 0
        assert "ソ表\\n十".encode("cp932") in copy_ledger and "ソ表\\n十".encode("cp932") in copy_long
    text = copy_long.decode("utf-8-sig" if encoding == "utf-8" else "cp932")
    assert "'=cmd|" in text and '"two\nlines"' in text and "SECRET" not in text
    assert copy_ledger.count(b"\r\n") > 5 and b"LATER" in copy_ledger
    assert b",9990102," in copy_long and b"9990102" in copy_ledger


VACCINATED_PEOPLE = "SELECT count(DISTINCT atena_no) FROM vaccinations WHERE status = 'vaccinated'"


def _ledger(conn: psycopg.Connection[Any], doses: int, encoding: Encoding) -> bytes:
    cp932 = encoding == "cp932"
    query = ledger_db.ledger_query(CODE, doses, cp932=cp932)
    batches = export_db.copy_csv(conn, query, 64, rendered=True, cp932=cp932)
    return b"".join(from_copy(ledger_header(doses), batches, encoding, converted=True))


def test_stored_ledger_rows_follow_corrections_voids_and_venue_changes(hub_db: str) -> None:
    _load(hub_db)
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        ledger_db.refresh(conn, CODE)
    with connect(hub_db, None) as conn, conn.transaction():
        # A hostile lot on one person, a dose no longer vaccinated on another, a venue renamed, a dose 4.
        conn.execute("UPDATE vaccinations SET lot = 'new\\lot,\"x\"' WHERE voucher_no = '0000000001'")
        conn.execute("UPDATE vaccinations SET status = 'screened_only' WHERE voucher_no = '0000000003'")
        conn.execute("UPDATE venues SET name = '=改名 会場' WHERE venue_id = 'v-1'")
        conn.execute("UPDATE vaccinations SET dose = 4 WHERE voucher_no = '0000000006' AND dose = 3")
        conn.execute("DELETE FROM vaccinations WHERE voucher_no = '0000000009' AND dose = 1")
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        doses = max(LEDGER_MIN_DOSES, export_db.max_dose(conn, CODE))
        python_ledger = b"".join(write_ledger(export_db.ledger_records(conn, CODE), doses, "utf-8"))
        partly_stale = _ledger(conn, doses, "utf-8")
        people = conn.execute(VACCINATED_PEOPLE).fetchone()
        rebuilt = ledger_db.refresh(conn, CODE)  # the people changed, and everyone vaccinated at v-1
        stored = _ledger(conn, doses, "utf-8")
        assert ledger_db.refresh(conn, CODE) == 0
    assert doses == 4 and people is not None and 5 <= rebuilt < people[0]
    assert partly_stale == python_ledger and stored == python_ledger
    assert b'"new\\lot,""x"""' in stored and "'=改名 会場".encode() in stored
    assert b"0000000003" not in stored


def test_ledger_rows_are_stored_in_read_committed_transactions_only(hub_db: str) -> None:
    _load(hub_db)
    with connect(hub_db, "vrs_api") as conn, export_db.export_transaction(conn, Scope.municipality(CODE)), \
            pytest.raises(ledger_db.LedgerError):
        ledger_db.refresh(conn, CODE)


def test_copy_export_of_another_municipality_yields_no_row(hub_db: str) -> None:
    _load(hub_db)
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(CODE)):
        stolen = b"".join(export_db.copy_csv(conn, export_db.long_query(OTHER)))
        assert ledger_db.refresh(conn, OTHER) == 0
        stolen_ledger = b"".join(export_db.copy_csv(conn, ledger_db.ledger_query(OTHER, 2), rendered=True))
    with connect(hub_db, None) as conn:
        marked = conn.execute("SELECT count(*) FROM ledger_stale WHERE municipality_code = %s", (OTHER,)).fetchone()
    assert stolen == b"" and stolen_ledger == b"" and marked == (1,)


def test_a_cp932_export_writes_the_same_characters_whichever_side_converts(hub_db: str) -> None:
    """Every character of the Basic Multilingual Plane (and two beyond) through the server's conversion of the
    CP932 ledger (vrs_cp932, then SJIS) and through Python's of the long layout (to_cp932): 〓 for the same
    characters, and the same text read back."""
    with connect(hub_db, "vrs_api") as conn:
        server = dict(conn.execute(
            "SELECT cp, convert_to(vrs_cp932(chr(cp)), 'SJIS') FROM generate_series(1, 65535) AS cp"
            " WHERE cp NOT BETWEEN 55296 AND 57343 UNION ALL SELECT cp, convert_to(vrs_cp932(chr(cp)), 'SJIS')"
            " FROM unnest(ARRAY[134071, 128512]) AS cp").fetchall())
    assert len(server) == 65535 - 2048 + 2
    substitute = "〓".encode("cp932")
    read_back = {cp: (bytes(b).decode("cp932"), to_cp932(chr(cp)).decode("cp932")) for cp, b in server.items()}
    assert [cp for cp, (s, p) in read_back.items() if s != p] == []
    held = [cp for cp, b in server.items() if bytes(b) != substitute or cp == 0x3013]
    assert 7_000 < len(held) - 127 < 7_600  # JIS X 0208, the NEC and IBM extensions, half-width kana
    assert {0x9AD9, 0x2460, 0xFF71, 0x5C, 0x7E} <= set(held)  # 髙 ① ｱ \ ~
    assert not {0xA5, 0x203E, 0xE000, 0x80, 0x20BB7, 0x1F600} & set(held)  # ¥ ‾, 外字, a vendor code, 𠮷, 😀


def test_crlf_only_at_row_ends() -> None:
    assert crlf_rows(b"a,b\nc,d\n") == b"a,b\r\nc,d\r\n"
    assert crlf_rows(b'a,"x\ny"\n"q""\n""",z\n') == b'a,"x\ny"\r\n"q""\n""",z\r\n'
    assert crlf_rows(b"") == b""
