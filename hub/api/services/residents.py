"""Resident import (diff or full), all or nothing: the file is validated while it streams into a staging
table (or, for a municipality's first file, into its new tables), and applied only when every row is good."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Generic, Literal, TypeVar

import msgspec
import psycopg

from hub.db import audit
from hub.db import residents as residents_db
from hub.files import FileFormatError, ImportSetupError, ProgressCallback, ResidentCopy, scan_resident_copy
from hub.files.encoding import BinaryReader
from hub.files.my_number_hash import MyNumberHasher

Mode = Literal["diff", "full"]
BatchT = TypeVar("BatchT")


class ResidentImportResult(msgspec.Struct):
    """What an upload did (or, in a dry run or with errors, would have done: nothing was applied)."""

    ok: bool
    applied: bool
    dry_run: bool
    mode: str
    encoding: str
    rows: int
    error_count: int
    errors: list[str]
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    flagged_missing: int = 0
    matched_records: int = 0


class _Discard(Exception):
    """Leave the staging savepoint without keeping anything (errors found, or a dry run)."""


def _while_valid(scan: ResidentCopy, batches: Iterable[BatchT]) -> Iterator[BatchT]:
    """The batches up to the file's first error: a file with an error is never applied, and from then on is
    only read for the report."""
    for batch in batches:
        if scan.error_count == 0:
            yield batch


class _ReadAhead(Generic[BatchT]):
    """Batches read by a thread of their own, up to _READ_AHEAD ahead of the caller: the file is read on
    while the caller waits for the database (a COPY of digests; the parser holds the GIL only between those
    waits). An error of the reading is raised to the caller in its turn; leaving the block stops the thread
    (an unfinished file is then not read to its end)."""

    def __init__(self, batches: Iterable[BatchT]) -> None:
        self._batches = batches
        self._queue: queue.Queue[tuple[Literal["batch", "end", "error"], Any]] = queue.Queue(_READ_AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="resident-file-reader", daemon=True)

    def __enter__(self) -> Iterator[BatchT]:
        self._thread.start()
        return self._take()

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _read(self) -> None:
        try:
            for batch in self._batches:
                if not self._put("batch", batch):
                    return
        except BaseException as exc:  # raised again in the caller's thread
            self._put("error", exc)
            return
        self._put("end", None)

    def _put(self, kind: Literal["batch", "end", "error"], value: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, value), timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def _take(self) -> Iterator[BatchT]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value


_READ_AHEAD = 8


def import_residents(
    conn: psycopg.Connection[Any], *, municipality_code: str, stream: BinaryReader, mode: Mode, dry_run: bool,
    secret: bytes, today: dt.date, actor: str, filename: str = "", progress: ProgressCallback | None = None,
    total_bytes: int | None = None,
) -> ResidentImportResult:
    """Import a resident file into `municipality_code` inside the caller's scoped transaction."""
    if mode not in ("diff", "full"):
        raise ValueError(f"mode must be diff or full, not {mode!r}")

    result = ResidentImportResult(ok=False, applied=False, dry_run=dry_run, mode=mode, encoding="", rows=0,
                                  error_count=0, errors=[])
    try:
        with conn.transaction():
            # Decided before the file is read, under the municipality's import lock (held while it is read).
            route = residents_db.begin_import(conn, municipality_code)
            scan = scan_resident_copy(stream, municipality_code=municipality_code, today=today,
                                      hash_my_number=MyNumberHasher(secret), progress=progress,
                                      total_bytes=total_bytes)
            try:
                if route == "new_tables":
                    with _ReadAhead(_while_valid(scan, scan.tables())) as batches:
                        inserted = residents_db.copy_first(conn, municipality_code, batches)
                else:
                    residents_db.create_stage(conn)
                    residents_db.copy_into_stage(conn, _while_valid(scan, scan))
            except FileFormatError as exc:
                result.errors, result.error_count = [str(exc)], 1
                raise _Discard() from None
            report = scan.report
            result.encoding, result.rows = report.encoding, report.rows
            if not report.ok:
                result.errors, result.error_count = report.messages(), report.error_count
                raise _Discard()
            if route == "new_tables":
                counts = residents_db.attach_first(conn, municipality_code, inserted)
            elif route == "insert":
                counts = residents_db.insert_stage(conn, municipality_code)
            else:
                residents_db.finish_stage(conn, municipality_code, full=mode == "full")
                conflicts = residents_db.voucher_conflicts(conn, municipality_code)
                if conflicts:
                    result.errors = [f"line {c.line}, 接種券番号: {c.voucher_no} already belongs to resident"
                                     f" {c.held_by} (not in this file); correct the number or include that resident"
                                     for c in conflicts]
                    result.error_count = len(conflicts)
                    raise _Discard()
                counts = residents_db.apply_stage(conn, municipality_code, today=today)
            result.ok = True
            for field in msgspec.structs.fields(counts):
                setattr(result, field.name, getattr(counts, field.name))
            if dry_run:
                raise _Discard()
    except _Discard:
        return result
    except ImportSetupError as exc:
        result.errors, result.error_count = [str(exc)], 1
        return result
    result.applied = True
    audit.write(conn, municipality_code, actor=actor, action="import_residents", target=filename,
                details={"mode": mode, "rows": result.rows, "inserted": result.inserted, "updated": result.updated,
                         "flagged_missing": result.flagged_missing, "matched_records": result.matched_records})
    return result
