"""Venues and stations of a municipality: add a venue, enroll a station by its public key (PEM or JWK) or
by a one-time enrollment token a provisioning script redeems, revoke a station, list them with status.

Changes are for municipal admins; each is audited in the municipality's chain.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from typing import Any

import msgspec
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.api.context import Caller
from hub.api.errors import InvalidInput, NotFound
from hub.db import audit, devices, enrollment
from hub.db import venues as venues_db
from hub.errors import ConflictError, InputError, NotFoundError
from protocol.errors import KeyFormatError
from protocol.signing import load_public_key_pem, public_key_to_pem
from protocol.topics import is_valid_device_id

TOKEN_BYTES = 24
DEFAULT_TOKEN_HOURS = 72
MAX_TOKEN_HOURS = 24 * 30


class VenueInput(msgspec.Struct):
    """A new venue of the caller's municipality."""

    venue_id: str
    name: str


class StationInput(msgspec.Struct):
    """A station enrolled directly with its public key (PEM text, or a JWK as JSON text or object)."""

    device_id: str
    venue_id: str
    public_key: str | dict[str, Any]


class TokenInput(msgspec.Struct):
    """An enrollment token to create for one venue."""

    venue_id: str
    valid_hours: int = DEFAULT_TOKEN_HOURS


class NewToken(msgspec.Struct):
    """A created token: the only time the token itself is shown."""

    token_id: int
    token: str
    venue_id: str
    expires_at: dt.datetime


class RedeemInput(msgspec.Struct):
    """What `vrs-provision` sends to enroll a station with a token."""

    token: str
    device_id: str
    public_key: str | dict[str, Any]


def public_key_pem(value: str | dict[str, Any]) -> str:
    """The SubjectPublicKeyInfo PEM of an Ed25519 public key given as PEM or as an OKP JWK (RFC 8037)."""
    if isinstance(value, str) and "-----BEGIN" in value:
        try:
            return public_key_to_pem(load_public_key_pem(value.strip().encode("ascii", "replace"))).decode("ascii")
        except KeyFormatError as exc:
            raise InvalidInput([f"public_key: {exc}"]) from None
    jwk: Any = value
    if isinstance(value, str):
        try:
            jwk = json.loads(value)
        except ValueError:
            raise InvalidInput(["public_key: give an Ed25519 public key as PEM or as a JWK"]) from None
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" in jwk:
        raise InvalidInput(["public_key: the JWK must be a public OKP key with crv Ed25519 (no private part)"])
    x = jwk.get("x")
    try:
        if not isinstance(x, str) or "=" in x:
            raise ValueError
        raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
        if len(raw) != 32:
            raise ValueError
        key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise InvalidInput(["public_key: the JWK's x must be 32 bytes of base64url"]) from None
    return public_key_to_pem(key).decode("ascii")


def require_admin(caller: Caller) -> str:
    """The caller's municipality when the caller is its admin; 404 for everyone else."""
    if caller.identity.role != "municipal_admin" or caller.identity.municipality_code is None:
        raise NotFound("no such page in your scope")
    return caller.identity.municipality_code


def own_venue(conn: psycopg.Connection[Any], code: str, venue_id: str) -> venues_db.Venue:
    """A venue of the municipality, or 404."""
    venue = venues_db.get_venue(conn, venue_id)
    if venue is None or venue.municipality_code != code:
        raise NotFound("no such venue in your municipality")
    return venue


def add_venue(caller: Caller, code: str, data: VenueInput) -> venues_db.Venue:
    name = data.name.strip()
    if not is_valid_device_id(data.venue_id):
        raise InvalidInput(["会場ID (venue_id): 1-64 characters of A-Z a-z 0-9 . _ -"])
    if not 1 <= len(name) <= 200:
        raise InvalidInput(["会場名 (name): 1-200 characters"])
    try:
        venue = venues_db.add_venue(caller.conn, data.venue_id, code, name)
    except ConflictError:
        raise InvalidInput([f"会場ID (venue_id): {data.venue_id} は登録済みです"]) from None
    except (InputError, NotFoundError) as exc:
        raise InvalidInput([str(exc)]) from None
    audit.write(caller.conn, code, actor=caller.identity.username, action="venue.add", target=venue.venue_id,
                details={"name": name})
    return venue


