"""Warnings a station shows staff for a record the hub accepted (pure): doses out of order or too close,
and vouchers that match no uploaded resident or one who moved out or died. Never refusals (Q34)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from hub.db.versions import Key, ResidentMatch, Version
from protocol.records import (
    DOSE_INTERVAL_SHORT,
    DOSE_ORDER,
    RESIDENT_DECEASED,
    RESIDENT_MOVED_OUT,
    UNKNOWN_VOUCHER,
)


class RecordWarning(msgspec.Struct, frozen=True):
    """One warning for one record."""

    record_id: str
    code: str
    detail: str = ""


def dose_warnings(
    v: Version, current: Mapping[Key, Version | None], min_interval_days: Mapping[str, int]
) -> list[RecordWarning]:
    """Compare a vaccinated dose with the neighbouring doses of the same voucher in the current state."""
    if v.status != "vaccinated":
        return []
    out: list[RecordWarning] = []
    prev = current.get((v.municipality_code, v.voucher_no, v.dose - 1))
    if prev is not None and prev.record_id != v.record_id and prev.status == "vaccinated":
        gap = (v.administered_on - prev.administered_on).days
        minimum = min_interval_days.get(prev.maker)
        if gap < 0:
            detail = f"dose {v.dose} on {v.administered_on} is before dose {prev.dose} on {prev.administered_on}"
            out.append(RecordWarning(v.record_id, DOSE_ORDER, detail))
        elif minimum is not None and gap < minimum:
            out.append(RecordWarning(v.record_id, DOSE_INTERVAL_SHORT,
                               f"{gap} days after dose {prev.dose} ({prev.maker}); the minimum is {minimum}"))
    nxt = current.get((v.municipality_code, v.voucher_no, v.dose + 1))
    if nxt is not None and nxt.record_id != v.record_id and nxt.status == "vaccinated" \
            and nxt.administered_on < v.administered_on:
        out.append(RecordWarning(v.record_id, DOSE_ORDER,
                           f"dose {v.dose} on {v.administered_on} is after dose {nxt.dose} on {nxt.administered_on}"))
    return out


def resident_warnings(
    v: Version, resident: ResidentMatch | None, municipality_has_residents: bool
) -> list[RecordWarning]:
    """Whether the voucher belongs to a known, present resident of its municipality.

    A municipality that has uploaded no residents yet gets no unknown_voucher warnings: every scan would
    carry one and staff would learn to ignore them. The record is still flagged unmatched either way.
    """
    if resident is None:
        if not municipality_has_residents:
            return []
        return [RecordWarning(v.record_id, UNKNOWN_VOUCHER,
                        f"voucher {v.voucher_no} is not among {v.municipality_code}'s residents; kept as unmatched")]
    if resident.status == "moved_out":
        return [RecordWarning(v.record_id, RESIDENT_MOVED_OUT, f"resident {resident.atena_no} has moved out")]
    if resident.status == "deceased":
        return [RecordWarning(v.record_id, RESIDENT_DECEASED, f"resident {resident.atena_no} is recorded as deceased")]
    return []
