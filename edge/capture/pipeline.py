"""Frame in, decision out: the decoders' reads checked as vouchers, then the consensus.

`Pipeline.feed` is what the station runs on every camera frame; `decode_still` and `decode_frames` are what
`vrs-edge decode` runs on an image file or a folder of frames.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import msgspec
import numpy as np
import numpy.typing as npt

from edge.capture import SourceError
from edge.capture.barcodes import Decoder, Symbol, make_decoder
from edge.capture.consensus import Consensus, Decision, FrameReads, Read, Refusal, Rules, Source
from edge.capture.frames import Frame, ImageFileSource, open_source
from edge.capture.ocr_line import LINE_DIGITS, OcrLineReader
from protocol import VoucherError, parse_voucher

Image8 = npt.NDArray[np.uint8]
NW7_DIGITS = 10

# Most informative first: when a sequence never reaches a read, the reason given is the strongest seen.
_PRIORITY = {"conflict": 0, "invalid": 1, "waiting": 2, "unclear": 3, "repeat": 4, "idle": 5, "accepted": -1}


@dataclass(frozen=True)
class Timed:
    """A decision and how long the decoding took (milliseconds)."""

    decision: Decision
    ms: float
    frames: int


def grey_of(image: Image8) -> Image8:
    """The image as one grey channel (decoders work on grey; colour adds nothing for black print)."""
    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)


class Pipeline:
    """The decoders and the consensus of one station (or of one `vrs-edge decode` run)."""

    def __init__(
        self,
        decoder: Decoder | None = None,
        ocr: OcrLineReader | None = None,
        *,
        municipality: str | None = None,
        rules: Rules | None = None,
        use_ocr: bool = True,
    ) -> None:
        self.decoder = decoder if decoder is not None else make_decoder("zxing")
        self._owns_ocr = ocr is None and use_ocr
        self.ocr = OcrLineReader() if self._owns_ocr else ocr
        self.municipality = municipality
        self.consensus = Consensus(rules if rules is not None else Rules())

    def close(self) -> None:
        """Free tesseract, if this pipeline made its own reader."""
        if self.ocr is not None and self._owns_ocr:
            self.ocr.close()
            self.ocr = None

    def reads(self, image: Image8) -> FrameReads:
        """Every valid read and every refused voucher-like text in one frame."""
        grey = grey_of(image)
        reads: list[Read] = []
        refusals: list[Refusal] = []
        unclear = 0
        self._symbols(self.decoder.scan(grey), reads, refusals)
        # A QR code is error-corrected and carries the whole line: reading the OCR line as well would only
        # cost time. Without one, the OCR line is what gives the municipality, dose and kind.
        if self.ocr is not None and not any(r.source == "qr" for r in reads):
            lines = self.ocr.read(grey)
            sure = [line.candidate.char_px for line in lines if line.agreed]
            for line in lines:
                if not line.agreed:
                    # Only a row printed as large as a line that was read can be a second voucher's line;
                    # small print (a phone number and its notes) cannot.
                    size = line.candidate.char_px
                    if any(0.7 < size / other < 1.4 for other in sure):
                        unclear += 1
                    refusals.append(Refusal("ocr", "an OCR line was seen but not read with certainty", unsure=True))
                    continue
                if len(line.text) != LINE_DIGITS:  # never let a short line pass as an NW-7 number
                    continue
                try:
                    v = parse_voucher(line.text)
                except VoucherError as exc:
                    refusals.append(Refusal("ocr", exc.reason))
                    continue
                reads.append(Read("ocr", v.voucher_no, v))
        if not reads:
            # Only now look for a tilted NW-7 barcode: it costs more than a plain scan.
            self._symbols(self.decoder.scan_levelled(grey), reads, refusals)
        return FrameReads(tuple(reads), tuple(refusals), unclear)

    def _symbols(self, symbols: list[Symbol], reads: list[Read], refusals: list[Refusal]) -> None:
        for sym in symbols:
            try:
                if sym.kind == "qr":
                    v = parse_voucher(sym.text)
                    if v.ticket_kind is None:  # a QR carrying only a 10-digit number is not a voucher QR
                        raise VoucherError("the QR code holds a 10-digit number, not the 18-digit line", "text")
                    reads.append(Read("qr", v.voucher_no, v))
                else:
                    reads.append(self._nw7(sym.text))
            except VoucherError as exc:
                refusals.append(Refusal(sym.kind, exc.reason))

    def _nw7(self, text: str) -> Read:
        if self.municipality is not None:
            v = parse_voucher(text, default_municipality=self.municipality)
        else:
            core = text.strip().upper()
            if len(core) >= 2 and core[0] in "ABCD" and core[-1] in "ABCD":
                core = core[1:-1]
            if len(core) == NW7_DIGITS and core.isascii() and core.isdigit():
                # Still a useful read: it can confirm an OCR line's number, or say what is missing.
                return Read("nw7", core, None)
            v = parse_voucher(text)  # raises, saying what is wrong with the barcode's text
        if v.ticket_kind is not None:
            raise VoucherError("the NW-7 barcode holds 18 digits; a voucher's barcode holds 10", "text")
        return Read("nw7", v.voucher_no, v)

    def feed(self, frame: Frame) -> Decision:
        """The decision after one more camera frame."""
        return self.consensus.observe(self.reads(frame.image), frame.t)

    def decode_frames(self, frames: Iterable[Frame]) -> Timed:
        """A whole sequence: the first accepted read, else the most telling refusal. Resets the state."""
        self.consensus.reset()
        start = time.perf_counter()
        best: Decision | None = None
        n = 0
        for frame in frames:
            n += 1
            d = self.feed(frame)
            if d.accepted:
                best = d
                break
            if best is None or _PRIORITY[d.outcome] < _PRIORITY[best.outcome]:
                best = d
        ms = (time.perf_counter() - start) * 1000
        if best is None:
            best = Decision("idle", "no frames")
        return Timed(best, ms, n)

    def decode_still(self, image: Image8) -> Timed:
        """One still image: one read is enough (there is no second frame); every other rule applies."""
        rules = self.consensus.rules
        self.consensus = Consensus(Rules.still())
        try:
            return self.decode_frames([Frame(image, 0.0, 0, "still")])
        finally:
            self.consensus = Consensus(rules)


class VoucherOut(msgspec.Struct):
    """The voucher fields `vrs-edge decode` prints."""

    municipality_code: str
    voucher_no: str
    dose: int
    ticket_kind: str | None


class DecodeResult(msgspec.Struct):
    """One line of `vrs-edge decode` output (JSON): what was read at `path`, or why nothing was."""

    path: str
    voucher: VoucherOut | None
    source: Source | None
    ms: float
    reason: str


def decode_path(pipeline: Pipeline, path: Path | str) -> DecodeResult:
    """Decode an image file (one still) or a folder or video (one frame sequence, 2-frame consensus)."""
    p = Path(path)
    try:
        source = open_source(p)
        if isinstance(source, ImageFileSource):
            frame = next(iter(source.frames()))
            timed = pipeline.decode_still(frame.image)
        else:
            timed = pipeline.decode_frames(source.frames())
    except SourceError as exc:
        return DecodeResult(str(path), None, None, 0.0, f"cannot read: {exc}")
    d = timed.decision
    voucher = None
    if d.accepted and d.voucher is not None:
        v = d.voucher
        voucher = VoucherOut(v.municipality_code, v.voucher_no, v.dose, v.ticket_kind)
    return DecodeResult(str(path), voucher, d.source if voucher else None, round(timed.ms, 1), d.reason)
