"""Apply the SQL files of hub/db/migrations in order, each in its own transaction, recorded in
schema_migrations; then seed the municipality list. Running it again applies nothing new."""

from __future__ import annotations

import re
from importlib import resources

import msgspec
import psycopg

from hub.errors import MigrationError

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Two `migrate` runs at once (two hosts starting) must not interleave.
_LOCK_KEY = 0x7672735F6D6967  # "vrs_mig"


class Migration(msgspec.Struct, frozen=True):
    """One SQL file."""

    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """The packaged migration files, in version order."""
    found = []
    for entry in resources.files("hub.db").joinpath("migrations").iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number: {versions}")
    return found


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Apply what is missing on `conn` (autocommit, as the owner); returns the file names applied."""
    applied: list[str] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {int(str(r[0])) for r in conn.execute("SELECT version FROM schema_migrations")}
        for mig in available():
            if mig.version in done:
                continue
            fname = f"{mig.version:04d}_{mig.name}.sql"
            try:
                with conn.transaction():
                    conn.execute(mig.sql.encode())  # a whole file: several statements, no parameters
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                 (mig.version, mig.name))
            except psycopg.Error as exc:
                raise MigrationError(f"{fname}: {exc}") from exc
            applied.append(fname)
        seed_municipalities(conn)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def seed_municipalities(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """Insert or refresh the packaged municipality list; returns the row count."""
    from protocol.municipalities import all_municipalities

    rows = all_municipalities()
    with conn.transaction():
        conn.execute(
            "INSERT INTO municipalities (code, prefecture_code, prefecture, name, name_kana,"
            " designated_city_code, is_ward)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
            " %s::boolean[])"
            " ON CONFLICT (code) DO UPDATE SET prefecture_code = excluded.prefecture_code,"
            " prefecture = excluded.prefecture, name = excluded.name, name_kana = excluded.name_kana,"
            " designated_city_code = excluded.designated_city_code, is_ward = excluded.is_ward"
            " WHERE (municipalities.*) IS DISTINCT FROM (excluded.*)",
            (
                [m.code for m in rows], [m.prefecture_code for m in rows], [m.prefecture for m in rows],
                [m.name for m in rows], [m.name_kana for m in rows], [m.designated_city_code for m in rows],
                [m.is_ward for m in rows],
            ),
        )
    return len(rows)
