"""A running station: the capture loop, the desk and outbox, the publisher and the kiosk page, wired
together, started in order and stopped cleanly on SIGTERM (``vrs-edge run --config FILE``).

Threads: the capture loop (blocking camera and decoders), the publisher (MQTT socket), the kiosk server
(its own asyncio loop); the main thread only waits for a signal.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib.metadata
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge import EdgeError
from edge.capture import CaptureError
from edge.capture.frames import (
    DEFAULT_FPS,
    FolderSource,
    Frame,
    FrameSource,
    PicameraSource,
    VideoFileSource,
    read_image,
)
from edge.capture.pipeline import Pipeline
from edge.config import CameraConfig, EdgeConfig, load_config
from edge.display.app import create_app
from edge.display.board import Board
from edge.display.buzzer import Buzzer, GpioBuzzer
from edge.queue.backoff import Backoff
from edge.queue.desk import Desk, ScanOutcome
from edge.queue.outbox import Outbox
from edge.queue.publisher import BrokerAddress, Publisher
from edge.queue.records import Preset, ReadSource
from protocol import ProtocolError, Voucher
from protocol.records import JST

log = logging.getLogger(__name__)

try:
    VERSION = importlib.metadata.version("vrs")
except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"


JOURNAL_DAYS = 90
"""Days an answered record stays in the station's journal (the hub keeps it forever)."""


class FilesSource:
    """A list of image files taken as consecutive frames (``source = "files"``)."""

    def __init__(self, files: list[str], fps: float = DEFAULT_FPS) -> None:
        self.files = [Path(f) for f in files]
        self.fps = fps

    def frames(self) -> Iterator[Frame]:
        for i, path in enumerate(self.files):
            yield Frame(read_image(path), i / self.fps, i, path.name)

    def close(self) -> None:
        pass


def open_camera(camera: CameraConfig) -> FrameSource:
    """The frame source the config names (the Pi camera is opened only here, never at import)."""
    if camera.source == "picamera":
        return PicameraSource()
    if camera.source == "files":
        return FilesSource(camera.files)
    assert camera.path is not None  # load_config checked it
    if camera.source == "folder":
        return FolderSource(camera.path)
    return VideoFileSource(camera.path)


