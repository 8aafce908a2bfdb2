"""Real Mosquitto brokers for the tests: one per run on a free loopback port, plus extra ones on demand.

Fault tests stop, kill and restart the broker; it comes back on the same port with its persistence file,
as a broker restarted by systemd would.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures_postgres import free_port


class Broker:
    host = "127.0.0.1"

    def __init__(self, base: Path, extra_conf: str = "", allow_anonymous: bool = True, port: int | None = None):
        self.base = base
        self.port = port or free_port()
        self.conf = base / "mosquitto.conf"
        self.logfile = base / "mosquitto.log"
        anonymous = "true" if allow_anonymous else "false"
        # `extra_conf` may carry its own listener (TLS tests); the default plain listener is then left out.
        listener = "" if "listener " in extra_conf else f"listener {self.port} {self.host}\n"
        self.conf.write_text(
            "user root\n"
            f"{listener}"
            f"allow_anonymous {anonymous}\n"
            "persistence true\n"
            f"persistence_location {base}/\n"
            f"log_dest file {self.logfile}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            "max_queued_messages 100000\n"
            f"{extra_conf}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        if self.is_running():
            return
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = self.logfile.read_text() if self.logfile.exists() else ""
                raise RuntimeError(f"mosquitto exited at start: {err}\n{log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self._close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _close(self) -> None:
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


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
