"""The FHIR R4 content of a card: a Bundle with one Patient and one Immunization per vaccinated dose, built
minimal as SMART Health Cards ask (resource:N references, no ids, no narrative), and read back into a
summary a person can check against the holder's identity document.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import msgspec

from hub.certificates.errors import CardRejected, NothingToCertify

FHIR_VERSION = "4.0.1"
CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
# CDC CVX codes of the vaccines Japan used; "other" maps to 213 (SARS-COV-2 vaccine, unspecified formulation).
CVX_CODES: dict[str, str] = {"pfizer": "208", "moderna": "207", "astrazeneca": "210", "novavax": "211",
                             "other": "213"}
MAKER_OF_CVX: dict[str, str] = {code: maker for maker, code in CVX_CODES.items()}
MAKER_LABELS: dict[str, str] = {"pfizer": "ファイザー (Pfizer-BioNTech)", "moderna": "武田/モデルナ (Moderna)",
                                "astrazeneca": "アストラゼネカ (AstraZeneca)", "novavax": "武田/ノババックス (Novavax)",
                                "other": "その他 (other)"}
_NAME_SPLIT = re.compile(r"[\s\u3000]+")


class Person(msgspec.Struct, frozen=True):
    """Who the card is about: the name as the resident register holds it, and the birth date."""

    name: str
    birth_date: datetime.date


class Dose(msgspec.Struct, frozen=True):
    """One dose as the current state holds it; only `vaccinated` ones go on a card."""

    dose: int
    administered_on: datetime.date
    maker: str
    lot: str
    performer: str
    status: str = "vaccinated"


class DoseSummary(msgspec.Struct, frozen=True):
    """One immunization as a verifier shows it."""

    date: str
    maker: str
    maker_label: str
    cvx: str
    lot: str
    performer: str


class CardSummary(msgspec.Struct, frozen=True):
    """What a card says about its holder."""

    name: str
    birth_date: str
    doses: list[DoseSummary]


def human_name(name: str) -> dict[str, Any]:
    """A FHIR HumanName: family and given split at the first space (Japanese order), else the whole text."""
    parts = [p for p in _NAME_SPLIT.split(name.strip()) if p]
    if len(parts) >= 2:
        return {"family": parts[0], "given": parts[1:]}
    return {"text": name.strip()}


def certified_doses(doses: list[Dose]) -> list[Dose]:
    """The doses a card lists: vaccinated only (never screened-only), in order of date then dose number."""
    return sorted((d for d in doses if d.status == "vaccinated"), key=lambda d: (d.administered_on, d.dose))


def build_bundle(person: Person, doses: list[Dose]) -> dict[str, Any]:
    """The FHIR Bundle for `person` and their vaccinated `doses`; NothingToCertify when there are none."""
    listed = certified_doses(doses)
    if not listed:
        raise NothingToCertify("the resident has no vaccinated dose on record; nothing to certify")
    entries: list[dict[str, Any]] = [{
        "fullUrl": "resource:0",
        "resource": {"resourceType": "Patient", "name": [human_name(person.name)],
                     "birthDate": person.birth_date.isoformat()},
    }]
    for i, d in enumerate(listed, start=1):
        immunization: dict[str, Any] = {
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {"coding": [{"system": CVX_SYSTEM, "code": CVX_CODES.get(d.maker, CVX_CODES["other"])}]},
            "patient": {"reference": "resource:0"},
            "occurrenceDateTime": d.administered_on.isoformat(),
            "performer": [{"actor": {"display": d.performer}}],
        }
        if d.lot:
            immunization["lotNumber"] = d.lot
        entries.append({"fullUrl": f"resource:{i}", "resource": immunization})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _bad(detail: str) -> CardRejected:
    return CardRejected("bad_fhir", detail)


def _name_text(names: Any) -> str:
    if not isinstance(names, list) or not names or not isinstance(names[0], dict):
        raise _bad("the Patient has no name")
    first = names[0]
    if isinstance(first.get("text"), str) and first["text"]:
        return str(first["text"])
    given = first.get("given") or []
    family = first.get("family") or ""
    if not isinstance(given, list) or not all(isinstance(g, str) for g in given) or not isinstance(family, str):
        raise _bad("the Patient's name is malformed")
    text = " ".join([family, *given]).strip()
    if not text:
        raise _bad("the Patient's name is empty")
    return text


def _check_meta(resource: dict[str, Any], where: str) -> None:
    meta = resource.get("meta")
    if meta is not None and (not isinstance(meta, dict) or set(meta) - {"security"}):
        extra = sorted(set(meta) - {"security"}) if isinstance(meta, dict) else meta
        raise CardRejected("bad_fhir_metadata", f"{where}: meta may only hold 'security', found {extra}")
    for banned in ("id", "text"):
        if banned in resource:
            raise CardRejected("bad_fhir_metadata", f"{where}: SMART Health Cards leave out Resource.{banned}")


def summarise(bundle: Any) -> CardSummary:
    """Read the holder and doses out of a card's FHIR Bundle; CardRejected when it is not one we understand."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise _bad("credentialSubject.fhirBundle is not a FHIR Bundle")
    if bundle.get("type") != "collection":
        raise _bad(f"the Bundle's type is {bundle.get('type')!r}, not 'collection'")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise _bad("the Bundle has no entries")
    patient: dict[str, Any] | None = None
    doses: list[DoseSummary] = []
    for n, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise _bad(f"entry {n} has no resource")
        if not re.fullmatch(r"resource:\d+", str(entry.get("fullUrl", ""))):
            raise CardRejected("bad_fhir_metadata", f"entry {n}: fullUrl must be 'resource:N'")
        _check_meta(resource, f"entry {n} ({resource.get('resourceType')})")
        kind = resource.get("resourceType")
        if kind == "Patient":
            patient = resource
        elif kind == "Immunization":
            doses.append(_dose(resource, n))
    if patient is None:
        raise _bad("the Bundle has no Patient")
    birth = patient.get("birthDate")
    if not isinstance(birth, str):
        raise _bad("the Patient has no birthDate")
    doses.sort(key=lambda d: d.date)
    return CardSummary(name=_name_text(patient.get("name")), birth_date=birth, doses=doses)


def _dose(resource: dict[str, Any], n: int) -> DoseSummary:
    codings = (resource.get("vaccineCode") or {}).get("coding") if isinstance(resource.get("vaccineCode"), dict) \
        else None
    if not isinstance(codings, list) or not codings or not isinstance(codings[0], dict):
        raise _bad(f"Immunization in entry {n} has no vaccine code")
    coding = codings[0]
    if coding.get("system") != CVX_SYSTEM:
        raise CardRejected("bad_fhir_metadata", f"Immunization in entry {n}: vaccine code system "
                                                f"{coding.get('system')!r} is not {CVX_SYSTEM}")
    code = str(coding.get("code", ""))
    maker = MAKER_OF_CVX.get(code, "")
    date = resource.get("occurrenceDateTime")
    if not isinstance(date, str):
        raise _bad(f"Immunization in entry {n} has no occurrenceDateTime")
    performers = resource.get("performer")
    performer = ""
    if isinstance(performers, list) and performers and isinstance(performers[0], dict):
        actor = performers[0].get("actor")
        performer = str(actor.get("display", "")) if isinstance(actor, dict) else ""
    return DoseSummary(date=date[:10], maker=maker, maker_label=MAKER_LABELS.get(maker, f"CVX {code}"), cvx=code,
                       lot=str(resource.get("lotNumber", "")), performer=performer)
