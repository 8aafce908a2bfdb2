"""Moves: residents flagged as moved out or deceased, and move-in inquiries (転入時の照会).

The inquiry itself runs in the database functions of migration 0020 (vrs_inquiry_run/choose/copy), the
only path by which one municipality reads another's data; this module records the consented inquiry in
the caller's scope, calls those functions and decodes their answers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import msgspec
import psycopg
from psycopg import errors

from hub.errors import InputError, NotFoundError

Conn = psycopg.Connection[Any]
Movement = Literal["active", "moved_out", "deceased"]


def set_resident_status(conn: Conn, municipality_code: str, atena_no: str, status: Movement,
                        on: dt.date | None) -> bool:
    """Flag a resident of the scope's municipality; False when there is no such resident."""
    cur = conn.execute(
        "UPDATE residents SET status = %s, status_date = %s, updated_at = now()"
        " WHERE municipality_code = %s AND atena_no = %s",
        (status, None if status == "active" else on, municipality_code, atena_no),
    )
    return cur.rowcount > 0


class NewInquiry(msgspec.Struct, frozen=True, kw_only=True):
    """A consented inquiry as the asking municipality records it (My Number already as its HMAC)."""

    from_municipality_code: str
    method: Literal["my_number", "three_items"]
    my_number_hmac: bytes | None = None
    name_kana_norm: str | None = None
    birth_date: dt.date | None = None
    sex: int | None = None
    consent_kind: Literal["written", "verbal"]
    consent_at: dt.datetime
    consent_given_by: str
    consent_taken_by: str


def create_inquiry(conn: Conn, municipality_code: str, q: NewInquiry, *, asked_by: str) -> str:
    """Record an inquiry with its consent in the scope's municipality; returns its id."""
    inquiry_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO transfer_inquiries (municipality_code, inquiry_id, from_municipality_code, method,"
        " my_number_hmac, name_kana_norm, birth_date, sex, consent_kind, consent_at, consent_given_by,"
        " consent_taken_by, asked_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (municipality_code, inquiry_id, q.from_municipality_code, q.method, q.my_number_hmac, q.name_kana_norm,
         q.birth_date, q.sex, q.consent_kind, q.consent_at, q.consent_given_by, q.consent_taken_by, asked_by),
    )
    return inquiry_id


class Candidate(msgspec.Struct, frozen=True):
    """One of several persons matching the 3 items: only enough to tell them apart."""

    candidate_no: int
    masked_name: str
    birth_date: dt.date | None


class ProvidedRecord(msgspec.Struct, frozen=True):
    """A current dose record of the previous municipality, as provided to the asking one."""

    record_id: str
    voucher_no: str
    dose: int
    status: str
    administered_on: dt.date
    venue_id: str
    venue_name: str | None
    maker: str
    lot: str
    doctor: str


class InquiryAnswer(msgspec.Struct, frozen=True):
    """What an inquiry returned: no match, masked candidates to choose from, or one person's records."""

    inquiry_id: str
    from_municipality_code: str
    method: str
    matches: int
    chosen: int | None
    candidates: list[Candidate]
    records: list[ProvidedRecord]


def _call(conn: Conn, query: str, params: tuple[Any, ...]) -> Any:
    try:
        with conn.transaction():
            row = conn.execute(query, params).fetchone()
    except errors.NoDataFound:
        raise NotFoundError("no such inquiry") from None
    except errors.ObjectNotInPrerequisiteState as exc:
        raise InputError(exc.diag.message_primary or "the inquiry is not in that state") from None
    except errors.ForeignKeyViolation:
        raise NotFoundError("no such resident to copy into") from None
    assert row is not None
    return row[0]


def run_inquiry(conn: Conn, inquiry_id: str, actor: str) -> InquiryAnswer:
    """Answer a recorded inquiry (once); audited in both municipalities by the database function."""
    text = _call(conn, "SELECT vrs_inquiry_run(%s, %s)::text", (inquiry_id, actor))
    return msgspec.json.decode(text, type=InquiryAnswer)


def ask(conn: Conn, municipality_code: str, q: NewInquiry, *, asked_by: str) -> InquiryAnswer:
    """Record a consented inquiry and answer it, in one round trip to the server (pipeline mode)."""
    with conn.pipeline():
        inquiry_id = create_inquiry(conn, municipality_code, q, asked_by=asked_by)
        return run_inquiry(conn, inquiry_id, asked_by)


def choose_candidate(conn: Conn, inquiry_id: str, candidate_no: int, actor: str) -> InquiryAnswer:
    """Pick one of several matches; the answer then holds that person's records."""
    text = _call(conn, "SELECT vrs_inquiry_choose(%s, %s, %s)::text", (inquiry_id, candidate_no, actor))
    return msgspec.json.decode(text, type=InquiryAnswer)


def copy_records(conn: Conn, inquiry_id: str, atena_no: str, actor: str) -> int:
    """Copy the chosen person's records into resident `atena_no` of the asking municipality; rows added."""
    return int(_call(conn, "SELECT vrs_inquiry_copy(%s, %s, %s)", (inquiry_id, atena_no, actor)))


class InquirySummary(msgspec.Struct, frozen=True):
    """A past inquiry of the scope's municipality (no personal data of the other municipality)."""

    inquiry_id: str
    from_municipality_code: str
    method: str
    consent_kind: str
    consent_at: dt.datetime
    consent_given_by: str
    consent_taken_by: str
    asked_by: str
    asked_at: dt.datetime
    ran_at: dt.datetime | None
    candidates: int | None
    chosen: int | None


_SUMMARY = ("SELECT inquiry_id::text, from_municipality_code, method, consent_kind, consent_at, consent_given_by,"
            " consent_taken_by, asked_by, asked_at, ran_at, candidates, chosen FROM transfer_inquiries")


def inquiries(conn: Conn, municipality_code: str, limit: int = 100) -> list[InquirySummary]:
    """The newest inquiries of the scope's municipality."""
    cur = conn.execute(_SUMMARY + " WHERE municipality_code = %s ORDER BY asked_at DESC LIMIT %s",
                       (municipality_code, limit))
    return [InquirySummary(*r) for r in cur]


def inquiry(conn: Conn, municipality_code: str, inquiry_id: str) -> InquirySummary | None:
    """One inquiry of the scope's municipality, or None."""
    try:
        uuid.UUID(inquiry_id)
    except ValueError:
        return None
    row = conn.execute(_SUMMARY + " WHERE municipality_code = %s AND inquiry_id = %s",
                       (municipality_code, inquiry_id)).fetchone()
    return InquirySummary(*row) if row else None


class CopiedRecord(msgspec.Struct, frozen=True):
    """A record provided by a previous municipality and kept in the new resident's history."""

    provided_by_municipality_code: str
    source_record_id: str
    inquiry_id: str
    voucher_no: str
    dose: int
    status: str
    administered_on: dt.date
    venue_id: str
    venue_name: str | None
    maker: str
    lot: str
    doctor: str
    copied_by: str
    copied_at: dt.datetime


def provided_records(conn: Conn, municipality_code: str, atena_no: str) -> list[CopiedRecord]:
    """What previous municipalities provided for one resident, by dose."""
    cur = conn.execute(
        "SELECT provided_by_municipality_code, source_record_id::text, inquiry_id::text, voucher_no, dose, status,"
        " administered_on, venue_id, venue_name, maker, lot, doctor, copied_by, copied_at FROM provided_records"
        " WHERE municipality_code = %s AND atena_no = %s ORDER BY dose, administered_on",
        (municipality_code, atena_no),
    )
    return [CopiedRecord(*r) for r in cur]
