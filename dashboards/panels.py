"""Panel builders shared by the dashboards: every panel is raw SQL over the agg_* views.

Queries use Grafana's PostgreSQL macros ($__timeFilter, $__timeGroupAlias, $__time, $__timeTo) so the
dashboard's time picker works, and template variables in quotes ('$prefecture') so one value is one literal.
"""

from __future__ import annotations

from typing import Any

from grafanalib.core import (
    BarGauge,
    Dashboard,
    GridPos,
    PieChartv2,
    SqlTarget,
    Stat,
    Table,
    Template,
    Templating,
    Time,
    TimeSeries,
)

DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": "vrs-aggregates"}
PANEL_WIDTH = 12
PANEL_HEIGHT = 8


def _target(sql: str, fmt: str) -> SqlTarget:
    return SqlTarget(rawSql=sql.strip(), format=fmt, refId="A", datasource=DATASOURCE)


class Layout:
    """Places panels left to right, wrapping to a new row when the 24-column grid is full."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0

    def next(self, width: int = PANEL_WIDTH, height: int = PANEL_HEIGHT) -> GridPos:
        if self.x + width > 2 * PANEL_WIDTH:
            self.x, self.y = 0, self.y + height
        pos = GridPos(h=height, w=width, x=self.x, y=self.y)
        self.x += width
        return pos


def timeseries(layout: Layout, title: str, sql: str, *, stacked: bool = False, unit: str = "short") -> Any:
    return TimeSeries(
        title=title, dataSource=DATASOURCE, targets=[_target(sql, "time_series")], gridPos=layout.next(),
        unit=unit, stacking={"mode": "normal" if stacked else "none", "group": "A"},
    )


def table(layout: Layout, title: str, sql: str, *, full_width: bool = False) -> Any:
    width = PANEL_WIDTH * 2 if full_width else PANEL_WIDTH
    return Table(title=title, dataSource=DATASOURCE, targets=[_target(sql, "table")],
                 gridPos=layout.next(width=width))


def stat(layout: Layout, title: str, sql: str, *, unit: str = "short") -> Any:
    return Stat(title=title, dataSource=DATASOURCE, targets=[_target(sql, "table")], gridPos=layout.next(),
                format=unit, reduceCalc="lastNotNull", fields="/.*/")


def pie(layout: Layout, title: str, sql: str) -> Any:
    return PieChartv2(title=title, dataSource=DATASOURCE, targets=[_target(sql, "table")], gridPos=layout.next(),
                      reduceOptionsCalcs=["lastNotNull"], reduceOptionsValues=True)


def bars(layout: Layout, title: str, sql: str, *, unit: str = "percentunit") -> Any:
    return BarGauge(title=title, dataSource=DATASOURCE, targets=[_target(sql, "table")], gridPos=layout.next(),
                    format=unit, min=0, max=1, orientation="horizontal", calc="lastNotNull",
                    allValues=True)


def variable(name: str, label: str, sql: str) -> Template:
    """A single-choice variable whose query returns __value and __text columns."""
    return Template(name=name, label=label, query=sql.strip(), dataSource=DATASOURCE, type="query",
                    refresh=1, includeAll=False, multi=False, sort=1)


def build(uid: str, title: str, panels: list[Any], *, variables: list[Template] | None = None,
          time_from: str = "now-30d") -> Any:
    return Dashboard(
        uid=uid, title=title, panels=panels, timezone="Asia/Tokyo", editable=False,
        time=Time(time_from, "now"), refresh="5m", tags=["vrs", "aggregates"],
        templating=Templating(list=variables or []),
    ).auto_panel_ids()
