"""The clinic's day counts (pure): Japan hours whatever the stored time zone, stations in order, imported
records (no station) last."""

from __future__ import annotations

import datetime as dt

from hub.api.services.clinic import summarize
from hub.db.records import VenueRecord

UTC = dt.UTC


def rec(device: str | None, at: dt.datetime, status: str = "vaccinated") -> VenueRecord:
    return VenueRecord("131016", "0000000001", 1, status, dt.date(2021, 7, 1), "pfizer", "L", "D", at, device)


def test_counts_use_japan_hours_and_keep_imports_apart() -> None:
    rows = [rec("st-2", dt.datetime(2021, 6, 30, 15, 30, tzinfo=UTC)),  # 00:30 in Japan
            rec("st-1", dt.datetime(2021, 7, 1, 0, 59, tzinfo=UTC)),   # 09:59
            rec(None, dt.datetime(2021, 7, 1, 1, 0, tzinfo=UTC), "screened_only"),  # 10:00
            rec("st-1", dt.datetime(2021, 7, 1, 14, 59, tzinfo=UTC))]  # 23:59
    day = summarize("v1", "会場", dt.date(2021, 7, 1), rows)
    assert (day.records, day.vaccinated, day.screened_only) == (4, 3, 1)
    assert [(s.device_id, s.records, s.vaccinated) for s in day.by_station] == [
        ("st-1", 2, 2), ("st-2", 1, 1), (None, 1, 0)]
    assert [(h.hour, h.records) for h in day.by_hour] == [(0, 1), (9, 1), (10, 1), (23, 1)]


def test_an_empty_day() -> None:
    day = summarize("v1", "会場", dt.date(2021, 7, 1), [])
    assert (day.records, day.by_station, day.by_hour) == (0, [], [])
