"""Records of one municipality that need a look (data quality), and how each was resolved.

Kinds: a voucher no resident holds, doses out of order or closer than the maker's minimum interval,
records of residents flagged moved out or deceased dated on or after that day, and impossible dates
(before vaccination began, in the future, before the resident's birth). A kind is listed for the current
version of a record until a resolution names that version; a correction makes a new version, which is
checked afresh.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, Literal

import msgspec
import psycopg
from psycopg import errors

from hub.errors import ConflictError

Conn = psycopg.Connection[Any]
Kind = Literal["unmatched_voucher", "dose_order", "dose_interval", "resident_moved_out", "resident_deceased",
               "impossible_date"]
KINDS: tuple[Kind, ...] = ("unmatched_voucher", "dose_order", "dose_interval", "resident_moved_out",
                           "resident_deceased", "impossible_date")
Resolution = Literal["matched", "corrected", "dismissed"]

_COLUMNS = "v.record_id::text AS record_id, v.voucher_no, v.dose, v.status, v.administered_on, v.venue_id, v.maker," \
           " v.atena_no"
_ISSUES = f"""
SELECT 'unmatched_voucher' AS kind, {_COLUMNS}, '券番号に一致する住民がいません' AS detail
  FROM vaccinations v WHERE v.municipality_code = %(m)s AND v.atena_no IS NULL
UNION ALL
SELECT CASE WHEN v.administered_on < p.administered_on THEN 'dose_order' ELSE 'dose_interval' END, {_COLUMNS},
       CASE WHEN v.administered_on < p.administered_on
            THEN format('%%s回目 (%%s) より前の日付です', p.dose, p.administered_on)
            ELSE format('%%s回目 (%%s) から%%s日: 最短は%%s日', p.dose, p.administered_on,
                        v.administered_on - p.administered_on, %(min)s::jsonb ->> p.maker) END
  FROM vaccinations v JOIN vaccinations p ON p.municipality_code = v.municipality_code
       AND p.voucher_no = v.voucher_no AND p.dose = v.dose - 1
 WHERE v.municipality_code = %(m)s AND v.status = 'vaccinated' AND p.status = 'vaccinated'
   AND (v.administered_on < p.administered_on
        OR v.administered_on - p.administered_on < (%(min)s::jsonb ->> p.maker)::int)
UNION ALL
SELECT CASE r.status WHEN 'moved_out' THEN 'resident_moved_out' ELSE 'resident_deceased' END, {_COLUMNS},
       format(CASE r.status WHEN 'moved_out' THEN '宛名番号 %%s は %%s に転出' ELSE '宛名番号 %%s は %%s に死亡' END,
              r.atena_no, coalesce(r.status_date::text, '(日付なし)'))
  FROM vaccinations v JOIN residents r ON r.municipality_code = v.municipality_code AND r.atena_no = v.atena_no
 WHERE v.municipality_code = %(m)s AND r.status IN ('moved_out', 'deceased')
   AND (r.status_date IS NULL OR v.administered_on >= r.status_date)
UNION ALL
SELECT 'impossible_date', {_COLUMNS},
       CASE WHEN v.administered_on > %(today)s THEN '未来の日付です'
            WHEN v.administered_on < %(first)s THEN format('接種開始 (%%s) より前の日付です', %(first)s::date)
            ELSE format('生年月日 (%%s) より前の日付です', r.birth_date) END
  FROM vaccinations v LEFT JOIN residents r ON r.municipality_code = v.municipality_code AND r.atena_no = v.atena_no
 WHERE v.municipality_code = %(m)s
   AND (v.administered_on > %(today)s OR v.administered_on < %(first)s OR v.administered_on < r.birth_date)
"""


class Issue(msgspec.Struct, frozen=True):
    """One record version that needs a look, and why."""

    kind: str
    record_id: str
    voucher_no: str
    dose: int
    status: str
    administered_on: dt.date
    venue_id: str
    maker: str
    atena_no: str | None
    detail: str


def issues(conn: Conn, municipality_code: str, *, today: dt.date, first_day: dt.date,
           min_interval_days: Mapping[str, int], record_id: str | None = None, limit: int = 1000) -> list[Issue]:
    """The unresolved issues of the municipality (of one record version when `record_id` is given)."""
    params = {"m": municipality_code, "today": today, "first": first_day, "limit": limit, "rid": record_id,
              "min": json.dumps(dict(min_interval_days))}
    cur = conn.execute(
        f"SELECT i.* FROM ({_ISSUES}) AS i WHERE (%(rid)s::text IS NULL OR i.record_id = %(rid)s::text)"
        " AND NOT EXISTS (SELECT 1 FROM quality_resolutions q WHERE q.municipality_code = %(m)s"
        " AND q.kind = i.kind AND q.record_id = i.record_id::uuid)"
        " ORDER BY i.kind, i.administered_on, i.voucher_no, i.dose LIMIT %(limit)s",
        params,
    )
    return [Issue(*r) for r in cur]


def add_resolution(conn: Conn, municipality_code: str, kind: str, record_id: str, resolution: Resolution,
                   reason: str, actor: str, atena_no: str | None = None) -> None:
    """Record how an issue was resolved (ConflictError when it already was)."""
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO quality_resolutions (municipality_code, kind, record_id, resolution, reason, atena_no,"
                " actor) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (municipality_code, kind, record_id, resolution, reason, atena_no, actor),
            )
    except errors.UniqueViolation:
        raise ConflictError("this issue was already resolved") from None


def match_record(conn: Conn, municipality_code: str, record_id: str, atena_no: str) -> bool:
    """Tie an unmatched record to a resident of the municipality; False when either is not there."""
    cur = conn.execute(
        "UPDATE vaccinations v SET atena_no = r.atena_no FROM residents r WHERE v.municipality_code = %s"
        " AND v.record_id = %s AND v.atena_no IS NULL AND r.municipality_code = v.municipality_code"
        " AND r.atena_no = %s",
        (municipality_code, record_id, atena_no),
    )
    return cur.rowcount > 0


class ResolutionRow(msgspec.Struct, frozen=True):
    """A past resolution, for the page's "resolved" list."""

    kind: str
    record_id: str
    resolution: str
    reason: str
    atena_no: str | None
    actor: str
    resolved_at: dt.datetime


def resolutions(conn: Conn, municipality_code: str, limit: int = 100) -> list[ResolutionRow]:
    """The newest resolutions of the municipality."""
    cur = conn.execute(
        "SELECT kind, record_id::text, resolution, reason, atena_no, actor, resolved_at FROM quality_resolutions"
        " WHERE municipality_code = %s ORDER BY resolved_at DESC LIMIT %s",
        (municipality_code, limit),
    )
    return [ResolutionRow(*r) for r in cur]
