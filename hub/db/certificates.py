"""Queries behind vaccination certificates: a resident's vaccinated doses, the issued-certificates table,
and revocation (per card, and of every card that listed a record when that record is corrected or voided).

Functions run inside a transaction the caller opened with hub.db.scoped: municipality scope for issuing and
reading, ingest or municipality scope for revoking. The revocation list itself (revoked_rids) is public.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import psycopg

from hub.certificates.revocation import Crl
from hub.db.versions import Key

Conn = psycopg.Connection[Any]
CORRECTED = "record corrected or voided"


class ResidentRow(msgspec.Struct, frozen=True):
    """What a card names of a resident."""

    municipality_code: str
    atena_no: str
    name: str
    birth_date: datetime.date | None
    voucher_no: str | None


class DoseRow(msgspec.Struct, frozen=True):
    """A current dose record of a resident, with the venue's name as the card's performer."""

    voucher_no: str
    dose: int
    record_id: str
    status: str
    administered_on: datetime.date
    maker: str
    lot: str
    performer: str


class IssuedRow(msgspec.Struct, frozen=True):
    """One issued card as the municipality's staff sees it."""

    certificate_id: str
    atena_no: str
    kid: str
    rid: str
    issued_at: datetime.datetime
    issued_by: str
    revoked_at: datetime.datetime | None
    revoked_reason: str | None
    doses: list[tuple[str, int]]


def resident(conn: Conn, municipality_code: str, atena_no: str) -> ResidentRow | None:
    """The resident, or None (also when the scope does not see them)."""
    row = conn.execute(
        "SELECT municipality_code, atena_no, name, birth_date, voucher_no FROM residents"
        " WHERE municipality_code = %s AND atena_no = %s",
        (municipality_code, atena_no),
    ).fetchone()
    return ResidentRow(*row) if row else None


def vaccinated_doses(conn: Conn, who: ResidentRow) -> list[DoseRow]:
    """The resident's current `vaccinated` dose records (matched to them, or under their voucher); never
    `screened_only`. Ordered by date, then dose."""
    cur = conn.execute(
        "SELECT v.voucher_no, v.dose, v.record_id::text, v.status, v.administered_on, v.maker, v.lot,"
        " coalesce(ve.name, v.venue_id)"
        " FROM vaccinations v LEFT JOIN venues ve ON ve.venue_id = v.venue_id"
        " WHERE v.municipality_code = %s AND v.status = 'vaccinated'"
        " AND (v.atena_no = %s OR (%s::text IS NOT NULL AND v.voucher_no = %s::text))"
        " ORDER BY v.administered_on, v.dose",
        (who.municipality_code, who.atena_no, who.voucher_no, who.voucher_no),
    )
    return [DoseRow(r[0], int(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in cur]


def record_issued(conn: Conn, *, municipality_code: str, certificate_id: str, atena_no: str, kid: str, rid: str,
                  issuer: str, issued_at: datetime.datetime, issued_by: str, doses: Sequence[DoseRow]) -> None:
    """Remember an issued card and the dose records it lists."""
    conn.execute(
        "INSERT INTO issued_certificates (municipality_code, certificate_id, atena_no, kid, rid, issuer, issued_at,"
        " issued_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (municipality_code, certificate_id, atena_no, kid, rid, issuer, issued_at, issued_by),
    )
    conn.execute(
        "INSERT INTO issued_certificate_doses (municipality_code, certificate_id, voucher_no, dose, record_id)"
        " SELECT %s, %s, * FROM unnest(%s::text[], %s::smallint[], %s::uuid[])",
        (municipality_code, certificate_id, [d.voucher_no for d in doses], [d.dose for d in doses],
         [d.record_id for d in doses]),
    )


def issued_to(conn: Conn, municipality_code: str, atena_no: str) -> list[IssuedRow]:
    """The cards issued to a resident, newest first."""
    cur = conn.execute(
        "SELECT c.certificate_id::text, c.atena_no, c.kid, c.rid, c.issued_at, c.issued_by, c.revoked_at,"
        " c.revoked_reason, coalesce(array_agg(d.voucher_no || ':' || d.dose ORDER BY d.dose)"
        " FILTER (WHERE d.dose IS NOT NULL), '{}')"
        " FROM issued_certificates c LEFT JOIN issued_certificate_doses d"
        " ON d.municipality_code = c.municipality_code AND d.certificate_id = c.certificate_id"
        " WHERE c.municipality_code = %s AND c.atena_no = %s"
        " GROUP BY c.municipality_code, c.certificate_id ORDER BY c.issued_at DESC",
        (municipality_code, atena_no),
    )
    out = []
    for r in cur:
        doses = [(v, int(n)) for v, _, n in (item.partition(":") for item in r[8])]
        out.append(IssuedRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], doses))
    return out


