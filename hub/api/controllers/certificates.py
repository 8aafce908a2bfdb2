"""Vaccination certificates on the web: the issuer's public keys and revocation lists (public, CORS), the
admin page that issues and revokes a resident's cards, a public verify page, and the same as JSON."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path
from typing import Any

import msgspec
from anyio import to_thread
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from hub.api.context import Caller, CallerDep, Db, DbDep, api_state
from hub.api.controllers.pages import page
from hub.api.controllers.scope import own_municipality
from hub.api.errors import InvalidInput, NotFound
from hub.api.services import tokens
from hub.api.settings import ApiSettings
from hub.certificates import issuer_keys, links, sources
from hub.certificates.errors import CardRejected, CardTooLarge, IssuerKeyError, NothingToCertify
from hub.certificates.issuance import IssuedCertificate, issue, revoke
from hub.certificates.issuer_keys import IssuerKeys
from hub.certificates.verify import TrustedIssuer, TrustStore, VerifiedCard
from hub.db import audit
from hub.db import certificates as certs_db
from hub.db.scoped import Scope, scoped
from hub.errors import NotFoundError

CORS = {"access-control-allow-origin": "*"}
# Verifiers fetch keys and lists often; a few minutes of caching is what the specification expects.
PUBLIC_CACHE = "public, max-age=300"
MAX_UPLOAD = 4 * 1024 * 1024
MAX_REASON = 500
_KID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class IssuedView(msgspec.Struct):
    """A card just issued, as the API returns it."""

    certificate_id: str
    kid: str
    rid: str | None
    jws: str
    qr_text: str
    doses: int


class CardResult(msgspec.Struct):
    """The verdict on one card: valid with what it says, or why not."""

    valid: bool
    origin: str
    reason: str = ""
    detail: str = ""
    card: VerifiedCard | None = None


class RevokeForm(msgspec.Struct):
    """Revoking a card needs a reason."""

    reason: str = ""


class VerifyInput(msgspec.Struct):
    """A card to verify as text: `shc:/...` or a compact JWS."""

    text: str


def _configured(settings: ApiSettings) -> tuple[str, Path]:
    if settings.certificate_issuer is None or settings.certificate_key_dir is None:
        raise NotFound("certificates are not configured (VRS_CERTIFICATE_ISSUER, VRS_CERTIFICATE_KEY_DIR)")
    return settings.certificate_issuer, settings.certificate_key_dir


def _settings(state: State) -> tuple[str, Path]:
    return _configured(api_state(state).settings)


def _keys(key_dir: Path) -> IssuerKeys:
    # The first key is made on first use, so a fresh hub publishes a JWKS before it issues anything.
    try:
        issuer_keys.ensure(key_dir)
        return issuer_keys.load(key_dir)
    except IssuerKeyError as exc:
        raise NotFound(str(exc)) from None


def _public_json(body: bytes) -> Response[bytes]:
    return Response(body, media_type="application/json", headers={**CORS, "cache-control": PUBLIC_CACHE})


def _trust(db_conn: Any, iss: str, keys: IssuerKeys) -> TrustStore:
    crls = {k.kid: certs_db.crl(db_conn, k.kid) for k in keys.published}
    return TrustStore.of(TrustedIssuer(iss=iss, name="ワクチン接種記録システム (this hub)", keys=keys.jwks().keys,
                                       crls=crls))


def _verify_all(found: list[sources.CardSource], trust: TrustStore, now: dt.datetime) -> list[CardResult]:
    out = []
    for source in found:
        try:
            card = sources.verify_source(source, trust, now)
        except CardRejected as exc:
            out.append(CardResult(valid=False, origin=source.origin, reason=exc.reason, detail=exc.detail))
        else:
            out.append(CardResult(valid=True, origin=source.origin, card=card))
    return out


def _issue(caller: Caller, code: str, atena_no: str) -> IssuedCertificate:
    iss, key_dir = _settings_of(caller)
    try:
        return issue(caller.conn, _keys(key_dir), iss, code, atena_no,
                     actor=caller.identity.username, now=caller.now)
    except NotFoundError:
        raise NotFound("no such resident") from None
    except (NothingToCertify, CardTooLarge) as exc:
        raise InvalidInput([str(exc)]) from None


def _settings_of(caller: Caller) -> tuple[str, Path]:
    return _configured(caller.state.settings)


def _data_uri(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _issued_view(done: IssuedCertificate) -> dict[str, Any]:
    """A card just issued, as the pages show it: the QR image and the three files as downloads."""
    return {
        "certificate_id": done.certificate_id, "doses": done.doses,
        "png": _data_uri("image/png", done.png()), "svg": _data_uri("image/svg+xml", done.svg()),
        "file": _data_uri("application/smart-health-card", done.file_content()),
        "name": f"vaccination-certificate-{done.certificate_id[:8]}",
    }


def _live_link(db: Db, link_text: str) -> links.Link:
    link = links.parse_link(link_text)
    if link is None:
        raise NotFound("no such link")
    with scoped(db.conn, Scope.municipality(link.municipality_code)):
        if certs_db.link_target(db.conn, link.municipality_code, link.link_hash, db.now) is None:
            raise NotFound("no such link, or it expired")
    return link


class WellKnown(Controller):
    """The issuer's published keys and revocation lists: public, for any verifier (CORS allowed)."""

    path = "/.well-known"
    tags = ("certificates",)

    @get("/jwks.json", sync_to_thread=True)
    def jwks(self, state: State, db: DbDep) -> Response[bytes]:
        """The issuer's public keys (current and retired), with each key's revocation list counter."""
        _, key_dir = _settings(state)
        keys = _keys(key_dir)
        return _public_json(msgspec.json.encode(keys.jwks(certs_db.crl_versions(db.conn))))

    @get("/crl/{name:str}", sync_to_thread=True)
    def crl(self, state: State, db: DbDep, name: FromPath[str]) -> Response[bytes]:
        """The revocation list (rids) of one issuer key, at /.well-known/crl/{kid}.json."""
        _, key_dir = _settings(state)
        # A path parameter is a whole segment, so the ".json" of the specification's URL is taken off here.
        kid = name.removesuffix(".json")
        if kid == name:
            raise NotFound("no such key")
        if not _KID.match(kid) or kid not in {k.kid for k in _keys(key_dir).published}:
            raise NotFound("no such key")
        return _public_json(msgspec.json.encode(certs_db.crl(db.conn, kid)))


