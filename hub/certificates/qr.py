"""The card's QR code: made with segno ("shc:/" in byte mode, the digits in numeric mode, version 22 at
most, never chunked), written as PNG or SVG, and read back from an image with zxing-cpp.

Reading also recovers the symbol's module matrix from the corners zxing-cpp reports, so the verifier can
check the segments the specification asks for (see qr_segments).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import segno
import zxingcpp
from PIL import Image, UnidentifiedImageError
from segno import consts

from hub.certificates import numeric
from hub.certificates.errors import CardRejected, CardTooLarge
from hub.certificates.qr_segments import QrLayout, UnreadableMatrix, read_layout

MAX_VERSION = 22
# PNG module size and quiet zone: big enough for a phone camera from a printed A4 page.
PNG_SCALE = 4
QUIET_ZONE = 4
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is more than any phone camera needs for one QR code


class QrRead(msgspec.Struct, frozen=True):
    """What a QR image held: its text, its version and error level, and its segments when readable."""

    text: str
    version: int
    error: str
    layout: QrLayout | None


def make(qr_text: str) -> segno.QRCode:
    """The single QR code of a card's `shc:/` text; CardTooLarge above version 22."""
    digits = numeric.digits_of(qr_text)
    try:
        segments: Any = [(numeric.PREFIX, consts.MODE_BYTE), (digits, consts.MODE_NUMERIC)]
        # segno takes a list of (content, mode) segments; its stub names only single contents.
        code = segno.make(segments, error="L", micro=False, boost_error=True)
    except segno.DataOverflowError:
        raise CardTooLarge("the card does not fit any QR code") from None
    if code.version is None or int(code.version) > MAX_VERSION:
        raise CardTooLarge(f"the card needs QR version {code.version}; at most {MAX_VERSION} is allowed")
    return code


def png(qr_text: str) -> bytes:
    """The card's QR code as a PNG image."""
    out = io.BytesIO()
    make(qr_text).save(out, kind="png", scale=PNG_SCALE, border=QUIET_ZONE)
    return out.getvalue()


def svg(qr_text: str) -> bytes:
    """The card's QR code as an SVG image (scales to any print size)."""
    out = io.BytesIO()
    make(qr_text).save(out, kind="svg", scale=PNG_SCALE, border=QUIET_ZONE, xmldecl=True, svgns=True)
    return out.getvalue()


def layout_of(code: segno.QRCode) -> QrLayout:
    """The segments of a QR code we made (read back from its matrix, as a verifier would)."""
    return read_layout([list(row) for row in code.matrix])


def _sample_matrix(gray: Any, corners: list[tuple[float, float]], size: int) -> list[list[int]]:
    """Module values at the centres of a size x size grid spanned by the symbol's four corners."""
    import cv2  # only image reading needs OpenCV

    src = np.array(corners, dtype=np.float32)
    dst = np.array([(0, 0), (size, 0), (size, size), (0, size)], dtype=np.float32)
    to_image = cv2.getPerspectiveTransform(dst, src)
    centres = np.array([[(j + 0.5, i + 0.5) for j in range(size)] for i in range(size)], dtype=np.float32)
    points = cv2.perspectiveTransform(centres.reshape(-1, 1, 2), to_image).reshape(size, size, 2)
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    h, w = binary.shape
    xs = np.clip(np.rint(points[..., 0]), 0, w - 1).astype(int)
    ys = np.clip(np.rint(points[..., 1]), 0, h - 1).astype(int)
    return [[int(v == 0) for v in row] for row in binary[ys, xs]]


def read_image(data: bytes) -> QrRead:
    """The QR code in an image file's bytes; CardRejected when there is none or more than one."""
    try:
        with warnings.catch_warnings():
            # An image of absurd pixel count is hostile, not a card: refuse it before decoding it.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise CardRejected("not_an_image", f"the image is {image.width}x{image.height} pixels; too large")
            image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise CardRejected("not_an_image", "the image is too large to be a photo of a card") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise CardRejected("not_an_image", f"the file is not a readable image: {exc}") from None
    gray_image = image.convert("L")
    found = [r for r in zxingcpp.read_barcodes(gray_image)
             if r.valid and r.format == zxingcpp.BarcodeFormat.QRCode]
    if not found:
        raise CardRejected("qr_unreadable", "no readable QR code in the image (damaged, blurred or too small)")
    if len(found) > 1:
        raise CardRejected("multi_chunk_qr", f"the image holds {len(found)} QR codes; a card is one QR code")
    result = found[0]
    extra = result.extra if isinstance(result.extra, dict) else {}
    version = int(str(extra.get("Version", "0")) or 0)
    error = str(extra.get("ECLevel", result.ec_level))
    layout = None
    if 1 <= version <= 40:
        pos = result.position
        corners = [(float(p.x), float(p.y)) for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
        try:
            candidate = read_layout(_sample_matrix(np.asarray(gray_image), corners, 17 + 4 * version))
        except UnreadableMatrix:
            candidate = None
        # Without error correction a noisy sample may misread; only a reading that agrees is used.
        if candidate is not None and candidate.text == result.text:
            layout = candidate
    return QrRead(text=result.text, version=version, error=error, layout=layout)


def check_read(read: QrRead) -> None:
    """The specification's rules for a card's QR code: version 22 at most, byte 'shc:/' then one numeric part."""
    if read.layout is not None:
        _check_segments(read.layout)
    if read.version > MAX_VERSION:
        raise CardRejected("qr_version_too_high", f"the QR code is version {read.version}; a card's QR code is "
                                                  f"version {MAX_VERSION} at most")


def _check_segments(layout: QrLayout) -> None:
    modes = [s.mode for s in layout.segments]
    if len(modes) == 1:
        raise CardRejected("single_qr_segment", f"the QR code holds one {modes[0]} segment; 'shc:/' must be in byte "
                                                "mode and the digits in numeric mode (two segments)")
    if len(modes) > 2 or modes != ["byte", "numeric"]:
        raise CardRejected("too_many_qr_segments", f"the QR code's segments are {modes}; expected byte 'shc:/' then "
                                                   "one numeric segment")


def read_file(path: Path) -> QrRead:
    """The QR code of an image file."""
    return read_image(path.read_bytes())
