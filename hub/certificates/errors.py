"""The certificate package's exception tree (drawn in the package docstring)."""

from __future__ import annotations

from hub.errors import HubError


class CertificateError(HubError):
    """Base of every error the certificate package raises on purpose."""


class NothingToCertify(CertificateError):
    """The resident has no vaccinated dose, or lacks what a card must name (a birth date)."""


class CardTooLarge(CertificateError):
    """The signed card does not fit a single QR code of version 22; it is refused, never chunked."""


class IssuerKeyError(CertificateError):
    """An issuer key file is missing, malformed, readable by others, or not an ES256 (P-256) key."""


class CardRejected(CertificateError):
    """A card failed verification; `reason` is a stable short code, the message says what is wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
