"""Reconnect delays grow, stay under the cap, spread by jitter, and start over after a success."""

from __future__ import annotations

import pytest

from hub.ingest.backoff import Backoff


def test_delays_grow_to_the_cap_and_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Backoff, "JITTER", 0.0)
    b = Backoff()
    delays = [b.next_delay() for _ in range(10)]
    assert delays[:3] == [Backoff.INITIAL, Backoff.INITIAL * Backoff.FACTOR, Backoff.INITIAL * Backoff.FACTOR ** 2]
    assert max(delays) == Backoff.CAP and delays == sorted(delays)
    b.reset()
    assert b.next_delay() == Backoff.INITIAL


def test_jitter_spreads_workers_that_lost_the_same_broker() -> None:
    delays = {round(Backoff().next_delay(), 6) for _ in range(50)}
    assert len(delays) > 10
    assert all(Backoff.INITIAL * (1 - Backoff.JITTER) <= d <= Backoff.INITIAL * (1 + Backoff.JITTER) for d in delays)
