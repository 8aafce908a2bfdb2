"""The synthetic frame generator: deterministic, and its barcodes are real barcodes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp

from edge.capture import synthetic


def test_same_seed_same_frame() -> None:
    spec = synthetic.TicketSpec(qr=True, nw7=True)
    deg = synthetic.Degradation.moderate(np.random.default_rng(4))
    a = synthetic.voucher_frame(spec, 4, deg)
    b = synthetic.voucher_frame(spec, 4, deg)
    c = synthetic.voucher_frame(spec, 5, deg)
    assert a.shape == (720, 1280, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("text", ["A0123456789A", "B9876543210C", "D-$:/.+0D", "C1234567890B"])
def test_codabar_drawing_decodes_to_its_text(text: str) -> None:
    bars = synthetic.draw_codabar(text, height=60)
    found = zxingcpp.read_barcodes(bars, formats=(zxingcpp.BarcodeFormat.Codabar,))
    assert [b.text for b in found] == [text]


def test_qr_drawing_decodes_to_its_text() -> None:
    qr = synthetic.draw_qr("111310160123456789")
    assert cv2.QRCodeDetector().detectAndDecode(qr)[0] == "111310160123456789"


def test_moderate_views_keep_the_sheet_in_frame() -> None:
    for seed in range(10):
        frame = synthetic.voucher_frame(
            synthetic.TicketSpec(), seed, synthetic.Degradation.moderate(np.random.default_rng(seed))
        )
        border = np.concatenate([frame[:4].reshape(-1, 3), frame[-4:].reshape(-1, 3)])
        # The paper is near white; the desk is darker: the frame's top and bottom rows show desk only.
        assert border.mean() < 200
