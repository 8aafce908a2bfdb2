"""The ingest's queue of received messages, taken in groups that share out places fairly between stations.

A station that floods (a long backlog after days offline, or a misbehaving one) must not starve the others:
a group of up to N batches takes one message per station in turn (round robin, each station's messages in
their arrival order), so a batch from any other station that is waiting goes into the very next group,
however many the flooder has queued.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """A thread-safe queue of items keyed by station; `take_group` hands them out round robin."""

    def __init__(self, size_of: Callable[[T], int] = lambda _item: 0) -> None:
        self._size_of = size_of
        # Stations with waiting items, in the order they take turns (a served station goes to the back).
        self._by_key: OrderedDict[str, deque[T]] = OrderedDict()
        self._count = 0
        self._ready = threading.Condition()

    def put(self, key: str, item: T) -> None:
        with self._ready:
            waiting = self._by_key.get(key)
            if waiting is None:
                waiting = self._by_key[key] = deque()
            waiting.append(item)
            self._count += 1
            self._ready.notify()

    def __len__(self) -> int:
        with self._ready:
            return self._count

    def take_group(self, max_items: int, max_bytes: int, timeout: float) -> list[T]:
        """Up to `max_items` items (and about `max_bytes`), one per station per round; [] after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while not self._count:
                left = deadline - time.monotonic()
                if (left <= 0 or not self._ready.wait(left)) and not self._count:
                    return []
            group: list[T] = []
            size = 0
            while self._count and len(group) < max_items and (not group or size < max_bytes):
                key, waiting = next(iter(self._by_key.items()))
                item = waiting.popleft()
                self._count -= 1
                if waiting:
                    self._by_key.move_to_end(key)
                else:
                    del self._by_key[key]
                group.append(item)
                size += self._size_of(item)
            return group
