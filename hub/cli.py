"""`vrs-hub`: the hub's commands, each a thin shell over a library function.

Adding a command is one local edit: write ``_name(args, config) -> int`` with a docstring (its help text)
and an ``_args_name(parser)`` if it takes options, then add one ``Command`` line to COMMANDS. A two-word
command (``device add``) names its group, whose help is in GROUPS.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from hub.config import HubConfig, load_config
from hub.errors import HubError, InputError

Run = Callable[[argparse.Namespace, HubConfig], int]
AddArgs = Callable[[argparse.ArgumentParser], None]


class Command(msgspec.Struct, frozen=True):
    """One subcommand: its words, how to run it, and its options."""

    path: tuple[str, ...]
    run: Run
    add_args: AddArgs | None = None


GROUPS: dict[str, str] = {
    "venue": "Venues (会場) where stations stand.",
    "device": "Stations: enroll with their public key, replace the key, revoke.",
    "keys": "The hub's own keys.",
    "audit": "The hash-chained audit log.",
    "certificate": "Vaccination certificates (SMART Health Cards): issue, verify, issuer key, revoke.",
}


# --- commands -----------------------------------------------------------------------------------


def _migrate(args: argparse.Namespace, config: HubConfig) -> int:
    """Create or update the database schema and roles, seed municipalities, create key files if missing."""
    from hub.db.connect import connect
    from hub.db.migrate import migrate
    from hub.keys import ensure_hub_key, ensure_secret

    key_file, secret_file = config.require("hub_key_file"), config.require("secret_file")
    with connect(config.require("database_url"), None) as conn:
        applied = migrate(conn)
    for path, created in ((key_file, ensure_hub_key(key_file)), (secret_file, ensure_secret(secret_file))):
        if created:
            print(f"created {path}")
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    # Records already there (migration 0066) or changed since the last download: their ledger rows are built
    # now rather than by a clerk's next download.
    people = _rebuild_marked_ledger_rows(config.require("database_url"), None)
    if people:
        print(f"rebuilt the ledger rows of {people} person(s)")
    return 0


def _args_ingest(p: argparse.ArgumentParser) -> None:
    p.add_argument("--client-id", help="MQTT client id of this worker (default: VRS_INGEST_CLIENT_ID); give each "
                   "worker its own, stable across restarts")


def _ingest(args: argparse.Namespace, config: HubConfig) -> int:
    """Receive signed record batches from the broker, store them exactly once, answer with signed acks."""
    from hub.ingest.worker import run_forever

    config.mqtt  # noqa: B018  # fail now, with the config message, not inside the network thread
    config.database_url_for("ingest")
    run_forever(config, client_id=args.client_id)
    return 0


def _args_venue_add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", required=True, help="venue id: 1-64 characters of A-Z a-z 0-9 . _ -")
    p.add_argument("--municipality", required=True, help="6-digit code of the venue's municipality")
    p.add_argument("--name", required=True, help="the venue's name as people know it")


def _venue_add(args: argparse.Namespace, config: HubConfig) -> int:
    """Register a venue of a municipality."""
    from hub.db import audit
    from hub.db.connect import connect
    from hub.db.scoped import Scope, scoped
    from hub.db.venues import add_venue
    from protocol.topics import is_valid_venue_id

    if not is_valid_venue_id(args.id):
        raise InputError(f"venue id {args.id!r} must be 1-64 characters of A-Z a-z 0-9 . _ -")
    with connect(config.database_url_for("api"), "vrs_api") as conn, scoped(conn, Scope.operator()):
        venue = add_venue(conn, args.id, args.municipality, args.name.strip())
        audit.write(conn, audit.SYSTEM_CHAIN, actor="cli", action="venue.add", target=venue.venue_id,
                    details={"municipality_code": venue.municipality_code, "name": venue.name})
    print(f"venue {venue.venue_id} ({venue.name}) added to {venue.municipality_code}")
    return 0


def _args_device_add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", required=True, help="device id (also its MQTT username): 1-64 of A-Z a-z 0-9 . _ -")
    p.add_argument("--venue", required=True, help="id of the venue the station stands at")
    p.add_argument("--public-key-file", required=True, type=Path, help="the station's Ed25519 public key (PEM)")


def _device_add(args: argparse.Namespace, config: HubConfig) -> int:
    """Enroll a station: its batches are accepted once signed with the matching private key."""
    from hub.db import audit
    from hub.db.connect import connect
    from hub.db.devices import add_device
    from hub.db.scoped import Scope, scoped
    from protocol.errors import KeyFormatError
    from protocol.signing import load_public_key_pem, public_key_to_pem
    from protocol.topics import is_valid_device_id

    if not is_valid_device_id(args.id):
        raise InputError(f"device id {args.id!r} must be 1-64 characters of A-Z a-z 0-9 . _ -")
    try:
        key = load_public_key_pem(args.public_key_file.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read {args.public_key_file}: {exc.strerror}") from None
    except KeyFormatError as exc:
        raise InputError(f"{args.public_key_file}: {exc}") from None
    pem = public_key_to_pem(key).decode("ascii")
    with connect(config.database_url_for("api"), "vrs_api") as conn, scoped(conn, Scope.operator()):
        add_device(conn, args.id, args.venue, pem)
        audit.write(conn, audit.SYSTEM_CHAIN, actor="cli", action="device.add", target=args.id,
                    details={"venue_id": args.venue})
    print(f"device {args.id} enrolled at venue {args.venue}")
    return 0


def _args_device_rotate_key(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", required=True, help="device id of the station")
    p.add_argument("--public-key-file", required=True, type=Path, help="the station's new Ed25519 public key (PEM)")
    p.add_argument("--overlap-days", type=float, default=14.0,
                   help="how long batches signed with the old key are still accepted (default 14)")


def _device_rotate_key(args: argparse.Namespace, config: HubConfig) -> int:
    """Give a station a new key; what it signed with the old key is accepted until the old key retires."""
    import datetime

    from hub.db import audit
    from hub.db.connect import connect
    from hub.db.device_keys import rotate_key
    from hub.db.scoped import Scope, scoped
    from protocol.errors import KeyFormatError
    from protocol.signing import load_public_key_pem, public_key_to_pem

    if not 0 <= args.overlap_days <= 365:
        raise InputError("--overlap-days must be between 0 and 365")
    try:
        key = load_public_key_pem(args.public_key_file.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read {args.public_key_file}: {exc.strerror}") from None
    except KeyFormatError as exc:
        raise InputError(f"{args.public_key_file}: {exc}") from None
    pem = public_key_to_pem(key).decode("ascii")
    with connect(config.database_url_for("api"), "vrs_api") as conn, scoped(conn, Scope.operator()):
        retires = rotate_key(conn, args.id, pem, datetime.timedelta(days=args.overlap_days))
        audit.write(conn, audit.SYSTEM_CHAIN, actor="cli", action="device.rotate_key", target=args.id,
                    details={"old_key_retires_at": retires.isoformat()})
    print(f"device {args.id} has its new key; the old one is accepted until {retires:%Y-%m-%d %H:%M %Z}")
    return 0


def _args_device_revoke(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", required=True, help="device id to revoke")


def _device_revoke(args: argparse.Namespace, config: HubConfig) -> int:
    """Revoke a station: its later batches are rejected (revoked_device)."""
    from hub.db import audit
    from hub.db.connect import connect
    from hub.db.devices import revoke_device
    from hub.db.scoped import Scope, scoped

    with connect(config.database_url_for("api"), "vrs_api") as conn, scoped(conn, Scope.operator()):
        changed = revoke_device(conn, args.id)
        if changed:
            audit.write(conn, audit.SYSTEM_CHAIN, actor="cli", action="device.revoke", target=args.id)
    print(f"device {args.id} " + ("revoked" if changed else "was already revoked"))
    return 0


def _args_keys_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="a JWKS of every key stations may need: current, prepared "
                   "next (during a rotation) and retired")


def _keys_show(args: argparse.Namespace, config: HubConfig) -> int:
    """Print the hub's ack-signing public key as one JWK JSON object on one line (stations verify acks with it)."""
    from hub.keys import hub_public_jwk
    from hub.ops.ack_keys import published

    key_file = config.require("hub_key_file")
    shown = published(key_file) if args.all else hub_public_jwk(key_file)
    print(json.dumps(shown, separators=(",", ":")))
    return 0


