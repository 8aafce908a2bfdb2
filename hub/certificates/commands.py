"""What the `vrs-hub certificate ...` commands do, given the hub configuration: issue a card to files,
verify cards offline, rotate the issuer key, revoke a card."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import TextIO

from hub.certificates import issuer_keys, sources
from hub.certificates.errors import CardRejected
from hub.certificates.issuance import issue, revoke
from hub.certificates.issuer_keys import IssuerKeys
from hub.certificates.trust import issuer_names, load_issuer
from hub.certificates.verify import TrustedIssuer, TrustStore, VerifiedCard
from hub.config import HubConfig
from hub.errors import ConfigError, InputError

HUB_ISSUER_NAME = "this hub"


def hub_keys(config: HubConfig, *, create: bool = False) -> IssuerKeys:
    """The hub's issuer keys from VRS_CERTIFICATE_KEY_DIR (created with a first key when `create`)."""
    directory: Path = config.require("certificate_key_dir")
    if create:
        issuer_keys.ensure(directory)
    return issuer_keys.load(directory)


def issue_to_files(config: HubConfig, municipality_code: str, atena_no: str, out: Path, *,
                   actor: str = "cli") -> list[Path]:
    """Issue a card and write it as .smart-health-card, .png, .svg and .txt (the shc:/ text) into `out`."""
    from hub.db.connect import connect
    from hub.db.scoped import Scope, scoped

    iss: str = config.require("certificate_issuer")
    keys = hub_keys(config, create=True)
    now = datetime.datetime.now(datetime.UTC)
    with connect(config.database_url_for("api"), "vrs_api") as conn, \
            scoped(conn, Scope.municipality(municipality_code)):
        done = issue(conn, keys, iss, municipality_code, atena_no, actor=actor, now=now)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{municipality_code}-{atena_no}-{done.certificate_id[:8]}"
    files = {".smart-health-card": done.file_content(), ".png": done.png(), ".svg": done.svg(),
             ".txt": (done.card.qr_text + "\n").encode("ascii")}
    written = []
    for suffix, data in files.items():
        path = stem.with_suffix(suffix)
        path.write_bytes(data)
        written.append(path)
    return written


def hub_trust(config: HubConfig) -> TrustedIssuer:
    """The hub itself as a trusted issuer: its published keys, and its revocation lists when a database is set."""
    iss: str = config.require("certificate_issuer")
    keys = hub_keys(config)
    crls = {}
    if config.database_url is not None or config.api_database_url is not None:
        from hub.db import certificates as certs_db
        from hub.db.connect import connect

        with connect(config.database_url_for("api"), "vrs_api") as conn:
            crls = {k.kid: certs_db.crl(conn, k.kid) for k in keys.published}
    return TrustedIssuer(iss=iss, name=HUB_ISSUER_NAME, keys=keys.jwks().keys, crls=crls)


def trust_from(config: HubConfig, trust_args: list[str], issuers_file: Path | None) -> TrustStore:
    """The trust store of a verify command: each ISS=DIR given, else the hub's own issuer."""
    names = issuer_names(issuers_file) if issuers_file is not None else {}
    issuers = []
    for arg in trust_args:
        iss, sep, directory = arg.partition("=")
        if not sep or not iss or not directory:
            raise InputError(f"--trust takes ISSUER_URL=WELL_KNOWN_DIR, got {arg!r}")
        issuers.append(load_issuer(iss, names.get(iss, iss), Path(directory)))
    if not issuers:
        try:
            issuers.append(hub_trust(config))
        except ConfigError as exc:
            raise ConfigError(f"{exc}; or give --trust ISSUER_URL=WELL_KNOWN_DIR") from None
    return TrustStore.of(*issuers)


def describe(card: VerifiedCard) -> str:
    """A verified card as a person reads it."""
    lines = [f"  name:       {card.summary.name}", f"  born:       {card.summary.birth_date}",
             f"  issuer:     {card.issuer_name} ({card.iss})", f"  issued:     {card.nbf:%Y-%m-%d %H:%M} UTC"]
    for n, d in enumerate(card.summary.doses, start=1):
        lines.append(f"  dose {n}:     {d.date}  {d.maker_label}  lot {d.lot or '-'}  {d.performer}")
    return "\n".join(lines)


def verify_inputs(inputs: list[str], trust: TrustStore, out: TextIO = sys.stdout) -> int:
    """Verify every card named; print VALID with a summary or INVALID with the reason. 0 when all are valid."""
    now = datetime.datetime.now(datetime.UTC)
    failed = 0
    for arg in inputs:
        try:
            found = sources.from_argument(arg)
        except CardRejected as exc:
            print(f"INVALID {arg}: {exc}", file=out)
            failed += 1
            continue
        for source in found:
            label = source.origin if source.origin != "argument" else arg[:24] + ("..." if len(arg) > 24 else "")
            try:
                card = sources.verify_source(source, trust, now)
            except CardRejected as exc:
                print(f"INVALID {label}: {exc}", file=out)
                failed += 1
            else:
                print(f"VALID {label}\n{describe(card)}", file=out)
    return 1 if failed else 0


def revoke_one(config: HubConfig, municipality_code: str, certificate_id: str, reason: str) -> bool:
    """Revoke one issued card by its id; False when it was unknown or already revoked."""
    from hub.db.connect import connect
    from hub.db.scoped import Scope, scoped

    with connect(config.database_url_for("api"), "vrs_api") as conn, \
            scoped(conn, Scope.municipality(municipality_code)):
        return revoke(conn, municipality_code, certificate_id, reason, actor="cli")
