"""The data-quality page's work: list a municipality's records that need a look, and resolve each one by
matching it to a resident, correcting it (a normal audited correction), or dismissing it with a reason.
Every resolution is kept and audited."""

from __future__ import annotations

import uuid
from collections import Counter

import msgspec

from hub.api.context import Caller
from hub.api.errors import InvalidInput, NotFound
from hub.api.services.records import MAX_REASON_LENGTH, CorrectionInput, correct_record
from hub.config import DEFAULT_MIN_INTERVAL_DAYS
from hub.db import audit, quality
from hub.errors import ConflictError
from hub.files import DateError, nfkc, parse_date
from protocol.records import FIRST_VACCINATION_DAY, japan_today

KIND_LABELS = {
    "unmatched_voucher": "住民と未照合の券番号",
    "dose_order": "接種回数の順序",
    "dose_interval": "接種間隔が短い",
    "resident_moved_out": "転出者の記録",
    "resident_deceased": "死亡者の記録",
    "impossible_date": "ありえない日付",
}
ACTION_LABELS = {"match": "住民に照合", "correct": "訂正", "dismiss": "問題なしとして閉じる"}


class ResolveInput(msgspec.Struct, kw_only=True):
    """How to resolve one issue of one record version."""

    kind: str
    action: str
    reason: str = ""
    atena_no: str = ""  # match: the resident the record belongs to
    administered_on: str = ""  # correct: any of these three may change
    voucher_no: str = ""
    dose: str = ""


class QualityView(msgspec.Struct):
    """The issues of a municipality and how many of each kind."""

    municipality_code: str
    counts: dict[str, int]
    issues: list[quality.Issue]


class Resolved(msgspec.Struct):
    """What a resolution did."""

    kind: str
    record_id: str
    resolution: str
    new_record_id: str | None = None


def _issues(caller: Caller, code: str, record_id: str | None = None) -> list[quality.Issue]:
    return quality.issues(caller.conn, code, today=japan_today(caller.now), first_day=FIRST_VACCINATION_DAY,
                          min_interval_days=DEFAULT_MIN_INTERVAL_DAYS, record_id=record_id)


def view(caller: Caller, code: str) -> QualityView:
    found = _issues(caller, code)
    counts = Counter(i.kind for i in found)
    return QualityView(municipality_code=code, counts={k: counts.get(k, 0) for k in quality.KINDS}, issues=found)


def _reason(text: str, default: str = "") -> str:
    reason = text.strip() or default
    if not reason:
        raise InvalidInput(["理由 (reason): 理由を入力してください"])
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput([f"理由 (reason): {MAX_REASON_LENGTH}文字以内"])
    return reason


def _correction(data: ResolveInput, reason: str) -> CorrectionInput:
    problems: list[str] = []
    change = CorrectionInput(reason=reason)
    if data.administered_on.strip():
        try:
            change.administered_on = parse_date(data.administered_on)
        except DateError as exc:
            problems.append(f"接種日 (administered_on): {exc.reason}")
    if data.voucher_no.strip():
        change.voucher_no = nfkc(data.voucher_no).strip()
    if data.dose.strip():
        try:
            change.dose = int(nfkc(data.dose))
        except ValueError:
            problems.append("接種回数 (dose): 1-9")
    if problems:
        raise InvalidInput(problems)
    return change


def resolve(caller: Caller, code: str, record_id: str, data: ResolveInput) -> Resolved:
    """Resolve the issue `data.kind` of the current record version `record_id` (404 if it has no such issue)."""
    try:
        record_id = str(uuid.UUID(record_id))
        issue = next(i for i in _issues(caller, code, record_id) if i.kind == data.kind)
    except (StopIteration, ValueError):
        raise NotFound("no such open issue") from None
    actor = caller.identity.username
    new_record_id = None
    atena = None
    if data.action == "dismiss":
        reason = _reason(data.reason)
        resolution: quality.Resolution = "dismissed"
    elif data.action == "match":
        if issue.kind != "unmatched_voucher":
            raise InvalidInput(["照合できるのは住民と未照合の記録だけです"])
        atena = nfkc(data.atena_no).strip()
        reason = _reason(data.reason, f"宛名番号 {atena} に照合")
        if not atena or not quality.match_record(caller.conn, code, record_id, atena):
            raise InvalidInput([f"宛名番号 (atena_no): {atena!r} の住民はいません"])
        resolution = "matched"
    elif data.action == "correct":
        reason = _reason(data.reason)
        done = correct_record(caller.conn, (code, issue.voucher_no, issue.dose), _correction(data, reason),
                              actor=actor, today=japan_today(caller.now), now=caller.now)
        new_record_id = done.new_record_id
        resolution = "corrected"
    else:
        raise InvalidInput(["action: match, correct または dismiss"])
    try:
        quality.add_resolution(caller.conn, code, issue.kind, record_id, resolution, reason, actor, atena)
    except ConflictError:
        raise NotFound("no such open issue") from None
    details = {"kind": issue.kind, "record_id": record_id, "reason": reason, "atena_no": atena,
               "new_record_id": new_record_id, "administered_on": issue.administered_on.isoformat()}
    audit.write(caller.conn, code, actor=actor, action=f"quality.{resolution}",
                target=f"{issue.voucher_no}/{issue.dose}", details=details)
    return Resolved(kind=issue.kind, record_id=record_id, resolution=resolution, new_record_id=new_record_id)