def _args_keys_rotate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prepare", action="store_true", help="step 1: create the next key; then give every station "
                   "the output of `vrs-hub keys show --all`")


def _keys_rotate(args: argparse.Namespace, config: HubConfig) -> int:
    """Rotate the ack-signing key in two steps (--prepare, then without it); a running ingest follows step 2."""
    from hub.ops.ack_keys import activate, next_path, prepare

    key_file = config.require("hub_key_file")
    if args.prepare:
        created = prepare(key_file)
        print(("created" if created else "kept") + f" the next key {next_path(key_file)}; install `vrs-hub keys show "
              "--all` on every station, then run `vrs-hub keys rotate`")
    else:
        activate(key_file)
        print(f"{key_file} now holds the new key; running `vrs-hub ingest` workers sign with it within seconds")
    return 0


def _args_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--municipality", required=True, help="6-digit code of the municipality to export")
    p.add_argument("--layout", choices=["long", "ledger"], default="long",
                   help="long: one row per record (both statuses, unmatched too); ledger: one row per resident")
    p.add_argument("--encoding", choices=["utf-8", "cp932"], default="utf-8",
                   help="utf-8 (with BOM, the default) or cp932 (Shift_JIS)")


def _export_records(args: argparse.Namespace, config: HubConfig) -> int:
    """Stream a municipality's current records as CSV to standard output."""
    from hub.api.services.exports import csv_chunks
    from hub.db.connect import connect
    from hub.db.scoped import Scope, scoped
    from protocol.municipalities import is_municipality

    if not is_municipality(args.municipality):
        raise InputError(f"{args.municipality!r} is not a municipality code")
    out = sys.stdout.buffer
    scope = Scope.municipality(args.municipality)
    with connect(config.database_url_for("api"), "vrs_api") as conn, scoped(conn, scope):
        for chunk in csv_chunks(conn, args.municipality, args.layout, args.encoding):
            out.write(chunk)
    out.flush()
    return 0