class Station:
    """One station's parts; ``accept`` is the single way a read voucher becomes a record (and a beep)."""

    def __init__(
        self,
        *,
        device_id: str,
        outbox_path: Path,
        preset: Preset,
        broker: BrokerAddress,
        private_key: Ed25519PrivateKey,
        hub_keys: tuple[Ed25519PublicKey, ...],
        kiosk_host: str = "127.0.0.1",
        kiosk_port: int = 8080,
        municipality: str | None = None,
        camera: Callable[[], FrameSource] | None = None,
        pipeline: Callable[[], Pipeline] | None = None,
        buzzer: Buzzer | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
        version: str = VERSION,
    ) -> None:
        self.device_id = device_id
        self.kiosk_host = kiosk_host
        self.kiosk_port = kiosk_port
        self.municipality = municipality
        self._camera = camera
        self._pipeline = pipeline or (lambda: Pipeline(municipality=municipality))
        self.buzzer = buzzer
        self.outbox = Outbox(outbox_path)
        today = (clock or (lambda: datetime.datetime.now(JST)))().astimezone(JST).date()
        self.outbox.prune(today - datetime.timedelta(days=JOURNAL_DAYS))
        self.publisher = Publisher(
            self.outbox, device_id=device_id, broker=broker, private_key=private_key, hub_keys=hub_keys,
            version=version, backoff=backoff, on_event=lambda event: self.board.on_publisher_event(event),
        )
        self.desk = Desk(self.outbox, preset, clock=clock, on_commit=lambda record: self.publisher.wake())
        self.board = Board(self.desk, buzzer=buzzer, version=version, clock=clock)
        self._stopping = threading.Event()
        self._source: FrameSource | None = None
        self._threads: list[threading.Thread] = []
        self._kiosk_loop: asyncio.AbstractEventLoop | None = None
        self._kiosk_server: Any = None
        self._kiosk_ready = threading.Event()
        self._kiosk_error: BaseException | None = None
        self.capture_done = threading.Event()

    @classmethod
    def from_config(cls, config: EdgeConfig) -> Station:
        buzzer = GpioBuzzer(config.kiosk.buzzer_pin) if config.kiosk.buzzer_pin is not None else None
        return cls(
            device_id=config.device_id, outbox_path=config.outbox_path, preset=config.preset,
            broker=config.broker, private_key=config.private_key, hub_keys=config.hub_keys,
            kiosk_host=config.kiosk.host, kiosk_port=config.kiosk.port, municipality=config.municipality,
            camera=lambda: open_camera(config.camera), buzzer=buzzer,
        )

    @property
    def kiosk_url(self) -> str:
        return f"http://{self.kiosk_host}:{self.kiosk_port}/"

    # -- the one way in -------------------------------------------------------------------------------

    def accept(self, voucher: Voucher, *, source: ReadSource, frames: int) -> ScanOutcome | None:
        """A voucher the capture accepted: commit its record (then beep) or hold it for staff.

        Returns None when it could not be stored; the board then shows why (the error tone, no beep).
        """
        try:
            outcome = self.desk.scan(voucher, source=source, frames=frames)
        except (EdgeError, ProtocolError) as exc:
            log.error("voucher %s %s not stored: %s", voucher.municipality_code, voucher.voucher_no, exc)
            self.board.show_error(exc)
            return None
        self.board.show_outcome(outcome)
        return outcome

    # -- running --------------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self._check_kiosk_port()
        self.publisher.start()
        kiosk = threading.Thread(target=self._serve_kiosk, name="vrs-kiosk", daemon=True)
        kiosk.start()
        self._threads.append(kiosk)
        self._kiosk_ready.wait(15)
        if self._kiosk_error is not None:
            raise EdgeError(f"the kiosk page cannot be served on {self.kiosk_url}: {self._kiosk_error}")
        self._wait_listening()
        if self._camera is not None:
            capture = threading.Thread(target=self._capture, name="vrs-capture", daemon=True)
            capture.start()
            self._threads.append(capture)
        log.info("station %s running; kiosk at %s", self.device_id, self.kiosk_url)

    def stop(self) -> None:
        """Stop reading frames, end the page's streams, say offline to the broker, close the outbox."""
        self._stopping.set()
        if self._source is not None:
            self._source.close()
        self.board.close()
        if self._kiosk_loop is not None and self._kiosk_server is not None:
            self._kiosk_loop.call_soon_threadsafe(self._kiosk_server.stop)
        for thread in self._threads:
            thread.join(10)
        self.publisher.stop()
        if self.buzzer is not None:
            self.buzzer.close()
        self.outbox.close()

    def run_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly (systemd stops the unit with SIGTERM)."""
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: stopping", signal.Signals(signum).name)
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not stop.wait(0.5):
                pass
        finally:
            self.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _check_kiosk_port(self) -> None:
        # Checked before starting: otherwise the readiness probe below would happily reach whoever holds it.
        family = socket.AF_INET6 if ":" in self.kiosk_host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.kiosk_host, self.kiosk_port))
            except OSError as exc:
                raise EdgeError(f"kiosk.port: cannot serve the kiosk page on {self.kiosk_host}:{self.kiosk_port}: "
                                f"{exc.strerror} (another program holds the port, or the host is not local)"
                                ) from exc

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection((self.kiosk_host, self.kiosk_port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise EdgeError(f"the kiosk page did not start on {self.kiosk_url}") from None
                time.sleep(0.05)

    def _serve_kiosk(self) -> None:
        from granian.constants import Interfaces
        from granian.server.embed import Server

        async def main() -> None:
            server = Server(create_app(self.board, allowed_hosts=_allowed_hosts(self.kiosk_host, self.kiosk_port)),
                            address=self.kiosk_host, port=self.kiosk_port, interface=Interfaces.ASGI,
                            log_enabled=False)
            self._kiosk_loop = asyncio.get_running_loop()
            self._kiosk_server = server
            self._kiosk_ready.set()
            await server.serve()

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by start(); a dead kiosk must not pass unnoticed
            self._kiosk_error = exc
            self._kiosk_ready.set()
            log.exception("kiosk server stopped")

    def _capture(self) -> None:
        assert self._camera is not None
        pipeline: Pipeline | None = None
        try:
            self._source = self._camera()
            pipeline = self._pipeline()
            started = time.monotonic()
            first_t: float | None = None
            for frame in self._source.frames():
                if self._stopping.is_set():
                    break
                # Frames from files carry their own timing; replay them at that pace, as a camera would.
                first_t = frame.t if first_t is None else first_t
                ahead = (frame.t - first_t) - (time.monotonic() - started)
                if ahead > 0 and self._stopping.wait(ahead):
                    break
                try:
                    decision = pipeline.feed(frame)
                except CaptureError:
                    raise
                except Exception as exc:  # one undecodable frame must not stop the camera for the day
                    log.exception("frame %s could not be decoded", frame.name)
                    self.board.show_error(exc)
                    continue
                if decision.accepted and decision.voucher is not None and decision.source is not None:
                    self.accept(decision.voucher, source=decision.source, frames=decision.frames)
                elif decision.outcome in ("conflict", "invalid"):
                    self.board.show_read_problem(decision.outcome, decision.reason)
        except CaptureError as exc:
            log.error("capture stopped: %s", exc)
            self.board.show_error(exc)
        finally:
            if pipeline is not None:
                pipeline.close()
            if self._source is not None:
                self._source.close()
            self.capture_done.set()


def _allowed_hosts(host: str, port: int) -> list[str]:
    """Host headers the kiosk answers (guards against DNS rebinding: a web page cannot pose as loopback)."""
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
    return sorted(names | {f"{name}:{port}" for name in names})


def run(config_path: Path | str) -> int:
    """``vrs-edge run``: load and check the config, then run the station until SIGTERM.

    Exit status 2 when the config (or what it names) is unusable, with the reason on stderr.
    """
    try:
        config = load_config(config_path, env=os.environ)
        station = Station.from_config(config)
    except EdgeError as exc:
        print(f"vrs-edge: {exc}", file=sys.stderr)
        return 2
    try:
        station.run_until_signalled()
    except EdgeError as exc:
        print(f"vrs-edge: {exc}", file=sys.stderr)
        return 1
    return 0

