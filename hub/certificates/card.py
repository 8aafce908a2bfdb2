"""Issuing one SMART Health Card: the JWS payload (iss, nbf, vc with type, FHIR bundle and rid), its
signature with the issuer key, and the single `shc:/` QR text it travels as.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec

from hub.certificates import jws, numeric
from hub.certificates.errors import CardTooLarge
from hub.certificates.fhir import FHIR_VERSION

HEALTH_CARD_TYPE = "https://smarthealth.cards#health-card"
# The file type of a card saved for a wallet app (the specification's `.smart-health-card` files).
FILE_SUFFIX = ".smart-health-card"


class IssuedCard(msgspec.Struct, frozen=True):
    """A signed card in every form it is handed out in."""

    jws: str
    qr_text: str
    kid: str
    rid: str | None
    nbf: int


def payload(iss: str, nbf: int, bundle: dict[str, Any], rid: str | None) -> bytes:
    """The JWS payload, compact JSON (the QR size depends on every byte)."""
    vc: dict[str, Any] = {"type": [HEALTH_CARD_TYPE],
                          "credentialSubject": {"fhirVersion": FHIR_VERSION, "fhirBundle": bundle}}
    if rid is not None:
        vc["rid"] = rid
    body = {"iss": iss, "nbf": nbf, "vc": vc}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign_card(key: ec.EllipticCurvePrivateKey, iss: str, nbf: int, bundle: dict[str, Any],
              rid: str | None) -> IssuedCard:
    """Sign a card; CardTooLarge when it would not fit one QR code of version 22."""
    kid = jws.public_jwk(key.public_key()).kid
    token = jws.sign(key, kid, payload(iss, nbf, bundle, rid))
    if len(token) > numeric.MAX_SINGLE_JWS:
        raise CardTooLarge(f"the signed card is {len(token)} characters; one QR code (version 22) holds at most "
                           f"{numeric.MAX_SINGLE_JWS}. Issue it with fewer doses rather than split it.")
    return IssuedCard(jws=token, qr_text=numeric.encode(token), kid=kid, rid=rid, nbf=nbf)


def file_content(tokens: list[str]) -> bytes:
    """A `.smart-health-card` file holding these JWSs."""
    return json.dumps({"verifiableCredential": tokens}, indent=2).encode("utf-8") + b"\n"
