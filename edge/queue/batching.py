"""Which records go into the next batch, and which batches still wait for the hub's answer (pure).

Draining is go-back-N: batches are sent in outbox order, at most ``size`` of them unanswered at once; when
one is not answered in time, or the connection drops, everything still in the outbox is sent again from the
oldest. Duplicates are harmless (the hub is idempotent on record_id); a gap would not be.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from edge.queue.outbox import PendingEntry

MAX_BATCH_BODY_BYTES = 160_000
"""Record bytes per batch; with base64 and the signature a JWS stays well under the hub's size limit."""


def take_batch(pending: Sequence[PendingEntry], *, max_records: int,
               max_bytes: int = MAX_BATCH_BODY_BYTES) -> list[PendingEntry]:
    """The longest prefix of ``pending`` that fits one batch; never empty when ``pending`` is not."""
    batch: list[PendingEntry] = []
    size = 0
    for entry in pending[:max_records]:
        if batch and size + len(entry.body) + 1 > max_bytes:
            break
        batch.append(entry)
        size += len(entry.body) + 1
    return batch


class SentBatch(msgspec.Struct, frozen=True):
    """A batch on its way to the hub: the last outbox position it covers and when to give up waiting."""

    batch_seq: int
    record_ids: tuple[str, ...]
    last_seq: int
    deadline: float


class SendWindow:
    """The batches sent and not yet answered, and the outbox position to send from next."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.cursor = 0
        """Outbox position of the last record sent since the last go-back."""
        self._batches: dict[int, SentBatch] = {}

    @property
    def full(self) -> bool:
        return len(self._batches) >= self.size

    @property
    def in_flight(self) -> int:
        return len(self._batches)

    def sent(self, batch: SentBatch) -> None:
        self._batches[batch.batch_seq] = batch
        self.cursor = max(self.cursor, batch.last_seq)

    def answered(self, batch_seq: int, answered_ids: set[str]) -> None:
        """An ack for ``batch_seq`` came; if it left some of the batch unanswered, go back for them."""
        batch = self._batches.pop(batch_seq, None)
        if batch is not None and not answered_ids.issuperset(batch.record_ids):
            self.go_back()

    def next_deadline(self) -> float | None:
        return min((b.deadline for b in self._batches.values()), default=None)

    def expired(self, now: float) -> bool:
        return any(b.deadline <= now for b in self._batches.values())

    def go_back(self) -> None:
        """Forget what was sent: everything still in the outbox goes out again, oldest first."""
        self._batches.clear()
        self.cursor = 0
