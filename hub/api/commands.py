"""What the admin's `vrs-hub` commands do (create-user, import-residents, import-records, audit verify);
hub.cli only parses arguments and calls these."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from hub.api.errors import InvalidInput
from hub.api.services import accounts
from hub.api.services import records as records_service
from hub.api.services import residents as residents_service
from hub.config import HubConfig
from hub.db import audit
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from hub.errors import InputError
from hub.files import ProgressCallback
from hub.keys import load_secret
from protocol.municipalities import is_municipality
from protocol.records import japan_today

BAR_WIDTH = 30
REDRAW_SECONDS = 0.2


def progress_bar(out: TextIO, label: str) -> tuple[ProgressCallback, Callable[[], None]]:
    """A progress callback drawing one self-overwriting line on `out`, and a function ending that line."""
    last = [0.0]
    started = time.monotonic()

    def draw(rows: int, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < REDRAW_SECONDS and (total is None or done < total):
            return
        last[0] = now
        rate = rows / max(now - started, 1e-6)
        if total:
            filled = int(BAR_WIDTH * min(done / total, 1.0))
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            out.write(f"\r{label} [{bar}] {100 * done / total:5.1f}% {rows:,} rows {rate:,.0f} rows/s")
        else:
            out.write(f"\r{label} {rows:,} rows {done / 1e6:.1f} MB {rate:,.0f} rows/s")
        out.flush()

    def finish() -> None:
        out.write("\n")
        out.flush()

    return draw, finish


def create_user(config: HubConfig, *, username: str, password: str, role: str, display_name: str,
                municipality_code: str | None, venue_id: str | None, prefecture_code: str | None) -> int:
    """Create an account (audited in the system chain); InputError says what is wrong."""
    with connect(config.database_url_for("api"), "vrs_api") as conn, scoped(conn, Scope.operator()):
        try:
            user_id = accounts.create_user(conn, username=username, password=password, role=role,
                                           display_name=display_name, municipality_code=municipality_code,
                                           venue_id=venue_id, prefecture_code=prefecture_code)
        except InvalidInput as exc:
            raise InputError("; ".join(exc.messages)) from None
        audit.write(conn, audit.SYSTEM_CHAIN, actor="cli", action="user.create", target=username,
                    details={"role": role, "municipality_code": municipality_code, "venue_id": venue_id,
                             "prefecture_code": prefecture_code})
    return user_id


def _check_file(path: Path, municipality_code: str) -> int:
    if not is_municipality(municipality_code):
        raise InputError(f"{municipality_code!r} is not a municipality code")
    try:
        return path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _print_errors(errors: list[str], out: TextIO) -> None:
    for e in errors:
        print(e, file=out)


def import_residents(config: HubConfig, path: Path, *, municipality_code: str, mode: str, dry_run: bool,
                     out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Import a resident file; prints every error as `line N, COLUMN: what` and returns 1 if any."""
    size = _check_file(path, municipality_code)
    secret = load_secret(config.require("secret_file"))
    draw, finish = progress_bar(err, path.name)
    now = dt.datetime.now(dt.UTC)
    with connect(config.database_url_for("api"), "vrs_api") as conn, \
            scoped(conn, Scope.municipality(municipality_code)), path.open("rb") as f:
        result = residents_service.import_residents(
            conn, municipality_code=municipality_code, stream=f, mode=mode,  # type: ignore[arg-type]  # argparse choices
            dry_run=dry_run, secret=secret, today=japan_today(now), actor="cli", filename=path.name,
            progress=draw, total_bytes=size,
        )
    finish()
    if not result.ok:
        _print_errors(result.errors, err)
        print(f"{result.error_count} error(s); nothing was imported", file=err)
        return 1
    verb = "would import" if dry_run else "imported"
    print(f"{verb} {result.rows} row(s) ({result.encoding}): {result.inserted} new, {result.updated} updated,"
          f" {result.unchanged} unchanged, {result.flagged_missing} flagged missing,"
          f" {result.matched_records} record(s) newly matched", file=out)
    return 0


def import_records(config: HubConfig, path: Path, *, municipality_code: str, dry_run: bool,
                   out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Import a record file; prints every error and returns 1 if any."""
    size = _check_file(path, municipality_code)
    draw, finish = progress_bar(err, path.name)
    now = dt.datetime.now(dt.UTC)
    with connect(config.database_url_for("api"), "vrs_api") as conn, \
            scoped(conn, Scope.municipality(municipality_code)), path.open("rb") as f:
        result = records_service.import_records(
            conn, municipality_code=municipality_code, stream=f, dry_run=dry_run, today=japan_today(now), now=now,
            actor="cli", filename=path.name, progress=draw, total_bytes=size,
        )
    finish()
    if not result.ok:
        _print_errors(result.errors, err)
        print(f"{result.error_count} error(s); nothing was imported", file=err)
        return 1
    verb = "would register" if dry_run else "registered"
    print(f"{verb} {result.registered} record(s) from {result.rows} row(s); {result.unmatched} not matched to a"
          " resident" + (f"; venues not registered: {', '.join(result.unknown_venues)}" if result.unknown_venues
                         else ""), file=out)
    return 0


def audit_verify(config: HubConfig, out: TextIO = sys.stdout) -> int:
    """Check every audit chain; prints each break and returns 1 if there is any."""
    with connect(config.database_url_for("api"), "vrs_api") as conn:
        total, breaks = audit.verify_all(conn)
    for b in breaks:
        print(f"chain {b.chain}, row {b.seq}: {b.problem}", file=out)
    if breaks:
        print(f"audit log BROKEN: {len(breaks)} problem(s) in {total} row(s)", file=out)
        return 1
    print(f"audit log intact: {total} row(s) verified", file=out)
    return 0