def _device(conn: psycopg.Connection[Any], device_id: str, venue_id: str, pem: str) -> None:
    if not is_valid_device_id(device_id):
        raise InvalidInput(["端末ID (device_id): 1-64 characters of A-Z a-z 0-9 . _ -"])
    try:
        devices.add_device(conn, device_id, venue_id, pem)
    except ConflictError:
        raise InvalidInput([f"端末ID (device_id): {device_id} は登録済みです"]) from None


def enroll_with_key(caller: Caller, code: str, data: StationInput) -> enrollment.StationRow:
    own_venue(caller.conn, code, data.venue_id)
    _device(caller.conn, data.device_id, data.venue_id, public_key_pem(data.public_key))
    audit.write(caller.conn, code, actor=caller.identity.username, action="device.add", target=data.device_id,
                details={"venue_id": data.venue_id, "via": "public_key"})
    return next(s for s in enrollment.stations_of(caller.conn, code) if s.device_id == data.device_id)


def create_token(caller: Caller, code: str, data: TokenInput) -> NewToken:
    own_venue(caller.conn, code, data.venue_id)
    if not 1 <= data.valid_hours <= MAX_TOKEN_HOURS:
        raise InvalidInput([f"有効期間 (valid_hours): 1-{MAX_TOKEN_HOURS} hours"])
    token = "vrs-enroll-" + secrets.token_urlsafe(TOKEN_BYTES)
    expires = caller.now + dt.timedelta(hours=data.valid_hours)
    token_id = enrollment.add_token(caller.conn, token, data.venue_id, caller.identity.username, expires)
    audit.write(caller.conn, code, actor=caller.identity.username, action="enrollment_token.create",
                target=str(token_id), details={"venue_id": data.venue_id, "expires_at": expires.isoformat()})
    return NewToken(token_id=token_id, token=token, venue_id=data.venue_id, expires_at=expires)


def revoke_token(caller: Caller, code: str, token_id: int) -> None:
    if not enrollment.revoke_token(caller.conn, code, token_id):
        raise NotFound("no such unused token")
    audit.write(caller.conn, code, actor=caller.identity.username, action="enrollment_token.revoke",
                target=str(token_id))


def revoke_station(caller: Caller, code: str, device_id: str) -> bool:
    """Revoke a station of the municipality; False when it already was."""
    if enrollment.station_municipality(caller.conn, device_id) != code:
        raise NotFound("no such station in your municipality")
    changed = devices.revoke_device(caller.conn, device_id)
    if changed:
        audit.write(caller.conn, code, actor=caller.identity.username, action="device.revoke", target=device_id)
    return changed


def redeem(conn: psycopg.Connection[Any], data: RedeemInput, now: dt.datetime) -> enrollment.Redeemed:
    """Enroll a station with a one-time token (no login: the token is the credential)."""
    pem = public_key_pem(data.public_key)
    if not is_valid_device_id(data.device_id):
        raise InvalidInput(["device_id: 1-64 characters of A-Z a-z 0-9 . _ -"])
    try:
        done = enrollment.redeem(conn, data.token.strip(), data.device_id, pem, now)
    except InputError as exc:
        raise InvalidInput([str(exc)]) from None
    except ConflictError:
        raise InvalidInput([f"device_id: {data.device_id} is already registered; choose another id"]) from None
    audit.write(conn, done.municipality_code, actor=f"enrollment:{done.device_id}", action="device.add",
                target=done.device_id, details={"venue_id": done.venue_id, "via": "enrollment_token"})
    return done
