"""Frame sources behind one interface: the Pi camera, still images, a folder of frames, a video file."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture import SourceError

Image8 = npt.NDArray[np.uint8]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mjpeg", ".mjpg"})
# Frames read from files carry no clock; they are spaced as a station camera would deliver them.
DEFAULT_FPS = 10.0


@dataclass(frozen=True)
class Frame:
    """One picture: BGR or grey pixels, when it was taken (seconds, monotonic) and where it came from."""

    image: Image8
    t: float
    index: int
    name: str


class FrameSource(Protocol):
    """Something that yields frames in order until it runs out (files) or is closed (camera)."""

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def read_image(path: Path) -> Image8:
    """A still image as BGR pixels, or SourceError saying what is wrong with the file."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    data = np.fromfile(str(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise SourceError(f"{path}: not an image OpenCV can read")
    return np.asarray(image, np.uint8)


class ImageFileSource:
    """A single still image: one frame."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def frames(self) -> Iterator[Frame]:
        yield Frame(read_image(self.path), 0.0, 0, self.path.name)

    def close(self) -> None:
        pass


class FolderSource:
    """The images of a folder, in name order, taken as consecutive camera frames."""

    def __init__(self, path: Path | str, fps: float = DEFAULT_FPS) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise SourceError(f"{self.path}: not a folder")
        self.fps = fps

    def files(self) -> list[Path]:
        """The image files that make up the sequence, in name order."""
        return sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)

    def frames(self) -> Iterator[Frame]:
        files = self.files()
        if not files:
            raise SourceError(f"{self.path}: no image files in the folder")
        for i, p in enumerate(files):
            yield Frame(read_image(p), i / self.fps, i, p.name)

    def close(self) -> None:
        pass


class VideoFileSource:
    """The frames of a video file, timed by the file's own timestamps."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file")
        self._cap: cv2.VideoCapture | None = None

    def frames(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(str(self.path))
        self._cap = cap
        if not cap.isOpened():
            raise SourceError(f"{self.path}: not a video OpenCV can read")
        fps = cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
        i = 0
        try:
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                t = ms / 1000.0 if ms > 0 else i / fps
                yield Frame(np.asarray(image, np.uint8), t, i, f"{self.path.name}#{i}")
                i += 1
        finally:
            cap.release()
        if i == 0:
            raise SourceError(f"{self.path}: the video holds no frames OpenCV can decode")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()


class PicameraSource:
    """The Raspberry Pi camera through Picamera2 (Debian/Raspberry Pi OS package python3-picamera2).

    Picamera2 is imported only when this source is built, so the rest of the station runs anywhere.
    """

    def __init__(self, size: tuple[int, int] = (1280, 720), fps: float = 15.0) -> None:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]  # only on the Pi, from apt
        except ImportError as exc:
            raise SourceError(
                "the Pi camera needs picamera2: on Raspberry Pi OS run `apt install python3-picamera2` "
                "and create the venv with --system-site-packages"
            ) from exc
        try:
            cam: Any = Picamera2()
            config = cam.create_video_configuration(
                main={"size": size, "format": "RGB888"}, controls={"FrameRate": fps}
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:  # picamera2 raises bare RuntimeError/IndexError when no camera
            raise SourceError(f"the camera could not be started: {exc}") from exc
        # Continuous autofocus (AfMode 2): autofocus misses were one of 2021's misread causes. A fixed-focus
        # camera has no such control and works without it.
        with contextlib.suppress(Exception):
            cam.set_controls({"AfMode": 2})
        self._cam = cam
        self._open = True

    def frames(self) -> Iterator[Frame]:
        i = 0
        while self._open:
            try:
                # Picamera2's "RGB888" is laid out B, G, R in memory: already what OpenCV expects.
                image = np.asarray(self._cam.capture_array("main"), np.uint8)
            except Exception as exc:
                raise SourceError(f"the camera stopped delivering frames: {exc}") from exc
            yield Frame(image, time.monotonic(), i, f"camera#{i}")
            i += 1

    def close(self) -> None:
        if self._open:
            self._open = False
            self._cam.stop()
            self._cam.close()


def open_source(path: Path | str) -> FrameSource:
    """The file-based source for a path: a folder, a video file or a still image."""
    p = Path(path)
    if p.is_dir():
        return FolderSource(p)
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return VideoFileSource(p)
    return ImageFileSource(p)
