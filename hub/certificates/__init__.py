"""Vaccination certificates as SMART Health Cards: FHIR bundles signed with the hub's ES256 issuer key,
numeric `shc:/` QR codes, the published keys and revocation lists, and offline verification.

Pure core, except issuance.py: the thin shell that reads a resident's records, signs, and records the card
through hub.db.certificates. The CLI and hub.api.controllers.certificates call it.

Exceptions (hub.certificates.errors)::

    HubError (hub.errors)
     +-- CertificateError        base of everything this package raises on purpose
          +-- NothingToCertify   the resident has no vaccinated dose (or no birth date) to put on a card
          +-- CardTooLarge       the signed card does not fit one QR code of version 22 (we never chunk)
          +-- IssuerKeyError     an issuer key file is missing, malformed, readable by others or not P-256
          +-- CardRejected       a card failed verification (.reason is a short code, str() says why)
"""
