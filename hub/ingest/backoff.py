"""Reconnect delays: exponential with jitter and a cap, shared by the broker and database reconnects."""

from __future__ import annotations

import random


class Backoff:
    """Successive waits INITIAL, INITIAL*FACTOR, ... up to CAP, each spread by +-JITTER (a fraction).

    The constants are class attributes so that tests (and the benchmark) can shorten them.
    """

    INITIAL = 0.2
    FACTOR = 2.0
    CAP = 5.0
    JITTER = 0.2

    def __init__(self) -> None:
        self._next = self.INITIAL

    def next_delay(self) -> float:
        """The wait before the next attempt; each call lengthens the following one."""
        base = self._next
        self._next = min(self._next * self.FACTOR, self.CAP)
        return max(0.0, base * (1 + random.uniform(-self.JITTER, self.JITTER)))

    def reset(self) -> None:
        """Back to the shortest wait, after a success."""
        self._next = self.INITIAL
