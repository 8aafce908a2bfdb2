"""What the edge stations and the hub share: voucher formats, check digits, the municipality list,
the record schema, signing and topic names. Pure code: no I/O beyond reading its own packaged data.

Exceptions (protocol.errors)::

    ProtocolError               base of everything raised here
     +-- VoucherError           the text is not exactly one valid voucher (.reason, .field)
     +-- RecordError            a record breaks a wire-format rule (.code, .field, .detail)
     +-- BatchError             a payload is not a well-formed batch, ack or status
     +-- SignatureError         a JWS is not validly signed by the expected key (.code "bad_signature")
     +-- KeyFormatError         a PEM or JWK is not the Ed25519 key expected
     +-- TopicError             a topic name or device id is not valid
"""

from protocol.check_digits import is_valid_my_number, municipality_check_digit
from protocol.errors import (
    BatchError,
    KeyFormatError,
    ProtocolError,
    RecordError,
    SignatureError,
    TopicError,
    VoucherError,
)
from protocol.municipalities import is_municipality
from protocol.voucher import Voucher, parse_voucher

__all__ = [
    "BatchError",
    "KeyFormatError",
    "ProtocolError",
    "RecordError",
    "SignatureError",
    "TopicError",
    "Voucher",
    "VoucherError",
    "is_municipality",
    "is_valid_my_number",
    "municipality_check_digit",
    "parse_voucher",
]
