"""The station's SQLite outbox: every record made here, committed before the beep, kept until the hub
answers for it with a signed ack, plus the local journal the kiosk reads (today's count, last scans,
rejections and warnings).

Durability: WAL with ``synchronous=FULL``. With ``NORMAL`` a WAL commit survives a crash of the process but
not a power cut (the WAL is synced only at checkpoints), and a venue's Pi loses power when someone trips over
a cable: the beep has already told staff the record is safe and the voucher has gone home with its owner.
``FULL`` costs one fsync per scan (milliseconds; scans are seconds apart) and one per acked batch.

Tables: ``journal`` holds every record made here (wire JSON, key fields, hub outcome); ``outbox`` holds the
order and ids of those not yet answered for; ``rejected`` and ``warnings`` keep what the hub said for staff;
``meta`` holds the batch counter and the kiosk's preset.
"""

from __future__ import annotations

import datetime
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import msgspec
import sqlite_utils

from edge import EdgeError
from edge.queue.records import encode_record
from protocol.records import JST, Ack, AckWarning, Record, Rejection

EntryState = Literal["pending", "accepted", "rejected"]
_STATES: dict[str, EntryState] = {"pending": "pending", "accepted": "accepted", "rejected": "rejected"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    record_id TEXT PRIMARY KEY,
    op TEXT NOT NULL,
    municipality_code TEXT NOT NULL,
    voucher_no TEXT NOT NULL,
    dose INTEGER NOT NULL,
    status TEXT NOT NULL,
    day TEXT NOT NULL,              -- Japan day of scanned_at: the station's "today" for counts
    scanned_at TEXT NOT NULL,       -- in Japan time, so that the text sorts as the time does
    voids_record_id TEXT,
    body BLOB NOT NULL,             -- the wire JSON, resent byte for byte
    state TEXT NOT NULL DEFAULT 'pending',
    reason TEXT,
    voided_by TEXT,
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS journal_day ON journal (day, municipality_code, voucher_no, dose);
CREATE INDEX IF NOT EXISTS journal_scanned ON journal (scanned_at);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE REFERENCES journal (record_id)
);
CREATE TABLE IF NOT EXISTS rejected (
    record_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    rejected_at TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS warnings (
    record_id TEXT NOT NULL,
    code TEXT NOT NULL,
    detail TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (record_id, code)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


class OutboxError(EdgeError):
    """The outbox database cannot be opened or written (disk full, read-only, corrupt file)."""


class PendingEntry(msgspec.Struct, frozen=True):
    """One record waiting for the hub's answer, in outbox order."""

    seq: int
    record_id: str
    body: bytes


class JournalEntry(msgspec.Struct, frozen=True):
    """One record made at this station, as the kiosk lists it."""

    record_id: str
    op: str
    municipality_code: str
    voucher_no: str
    dose: int
    status: str
    scanned_at: datetime.datetime
    state: EntryState
    voids_record_id: str | None = None
    voided_by: str | None = None
    reason: str | None = None
    warnings: tuple[AckWarning, ...] = ()


class RejectedEntry(msgspec.Struct, frozen=True):
    """A record the hub refused, kept for staff with the hub's reason code."""

    record_id: str
    reason: str
    rejected_at: datetime.datetime
    record: Record


class AckResult(msgspec.Struct, frozen=True):
    """What one verified ack changed here (ids already answered for are left out)."""

    accepted: tuple[str, ...]
    rejected: tuple[Rejection, ...]
    warnings: tuple[AckWarning, ...]


class Outbox:
    """The outbox and journal in one SQLite file; safe to share between the station's threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10.0)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise OutboxError(f"{self.path}: the outbox needs WAL mode, the file system gave {mode!r}")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OutboxError(f"{self.path}: cannot open the outbox: {exc}") from exc
        self._db = sqlite_utils.Database(conn)
        # One connection, one lock: every operation is a few milliseconds and the station has three threads.
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.conn.close()

    @contextmanager
    def _atomic(self) -> Iterator[sqlite_utils.Database]:
        with self._lock:
            try:
                with self._db.atomic():
                    yield self._db
            except sqlite3.Error as exc:
                raise OutboxError(f"{self.path}: {exc}") from exc

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        # SQLite values are dynamically typed; each caller converts the columns it reads.
        with self._lock:
            try:
                return list(self._db.execute(sql, list(params)).fetchall())
            except sqlite3.Error as exc:
                raise OutboxError(f"{self.path}: {exc}") from exc

    # -- writing --------------------------------------------------------------------------------------

    def append(self, record: Record) -> int:
        """Commit one record (journal + outbox) and return its outbox position. The beep comes after."""
        return self.append_many([record])[-1]

    def append_many(self, records: Iterable[Record]) -> list[int]:
        """Commit several records in one transaction (imports, the benchmark's backlog)."""
        seqs: list[int] = []
        with self._atomic() as db:
            for record in records:
                db.execute(
                    "INSERT INTO journal (record_id, op, municipality_code, voucher_no, dose, status, day,"
                    " scanned_at, voids_record_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        record.record_id, record.op, record.municipality_code, record.voucher_no,
                        record.dose, record.status, record.scanned_at.astimezone(JST).date().isoformat(),
                        record.scanned_at.astimezone(JST).isoformat(), record.voids_record_id, encode_record(record),
                    ],
                )
                if record.voids_record_id is not None:
                    db.execute("UPDATE journal SET voided_by = ? WHERE record_id = ?",
                               [record.record_id, record.voids_record_id])
                cursor = db.execute("INSERT INTO outbox (record_id) VALUES (?)", [record.record_id])
                seqs.append(int(cursor.lastrowid or 0))
        return seqs

    def apply_ack(self, ack: Ack, received_at: datetime.datetime) -> AckResult:
        """Answer for the records a verified hub ack names; the only way an entry leaves the outbox."""
        at = received_at.isoformat()
        accepted: list[str] = []
        rejected: list[Rejection] = []
        warnings: list[AckWarning] = []
        with self._atomic() as db:
            for record_id in ack.accepted:
                if db.execute("DELETE FROM outbox WHERE record_id = ?", [record_id]).rowcount:
                    db.execute("UPDATE journal SET state = 'accepted', answered_at = ? WHERE record_id = ?",
                               [at, record_id])
                    accepted.append(record_id)
            for rejection in ack.rejected:
                if not db.execute("DELETE FROM outbox WHERE record_id = ?", [rejection.record_id]).rowcount:
                    continue
                db.execute(
                    "UPDATE journal SET state = 'rejected', reason = ?, answered_at = ? WHERE record_id = ?",
                    [rejection.reason, at, rejection.record_id],
                )
                # A refused void cancelled nothing at the hub: the scan it meant to undo still counts.
                db.execute("UPDATE journal SET voided_by = NULL WHERE voided_by = ?", [rejection.record_id])
                db.execute(
                    "INSERT OR REPLACE INTO rejected (record_id, reason, rejected_at, body)"
                    " SELECT record_id, ?, ?, body FROM journal WHERE record_id = ?",
                    [rejection.reason, at, rejection.record_id],
                )
                rejected.append(rejection)
            for warning in ack.warnings:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO warnings (record_id, code, detail, received_at) VALUES (?, ?, ?, ?)",
                    [warning.record_id, warning.code, warning.detail, at],
                )
                if cursor.rowcount:
                    warnings.append(warning)
        return AckResult(accepted=tuple(accepted), rejected=tuple(rejected), warnings=tuple(warnings))

    def prune(self, before: datetime.date) -> int:
        """Forget answered records scanned before ``before`` (the hub has them; the SD card is small).

        Records still waiting for the hub are never touched, and refused ones stay in ``rejected``.
        """
        answered = ("SELECT record_id FROM journal WHERE day < ? AND state != 'pending'"
                    " AND record_id NOT IN (SELECT record_id FROM outbox)")
        with self._atomic() as db:
            db.execute(f"DELETE FROM warnings WHERE record_id IN ({answered})", [before.isoformat()])
            cursor = db.execute(f"DELETE FROM journal WHERE record_id IN ({answered})", [before.isoformat()])
            return int(cursor.rowcount)

    def next_batch_seq(self) -> int:
        """The next batch number; it rises across restarts (the hub never refuses an old one anyway)."""
        with self._atomic() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'batch_seq'").fetchone()
            seq = int(row[0]) + 1 if row else 1
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('batch_seq', ?)", [str(seq)])
        return seq

    def get_meta(self, key: str) -> bytes | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", [key])
        if not rows:
            return None
        value = rows[0][0]
        return value if isinstance(value, bytes) else str(value).encode()

    def set_meta(self, key: str, value: bytes) -> None:
        with self._atomic() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    # -- reading --------------------------------------------------------------------------------------

    def depth(self) -> int:
        """How many records still wait for the hub's answer."""
        return int(self._query("SELECT count(*) FROM outbox")[0][0])

    def pending_after(self, seq: int, limit: int) -> list[PendingEntry]:
        """Up to ``limit`` waiting records after outbox position ``seq``, oldest first."""
        rows = self._query(
            "SELECT o.seq, o.record_id, j.body FROM outbox o JOIN journal j USING (record_id)"
            " WHERE o.seq > ? ORDER BY o.seq LIMIT ?",
            [seq, limit],
        )
        return [PendingEntry(int(s), str(r), bytes(b)) for s, r, b in rows]

    def pending_ids(self) -> list[str]:
        return [str(r[0]) for r in self._query("SELECT record_id FROM outbox ORDER BY seq")]

    def record(self, record_id: str) -> Record | None:
        rows = self._query("SELECT body FROM journal WHERE record_id = ?", [record_id])
        return msgspec.json.decode(bytes(rows[0][0]), type=Record) if rows else None

    def entry(self, record_id: str) -> JournalEntry | None:
        entries = self._entries("WHERE record_id = ?", [record_id], limit=1)
        return entries[0] if entries else None

    def recent(self, limit: int = 10) -> list[JournalEntry]:
        """The last records made here, newest first."""
        return self._entries("", [], limit=limit)

    def registered_today(self, municipality_code: str, voucher_no: str, dose: int,
                         day: datetime.date) -> JournalEntry | None:
        """A standing register record for this voucher and dose made here on ``day`` (not voided or refused)."""
        entries = self._entries(
            "WHERE op = 'register' AND day = ? AND municipality_code = ? AND voucher_no = ? AND dose = ?"
            " AND voided_by IS NULL AND state != 'rejected'",
            [day.isoformat(), municipality_code, voucher_no, dose],
            limit=1,
        )
        return entries[0] if entries else None

    def count_day(self, day: datetime.date) -> dict[str, int]:
        """Standing register records made here on ``day`` by status: the figure the paper forms must match."""
        rows = self._query(
            "SELECT status, count(*) FROM journal WHERE op = 'register' AND day = ? AND voided_by IS NULL"
            " AND state != 'rejected' GROUP BY status",
            [day.isoformat()],
        )
        return {str(status): int(n) for status, n in rows}

    def last_scan_at(self) -> datetime.datetime | None:
        rows = self._query("SELECT max(scanned_at) FROM journal WHERE op = 'register'")
        return datetime.datetime.fromisoformat(str(rows[0][0])) if rows and rows[0][0] else None

    def rejections(self, limit: int = 20) -> list[RejectedEntry]:
        rows = self._query(
            "SELECT record_id, reason, rejected_at, body FROM rejected ORDER BY rejected_at DESC LIMIT ?", [limit]
        )
        return [
            RejectedEntry(str(rid), str(reason), datetime.datetime.fromisoformat(str(at)),
                          msgspec.json.decode(bytes(body), type=Record))
            for rid, reason, at, body in rows
        ]

    def warnings(self, limit: int = 20) -> list[AckWarning]:
        rows = self._query(
            "SELECT record_id, code, detail FROM warnings ORDER BY received_at DESC LIMIT ?", [limit]
        )
        return [AckWarning(record_id=str(r), code=str(c), detail=str(d)) for r, c, d in rows]

    def _entries(self, where: str, params: list[object], *, limit: int) -> list[JournalEntry]:
        rows = self._query(
            "SELECT record_id, op, municipality_code, voucher_no, dose, status, scanned_at, state,"
            f" voids_record_id, voided_by, reason FROM journal {where} ORDER BY scanned_at DESC, rowid DESC"
            " LIMIT ?",
            [*params, limit],
        )
        if not rows:
            return []
        ids = [str(r[0]) for r in rows]
        marks = ",".join("?" * len(ids))
        found: dict[str, list[AckWarning]] = {}
        for rid, code, detail in self._query(
            f"SELECT record_id, code, detail FROM warnings WHERE record_id IN ({marks})", ids
        ):
            found.setdefault(str(rid), []).append(AckWarning(record_id=str(rid), code=str(code), detail=str(detail)))
        return [
            JournalEntry(
                record_id=str(rid), op=str(op), municipality_code=str(muni), voucher_no=str(vno),
                dose=int(dose), status=str(status),
                scanned_at=datetime.datetime.fromisoformat(str(at)),
                state=_STATES[str(state)],
                voids_record_id=None if voids is None else str(voids),
                voided_by=None if voided is None else str(voided),
                reason=None if reason is None else str(reason),
                warnings=tuple(found.get(str(rid), ())),
            )
            for rid, op, muni, vno, dose, status, at, state, voids, voided, reason in rows
        ]
