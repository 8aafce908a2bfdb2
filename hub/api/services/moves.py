"""Moves as the municipal pages and API offer them: flag a resident moved out or deceased, and run a
move-in inquiry with the person's consent against the previous municipality, then copy its records.

Input is checked here (every problem listed, as the person typed it); the cross-municipality read itself
happens only in the database functions behind hub.db.moves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec
import psycopg

from hub.api.errors import InvalidInput, NotFound
from hub.db import audit, moves
from hub.errors import InputError, NotFoundError
from hub.files import DateError, nfkc, parse_date
from hub.files.text import has_ideograph, kana_key
from hub.keys import my_number_hmac
from protocol.check_digits import is_valid_my_number
from protocol.municipalities import is_municipality, lookup

MAX_NAME = 100
# A consent noted a little ahead of the server's clock is a clock difference, not a future consent.
CONSENT_CLOCK_SLACK = dt.timedelta(minutes=10)

CONSENT_LABELS = {"written": "書面", "verbal": "口頭"}
MOVEMENT_LABELS = {"moved_out": "転出", "deceased": "死亡", "active": "在住 (取消)"}


class InquiryInput(msgspec.Struct, kw_only=True):
    """A move-in inquiry as typed: the previous municipality, My Number or the 3 items, and the consent."""

    from_municipality_code: str
    consent_kind: str
    consent_given_by: str
    consent_at: str = ""  # ISO date-time; empty means now
    my_number: str = ""
    name_kana: str = ""
    birth_date: str = ""
    sex: str = ""


class MovementInput(msgspec.Struct, kw_only=True):
    """A resident flagged moved out or deceased (or back to active), with the day it happened."""

    status: str
    date: str = ""


def _sex(text: str) -> int | None:
    value = nfkc(text).strip()
    return {"1": 1, "2": 2, "男": 1, "女": 2, "male": 1, "female": 2}.get(value.lower())


def _consent_at(text: str, now: dt.datetime, problems: list[str]) -> dt.datetime:
    if not text.strip():
        return now
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        problems.append("同意日時 (consent_at): YYYY-MM-DDTHH:MM の形式で入力してください")
        return now
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone(dt.timedelta(hours=9)))  # typed in Japan
    if at > now + CONSENT_CLOCK_SLACK:
        problems.append("同意日時 (consent_at): 未来の日時は指定できません")
    return at


def check_inquiry(data: InquiryInput, *, own_code: str, secret: bytes, actor: str,
                  now: dt.datetime) -> moves.NewInquiry:
    """The inquiry to record, or InvalidInput listing every problem."""
    problems: list[str] = []
    source = nfkc(data.from_municipality_code).strip()
    if not is_municipality(source):
        problems.append(f"前住所地の自治体コード (from_municipality_code): {source!r} は市区町村コードではありません")
    elif source == own_code:
        problems.append("前住所地の自治体コード (from_municipality_code): 自分の自治体は照会できません")
    if data.consent_kind not in CONSENT_LABELS:
        problems.append("同意の方法 (consent_kind): written (書面) または verbal (口頭) を選んでください")
    given_by = data.consent_given_by.strip()
    if not 1 <= len(given_by) <= MAX_NAME:
        problems.append("同意した人 (consent_given_by): 本人または代理人の氏名を入力してください")
    consent_at = _consent_at(data.consent_at, now, problems)
    number = nfkc(data.my_number).replace("-", "").replace(" ", "")
    three = [data.name_kana.strip(), data.birth_date.strip(), data.sex.strip()]
    method: Literal["my_number", "three_items"] = "my_number" if number else "three_items"
    fields: dict[str, Any] = {}
    if number:
        if any(three):
            problems.append("個人番号か3情報 (氏名カナ・生年月日・性別) のどちらか一方で照会してください")
        if not is_valid_my_number(number):
            problems.append("個人番号 (my_number): 12桁でチェックデジットが正しい番号を入力してください")
        else:
            fields["my_number_hmac"] = my_number_hmac(secret, number)
    else:
        kana = kana_key(data.name_kana) if data.name_kana.strip() else ""
        if not kana or has_ideograph(kana) or len(kana) > MAX_NAME:
            problems.append("氏名カナ (name_kana): カナで入力してください (個人番号がない場合は3情報すべてが必要です)")
        try:
            fields["birth_date"] = parse_date(data.birth_date)
        except DateError as exc:
            problems.append(f"生年月日 (birth_date): {exc.reason}")
        sex = _sex(data.sex)
        if sex is None:
            problems.append("性別 (sex): 1 (男) または 2 (女)")
        fields.update(name_kana_norm=kana, sex=sex)
    if problems:
        raise InvalidInput(problems)
    return moves.NewInquiry(
        from_municipality_code=source, method=method, consent_kind=data.consent_kind,  # type: ignore[arg-type]  # checked above
        consent_at=consent_at, consent_given_by=given_by, consent_taken_by=actor, **fields,
    )


def start_inquiry(conn: psycopg.Connection[Any], own_code: str, data: InquiryInput, *, secret: bytes, actor: str,
                  now: dt.datetime) -> moves.InquiryAnswer:
    """Record the consented inquiry and answer it (once)."""
    new = check_inquiry(data, own_code=own_code, secret=secret, actor=actor, now=now)
    return moves.ask(conn, own_code, new, asked_by=actor)


def choose(conn: psycopg.Connection[Any], own_code: str, inquiry_id: str, candidate_no: int,
           actor: str) -> moves.InquiryAnswer:
    if moves.inquiry(conn, own_code, inquiry_id) is None:
        raise NotFound("no such inquiry")
    try:
        return moves.choose_candidate(conn, inquiry_id, candidate_no, actor)
    except InputError as exc:
        raise InvalidInput([f"候補の選択: {exc}"]) from None


def copy(conn: psycopg.Connection[Any], own_code: str, inquiry_id: str, atena_no: str, actor: str) -> int:
    """Copy the inquiry's chosen records into resident `atena_no` of the caller's municipality."""
    if moves.inquiry(conn, own_code, inquiry_id) is None:
        raise NotFound("no such inquiry")
    atena = nfkc(atena_no).strip()
    exists = conn.execute("SELECT 1 FROM residents WHERE municipality_code = %s AND atena_no = %s",
                          (own_code, atena)).fetchone()
    if exists is None:
        raise InvalidInput([f"宛名番号 (atena_no): {atena!r} の住民はいません。先に住民データを取り込んでください"])
    try:
        return moves.copy_records(conn, inquiry_id, atena, actor)
    except InputError as exc:
        raise InvalidInput([f"記録の取込: {exc}"]) from None
    except NotFoundError:
        raise InvalidInput([f"宛名番号 (atena_no): {atena!r} の住民はいません"]) from None


def set_movement(conn: psycopg.Connection[Any], own_code: str, atena_no: str, data: MovementInput, *, actor: str,
                 today: dt.date) -> None:
    """Flag a resident (Q67, Q68); audited."""
    problems = []
    if data.status not in MOVEMENT_LABELS:
        problems.append("異動区分 (status): moved_out (転出), deceased (死亡) または active")
    on: dt.date | None = None
    if data.status != "active":
        try:
            on = parse_date(data.date) if data.date.strip() else today
        except DateError as exc:
            problems.append(f"異動日 (date): {exc.reason}")
        if on is not None and on > today:
            problems.append("異動日 (date): 未来の日付は指定できません")
    if problems:
        raise InvalidInput(problems)
    if not moves.set_resident_status(conn, own_code, atena_no, data.status, on):  # type: ignore[arg-type]  # checked above
        raise NotFound("no such resident")
    audit.write(conn, own_code, actor=actor, action="resident_movement", target=atena_no,
                details={"status": data.status, "date": on.isoformat() if on else None})


def municipality_label(code: str) -> str:
    """"東京都 千代田区 (131016)" for a code of the list, the code alone otherwise."""
    m = lookup(code)
    return f"{m.prefecture} {m.name} ({code})" if m else code
