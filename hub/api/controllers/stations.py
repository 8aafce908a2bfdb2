"""Venues and stations of a municipality (pages and API), and the public endpoint a provisioning script
calls to redeem an enrollment token. Municipal staff see the lists; only municipal admins change them."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from hub.api.context import Caller, CallerDep, DbDep
from hub.api.controllers.pages import page
from hub.api.controllers.scope import own_municipality
from hub.api.errors import InvalidInput, NotFound
from hub.api.services import stations
from hub.api.services.stations import NewToken, RedeemInput, StationInput, TokenInput, VenueInput
from hub.db import enrollment
from hub.db import venues as venues_db
from protocol.records import JST


class StationForm(StationInput):
    """The enroll-by-key form (the key pasted as text)."""

    public_key: str


def _stations_page(caller: Caller, code: str, *, errors: list[str] | None = None, new_token: NewToken | None = None,
                   status_code: int = 200) -> Template:
    return page(caller, "stations.html", status_code=status_code, code=code, errors=errors or [],
                new_token=new_token, venues=enrollment.venues_of(caller.conn, code),
                stations=enrollment.stations_of(caller.conn, code), tokens=enrollment.tokens_of(caller.conn, code),
                is_admin=caller.identity.role == "municipal_admin", now=caller.now, JST=JST)


class StationPages(Controller):
    """The venues and stations page."""

    include_in_schema = False

    @get("/stations", sync_to_thread=True)
    def stations_page(self, caller: CallerDep) -> Template:
        return _stations_page(caller, own_municipality(caller))

    @post("/stations/venues", sync_to_thread=True)
    def add_venue(self, caller: CallerDep, data: URLEncodedBody[VenueInput]) -> Response[Any]:
        code = stations.require_admin(caller)
        try:
            stations.add_venue(caller, code, data)
        except InvalidInput as exc:
            return _stations_page(caller, code, errors=exc.messages, status_code=422)
        return Redirect("/stations", status_code=303)

    @post("/stations/enroll", sync_to_thread=True)
    def enroll(self, caller: CallerDep, data: URLEncodedBody[StationForm]) -> Response[Any]:
        code = stations.require_admin(caller)
        try:
            stations.enroll_with_key(caller, code, data)
        except InvalidInput as exc:
            return _stations_page(caller, code, errors=exc.messages, status_code=422)
        return Redirect("/stations", status_code=303)

    @post("/stations/tokens", sync_to_thread=True, status_code=200)
    def create_token(self, caller: CallerDep, data: URLEncodedBody[TokenInput]) -> Template:
        code = stations.require_admin(caller)
        try:
            new = stations.create_token(caller, code, data)
        except InvalidInput as exc:
            return _stations_page(caller, code, errors=exc.messages, status_code=422)
        return _stations_page(caller, code, new_token=new)

    @post("/stations/tokens/{token_id:int}/revoke", sync_to_thread=True)
    def revoke_token(self, caller: CallerDep, token_id: FromPath[int]) -> Response[Any]:
        stations.revoke_token(caller, stations.require_admin(caller), token_id)
        return Redirect("/stations", status_code=303)

    @post("/stations/{device_id:str}/revoke", sync_to_thread=True)
    def revoke(self, caller: CallerDep, device_id: FromPath[str]) -> Response[Any]:
        stations.revoke_station(caller, stations.require_admin(caller), device_id)
        return Redirect("/stations", status_code=303)


class StationsApi(Controller):
    """Venues, stations and enrollment tokens of a municipality as JSON."""

    path = "/api/v1/municipalities/{code:str}"
    tags = ("stations",)

    @get("/venues", sync_to_thread=True)
    def list_venues(self, caller: CallerDep, code: FromPath[str]) -> list[enrollment.VenueRow]:
        return enrollment.venues_of(caller.conn, own_municipality(caller, code))

    @post("/venues", sync_to_thread=True, status_code=201)
    def add_venue(self, caller: CallerDep, code: FromPath[str], data: JSONBody[VenueInput]) -> venues_db.Venue:
        own_municipality(caller, code)
        return stations.add_venue(caller, stations.require_admin(caller), data)

    @get("/stations", sync_to_thread=True)
    def list_stations(self, caller: CallerDep, code: FromPath[str]) -> list[enrollment.StationRow]:
        """Stations of the municipality's venues with last seen, queue depth and version as last reported."""
        return enrollment.stations_of(caller.conn, own_municipality(caller, code))

    @post("/stations", sync_to_thread=True, status_code=201)
    def enroll(self, caller: CallerDep, code: FromPath[str], data: JSONBody[StationInput]) -> enrollment.StationRow:
        """Enroll a station with its Ed25519 public key (PEM, or JWK as an object or JSON text)."""
        own_municipality(caller, code)
        return stations.enroll_with_key(caller, stations.require_admin(caller), data)

    @post("/stations/{device_id:str}/revoke", sync_to_thread=True, status_code=200)
    def revoke(self, caller: CallerDep, code: FromPath[str], device_id: FromPath[str]) -> dict[str, Any]:
        """Revoke a station: the ingest refuses its later batches (revoked_device)."""
        own_municipality(caller, code)
        changed = stations.revoke_station(caller, stations.require_admin(caller), device_id)
        return {"device_id": device_id, "revoked": True, "changed": changed}

    @get("/enrollment-tokens", sync_to_thread=True)
    def list_tokens(self, caller: CallerDep, code: FromPath[str]) -> list[enrollment.TokenInfo]:
        own_municipality(caller, code)
        return enrollment.tokens_of(caller.conn, stations.require_admin(caller))

    @post("/enrollment-tokens", sync_to_thread=True, status_code=201)
    def create_token(self, caller: CallerDep, code: FromPath[str], data: JSONBody[TokenInput]) -> NewToken:
        """A one-time token for one venue; shown only in this answer."""
        own_municipality(caller, code)
        return stations.create_token(caller, stations.require_admin(caller), data)

    @post("/enrollment-tokens/{token_id:int}/revoke", sync_to_thread=True, status_code=200)
    def revoke_token(self, caller: CallerDep, code: FromPath[str], token_id: FromPath[int]) -> dict[str, Any]:
        own_municipality(caller, code)
        stations.revoke_token(caller, stations.require_admin(caller), token_id)
        return {"token_id": token_id, "revoked": True}


class EnrollmentApi(Controller):
    """Redeeming an enrollment token (no login: the one-time token is the credential)."""

    path = "/api/v1/enrollment"
    tags = ("stations",)

    @get("/hub-key", sync_to_thread=False)
    def hub_key(self, state: State) -> dict[str, str]:
        """The hub's ack-signing public key (a JWK, as `vrs-hub keys show` prints it) for a new station."""
        jwk: dict[str, str] | None = state.api.settings.hub_ack_jwk
        if jwk is None:
            raise NotFound("this hub serves no ack key")
        return jwk

    @post("/", sync_to_thread=True, status_code=201)
    def redeem(self, db: DbDep, data: JSONBody[RedeemInput]) -> enrollment.Redeemed:
        """Register `device_id` with `public_key` on the token's venue; a token works once."""
        return stations.redeem(db.conn, data, db.now)
