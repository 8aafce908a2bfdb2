"""Issuing a resident's card against the database: the thin shell around the pure core. It reads the
resident and their vaccinated doses, signs, remembers the card and the records it lists (so a later
correction revokes it), and writes the audit row, all in the caller's municipality-scoped transaction.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import msgspec
import psycopg

from hub.certificates import card, qr
from hub.certificates.errors import NothingToCertify
from hub.certificates.fhir import Dose, Person, build_bundle
from hub.certificates.issuer_keys import IssuerKeys
from hub.certificates.revocation import new_rid
from hub.db import audit
from hub.db import certificates as certs_db
from hub.errors import NotFoundError


class IssuedCertificate(msgspec.Struct, frozen=True):
    """A card just issued, in every form it is handed out in."""

    certificate_id: str
    municipality_code: str
    atena_no: str
    card: card.IssuedCard
    doses: int

    def png(self) -> bytes:
        return qr.png(self.card.qr_text)

    def svg(self) -> bytes:
        return qr.svg(self.card.qr_text)

    def file_content(self) -> bytes:
        return card.file_content([self.card.jws])


def issue(conn: psycopg.Connection[Any], keys: IssuerKeys, issuer: str, municipality_code: str, atena_no: str, *,
          actor: str, now: datetime.datetime) -> IssuedCertificate:
    """Issue, record and audit a card for a resident; NotFoundError or NothingToCertify say why not."""
    who = certs_db.resident(conn, municipality_code, atena_no)
    if who is None:
        raise NotFoundError(f"no resident with 宛名番号 {atena_no} in municipality {municipality_code}")
    if who.birth_date is None:
        raise NothingToCertify(f"resident {atena_no} has no birth date on file; a card must name it")
    rows = certs_db.vaccinated_doses(conn, who)
    doses = [Dose(r.dose, r.administered_on, r.maker, r.lot, r.performer, r.status) for r in rows]
    bundle = build_bundle(Person(who.name, who.birth_date), doses)
    issued = card.sign_card(keys.signing, issuer, int(now.timestamp()), bundle, new_rid())
    qr.make(issued.qr_text)  # refuse now, before recording, what would not print as one QR code
    certificate_id = str(uuid.uuid4())
    certs_db.record_issued(conn, municipality_code=municipality_code, certificate_id=certificate_id,
                           atena_no=atena_no, kid=issued.kid, rid=issued.rid or "", issuer=issuer,
                           issued_at=datetime.datetime.fromtimestamp(issued.nbf, datetime.UTC), issued_by=actor,
                           doses=rows)
    audit.write(conn, municipality_code, actor=actor, action="certificate.issue", target=atena_no,
                details={"certificate_id": certificate_id, "kid": issued.kid, "rid": issued.rid,
                         "doses": [f"{r.voucher_no}/{r.dose}" for r in rows]})
    return IssuedCertificate(certificate_id=certificate_id, municipality_code=municipality_code, atena_no=atena_no,
                             card=issued, doses=len(rows))


def revoke(conn: psycopg.Connection[Any], municipality_code: str, certificate_id: str, reason: str, *,
           actor: str) -> bool:
    """Revoke one card by hand (lost, wrong person); audited. False when it was already revoked or unknown."""
    pairs = certs_db.revoke_certificate(conn, municipality_code, certificate_id, reason)
    if pairs:
        audit.write(conn, municipality_code, actor=actor, action="certificate.revoke", target=certificate_id,
                    details={"reason": reason, "rid": pairs[0][1], "kid": pairs[0][0]})
    return bool(pairs)
