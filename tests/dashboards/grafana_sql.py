"""Grafana's PostgreSQL datasource, as far as a panel's SQL is concerned: macros and template variables.

Written from Grafana's macro engine (pkg/tsdb/grafana-postgresql-datasource/macros.go): the same pattern
finds a macro, arguments are split on commas and trimmed, times are RFC 3339 in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
INTERVAL = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class MacroError(Exception):
    """A macro Grafana would refuse."""


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(interval: str) -> float:
    m = INTERVAL.match(interval.strip("'"))
    if not m:
        raise MacroError(f"error parsing interval {interval}")
    return int(m.group(1)) * SECONDS[m.group(2)]


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


def expand(sql: str, start: datetime, end: datetime, variables: dict[str, str], *, timescaledb: bool = False) -> str:
    for name, value in variables.items():
        sql = sql.replace("${" + name + "}", value).replace("[[" + name + "]]", value)
        sql = re.sub(r"\$" + name + r"\b", value, sql)

    def macro(m: re.Match[str]) -> str:
        name, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
        if name == "__timeGroup" and sql[m.end():m.end() + 1] == ",":
            name = "__timeGroupAlias"
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{_rfc3339(start)}' AND '{_rfc3339(end)}'"
        if name == "__timeFrom":
            return f"'{_rfc3339(start)}'"
        if name == "__timeTo":
            return f"'{_rfc3339(end)}'"
        if name in ("__timeGroup", "__timeGroupAlias"):
            if len(args) < 2:
                raise MacroError(f"macro {name} needs time column and interval")
            secs = _seconds(args[1])
            group = (f"time_bucket('{secs:.3f}s',{args[0]})" if timescaledb
                     else f"floor(extract(epoch from {args[0]})/{_num(secs)})*{_num(secs)}")
            return group + (' AS "time"' if name == "__timeGroupAlias" else "")
        raise MacroError(f"unknown macro {name!r}")

    return MACRO.sub(macro, sql)
