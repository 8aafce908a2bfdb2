"""The per-station message rate of the ingest (pure: a clock the test moves)."""

from __future__ import annotations

import pytest

from hub.ingest import station_rate
from hub.ingest.station_rate import StationRate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_only_the_rate() -> None:
    clock = Clock()
    limit = StationRate(rate=5, burst=10, clock=clock)
    assert [limit.allow("st-1") for _ in range(12)] == [True] * 10 + [False] * 2
    clock.now += 1.0  # five more a second
    assert sum(limit.allow("st-1") for _ in range(20)) == 5
    clock.now += 0.1  # half a message's worth: still nothing
    assert not limit.allow("st-1")


def test_one_station_flooding_leaves_the_others_their_own_rate() -> None:
    clock = Clock()
    limit = StationRate(rate=5, burst=10, clock=clock)
    assert sum(limit.allow("flood") for _ in range(10_000)) == 10
    assert all(limit.allow("quiet") for _ in range(10))


def test_an_idle_station_gets_its_burst_back_but_never_more() -> None:
    clock = Clock()
    limit = StationRate(rate=5, burst=10, clock=clock)
    for _ in range(10):
        limit.allow("st-1")
    clock.now += 3600
    assert sum(limit.allow("st-1") for _ in range(100)) == 10


def test_rate_zero_turns_the_limit_off() -> None:
    limit = StationRate(rate=0, burst=1, clock=Clock())
    assert all(limit.allow("st-1") for _ in range(1000))


def test_memory_stays_bounded_under_many_station_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ids come from topics, so a hostile client could invent many; the idlest stations are forgotten first.
    monkeypatch.setattr(station_rate, "MAX_STATIONS", 100)
    clock = Clock()
    limit = StationRate(rate=5, burst=10, clock=clock)
    for _ in range(10):
        limit.allow("busy")
    for i in range(1000):
        limit.allow(f"made-up-{i}")
    assert len(limit._buckets) <= 100
    assert not limit.allow("busy")  # the station at its limit was not forgotten and handed a new burst
