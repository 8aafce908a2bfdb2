"""QR and NW-7 (Codabar) decoders behind one interface: zxing-cpp (default) and pyzbar (selectable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture import DecoderUnavailableError
from edge.capture.bar_regions import find_bar_regions

Symbology = Literal["qr", "nw7"]
BACKENDS = ("zxing", "zbar")


@dataclass(frozen=True)
class Symbol:
    """One barcode found in a frame: what kind, and its text as the symbol carries it."""

    kind: Symbology
    text: str


class Decoder(Protocol):
    """Finds every QR code and NW-7 barcode in a grey frame."""

    name: str

    def decode(self, grey: npt.NDArray[np.uint8]) -> list[Symbol]:
        """Whole frame first; the levelled barcode areas only if that found nothing."""
        ...

    def scan(self, grey: npt.NDArray[np.uint8], *, nw7_only: bool = False) -> list[Symbol]:
        """The whole frame as it is (fast)."""
        ...

    def scan_levelled(self, grey: npt.NDArray[np.uint8]) -> list[Symbol]:
        """NW-7 barcodes in the barcode-like areas of the frame, each turned level first (slower)."""
        ...


class _LevellingDecoder:
    """Scans the whole frame; when that finds nothing, scans each barcode-like area turned level.

    Row-scanning 1D readers miss a bar code turned more than a few degrees; QR codes are found at any angle.
    """

    name = ""

    def scan(self, grey: npt.NDArray[np.uint8], *, nw7_only: bool = False) -> list[Symbol]:
        raise NotImplementedError

    def decode(self, grey: npt.NDArray[np.uint8]) -> list[Symbol]:
        return self.scan(grey) or self.scan_levelled(grey)

    def scan_levelled(self, grey: npt.NDArray[np.uint8]) -> list[Symbol]:
        found: list[Symbol] = []
        for crop in find_bar_regions(grey):
            for variant in _variants(crop):
                hits = self.scan(variant, nw7_only=True)
                if hits:
                    found.extend(h for h in hits if h not in found)
                    break
        return found


def _variants(crop: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.uint8]]:
    """The crop as is, sharpened (out-of-focus bars run together), and sharpened at twice the size."""
    soft = cv2.GaussianBlur(crop, (0, 0), 2.0)
    sharp = np.asarray(cv2.addWeighted(crop, 2.0, soft, -1.0, 0), np.uint8)
    big = np.asarray(cv2.resize(sharp, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC), np.uint8)
    return [crop, sharp, big]


class ZxingDecoder(_LevellingDecoder):
    """zxing-cpp: fast and tolerant of noisy, rotated 1D codes; the default."""

    name = "zxing"

    def __init__(self) -> None:
        try:
            import zxingcpp
        except ImportError as exc:  # pragma: no cover - the edge extra installs it
            raise DecoderUnavailableError("zxing-cpp is not installed (pip install zxing-cpp)") from exc
        self._zx = zxingcpp
        self._formats = (zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.Codabar)
        self._nw7 = (zxingcpp.BarcodeFormat.Codabar,)

    def scan(self, grey: npt.NDArray[np.uint8], *, nw7_only: bool = False) -> list[Symbol]:
        found: list[Symbol] = []
        formats = self._nw7 if nw7_only else self._formats
        # zxing-cpp 3 wants a tuple of formats (`|` is deprecated) while its stub still names BarcodeFormats.
        # Turned 1D codes are left to scan_levelled, which finds them at any angle: trying the 90-degree
        # turn here would cost every frame a third more.
        for code in self._zx.read_barcodes(grey, formats=formats, try_rotate=False):  # type: ignore[arg-type]
            if not code.valid:
                continue
            kind: Symbology = "qr" if code.format == self._zx.BarcodeFormat.QRCode else "nw7"
            found.append(Symbol(kind, str(code.text)))
        return found


class ZbarDecoder(_LevellingDecoder):
    """pyzbar over Debian's libzbar0: slower and weaker on noisy 1D codes, kept as an alternative."""

    name = "zbar"

    def __init__(self) -> None:
        try:
            from pyzbar import pyzbar
        except (ImportError, OSError) as exc:  # OSError: libzbar0 missing
            raise DecoderUnavailableError("pyzbar or libzbar0 is not installed") from exc
        self._zbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE, pyzbar.ZBarSymbol.CODABAR]
        self._nw7 = [pyzbar.ZBarSymbol.CODABAR]

    def scan(self, grey: npt.NDArray[np.uint8], *, nw7_only: bool = False) -> list[Symbol]:
        found: list[Symbol] = []
        for code in self._zbar.decode(grey, symbols=self._nw7 if nw7_only else self._symbols):
            kind: Symbology = "qr" if code.type == "QRCODE" else "nw7"
            try:
                text = bytes(code.data).decode("ascii")
            except UnicodeDecodeError:
                # Not a voucher (they carry digits only); keep it so the caller can say what was seen.
                text = bytes(code.data).decode("latin-1")
            found.append(Symbol(kind, text))
        return found


def make_decoder(backend: str = "zxing") -> Decoder:
    """The decoder for a backend name ("zxing" or "zbar")."""
    if backend == "zxing":
        return ZxingDecoder()
    if backend == "zbar":
        return ZbarDecoder()
    raise DecoderUnavailableError(f"unknown barcode backend {backend!r}: choose one of {', '.join(BACKENDS)}")
