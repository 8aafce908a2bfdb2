"""QR and NW-7 (Codabar) decoders behind one interface: zxing-cpp (default) and pyzbar (selectable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from edge.capture import DecoderUnavailableError

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

    def decode(self, grey: npt.NDArray[np.uint8]) -> list[Symbol]: ...


class ZxingDecoder:
    """zxing-cpp: fast and tolerant of noisy, rotated 1D codes; the default."""

    name = "zxing"

    def __init__(self) -> None:
        try:
            import zxingcpp
        except ImportError as exc:  # pragma: no cover - the edge extra installs it
            raise DecoderUnavailableError("zxing-cpp is not installed (pip install zxing-cpp)") from exc
        self._zx = zxingcpp
        self._formats = (zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.Codabar)

    def decode(self, grey: npt.NDArray[np.uint8]) -> list[Symbol]:
        found: list[Symbol] = []
        # zxing-cpp 3 wants a tuple of formats (`|` is deprecated) while its stub still names BarcodeFormats.
        for code in self._zx.read_barcodes(grey, formats=self._formats):  # type: ignore[arg-type]
            if not code.valid:
                continue
            kind: Symbology = "qr" if code.format == self._zx.BarcodeFormat.QRCode else "nw7"
            found.append(Symbol(kind, str(code.text)))
        return found


class ZbarDecoder:
    """pyzbar over Debian's libzbar0: slower and weaker on noisy 1D codes, kept as an alternative."""

    name = "zbar"

    def __init__(self) -> None:
        try:
            from pyzbar import pyzbar
        except (ImportError, OSError) as exc:  # OSError: libzbar0 missing
            raise DecoderUnavailableError("pyzbar or libzbar0 is not installed") from exc
        self._zbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE, pyzbar.ZBarSymbol.CODABAR]

    def decode(self, grey: npt.NDArray[np.uint8]) -> list[Symbol]:
        found: list[Symbol] = []
        for code in self._zbar.decode(grey, symbols=self._symbols):
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
