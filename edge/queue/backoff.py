"""How long the publisher waits before the next connection attempt to the broker."""

from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with full jitter, capped; reset after a successful connection.

    The constants are class attributes so that tests (and a field engineer tuning an LTE link) can change
    them without touching the publisher.
    """

    INITIAL = 0.5
    """Seconds before the first retry."""
    FACTOR = 2.0
    """How much the ceiling grows after each failure."""
    CAP = 30.0
    """Longest wait: an LTE link back after a tunnel is used within half a minute."""
    JITTER = 0.5
    """Fraction of the delay drawn at random, so that a venue's stations do not reconnect in lockstep."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._ceiling = self.INITIAL

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts as one more failure."""
        ceiling = self._ceiling
        self._ceiling = min(self.CAP, self._ceiling * self.FACTOR)
        fixed = ceiling * (1.0 - self.JITTER)
        return fixed + self._rng.uniform(0.0, ceiling * self.JITTER)

    def reset(self) -> None:
        """Start again from INITIAL (called once connected)."""
        self._ceiling = self.INITIAL
