"""A venue's day (Q31, Q35): the records made there on one Japan day, counted per station and per hour,
so that staff can match the count with the paper forms before closing."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

import msgspec

from hub.db.records import VenueRecord
from protocol.records import JST


class StationCount(msgspec.Struct, frozen=True):
    """Records of one station that day (device_id None: imported or corrected, not scanned)."""

    device_id: str | None
    records: int
    vaccinated: int


class HourCount(msgspec.Struct, frozen=True):
    """Records scanned in one hour of the day (Japan time), 0-23."""

    hour: int
    records: int


class VenueDay(msgspec.Struct, frozen=True):
    """The day of one venue."""

    venue_id: str
    venue_name: str
    day: dt.date
    records: int
    vaccinated: int
    screened_only: int
    by_station: list[StationCount]
    by_hour: list[HourCount]
    rows: list[VenueRecord]


def summarize(venue_id: str, venue_name: str, day: dt.date, rows: Sequence[VenueRecord]) -> VenueDay:
    """Counts of `rows` (the venue's records of `day`) per station and per hour (pure)."""
    per_station: Counter[str | None] = Counter(r.device_id for r in rows)
    vaccinated_per_station: Counter[str | None] = Counter(r.device_id for r in rows if r.status == "vaccinated")
    per_hour = Counter(r.scanned_at.astimezone(JST).hour for r in rows)
    vaccinated = sum(1 for r in rows if r.status == "vaccinated")
    return VenueDay(
        venue_id=venue_id, venue_name=venue_name, day=day, records=len(rows), vaccinated=vaccinated,
        screened_only=len(rows) - vaccinated,
        by_station=[StationCount(d, n, vaccinated_per_station[d])
                    for d, n in sorted(per_station.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))],
        by_hour=[HourCount(h, per_hour[h]) for h in sorted(per_hour)],
        rows=list(rows),
    )
