"""Reading a vaccination voucher (接種券) from what a scanner or OCR returned.

Two forms exist: the 18-digit OCR line / QR payload (券種, 回数, 市町村コード, 券番号) and the NW-7
(Codabar) barcode that carries only the 10-digit 券番号. A read is accepted only when it is exactly one
voucher whose municipality code is a listed municipality; a digit is never "corrected", because a
plausible-looking correction is how the 2021 system filed records under the wrong person.
"""

from __future__ import annotations

import re
import unicodedata

import msgspec

from protocol.check_digits import is_valid_municipality_code_form
from protocol.errors import VoucherError
from protocol.municipalities import lookup

OCR_LENGTH = 18
NW7_LENGTH = 10
_CODABAR_GUARDS = "ABCD"
# Separators people and scanners put between digit groups; all dropped before parsing.
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ｰー]+")
_DIGITS = re.compile(r"[0-9]+")


class Voucher(msgspec.Struct, frozen=True):
    """One voucher as read: where the person lives, the ticket number, and the dose it is for."""

    municipality_code: str
    voucher_no: str
    dose: int
    """1-9 from the voucher's 回数 digit; 0 when the voucher does not say (always so for NW-7)."""
    ticket_kind: str | None
    """The 券種 digit as read; None for NW-7, which does not carry it."""
    source_municipality_preset: bool = False
    """True when the municipality came from the station's preset (NW-7 only), not from the voucher."""


def parse_voucher(text: str, default_municipality: str | None = None) -> Voucher:
    """Parse one voucher from an OCR line, QR payload or NW-7 payload, or raise VoucherError."""
    cleaned = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    if not cleaned:
        raise VoucherError("nothing was read: the text is empty", "text")

    if (
        len(cleaned) >= 2
        and cleaned[0].upper() in _CODABAR_GUARDS
        and cleaned[-1].upper() in _CODABAR_GUARDS
        and _DIGITS.fullmatch(cleaned[1:-1])
    ):
        cleaned = cleaned[1:-1]
        if len(cleaned) != NW7_LENGTH:
            raise VoucherError(
                f"the NW-7 barcode holds {len(cleaned)} digits; a voucher barcode holds {NW7_LENGTH}",
                "voucher_no",
            )
    elif len(cleaned) == OCR_LENGTH + 1 and _DIGITS.fullmatch(cleaned[:-1]) and not cleaned[-1].isdigit():
        # OCR often picks up one mark after the last digit of the line (a dot, a bar, a bracket).
        cleaned = cleaned[:-1]

    stray = re.search(r"[^0-9]", cleaned)
    if stray is not None:
        raise VoucherError(
            f"the text contains {stray.group()!r} at position {stray.start() + 1}; a voucher is digits only",
            "text",
        )

    if len(cleaned) == OCR_LENGTH:
        municipality_code = cleaned[2:8]
        _check_municipality(municipality_code, "on the voucher")
        return Voucher(
            municipality_code=municipality_code,
            voucher_no=cleaned[8:],
            dose=int(cleaned[1]),
            ticket_kind=cleaned[0],
        )

    if len(cleaned) == NW7_LENGTH:
        if default_municipality is None:
            raise VoucherError(
                "the barcode carries only the voucher number and this station has no default "
                "municipality; scan the OCR line or QR code, or set the station's municipality",
                "municipality_code",
            )
        default_code = unicodedata.normalize("NFKC", default_municipality).strip()
        _check_municipality(default_code, "set as the station's default")
        return Voucher(
            municipality_code=default_code,
            voucher_no=cleaned,
            dose=0,
            ticket_kind=None,
            source_municipality_preset=True,
        )

    if len(cleaned) in (2 * OCR_LENGTH, 2 * NW7_LENGTH):
        raise VoucherError(
            f"the text holds {len(cleaned)} digits, which looks like two vouchers; scan one at a time",
            "text",
        )
    raise VoucherError(
        f"the text holds {len(cleaned)} digits; a voucher has {OCR_LENGTH} "
        f"(OCR line or QR code) or {NW7_LENGTH} (NW-7 barcode)",
        "text",
    )


def _check_municipality(code: str, where: str) -> None:
    if not is_valid_municipality_code_form(code):
        if len(code) == 6 and code.isascii() and code.isdigit():
            reason = (
                f"municipality code {code} {where} fails its check digit: "
                "it was misread or mistyped; scan again or check the voucher"
            )
        else:
            reason = f"municipality code {code!r} {where} is not six digits"
        raise VoucherError(reason, "municipality_code")
    found = lookup(code)
    if found is None:
        raise VoucherError(
            f"municipality code {code} {where} is not on the list of municipalities", "municipality_code"
        )
    if found.is_ward:
        city = lookup(found.designated_city_code or "")
        city_text = f"{city.name} ({city.code})" if city else "a designated city"
        raise VoucherError(
            f"code {code} {where} is {found.name}, a ward of {city_text}, not a municipality; "
            "vouchers carry the city's code",
            "municipality_code",
        )
