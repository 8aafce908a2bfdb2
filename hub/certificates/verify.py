"""Offline verification of one SMART Health Card against a list of trusted issuers and their keys.

Order of checks: JWS structure and compression, size, header (alg ES256 only, kid), payload shape, issuer
URL and trust, key, signature, validity time, revocation, FHIR content. The first failure is raised as
CardRejected with a short reason code; a card that passes comes back summarised for a person.
"""

from __future__ import annotations

import datetime
import urllib.parse
from typing import Any

import msgspec

from hub.certificates import jws, numeric
from hub.certificates.card import HEALTH_CARD_TYPE
from hub.certificates.errors import CardRejected
from hub.certificates.fhir import CardSummary, summarise
from hub.certificates.revocation import Crl, revoked_by

# Clocks of issuer and verifier differ a little; a card signed a minute "in the future" is still fine.
CLOCK_SKEW = datetime.timedelta(minutes=1)
UTF8_BOM = b"\xef\xbb\xbf"


class TrustedIssuer(msgspec.Struct, frozen=True):
    """An issuer the verifier trusts: its `iss` URL, display name, public keys and revocation lists by kid."""

    iss: str
    name: str
    keys: list[jws.EcJwk]
    crls: dict[str, Crl] = msgspec.field(default_factory=dict)


class TrustStore(msgspec.Struct, frozen=True):
    """The issuers a verifier trusts, by `iss`."""

    issuers: dict[str, TrustedIssuer]

    @classmethod
    def of(cls, *issuers: TrustedIssuer) -> TrustStore:
        return cls({i.iss: i for i in issuers})


class CredentialSubject(msgspec.Struct, frozen=True):
    """vc.credentialSubject."""

    fhirVersion: str  # member names are the specification's
    fhirBundle: dict[str, Any]


class Vc(msgspec.Struct, frozen=True):
    """The payload's vc object."""

    type: list[str]
    credentialSubject: CredentialSubject
    rid: str | None = None


class CardPayload(msgspec.Struct, frozen=True):
    """The JWS payload of a SMART Health Card (unknown members are ignored)."""

    iss: str
    nbf: float
    vc: Vc
    exp: float | None = None


class VerifiedCard(msgspec.Struct, frozen=True):
    """A card that passed every check, and what it says."""

    iss: str
    issuer_name: str
    kid: str
    nbf: datetime.datetime
    rid: str | None
    summary: CardSummary


def check_issuer_url(iss: str) -> None:
    """An issuer URL is https, has a host, and no trailing slash (the specification's rules)."""
    parts = urllib.parse.urlsplit(iss)
    if parts.scheme != "https" or not parts.netloc:
        raise CardRejected("bad_issuer_url", f"issuer {iss!r} is not an https:// URL")
    if iss.endswith("/"):
        raise CardRejected("bad_issuer_url", f"issuer {iss!r} ends with '/'; the specification forbids that")
    if parts.query or parts.fragment:
        raise CardRejected("bad_issuer_url", f"issuer {iss!r} has a query or fragment")


def decode_payload(raw: bytes) -> CardPayload:
    """The payload's JSON as a CardPayload; CardRejected names what is missing or wrong."""
    if raw.startswith(UTF8_BOM):
        raise CardRejected("utf8_bom", "the payload starts with a UTF-8 byte order mark")
    try:
        body = msgspec.json.decode(raw, type=CardPayload)
    except msgspec.ValidationError as exc:
        raise CardRejected("bad_payload", f"the payload is not a SMART Health Card: {exc}") from None
    except msgspec.DecodeError:
        raise CardRejected("bad_payload", "the payload is not JSON") from None
    if HEALTH_CARD_TYPE not in body.vc.type:
        raise CardRejected("bad_payload", f"vc.type does not name {HEALTH_CARD_TYPE}")
    if not body.vc.credentialSubject.fhirVersion.startswith("4.0."):
        raise CardRejected("bad_payload", f"fhirVersion {body.vc.credentialSubject.fhirVersion!r} is not FHIR R4")
    return body


def verify_jws(token: str, trust: TrustStore, now: datetime.datetime) -> VerifiedCard:
    """Check one compact JWS; returns the verified card or raises CardRejected."""
    parsed = jws.parse(token)
    if len(token) > numeric.MAX_SINGLE_JWS:
        raise CardRejected("jws_too_long", f"the JWS is {len(token)} characters; a card must fit one QR code "
                                           f"({numeric.MAX_SINGLE_JWS} at most)")
    alg = parsed.header.get("alg")
    if alg is None:
        raise CardRejected("no_alg", "the JWS header has no alg; SMART Health Cards are signed with ES256")
    if alg != jws.ALG:
        raise CardRejected("wrong_alg", f"the JWS is signed with alg {alg!r}; only ES256 is accepted")
    kid = parsed.header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise CardRejected("no_kid", "the JWS header has no kid naming the issuer's key")
    body = decode_payload(parsed.payload)
    check_issuer_url(body.iss)
    issuer = trust.issuers.get(body.iss)
    if issuer is None:
        raise CardRejected("untrusted_issuer", f"issuer {body.iss} is not in the trusted issuer list")
    key = next((k for k in issuer.keys if k.kid == kid), None)
    if key is None:
        raise CardRejected("unknown_kid", f"key {kid} is not among the published keys of {body.iss}")
    if jws.thumbprint(key.x, key.y) != kid:
        raise CardRejected("bad_kid", f"key {kid} of {body.iss} is published under a kid that is not its RFC 7638 "
                                      "thumbprint")
    jws.check_signature(parsed, jws.load_public(key))
    nbf = datetime.datetime.fromtimestamp(body.nbf, datetime.UTC)
    if nbf > now + CLOCK_SKEW:
        raise CardRejected("not_yet_valid", f"the card is valid from {nbf.isoformat()}, after now")
    if body.exp is not None and datetime.datetime.fromtimestamp(body.exp, datetime.UTC) < now:
        raise CardRejected("expired", "the card's exp has passed")
    rid = body.vc.rid
    crl = issuer.crls.get(kid)
    if rid is not None and crl is not None:
        entry = revoked_by(crl, rid, body.nbf)
        if entry is not None:
            raise CardRejected("revoked", f"the issuer revoked this card (rid {rid}, list entry {entry!r})")
    summary = summarise(body.vc.credentialSubject.fhirBundle)
    return VerifiedCard(iss=body.iss, issuer_name=issuer.name, kid=kid, nbf=nbf, rid=rid, summary=summary)


def verify_text(text: str, trust: TrustStore, now: datetime.datetime) -> VerifiedCard:
    """Check a card given as `shc:/` QR content or as a compact JWS."""
    if text.lstrip().startswith("shc:"):
        return verify_jws(numeric.decode(text), trust, now)
    return verify_jws(text, trust, now)
