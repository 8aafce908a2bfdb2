"""Finding residents of one municipality for the admin pages and the API: by 宛名番号, 券番号, the start of
the normalised kana name and the birth date, listed in kana order.

Names are compared and ordered by their bytes (``COLLATE "C"``), whatever the database's collation: then
the residents whose kana starts with a prefix form one range of the kana index (migration 0061; since 0068
each partition's own, ``residents_<code>_kana_c``), bounded on both sides with operators PostgreSQL may use
under row-level security (``LIKE`` is not leakproof, so it cannot bound an index scan there), and a page of
hits is read in index order, never sorted out of the whole municipality.

Residents are partitioned by municipality (migration 0064): on a partition the policy's tests of the scope
name no column and run once per statement, so the planner estimates the range from the index alone and
reads the page's rows straight from the index scan, stopping at the page's end. (On the table before it was
partitioned, the policy was a per-row filter whose guessed selectivity made a wide range look small, and
the page's keys were read from the index alone and their rows fetched again by primary key, which cost a
third of the search.)
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import psycopg

from hub.db.residents import ResidentSummary

Conn = psycopg.Connection[Any]


def prefix_end(prefix: str) -> str | None:
    """The least text greater than every text starting with `prefix` (code point order), or None when
    there is none (a prefix of nothing but the highest code point)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        nxt = last + 1
        if 0xD800 <= nxt <= 0xDFFF:  # surrogates are not text: the next character is the first after them
            nxt = 0xE000
        if nxt <= sys.maxunicode:
            return "".join(chars) + chr(nxt)
    return None


def search_query(municipality_code: str, *, atena_no: str | None = None, voucher_no: str | None = None,
                 kana_prefix: str | None = None, birth_date: dt.date | None = None, limit: int = 100,
                 offset: int = 0) -> tuple[str, dict[str, Any]]:
    """The statement and parameters of `search`."""
    where = ["k.municipality_code = %(m)s"]
    params: dict[str, Any] = {"m": municipality_code, "limit": limit, "offset": offset}
    if atena_no:
        where.append("k.atena_no = %(atena)s")
        params["atena"] = atena_no
    if voucher_no:
        where.append("(k.voucher_no = %(voucher)s OR EXISTS (SELECT 1 FROM vaccinations v"
                     " WHERE v.municipality_code = k.municipality_code AND v.atena_no = k.atena_no"
                     " AND v.voucher_no = %(voucher)s))")
        params["voucher"] = voucher_no
    if kana_prefix:
        where.append('k.name_kana_norm COLLATE "C" >= %(kana_from)s')
        params["kana_from"] = kana_prefix
        end = prefix_end(kana_prefix)
        if end is not None:
            where.append('k.name_kana_norm COLLATE "C" < %(kana_to)s')
            params["kana_to"] = end
        else:
            where.append("k.name_kana_norm LIKE %(kana)s")
            params["kana"] = kana_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if birth_date:
        where.append("k.birth_date = %(birth)s")
        params["birth"] = birth_date
    return (
        "SELECT k.atena_no, k.voucher_no, k.name, k.name_kana, k.birth_date, k.sex, k.status,"
        " (SELECT count(*) FROM vaccinations v WHERE v.municipality_code = k.municipality_code"
        "  AND v.atena_no = k.atena_no AND v.status = 'vaccinated')"
        f" FROM residents k WHERE {' AND '.join(where)}"
        ' ORDER BY k.name_kana_norm COLLATE "C", k.atena_no LIMIT %(limit)s OFFSET %(offset)s',
        params,
    )


def search(conn: Conn, municipality_code: str, *, atena_no: str | None = None, voucher_no: str | None = None,
           kana_prefix: str | None = None, birth_date: dt.date | None = None, limit: int = 100,
           offset: int = 0) -> list[ResidentSummary]:
    """Residents matching every given criterion (kana compared in its normalised form, as a prefix), in
    kana order, then by 宛名番号."""
    query, params = search_query(municipality_code, atena_no=atena_no, voucher_no=voucher_no,
                                 kana_prefix=kana_prefix, birth_date=birth_date, limit=limit, offset=offset)
    return [ResidentSummary(*r) for r in conn.execute(query, params)]