class CertificatePages(Controller):
    """The admin page of a resident's certificates, and the public verify page."""

    include_in_schema = False

    @get("/residents/{atena_no:str}/certificates", sync_to_thread=True)
    def list_page(self, caller: CallerDep, atena_no: FromPath[str]) -> Template:
        code = own_municipality(caller)
        who = certs_db.resident(caller.conn, code, atena_no)
        if who is None:
            raise NotFound("no such resident")
        return page(caller, "certificates.html", who=who, cards=certs_db.issued_to(caller.conn, code, atena_no),
                    errors=[], issued=None)

    @post("/residents/{atena_no:str}/certificates", sync_to_thread=True, status_code=200)
    def issue_page(self, caller: CallerDep, atena_no: FromPath[str]) -> Template:
        code = own_municipality(caller)
        who = certs_db.resident(caller.conn, code, atena_no)
        if who is None:
            raise NotFound("no such resident")
        try:
            done = _issue(caller, code, atena_no)
        except InvalidInput as exc:
            return page(caller, "certificates.html", who=who, cards=certs_db.issued_to(caller.conn, code, atena_no),
                        errors=exc.messages, issued=None, status_code=422)
        return page(caller, "certificates.html", who=who, cards=certs_db.issued_to(caller.conn, code, atena_no),
                    errors=[], issued=_issued_view(done))

    @post("/residents/{atena_no:str}/certificates/link", sync_to_thread=True, status_code=200)
    def link_page(self, caller: CallerDep, atena_no: FromPath[str], request: Request[Any, Any, Any]) -> Template:
        code = own_municipality(caller)
        who = certs_db.resident(caller.conn, code, atena_no)
        if who is None:
            raise NotFound("no such resident")
        text, link = links.new_link(code)
        expires = caller.now + dt.timedelta(days=links.LINK_DAYS)
        certs_db.add_link(caller.conn, code, link.link_hash, atena_no, caller.identity.username, expires)
        audit.write(caller.conn, code, actor=caller.identity.username, action="certificate.link", target=atena_no,
                    details={"expires_at": expires.isoformat()})
        url = f"{str(request.base_url).rstrip('/')}/certificate/{text}"
        return page(caller, "certificates.html", who=who, cards=certs_db.issued_to(caller.conn, code, atena_no),
                    errors=[], issued=None, link={"url": url, "expires": expires})

    @post("/residents/{atena_no:str}/certificates/{certificate_id:str}/revoke", sync_to_thread=True)
    def revoke_page(self, caller: CallerDep, atena_no: FromPath[str], certificate_id: FromPath[str],
                    data: URLEncodedBody[RevokeForm]) -> Response[Any]:
        code = own_municipality(caller)
        who = certs_db.resident(caller.conn, code, atena_no)
        cards = certs_db.issued_to(caller.conn, code, atena_no) if who is not None else []
        if who is None or certificate_id not in {c.certificate_id for c in cards}:
            raise NotFound("no such certificate")
        reason = data.reason.strip()
        if not reason or len(reason) > MAX_REASON:
            return page(caller, "certificates.html", who=who, cards=cards, issued=None, status_code=422,
                        errors=[f"失効の理由 (reason): required, at most {MAX_REASON} characters"])
        revoke(caller.conn, code, certificate_id, reason, actor=caller.identity.username)
        return Redirect(f"/residents/{atena_no}/certificates", status_code=303)

    @get("/certificate/{link_text:str}", sync_to_thread=True)
    def resident_link(self, request: Request[Any, Any, Any], state: State, db: DbDep,
                      link_text: FromPath[str]) -> Template:
        link = _live_link(db, link_text)
        return Template("certificate_link.html", context={"link_text": link_text, "issued": None, "errors": [],
                                                          "municipality_code": link.municipality_code,
                                                          "csrf": _csrf(request, state)})

    @post("/certificate/{link_text:str}", sync_to_thread=True, status_code=200)
    def resident_issue(self, request: Request[Any, Any, Any], state: State, db: DbDep,
                       link_text: FromPath[str]) -> Template:
        link = _live_link(db, link_text)
        iss, key_dir = _settings(state)
        context: dict[str, Any] = {"link_text": link_text, "issued": None, "errors": [],
                                   "municipality_code": link.municipality_code, "csrf": _csrf(request, state)}
        with scoped(db.conn, Scope.municipality(link.municipality_code)):
            atena_no = certs_db.use_link(db.conn, link.municipality_code, link.link_hash, db.now)
            if atena_no is None:
                raise NotFound("link expired")
            try:
                done = issue(db.conn, _keys(key_dir), iss, link.municipality_code, atena_no,
                             actor="resident-link", now=db.now)
            except (NotFoundError, NothingToCertify, CardTooLarge) as exc:
                context["errors"] = [str(exc)]
                return Template("certificate_link.html", context=context, status_code=422)
        context["issued"] = _issued_view(done)
        return Template("certificate_link.html", context=context)

    @get("/verify")
    async def verify_form(self, request: Request[Any, Any, Any], state: State) -> Template:
        return Template("verify.html", context={"results": None, "csrf": _csrf(request, state)})

    @post("/verify", status_code=200)
    async def verify_page(self, request: Request[Any, Any, Any], state: State, db: DbDep) -> Template:
        form = await request.form()
        text = str(form.get("text") or "").strip()
        upload = form.get("file")
        found: list[sources.CardSource] = []
        problem: CardRejected | None = None
        try:
            if isinstance(upload, UploadFile) and upload.filename:
                data = await upload.read(MAX_UPLOAD + 1)
                if len(data) > MAX_UPLOAD:
                    raise CardRejected("bad_file", "the file is larger than a card could be")
                found = await to_thread.run_sync(sources.from_bytes, Path(upload.filename).name, data)
            elif text:
                found = [_text_source(text)]
            else:
                raise CardRejected("nothing_given", "choose a QR image or card file, or paste the QR code's text")
        except CardRejected as exc:
            problem = exc
        results: list[CardResult] = []
        if problem is not None:
            results = [CardResult(valid=False, origin="", reason=problem.reason, detail=problem.detail)]
        elif found:
            iss, key_dir = _settings(state)
            trust = _trust(db.conn, iss, _keys(key_dir))
            results = await to_thread.run_sync(_verify_all, found, trust, db.now)
        status = 200 if results and all(r.valid for r in results) else 422
        return Template("verify.html", context={"results": results, "csrf": _csrf(request, state)},
                        status_code=status)


