"""Checks of one incoming records message (pure): size, topic, signer, signature, device, venue, records.

A message that fails before its signature is verified, or whose signature does not verify, is refused
whole (BatchRefused) and answered with nothing: an ack to an unproven sender could make a real station
drop records. A verified batch yields its valid records and a rejection, with its wire reason, for each
other record; a revoked station's batch is all rejected so that its staff see why.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.db.devices import DeviceKey
from hub.errors import BatchRefused
from protocol.errors import BatchError, KeyFormatError, RecordError, SignatureError, TopicError
from protocol.records import (
    BAD_SIGNATURE,
    MAX_TOKEN_BYTES,
    REVOKED_DEVICE,
    UNKNOWN_DEVICE,
    VENUE_MISMATCH,
    Batch,
    Record,
    Rejection,
    peek_record_id,
    validate_record,
)
from protocol.signing import load_public_key_pem, peek_kid, verify_batch
from protocol.topics import parse_topic

# Refusal reasons of whole messages (logged and counted, never acked) besides the wire codes above.
OVERSIZED = "oversized"
WRONG_TOPIC = "wrong_topic"
TOPIC_MISMATCH = "topic_mismatch"
MALFORMED_BATCH = "malformed_batch"
# batch_seq is stored as a bigint.
MAX_BATCH_SEQ = 2**63 - 1


class CheckedBatch(msgspec.Struct):
    """A verified batch: the records to apply and the ones refused, in the batch's order."""

    device_id: str
    batch_seq: int
    records: list[Record]
    rejected: list[Rejection]


class KeyCache:
    """Parsed public keys by PEM text, so a busy station's key is not re-parsed for every batch."""

    def __init__(self) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}

    def get(self, pem: str) -> Ed25519PublicKey:
        """The key of `pem` (KeyFormatError when it is not an Ed25519 public key)."""
        key = self._keys.get(pem)
        if key is None:
            if len(self._keys) > 100_000:
                self._keys.clear()
            key = self._keys[pem] = load_public_key_pem(pem.encode("ascii"))
        return key


def signer_of(topic: str, payload: bytes) -> tuple[str, str]:
    """(device id of the topic, the token) of a records message, or BatchRefused; nothing verified yet."""
    if len(payload) > MAX_TOKEN_BYTES:
        raise BatchRefused(OVERSIZED, f"{len(payload)} bytes; the limit is {MAX_TOKEN_BYTES}")
    try:
        device_id, kind = parse_topic(topic)
    except TopicError as exc:
        raise BatchRefused(WRONG_TOPIC, str(exc)) from None
    if kind != "records":
        raise BatchRefused(WRONG_TOPIC, f"{topic} is not a records topic")
    try:
        token = payload.decode("ascii")
        kid = peek_kid(token)
    except (UnicodeDecodeError, SignatureError) as exc:
        raise BatchRefused(BAD_SIGNATURE, f"not a JWS from a station: {exc}") from None
    if kid != device_id:
        raise BatchRefused(TOPIC_MISMATCH, f"signed as {kid!r} but published on {device_id!r}'s topic")
    return device_id, token


def _verify(token: str, device: DeviceKey, keys: KeyCache) -> Batch:
    """Verify with the station's key, or with its previous one while a key rotation has not retired it."""
    try:
        return verify_batch(token, keys.get(device.public_key_pem), expected_kid=device.device_id)
    except SignatureError:
        if device.previous_public_key_pem is None:
            raise
        return verify_batch(token, keys.get(device.previous_public_key_pem), expected_kid=device.device_id)


def check_batch(
    topic: str, payload: bytes, devices: Mapping[str, DeviceKey], keys: KeyCache, today: datetime.date
) -> CheckedBatch:
    """Verify one records message and validate its records against the signer's registration."""
    device_id, token = signer_of(topic, payload)
    device = devices.get(device_id)
    if device is None:
        raise BatchRefused(UNKNOWN_DEVICE, f"no station {device_id!r} is registered")
    try:
        batch = _verify(token, device, keys)
    except (SignatureError, KeyFormatError) as exc:
        raise BatchRefused(BAD_SIGNATURE, f"{device_id}: {exc}") from None
    except BatchError as exc:
        raise BatchRefused(MALFORMED_BATCH, f"{device_id}: {exc}") from None
    if batch.batch_seq > MAX_BATCH_SEQ:
        raise BatchRefused(MALFORMED_BATCH, f"{device_id}: batch_seq {batch.batch_seq} is beyond {MAX_BATCH_SEQ}")
    checked = CheckedBatch(device_id=device_id, batch_seq=batch.batch_seq, records=[], rejected=[])
    seen: set[str] = set()
    for raw in batch.records:
        if device.status != "active":
            checked.rejected.append(Rejection(peek_record_id(raw) or "", REVOKED_DEVICE))
            continue
        try:
            record = validate_record(raw, today=today)
        except RecordError as exc:
            checked.rejected.append(Rejection(peek_record_id(raw) or "", exc.code))
            continue
        if record.venue_id != device.venue_id:
            checked.rejected.append(Rejection(record.record_id, VENUE_MISMATCH))
        elif record.record_id not in seen:
            seen.add(record.record_id)
            checked.records.append(record)
    return checked