def _rebuild_aggregates(args: argparse.Namespace, config: HubConfig) -> int:
    """Recount the hourly aggregates from the current records and say whether they had drifted."""
    from hub.db import aggregates
    from hub.db.connect import connect
    from hub.db.scoped import Scope, scoped

    with connect(config.database_url_for("ingest"), "vrs_ingest") as conn, scoped(conn, Scope.ingest()):
        before = aggregates.stored(conn)
        cells = aggregates.rebuild(conn)
        drift = before != aggregates.stored(conn)
    print(f"rebuilt {cells} aggregate cell(s); " + ("they had drifted from the records" if drift else "no drift"))
    return 0


def _args_rebuild_ledger(p: argparse.ArgumentParser) -> None:
    p.add_argument("--municipality", help="6-digit code of one municipality (default: every municipality)")


def _rebuild_ledger(args: argparse.Namespace, config: HubConfig) -> int:
    """Rebuild the stored ledger rows of the people whose records changed since, so downloads need not."""

    if args.municipality is not None:
        from protocol.municipalities import is_municipality

        if not is_municipality(args.municipality):
            raise InputError(f"{args.municipality!r} is not a municipality code")
    total = _rebuild_marked_ledger_rows(config.database_url_for("api"), args.municipality)
    print(f"rebuilt the ledger rows of {total} person(s)")
    return 0