def _text_source(text: str) -> sources.CardSource:
    # Never sources.from_argument here: on the server a text must not be taken for a file path.
    if not text.startswith(("shc:", "ey")):
        raise CardRejected("bad_qr_header", "give the text of the QR code (shc:/...) or a compact JWS")
    return sources.CardSource(origin="text", text=text)


def _csrf(request: Request[Any, Any, Any], state: State) -> str:
    # The page is public; a logged-in visitor's POST still has to carry the session's CSRF token.
    sid = request.cookies.get(tokens.SESSION_COOKIE)
    return tokens.csrf_token(api_state(state).csrf_key, sid) if sid else ""


class CertificatesApi(Controller):
    """Issuing and listing a resident's certificates as JSON, and verifying a card."""

    path = "/api/v1"
    tags = ("certificates",)

    @post("/municipalities/{code:str}/residents/{atena_no:str}/certificates", sync_to_thread=True,
          status_code=201)
    def issue_card(self, caller: CallerDep, code: FromPath[str], atena_no: FromPath[str]) -> IssuedView:
        """Issue a SMART Health Card of the resident's vaccinated doses (422 when there is none)."""
        done = _issue(caller, own_municipality(caller, code), atena_no)
        return IssuedView(certificate_id=done.certificate_id, kid=done.card.kid, rid=done.card.rid, jws=done.card.jws,
                          qr_text=done.card.qr_text, doses=done.doses)

    @get("/municipalities/{code:str}/residents/{atena_no:str}/certificates", sync_to_thread=True)
    def list_cards(self, caller: CallerDep, code: FromPath[str], atena_no: FromPath[str]) -> list[certs_db.IssuedRow]:
        """The certificates issued to a resident, newest first, with their revocation state."""
        return certs_db.issued_to(caller.conn, own_municipality(caller, code), atena_no)

    @post("/certificates/verify", sync_to_thread=True, status_code=200)
    def verify_card(self, state: State, db: DbDep, data: JSONBody[VerifyInput]) -> list[CardResult]:
        """Verify a card given as shc:/ text or JWS against this hub's keys and revocation lists."""
        iss, key_dir = _settings(state)
        trust = _trust(db.conn, iss, _keys(key_dir))
        try:
            source = _text_source(data.text.strip())
        except CardRejected as exc:
            return [CardResult(valid=False, origin="", reason=exc.reason, detail=exc.detail)]
        return _verify_all([source], trust, db.now)
