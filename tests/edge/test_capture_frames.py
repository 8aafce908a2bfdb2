"""Frame sources: still images, folders in name order, video files, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.capture import SourceError, synthetic
from edge.capture.frames import FolderSource, ImageFileSource, PicameraSource, VideoFileSource, open_source
from edge.capture.pipeline import Pipeline

SPECS = [synthetic.TicketSpec(voucher_no=f"{i}" * 10, ocr=False, qr=True) for i in range(3)]


def solid(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def test_image_file(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), solid(10))
    frames = list(ImageFileSource(tmp_path / "a.png").frames())
    assert len(frames) == 1 and frames[0].image.shape == (48, 64, 3) and frames[0].name == "a.png"


def test_folder_frames_come_in_name_order(tmp_path: Path) -> None:
    for name, value in [("frame_003.png", 30), ("frame_001.jpg", 10), ("frame_002.png", 20)]:
        cv2.imwrite(str(tmp_path / name), solid(value))
    (tmp_path / "notes.txt").write_text("not a frame")
    frames = list(FolderSource(tmp_path, fps=10).frames())
    assert [f.name for f in frames] == ["frame_001.jpg", "frame_002.png", "frame_003.png"]
    assert [round(f.t, 2) for f in frames] == [0.0, 0.1, 0.2]
    assert [int(f.image.mean()) for f in frames] == [10, 20, 30]


def test_video_file_frames(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (1280, 720))
    assert writer.isOpened()
    images = [synthetic.voucher_frame(s, i) for i, s in enumerate(SPECS)]
    for image in images:
        writer.write(image)
    writer.release()
    frames = list(VideoFileSource(path).frames())
    assert len(frames) == 3
    assert frames[0].t < frames[1].t < frames[2].t
    assert frames[1].image.shape == (720, 1280, 3)
    # The video's frames decode to the vouchers written into it, in order.
    pipe = Pipeline(use_ocr=False)
    read = [pipe.decode_still(f.image).decision.voucher for f in frames]
    assert [v.voucher_no if v else None for v in read] == [s.voucher_no for s in SPECS]


def test_open_source_picks_by_path(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), solid(1))
    (tmp_path / "clip.mp4").write_bytes(b"")
    assert isinstance(open_source(tmp_path), FolderSource)
    assert isinstance(open_source(tmp_path / "a.png"), ImageFileSource)
    assert isinstance(open_source(tmp_path / "clip.mp4"), VideoFileSource)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        list(ImageFileSource(tmp_path / "nope.png").frames())


@pytest.mark.parametrize("content", [b"", b"hello", b"\x89PNG\r\n\x1a\n truncated"])
def test_not_an_image(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(SourceError, match="not an image"):
        list(ImageFileSource(tmp_path / "bad.png").frames())


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no image files"):
        list(FolderSource(tmp_path).frames())


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a folder"):
        FolderSource(tmp_path / "missing")


def test_broken_video(tmp_path: Path) -> None:
    (tmp_path / "clip.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage")
    with pytest.raises(SourceError):
        list(VideoFileSource(tmp_path / "clip.avi").frames())


def test_pi_camera_is_refused_clearly_where_there_is_none() -> None:
    # picamera2 exists only on Raspberry Pi OS: elsewhere the source says how to get it, it does not crash.
    with pytest.raises(SourceError, match="picamera2"):
        PicameraSource()


def test_a_video_of_two_vouchers_in_turn_gives_each_exactly_once(tmp_path: Path) -> None:
    # Voucher A held under the camera for a second, taken away, then voucher B: two acceptances, and A is
    # never accepted again while it stays in view (the 2021 "previous scan shown again" failure).
    a = synthetic.TicketSpec(voucher_no="1111111111")
    b = synthetic.TicketSpec(municipality_code="271004", voucher_no="4444444444")
    view = synthetic.Degradation(rotation=-6.0, blur=0.6, noise=3.0, jpeg=85)
    shots_a = [synthetic.voucher_frame(a, i, view) for i in range(3)]
    shots_b = [synthetic.voucher_frame(b, 10 + i, view) for i in range(3)]
    desk = synthetic.voucher_frame(synthetic.TicketSpec(ocr=False), 20, view)
    sequence = [shots_a[i % 3] for i in range(10)] + [desk] * 12 + [shots_b[i % 3] for i in range(6)]
    path = tmp_path / "desk.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (1280, 720))
    for image in sequence:
        writer.write(image)
    writer.release()

    pipe = Pipeline()
    decisions = [pipe.feed(frame) for frame in VideoFileSource(path).frames()]
    pipe.close()
    accepted = [d.voucher.voucher_no for d in decisions if d.accepted and d.voucher is not None]
    assert accepted == ["1111111111", "4444444444"]
    assert [d.outcome for d in decisions[2:10]] == ["repeat"] * 8
    assert all(d.frames == 2 and d.source == "ocr" for d in decisions if d.accepted)