def _rebuild_marked_ledger_rows(url: str, municipality: str | None) -> int:
    from hub.db import ledger
    from hub.db.connect import connect

    with connect(url, "vrs_api") as conn:
        codes = [municipality] if municipality else [
            str(r[0]) for r in conn.execute("SELECT code FROM municipalities ORDER BY code")]
        return ledger.rebuild(conn, codes, lambda code, people: print(f"{code}: {people} person(s)", file=sys.stderr))


def _args_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to listen on (default: VRS_API_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default: VRS_API_PORT or 8000)")
    p.add_argument("--workers", type=int, help="worker processes (default: VRS_API_WORKERS or 1)")


def _serve(args: argparse.Namespace, config: HubConfig) -> int:
    """Serve the municipal admin pages and the JSON API (OpenAPI at /schema) with granian."""
    from hub.api.serve import serve

    if args.config is not None:
        os.environ["VRS_CONFIG_FILE"] = str(args.config)  # granian's workers rebuild the config from it
    serve(config, host=args.host or config.api_host, port=args.port or config.api_port,
          workers=args.workers or config.api_workers)
    return 0


def _args_create_user(p: argparse.ArgumentParser) -> None:
    from hub.api.identity import ROLES

    p.add_argument("--username", required=True, help="login name: 1-64 of A-Z a-z 0-9 . _ @ -")
    p.add_argument("--role", required=True, choices=ROLES, help="what the account may see and do")
    p.add_argument("--municipality", help="6-digit municipality code (municipal_admin, municipal_staff)")
    p.add_argument("--venue", help="venue id (venue_staff)")
    p.add_argument("--prefecture", help="2-digit prefecture code (prefecture_viewer)")
    p.add_argument("--display-name", default="", help="name shown on the pages")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input instead of prompting")


def _create_user(args: argparse.Namespace, config: HubConfig) -> int:
    """Create an admin account (the password is prompted for, or read from stdin)."""
    import getpass

    from hub.api.commands import create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise InputError("the two passwords differ")
    create_user(config, username=args.username, password=password, role=args.role, display_name=args.display_name,
                municipality_code=args.municipality, venue_id=args.venue, prefecture_code=args.prefecture)
    print(f"user {args.username} ({args.role}) created")
    return 0


def _args_import_residents(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="resident CSV (UTF-8 with or without BOM, or CP932)")
    p.add_argument("--municipality", required=True, help="6-digit code of the importing municipality")
    p.add_argument("--mode", choices=["diff", "full"], default="diff",
                   help="diff: add or update the rows given; full: the file is the whole list, residents missing"
                   " from it are flagged (never deleted)")
    p.add_argument("--dry-run", action="store_true", help="check the whole file and report; change nothing")


def _import_residents(args: argparse.Namespace, config: HubConfig) -> int:
    """Import residents from CSV; any bad row rejects the whole file, every error listed by line and column."""
    from hub.api.commands import import_residents

    return import_residents(config, args.file, municipality_code=args.municipality, mode=args.mode,
                            dry_run=args.dry_run)


def _args_import_records(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="record CSV (DESIGN.md record-import layout)")
    p.add_argument("--municipality", required=True, help="6-digit code of the importing municipality")
    p.add_argument("--dry-run", action="store_true", help="check the whole file and report; change nothing")


def _import_records(args: argparse.Namespace, config: HubConfig) -> int:
    """Import dose records from CSV (e.g. from another system); any bad row rejects the whole file."""
    from hub.api.commands import import_records

    return import_records(config, args.file, municipality_code=args.municipality, dry_run=args.dry_run)


def _audit_verify(args: argparse.Namespace, config: HubConfig) -> int:
    """Recompute every audit chain's hashes; exit 1 and name each break if a row was altered or removed."""
    from hub.api.commands import audit_verify

    return audit_verify(config)


