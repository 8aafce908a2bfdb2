"""`vrs-hub backup` and `vrs-hub restore`: the database (pg_dump custom format) and the hub's key files in
one encrypted file (hub.ops.sealed), restored only into an empty database and only if every audit chain of
the restored data verifies.

Inside the encryption is a tar stream: ``database.dump``, ``keys/hub.pem`` (ack key), ``keys/secret.hex``
(My Number HMAC secret), ``keys/certificates/*`` (certificate issuer keys, when configured) and last
``manifest.json`` (sha256 of every other member, the database roles the dump refers to).

Both commands read every row whatever its row-level security, so they need a role with BYPASSRLS (or a
superuser): the owner role of a small deployment is one.
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import msgspec
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hub.db import audit
from hub.db.connect import connect
from hub.errors import BackupError
from hub.ops.ack_keys import next_path, retired_path

FORMAT = 1
DUMP = "database.dump"
MANIFEST = "manifest.json"
HUB_KEY = "keys/hub.pem"
HUB_KEY_NEXT = "keys/hub.pem.next"
HUB_KEY_RETIRED = "keys/hub.pem.retired"
SECRET = "keys/secret.hex"
CERT_DIR = "keys/certificates/"
_MEMBER = re.compile(r"^(database\.dump|manifest\.json|keys/hub\.pem(\.next|\.retired)?|keys/secret\.hex|"
                     r"keys/certificates/[A-Za-z0-9_-]{1,100}(\.pub)?\.pem)$")
# A manifest is a few KB; anything much larger is not one of ours.
MAX_MANIFEST = 1 << 20


class Writable(Protocol):
    """Where a backup's plaintext goes (a SealedWriter)."""

    def write(self, data: bytes, /) -> int: ...


class Readable(Protocol):
    """Where a backup's plaintext comes from (a SealedReader)."""

    def read(self, n: int = -1, /) -> bytes: ...


class KeyPaths(msgspec.Struct, frozen=True):
    """Where this hub keeps the files a backup carries (from its configuration)."""

    hub_key_file: Path
    secret_file: Path
    certificate_key_dir: Path | None = None


class Manifest(msgspec.Struct, frozen=True):
    """What a backup holds, written last inside it."""

    format: int
    created_at: datetime.datetime
    database: str
    server_version: str
    roles: list[str]
    memberships: list[tuple[str, str]]
    files: dict[str, str]
    audit_rows: int
    audit_breaks: list[str]


class RestoreReport(msgspec.Struct, frozen=True):
    """What a restore did."""

    manifest: Manifest
    audit_rows: int
    files_written: list[str]
    files_kept: list[str]


