"""Hub test fixtures: a freshly migrated database per test (copied from a template migrated once per
session), the hub's key files, and an environment for running `vrs-hub` commands against them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.db.connect import connect
from hub.db.migrate import migrate
from hub.keys import ensure_hub_key, ensure_secret
from tests.fixtures_postgres import PgCluster


@pytest.fixture(scope="session")
def hub_template(pg_cluster: PgCluster) -> str:
    """Name of a database migrated once per session, used as the template of every hub_db."""
    name = "hub_template_" + uuid.uuid4().hex[:8]
    dsn = pg_cluster.create_database(name)
    with connect(dsn, None) as conn:
        migrate(conn)
    return name


@pytest.fixture
def hub_db(pg_cluster: PgCluster, hub_template: str) -> Iterator[str]:
    """Superuser (owner) DSN of a fresh, fully migrated database."""
    name = "hub_" + uuid.uuid4().hex[:12]
    dsn = pg_cluster.create_database(name, template=hub_template)
    yield dsn
    if pg_cluster.is_running():
        pg_cluster.drop_database(name)


@pytest.fixture
def hub_key_files(tmp_path: Path) -> tuple[Path, Path]:
    """(hub ack key, HMAC secret) files, created 0600."""
    key, secret = tmp_path / "keys" / "hub.pem", tmp_path / "keys" / "secret.hex"
    ensure_hub_key(key)
    ensure_secret(secret)
    return key, secret


@pytest.fixture
def hub_env(hub_db: str, hub_key_files: tuple[Path, Path]) -> dict[str, str]:
    """VRS_* variables for running hub commands against hub_db (no broker)."""
    key, secret = hub_key_files
    return {"VRS_DATABASE_URL": hub_db, "VRS_HUB_KEY_FILE": str(key), "VRS_SECRET_FILE": str(secret)}