def _args_certificate_issue(p: argparse.ArgumentParser) -> None:
    p.add_argument("--municipality", required=True, help="6-digit code of the resident's municipality")
    p.add_argument("--atena", required=True, help="the resident's 宛名番号")
    p.add_argument("--out", type=Path, default=Path("."), help="directory for the card files (default: .)")


def _certificate_issue(args: argparse.Namespace, config: HubConfig) -> int:
    """Issue a resident's vaccination certificate: .smart-health-card, QR as PNG and SVG, shc:/ text."""
    from hub.certificates.commands import issue_to_files

    for path in issue_to_files(config, args.municipality, args.atena, args.out):
        print(path)
    return 0


def _args_certificate_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("cards", nargs="+", help="a .smart-health-card/.json/.txt file, a QR image, or shc:/... text")
    p.add_argument("--trust", action="append", default=[], metavar="ISSUER_URL=WELL_KNOWN_DIR",
                   help="trust this issuer with the jwks.json and crl/ in DIR (repeatable; default: this hub)")
    p.add_argument("--issuers", type=Path, help="trusted issuer list ({participating_issuers: [{iss, name}]})")


def _certificate_verify(args: argparse.Namespace, config: HubConfig) -> int:
    """Verify cards offline: signature, trusted issuer, revocation; print each holder's doses. Exit 1 if any fails."""
    from hub.certificates.commands import trust_from, verify_inputs

    return verify_inputs(args.cards, trust_from(config, args.trust, args.issuers))


def _certificate_rotate_key(args: argparse.Namespace, config: HubConfig) -> int:
    """Start signing certificates with a new issuer key; the old public key stays published."""
    from hub.certificates.commands import hub_keys
    from hub.certificates.issuer_keys import rotate

    hub_keys(config, create=True)
    print(f"new issuer key {rotate(config.require('certificate_key_dir'))}")
    return 0


def _certificate_jwks(args: argparse.Namespace, config: HubConfig) -> int:
    """Print the issuer's public keys as the JWKS served at /.well-known/jwks.json."""
    from hub.certificates.commands import hub_keys

    print(msgspec.json.encode(hub_keys(config, create=True).jwks()).decode())
    return 0


def _args_certificate_revoke(p: argparse.ArgumentParser) -> None:
    p.add_argument("--municipality", required=True, help="6-digit code of the resident's municipality")
    p.add_argument("--id", required=True, help="certificate id (printed in the audit log and the admin page)")
    p.add_argument("--reason", required=True, help="why (lost, issued to the wrong person, ...)")


def _certificate_revoke(args: argparse.Namespace, config: HubConfig) -> int:
    """Revoke one issued certificate; verifiers refuse it once they have the new revocation list."""
    import uuid

    from hub.certificates.commands import revoke_one

    try:
        certificate_id = str(uuid.UUID(args.id))
    except ValueError:
        raise InputError(f"{args.id!r} is not a certificate id") from None
    done = revoke_one(config, args.municipality, certificate_id, args.reason.strip())
    print(f"certificate {certificate_id} " + ("revoked" if done else "not found or already revoked"))
    return 0 if done else 1


def _args_backup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="the backup file to write (mode 0600)")
    p.add_argument("--recipient", type=Path, help="encrypt to this X25519 public key (from `vrs-hub keys "
                   "backup-identity`) instead of a passphrase (VRS_BACKUP_PASSPHRASE or asked)")
    p.add_argument("--allow-broken-audit", action="store_true",
                   help="back up even though the audit log does not verify (such a backup will not restore)")


def _backup(args: argparse.Namespace, config: HubConfig) -> int:
    """Back up the database (pg_dump) and the hub's key files into one encrypted file."""
    from hub.ops.commands import backup_command

    return backup_command(config, args.out, recipient=args.recipient, allow_broken_audit=args.allow_broken_audit)


