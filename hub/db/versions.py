"""Current state from versions, and the aggregate deltas between two states (pure; shared by every writer).

Per municipality + voucher + dose the current record is the latest registration, ordered by scanned_at
then record_id, that no void names (Q33: registering again overwrites). The hourly aggregates count the
current state, so a change of state moves counts from the old version's cell to the new one's.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping

import msgspec

from protocol.records import Record

Key = tuple[str, str, int]  # municipality_code, voucher_no, dose
AggKey = tuple[datetime.datetime, str, str, str, str, int, str]
# bucket, prefecture_code, municipality_code, venue_id, maker, dose, status


class Version(msgspec.Struct, frozen=True):
    """One registration as the current-state table holds it."""

    record_id: str
    municipality_code: str
    voucher_no: str
    dose: int
    ticket_kind: str | None
    status: str
    administered_on: datetime.date
    venue_id: str
    maker: str
    lot: str
    doctor: str
    read_source: str
    scanned_at: datetime.datetime
    device_id: str | None = None

    @property
    def key(self) -> Key:
        """Where this version lives in the current state."""
        return (self.municipality_code, self.voucher_no, self.dose)

    @property
    def order(self) -> tuple[datetime.datetime, str]:
        """Later registrations overwrite earlier ones; record_id breaks ties (UUIDv7 are time-ordered)."""
        return (self.scanned_at, self.record_id)


class ResidentMatch(msgspec.Struct, frozen=True):
    """The resident holding a voucher, as far as matching a record needs to know."""

    atena_no: str
    status: str


def version_of(record: Record, device_id: str | None) -> Version:
    """The version a register record makes."""
    return Version(
        record_id=record.record_id, municipality_code=record.municipality_code, voucher_no=record.voucher_no,
        dose=record.dose, ticket_kind=record.ticket_kind, status=record.status,
        administered_on=record.administered_on, venue_id=record.venue_id, maker=record.vaccine.maker,
        lot=record.vaccine.lot, doctor=record.doctor, read_source=record.read.source,
        scanned_at=record.scanned_at, device_id=device_id,
    )


def latest(versions: Iterable[Version | None], voided: set[str] | frozenset[str]) -> Version | None:
    """The current version among `versions`: the latest one not named by a void."""
    best: Version | None = None
    for v in versions:
        if v is not None and v.record_id not in voided and (best is None or v.order > best.order):
            best = v
    return best


def bucket_of(scanned_at: datetime.datetime) -> datetime.datetime:
    """The UTC hour a scan falls in."""
    return scanned_at.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)


def agg_key(v: Version) -> AggKey:
    """The aggregate cell a current version is counted in."""
    return (bucket_of(v.scanned_at), v.municipality_code[:2], v.municipality_code, v.venue_id, v.maker, v.dose,
            v.status)


def aggregate_deltas(before: Mapping[Key, Version | None], after: Mapping[Key, Version | None]) -> dict[AggKey, int]:
    """Count changes that turn the aggregates of `before` into those of `after` (zero deltas left out)."""
    delta: Counter[AggKey] = Counter()
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is not None:
            delta[agg_key(old)] -= 1
        if new is not None:
            delta[agg_key(new)] += 1
    return {k: n for k, n in delta.items() if n != 0}


def recount(current: Iterable[Version]) -> dict[AggKey, int]:
    """The aggregates of a whole current state, counted from scratch."""
    return dict(Counter(agg_key(v) for v in current))
