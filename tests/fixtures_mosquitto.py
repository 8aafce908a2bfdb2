"""Real Mosquitto brokers for the tests: one per run on a free loopback port, plus extra ones on demand.

Fault tests stop, kill and restart the broker; it comes back on the same port with its persistence file,
as a broker restarted by systemd would.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provisioning.throwaway import Broker

__all__ = ["Broker"]


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Broker]:
    base = Path(tempfile.mkdtemp(prefix="vrs-mqtt-"))
    broker = Broker(base)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _broker_back_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """A fault test may leave the broker down; the next test gets it running again."""
    yield
    if "mosquitto" in request.fixturenames:
        broker: Broker = request.getfixturevalue("mosquitto")
        if not broker.is_running():
            broker.start()


@pytest.fixture
def mosquitto_factory() -> Iterator[Callable[..., Broker]]:
    started: list[tuple[Broker, Path]] = []

    def make(extra_conf: str = "", allow_anonymous: bool = True, port: int | None = None) -> Broker:
        """`port` is required when `extra_conf` declares its own listener (it is where start() waits)."""
        base = Path(tempfile.mkdtemp(prefix="vrs-mqtt-"))
        broker = Broker(base, extra_conf=extra_conf, allow_anonymous=allow_anonymous, port=port)
        started.append((broker, base))
        broker.start()
        return broker

    yield make
    for broker, base in started:
        broker.kill()
        shutil.rmtree(base, ignore_errors=True)
