"""Reading generated voucher frames under moderate degradation: per source, enough reads and never a wrong one.

Frames come from edge.capture.synthetic (any rotation, tilt, blur, noise, uneven light, shadow, a thumb on
the sheet's edge, JPEG, grey), each decoded as a still: one read is enough, every validity rule applies.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from edge.capture import synthetic
from edge.capture.barcodes import make_decoder
from edge.capture.ocr_line import OcrLineReader
from edge.capture.pipeline import Pipeline

pytestmark = pytest.mark.slow

FRAMES = 20


@pytest.fixture(scope="module")
def ocr() -> Iterator[OcrLineReader]:
    reader = OcrLineReader()
    yield reader
    reader.close()


def frames(source: str, seed: int) -> Iterator[tuple[np.ndarray, synthetic.TicketSpec]]:
    for i in range(FRAMES):
        s = seed * 1000 + i
        rng = np.random.default_rng(s)
        deg = synthetic.Degradation.moderate(rng)
        spec = synthetic.random_spec(rng, qr=source == "qr", nw7=source == "nw7", ocr=source != "nw7")
        yield synthetic.voucher_frame(spec, s, deg), spec


def score(pipe: Pipeline, source: str, seed: int) -> tuple[int, int, list[str]]:
    read = wrong = 0
    misses: list[str] = []
    for image, spec in frames(source, seed):
        if source == "nw7":
            pipe.municipality = spec.municipality_code
        d = pipe.decode_still(image).decision
        if not d.accepted:
            misses.append(d.reason)
            continue
        v = d.voucher
        assert v is not None
        right = (v.municipality_code, v.voucher_no) == (spec.municipality_code, spec.voucher_no)
        if source != "nw7":
            right = right and (v.dose, v.ticket_kind) == (spec.dose, spec.ticket_kind)
        wrong += not right
        # Read through another form of the same voucher (the OCR line when the QR was missed): right, but
        # not a read of this source.
        read += right and d.source == source
    return read, wrong, misses


@pytest.mark.parametrize(("source", "backend", "min_reads"), [
    ("qr", "zxing", 19),
    ("nw7", "zxing", 19),
    ("ocr", "zxing", 19),
    # pyzbar is the weaker reader (DESIGN.md); it is held to never reading wrong, not to zxing's rate.
    ("qr", "zbar", 12),
    ("nw7", "zbar", 14),
])  # fmt: skip
def test_reads_per_source(ocr: OcrLineReader, source: str, backend: str, min_reads: int) -> None:
    pipe = Pipeline(make_decoder(backend), ocr)
    read, wrong, misses = score(pipe, source, seed=7)
    assert wrong == 0
    assert read >= min_reads, misses


def test_qr_and_nw7_and_ocr_on_one_voucher_agree(ocr: OcrLineReader) -> None:
    pipe = Pipeline(make_decoder("zxing"), ocr, municipality="131016")
    for seed in range(4):
        rng = np.random.default_rng(seed)
        spec = synthetic.random_spec(rng, qr=True, nw7=True)
        d = pipe.decode_still(synthetic.voucher_frame(spec, seed, synthetic.Degradation.moderate(rng))).decision
        assert d.accepted and d.source == "qr"
        assert d.voucher is not None and d.voucher.municipality_code == spec.municipality_code