def _revoke(conn: Conn, where: str, params: Sequence[Any], reason: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "UPDATE issued_certificates c SET revoked_at = now(), revoked_reason = %s"
        f" WHERE c.revoked_at IS NULL AND {where} RETURNING c.kid, c.rid",
        (reason, *params),
    ).fetchall()
    pairs = sorted((str(k), str(r)) for k, r in rows)
    if pairs:
        conn.execute(
            "INSERT INTO revoked_rids (kid, rid) SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT DO NOTHING",
            ([p[0] for p in pairs], [p[1] for p in pairs]),
        )
    return pairs


def revoke_for_records(conn: Conn, keys: Iterable[Key], reason: str = CORRECTED) -> list[tuple[str, str]]:
    """Revoke every live card listing any of these (municipality_code, voucher_no, dose) records; returns the
    (kid, rid) pairs revoked. Call it wherever a record is overwritten, corrected or voided."""
    ks = sorted(set(keys))
    if not ks:
        return []
    return _revoke(
        conn,
        "EXISTS (SELECT 1 FROM issued_certificate_doses d WHERE d.municipality_code = c.municipality_code"
        " AND d.certificate_id = c.certificate_id AND (d.municipality_code, d.voucher_no, d.dose) IN"
        " (SELECT * FROM unnest(%s::text[], %s::text[], %s::smallint[])))",
        ([k[0] for k in ks], [k[1] for k in ks], [k[2] for k in ks]),
        reason,
    )


def revoke_for_record(conn: Conn, municipality_code: str, voucher_no: str, dose: int,
                      reason: str = CORRECTED) -> list[tuple[str, str]]:
    """Revoke every live card listing the record (municipality_code, voucher_no, dose)."""
    return revoke_for_records(conn, [(municipality_code, voucher_no, dose)], reason)


def revoke_certificate(conn: Conn, municipality_code: str, certificate_id: str, reason: str) -> list[tuple[str, str]]:
    """Revoke one card (e.g. lost, or issued to the wrong person)."""
    return _revoke(conn, "c.municipality_code = %s AND c.certificate_id = %s::uuid", (municipality_code,
                                                                                      certificate_id), reason)


def crl(conn: Conn, kid: str) -> Crl:
    """The public revocation list of one issuer key; `ctr` counts its entries, which are never removed."""
    rids = [str(r[0]) for r in conn.execute("SELECT rid FROM revoked_rids WHERE kid = %s ORDER BY revoked_at, rid",
                                            (kid,))]
    return Crl(kid=kid, ctr=len(rids), rids=rids)


def crl_versions(conn: Conn) -> dict[str, int]:
    """The `ctr` of every key that has a revocation list (the JWKS echoes it as crlVersion)."""
    return {str(k): int(n) for k, n in conn.execute("SELECT kid, count(*) FROM revoked_rids GROUP BY kid")}


def add_link(conn: Conn, municipality_code: str, link_hash: bytes, atena_no: str, created_by: str,
             expires_at: datetime.datetime) -> None:
    """Remember a resident's certificate link (its hash only)."""
    conn.execute(
        "INSERT INTO certificate_links (municipality_code, link_hash, atena_no, created_by, expires_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (municipality_code, link_hash, atena_no, created_by, expires_at),
    )


def use_link(conn: Conn, municipality_code: str, link_hash: bytes, now: datetime.datetime) -> str | None:
    """The 宛名番号 a live link is for (counting the use), or None when unknown or expired."""
    row = conn.execute(
        "UPDATE certificate_links SET uses = uses + 1 WHERE municipality_code = %s AND link_hash = %s"
        " AND expires_at > %s RETURNING atena_no",
        (municipality_code, link_hash, now),
    ).fetchone()
    return str(row[0]) if row else None


def link_target(conn: Conn, municipality_code: str, link_hash: bytes, now: datetime.datetime) -> str | None:
    """The 宛名番号 a live link is for, without using it."""
    row = conn.execute(
        "SELECT atena_no FROM certificate_links WHERE municipality_code = %s AND link_hash = %s AND expires_at > %s",
        (municipality_code, link_hash, now),
    ).fetchone()
    return str(row[0]) if row else None