def _args_restore(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a file written by `vrs-hub backup`")
    p.add_argument("--identity", type=Path, help="the X25519 identity the backup was encrypted to")


def _restore(args: argparse.Namespace, config: HubConfig) -> int:
    """Restore a backup into an empty database and write the key files; refused if its audit log does not verify."""
    from hub.ops.commands import restore_command

    return restore_command(config, args.file, identity=args.identity)


def _args_backup_identity(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="where to write the private identity (its public half goes to FILE.pub)")


def _backup_identity(args: argparse.Namespace, config: HubConfig) -> int:
    """Create an X25519 key pair for backups encrypted to a public key (keep the private half off the hub)."""
    from hub.ops.commands import new_identity

    return new_identity(args.file)


COMMANDS: list[Command] = [
    Command(("migrate",), _migrate),
    Command(("ingest",), _ingest, _args_ingest),
    Command(("venue", "add"), _venue_add, _args_venue_add),
    Command(("device", "add"), _device_add, _args_device_add),
    Command(("device", "revoke"), _device_revoke, _args_device_revoke),
    Command(("device", "rotate-key"), _device_rotate_key, _args_device_rotate_key),
    Command(("keys", "show"), _keys_show, _args_keys_show),
    Command(("keys", "rotate"), _keys_rotate, _args_keys_rotate),
    Command(("export-records",), _export_records, _args_export),
    Command(("rebuild-aggregates",), _rebuild_aggregates),
    Command(("rebuild-ledger",), _rebuild_ledger, _args_rebuild_ledger),
    Command(("serve",), _serve, _args_serve),
    Command(("create-user",), _create_user, _args_create_user),
    Command(("import-residents",), _import_residents, _args_import_residents),
    Command(("import-records",), _import_records, _args_import_records),
    Command(("audit", "verify"), _audit_verify),
    Command(("certificate", "issue"), _certificate_issue, _args_certificate_issue),
    Command(("certificate", "verify"), _certificate_verify, _args_certificate_verify),
    Command(("certificate", "rotate-key"), _certificate_rotate_key),
    Command(("certificate", "jwks"), _certificate_jwks),
    Command(("certificate", "revoke"), _certificate_revoke, _args_certificate_revoke),
    Command(("backup",), _backup, _args_backup),
    Command(("restore",), _restore, _args_restore),
    Command(("keys", "backup-identity"), _backup_identity, _args_backup_identity),
]


# --- plumbing -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command in COMMANDS."""
    parser = argparse.ArgumentParser(
        prog="vrs-hub",
        description="The vaccination record hub: database, ingest of station batches, admin, CSV files. "
        "Configuration comes from VRS_* environment variables and an optional TOML file.",
    )
    parser.add_argument("--config", type=Path, help="TOML configuration file (default: $VRS_CONFIG_FILE)")
    top = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, Any] = {}
    for cmd in COMMANDS:
        where = top
        if len(cmd.path) == 2:
            group = cmd.path[0]
            if group not in groups:
                gp = top.add_parser(group, help=GROUPS[group], description=GROUPS[group])
                groups[group] = gp.add_subparsers(dest="subcommand", required=True)
            where = groups[group]
        doc = (cmd.run.__doc__ or "").strip()
        p = where.add_parser(cmd.path[-1], help=doc, description=doc)
        if cmd.add_args is not None:
            cmd.add_args(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vrs-hub` console script."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config(os.environ, args.config)
        logging.basicConfig(level=config.log_level.upper(), stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        code: int = args._run(args, config)
        return code
    except HubError as exc:
        print(f"vrs-hub: error: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or ["connection failed"])[0]
        print(f"vrs-hub: error: cannot use the database: {first}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1  # the reader of a streamed export went away (e.g. `| head`)


if __name__ == "__main__":
    sys.exit(main())
