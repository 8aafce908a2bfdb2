"""A throwaway PostgreSQL cluster for the test run: real server, temp dir, free loopback port.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the `postgres`
user and every server command runs through `runuser`. Durability settings are relaxed (fsync off): a test
restarts the server, it never loses power, so crash safety of the disk is not what is under test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from provisioning.throwaway import PgCluster, free_port, running_cluster

__all__ = ["PgCluster", "free_port"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _pg_back_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """A fault test may leave the server stopped; the next test gets it running again."""
    yield
    if "pg_cluster" in request.fixturenames:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        if not cluster.is_running():
            cluster.start()


@pytest.fixture
def pg_database(pg_cluster: PgCluster) -> Iterator[str]:
    name = "t_" + uuid.uuid4().hex[:12]
    dsn = pg_cluster.create_database(name)
    yield dsn
    if pg_cluster.is_running():
        pg_cluster.drop_database(name)
