"""How many messages each station may send: a token bucket per station, refilled with time (pure; the
clock is passed in).

The broker limits the size of a message and how many are in flight, but not how many a second; a broken or
stolen station could flood the hub with batches that each cost a signature check. Beyond its rate a
station's messages are dropped unanswered, which is safe: its outbox keeps every record until a signed ack
and sends it again later. An honest station is far below the default rate (it keeps at most four batches
unanswered, and a live scan is a few a minute).
"""

from __future__ import annotations

from collections.abc import Callable

# Stations remembered at most; the idlest are forgotten first.
MAX_STATIONS = 100_000


class StationRate:
    """Allows each station `burst` messages at once and `rate` a second on average; rate 0 allows all."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        # station -> (tokens left, when they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, station: str) -> bool:
        """Whether this message of `station` may go on (and count against its rate)."""
        if self.rate <= 0:
            return True
        now = self._clock()
        tokens, then = self._buckets.get(station, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if len(self._buckets) >= MAX_STATIONS and station not in self._buckets:
            self._forget_idle(now)
        self._buckets[station] = (tokens, now)
        return allowed

    def _forget_idle(self, now: float) -> None:
        """Forget the half of the stations with the most tokens: forgetting one gives it a full bucket,
        which for those is (nearly) what they have anyway, while a flooder at its limit stays held."""
        by_tokens = sorted(self._buckets, key=lambda s: self._buckets[s][0] + (now - self._buckets[s][1]) * self.rate)
        for station in by_tokens[len(by_tokens) // 2:]:
            del self._buckets[station]