def _tool(name: str) -> str:
    """The newest PostgreSQL client tool `name` (pg_dump must not be older than the server)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client)")
    return path


def _tool_env(url: str) -> tuple[str, dict[str, str]]:
    """A connection string without the password, and an environment carrying it (kept out of `ps`)."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def _run_tool(args: list[str], url: str, what: str) -> None:
    dsn, env = _tool_env(url)
    done = subprocess.run([*args, f"--dbname={dsn}"], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        detail = " ".join(done.stderr.strip().splitlines()[:3]) or f"exit status {done.returncode}"
        raise BackupError(f"{what} failed: {detail}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_privileges(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()
    if not row or not row[0]:
        raise BackupError("the database role must be a superuser or have BYPASSRLS to read every municipality's"
                          " rows (use the owner's VRS_DATABASE_URL)")


_ROLES_SQL = """
WITH used(oid) AS (
    SELECT relowner FROM pg_class UNION SELECT proowner FROM pg_proc UNION SELECT nspowner FROM pg_namespace
    UNION SELECT typowner FROM pg_type
    UNION SELECT (aclexplode(relacl)).grantee FROM pg_class WHERE relacl IS NOT NULL
    UNION SELECT (aclexplode(proacl)).grantee FROM pg_proc WHERE proacl IS NOT NULL
    UNION SELECT (aclexplode(nspacl)).grantee FROM pg_namespace WHERE nspacl IS NOT NULL
    UNION SELECT unnest(polroles) FROM pg_policy
)
SELECT rolname FROM pg_roles WHERE oid IN (SELECT oid FROM used) AND rolname !~ '^pg_' ORDER BY rolname
"""


def _roles(conn: psycopg.Connection[Any]) -> tuple[list[str], list[tuple[str, str]]]:
    """The roles the dump refers to (owners, grantees, policy roles), and memberships among them."""
    roles = [str(r[0]) for r in conn.execute(_ROLES_SQL)]
    pairs = conn.execute(
        "SELECT r.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid"
        " JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = ANY(%s) AND m.rolname = ANY(%s)"
        " ORDER BY 1, 2", (roles, roles)).fetchall()
    return roles, [(str(a), str(b)) for a, b in pairs]


def _key_files(keys: KeyPaths) -> list[tuple[str, Path]]:
    files = [(HUB_KEY, keys.hub_key_file), (SECRET, keys.secret_file)]
    for path, what in ((keys.hub_key_file, "hub key file"), (keys.secret_file, "secret file")):
        if not path.is_file():
            raise BackupError(f"the {what} {path} does not exist; a backup without it could not be used")
    rotation = ((HUB_KEY_NEXT, next_path(keys.hub_key_file)), (HUB_KEY_RETIRED, retired_path(keys.hub_key_file)))
    for name, path in rotation:
        if path.is_file():  # an ack key rotation under way, and the retired ack keys
            files.append((name, path))
    if keys.certificate_key_dir is not None and keys.certificate_key_dir.is_dir():
        for path in sorted(keys.certificate_key_dir.glob("*.pem")):
            files.append((CERT_DIR + path.name, path))
    for name, _ in files:
        if not _MEMBER.match(name):
            raise BackupError(f"unexpected key file name {name!r} in {keys.certificate_key_dir}")
    return files


def _mode(name: str) -> int:
    """Public keys may be read by anyone; everything else only by the hub's user."""
    return 0o644 if name.endswith((".pub.pem", ".retired")) else 0o600


def _add(tar: tarfile.TarFile, name: str, data: BinaryIO, size: int, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 0
    tar.addfile(info, data)


def write_backup(database_url: str, keys: KeyPaths, sink: Writable, *,
                 allow_broken_audit: bool = False) -> Manifest:
    """Dump the database and add the key files into `sink` (a sealed writer, closed by the caller)."""
    files = _key_files(keys)
    with connect(database_url, None) as conn:
        _check_privileges(conn)
        roles, memberships = _roles(conn)
        database, version = conn.execute("SELECT current_database(), current_setting('server_version')").fetchone() \
            or ("", "")
    with connect(database_url, "vrs_api") as conn:
        audit_rows, breaks = audit.verify_all(conn)
    described = [f"chain {b.chain}, row {b.seq}: {b.problem}" for b in breaks]
    if breaks and not allow_broken_audit:
        raise BackupError("the audit log does not verify (" + "; ".join(described[:3]) + "); run `vrs-hub audit "
                          "verify`; --allow-broken-audit takes the backup anyway, but it will not restore")
    with tempfile.TemporaryDirectory(prefix="vrs-backup-") as tmp:
        dump = Path(tmp) / DUMP
        _run_tool([_tool("pg_dump"), "--format=custom", "--compress=6", f"--file={dump}"], database_url, "pg_dump")
        digests = {DUMP: _sha256(dump)}
        # tarfile's stream mode only ever calls write() on it.
        with tarfile.open(fileobj=cast(BinaryIO, sink), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            with dump.open("rb") as f:
                _add(tar, DUMP, f, dump.stat().st_size, 0o600)
            for name, path in files:
                data = path.read_bytes()
                digests[name] = hashlib.sha256(data).hexdigest()
                _add(tar, name, io.BytesIO(data), len(data), _mode(name))
            manifest = Manifest(format=FORMAT, created_at=datetime.datetime.now(datetime.UTC),
                                database=str(database), server_version=str(version), roles=roles,
                                memberships=memberships, files=digests, audit_rows=audit_rows,
                                audit_breaks=described)
            body = msgspec.json.format(msgspec.json.encode(manifest))
            _add(tar, MANIFEST, io.BytesIO(body), len(body), 0o600)
    return manifest


def backup_to_file(out: Path, write: Callable[[BinaryIO], Manifest]) -> Manifest:
    """Write a backup to `out` atomically (0600): a partial file never takes the name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            manifest = write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return manifest


# --- restore --------------------------------------------------------------------------------------


def _unpack(source: Readable, into: Path) -> Manifest:
    """Extract the tar stream of a backup into `into`, checking every name and every digest."""
    digests: dict[str, str] = {}
    manifest_body: bytes | None = None
    try:
        # tarfile's stream mode only ever calls read() on it.
        with tarfile.open(fileobj=cast(BinaryIO, source), mode="r|") as tar:
            for member in tar:
                if not member.isfile() or not _MEMBER.match(member.name) or member.name in digests:
                    raise BackupError(f"the backup holds an unexpected entry {member.name!r}; it is not a hub backup")
                data = tar.extractfile(member)
                assert data is not None  # a regular file always has data
                if member.name == MANIFEST:
                    manifest_body = data.read(MAX_MANIFEST + 1)
                    digests[MANIFEST] = ""
                    continue
                target = into / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with target.open("wb") as f:
                    while block := data.read(1 << 20):
                        h.update(block)
                        f.write(block)
                digests[member.name] = h.hexdigest()
    except tarfile.TarError as exc:
        raise BackupError(f"the backup's content is not readable: {exc}") from None
    if manifest_body is None or len(manifest_body) > MAX_MANIFEST:
        raise BackupError("the backup has no manifest; it is incomplete")
    try:
        manifest = msgspec.json.decode(manifest_body, type=Manifest)
    except msgspec.ValidationError as exc:
        raise BackupError(f"the backup's manifest is malformed: {exc}") from None
    if manifest.format != FORMAT:
        raise BackupError(f"backup content format {manifest.format} is not supported (this hub reads {FORMAT})")
    del digests[MANIFEST]
    if digests != manifest.files:
        missing = sorted(set(manifest.files) - set(digests))
        raise BackupError("the backup's files do not match its manifest" + (f" (missing {', '.join(missing)})"
                                                                             if missing else ""))
    if DUMP not in digests or HUB_KEY not in digests or SECRET not in digests:
        raise BackupError("the backup lacks the database dump or the hub's key files")
    return manifest


def _destinations(keys: KeyPaths, names: list[str]) -> dict[str, Path]:
    dest = {HUB_KEY: keys.hub_key_file, SECRET: keys.secret_file}
    if HUB_KEY_NEXT in names:
        dest[HUB_KEY_NEXT] = next_path(keys.hub_key_file)
    if HUB_KEY_RETIRED in names:
        dest[HUB_KEY_RETIRED] = retired_path(keys.hub_key_file)
    for name in names:
        if name.startswith(CERT_DIR):
            if keys.certificate_key_dir is None:
                raise BackupError("the backup holds certificate issuer keys: set VRS_CERTIFICATE_KEY_DIR")
            dest[name] = keys.certificate_key_dir / name[len(CERT_DIR):]
    return dest


def _check_destinations(unpacked: Path, dest: dict[str, Path]) -> None:
    for name, path in dest.items():
        if path.exists() and path.read_bytes() != (unpacked / name).read_bytes():
            raise BackupError(f"{path} exists and differs from the backup's copy; move it away first (the restored "
                              "database needs the backup's keys)")


def _check_empty(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'"
    ).fetchone()
    if row and row[0]:
        raise BackupError(f"database {conn.info.dbname!r} is not empty; restore into a new, empty database")


def _create_roles(conn: psycopg.Connection[Any], manifest: Manifest) -> None:
    """Roles are cluster-wide and not in a dump: create the ones the dump needs (NOLOGIN) where missing."""
    for role in manifest.roles:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        row = conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (role,)).fetchone()
        if row and not row[0]:
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(conn.info.user)))
    for role, member in manifest.memberships:
        row = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (member, role)).fetchone()
        if row and not row[0]:
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(member)))


def _wipe(conn: psycopg.Connection[Any], schemas_before: set[str]) -> None:
    """Take back everything a refused restore created (the target was empty before)."""
    schemas = {str(r[0]) for r in conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND nspname !~ '^pg_'")}
    for schema in sorted(schemas):
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    for schema in sorted(schemas_before):
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION pg_database_owner")
                     .format(sql.Identifier(schema)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO PUBLIC").format(sql.Identifier(schema)))


def _install(unpacked: Path, dest: dict[str, Path]) -> tuple[list[str], list[str]]:
    written, kept = [], []
    for name, path in dest.items():
        if path.exists():
            kept.append(str(path))
            continue
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = _mode(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write((unpacked / name).read_bytes())
        written.append(str(path))
    return written, kept


def restore(source: Readable, database_url: str, keys: KeyPaths) -> RestoreReport:
    """Restore a backup's plaintext stream (a sealed reader) into the empty database at `database_url`."""
    with tempfile.TemporaryDirectory(prefix="vrs-restore-") as tmp:
        unpacked = Path(tmp)
        manifest = _unpack(source, unpacked)
        # The tar stream ends in zero padding; reading it to the end also authenticates the last chunk.
        for block in iter(lambda: source.read(1 << 20), b""):
            if block.count(0) != len(block):
                raise BackupError("the backup has data after its end; it is not a hub backup")
        dest = _destinations(keys, list(manifest.files))
        _check_destinations(unpacked, dest)
        with connect(database_url, None) as conn:
            _check_privileges(conn)
            _check_empty(conn)
            schemas_before = {str(r[0]) for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema')"
                " AND nspname !~ '^pg_'")}
            _create_roles(conn, manifest)
            _run_tool([_tool("pg_restore"), "--exit-on-error", "--single-transaction", "--no-comments",
                       str(unpacked / DUMP)], database_url, "pg_restore")
            with connect(database_url, "vrs_api") as check:
                rows, breaks = audit.verify_all(check)
            if breaks:
                _wipe(conn, schemas_before)
                described = "; ".join(f"chain {b.chain}, row {b.seq}: {b.problem}" for b in breaks[:3])
                raise BackupError(f"the backup's audit log does not verify ({len(breaks)} problem(s): {described});"
                                  " nothing was restored")
        written, kept = _install(unpacked, dest)
    return RestoreReport(manifest=manifest, audit_rows=rows, files_written=written, files_kept=kept)
