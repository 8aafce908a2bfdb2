"""Reading trusted issuers from disk for offline verification: a `.well-known` directory per issuer
(jwks.json and crl/<kid>.json, as the issuer publishes them) and, optionally, a trusted-issuer list in the
VCI directory format ({"participating_issuers": [{"iss", "name"}]}).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from hub.certificates.errors import IssuerKeyError
from hub.certificates.jws import EcJwk
from hub.certificates.revocation import Crl
from hub.certificates.verify import TrustedIssuer


def keys_of(jwks: Any) -> list[EcJwk]:
    """The P-256 keys of a JWKS document (other keys, and members like x5c, are left out)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise IssuerKeyError("a JWKS is a JSON object with a 'keys' list")
    found = []
    for k in keys:
        if isinstance(k, dict) and k.get("kty") == "EC" and k.get("crv") == "P-256":
            try:
                found.append(msgspec.convert({n: k[n] for n in EcJwk.__struct_fields__ if n in k}, EcJwk))
            except msgspec.ValidationError:
                continue
    return found


def load_issuer(iss: str, name: str, well_known: Path) -> TrustedIssuer:
    """An issuer from its published `.well-known` directory."""
    try:
        jwks = json.loads((well_known / "jwks.json").read_text(encoding="utf-8"))
    except OSError as exc:
        raise IssuerKeyError(f"cannot read {well_known / 'jwks.json'}: {exc.strerror}") from None
    except ValueError:
        raise IssuerKeyError(f"{well_known / 'jwks.json'} is not JSON") from None
    crls: dict[str, Crl] = {}
    for path in sorted((well_known / "crl").glob("*.json")):
        try:
            crl = msgspec.json.decode(path.read_bytes(), type=Crl)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise IssuerKeyError(f"revocation list {path} is malformed: {exc}") from None
        crls[crl.kid] = crl
    return TrustedIssuer(iss=iss, name=name, keys=keys_of(jwks), crls=crls)


def issuer_names(directory_file: Path) -> dict[str, str]:
    """iss -> name from a VCI-style trusted issuer list."""
    try:
        doc = json.loads(directory_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IssuerKeyError(f"cannot read trusted issuer list {directory_file}: {exc}") from None
    issuers = doc.get("participating_issuers") if isinstance(doc, dict) else None
    if not isinstance(issuers, list):
        raise IssuerKeyError(f"{directory_file} has no participating_issuers list")
    return {str(i["iss"]): str(i.get("name", i["iss"])) for i in issuers if isinstance(i, dict) and "iss" in i}
