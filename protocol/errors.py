"""The exception tree of the protocol package (drawn in protocol/__init__.py)."""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised by the protocol package."""


class VoucherError(ProtocolError):
    """The text is not exactly one valid voucher."""

    def __init__(self, reason: str, field: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.reason = reason
        self.field = field


class RecordError(ProtocolError):
    """A record in a batch breaks a rule of the wire format; ``code`` is the wire reason code."""

    def __init__(self, code: str, field: str, detail: str) -> None:
        super().__init__(f"{code}: {field}: {detail}")
        self.code = code
        self.field = field
        self.detail = detail


class BatchError(ProtocolError):
    """A payload is not a well-formed batch, ack or status (not JSON, wrong shape, too many records, too big)."""


class SignatureError(ProtocolError):
    """The JWS is not one we signed: wrong alg, wrong kid, tampered, oversized, or not a JWS at all."""

    code = "bad_signature"


class KeyFormatError(ProtocolError):
    """A key (PEM or JWK) is not an Ed25519 key of the kind expected (public where public is due)."""


class TopicError(ProtocolError):
    """A topic name or a device id is not valid."""
