"""Vouchers that must not be read: bad check digit, ward, unknown code, two in view, covered digits,
disagreeing frames, other documents' numbers. No read, never a wrong one, and the reason says why."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from edge.capture import synthetic
from edge.capture.barcodes import make_decoder
from edge.capture.consensus import Rules
from edge.capture.frames import Frame
from edge.capture.ocr_line import OcrLineReader
from edge.capture.pipeline import Pipeline
from protocol import is_municipality, municipality_check_digit

STRAIGHT = synthetic.Degradation(rotation=4.0, blur=0.5, noise=2.0, jpeg=85)
UNKNOWN = "13999" + municipality_check_digit("13999")  # valid check digit, not a municipality


@pytest.fixture(scope="module")
def pipe() -> Iterator[Pipeline]:
    p = Pipeline(make_decoder("zxing"), OcrLineReader())
    yield p
    p.close()


def still(pipe: Pipeline, spec: synthetic.TicketSpec, seed: int = 3, deg: synthetic.Degradation = STRAIGHT):
    return pipe.decode_still(synthetic.voucher_frame(spec, seed, deg)).decision


def test_unknown_code_really_is_unknown() -> None:
    assert not is_municipality(UNKNOWN)


@pytest.mark.parametrize(("code", "words"), [
    ("131017", "check digit"),
    ("271276", "ward"),
    (UNKNOWN, "not on the list"),
])  # fmt: skip
@pytest.mark.parametrize("form", ["ocr", "qr"])
def test_invalid_municipality_is_refused(pipe: Pipeline, code: str, words: str, form: str) -> None:
    spec = synthetic.TicketSpec(municipality_code=code, qr=form == "qr", ocr=form == "ocr")
    d = still(pipe, spec)
    assert not d.accepted and d.voucher is None
    assert d.outcome == "invalid" and words in d.reason and code in d.reason


def test_two_vouchers_in_one_frame_by_qr(pipe: Pipeline) -> None:
    rng = np.random.default_rng(5)
    other = synthetic.render_ticket(synthetic.TicketSpec(voucher_no="5555555555", qr=True, ocr=False), rng)
    image = synthetic.voucher_frame(synthetic.TicketSpec(qr=True, ocr=False), 5, STRAIGHT, extra=other)
    d = pipe.decode_still(image).decision
    assert d.outcome == "conflict" and d.voucher is None
    assert "two different vouchers" in d.reason and "5555555555" in d.reason and "0123456789" in d.reason


def test_two_vouchers_in_one_frame_by_ocr(pipe: Pipeline) -> None:
    rng = np.random.default_rng(6)
    extra = synthetic.render_ticket(synthetic.TicketSpec(municipality_code="271004", voucher_no="7777777777"), rng)
    image = synthetic.voucher_frame(synthetic.TicketSpec(), 6, synthetic.Degradation(scale=0.95), extra=extra)
    d = pipe.decode_still(image).decision
    assert d.voucher is None
    assert d.outcome == "conflict", d.reason


def test_receipt_with_a_long_ocr_b_number_is_no_voucher(pipe: Pipeline) -> None:
    rng = np.random.default_rng(8)
    receipt = synthetic.render_receipt(rng, number="428246500878583471")
    blank = synthetic.TicketSpec(ocr=False)
    d = pipe.decode_still(synthetic.voucher_frame(blank, 8, STRAIGHT, extra=receipt)).decision
    assert d.voucher is None and not d.accepted


def test_voucher_next_to_a_receipt_is_read(pipe: Pipeline) -> None:
    rng = np.random.default_rng(9)
    receipt = synthetic.render_receipt(rng, number="428246500878583471")  # fails the check digit
    image = synthetic.voucher_frame(synthetic.TicketSpec(), 9, synthetic.Degradation(scale=0.95), extra=receipt)
    d = pipe.decode_still(image).decision
    assert d.accepted and d.voucher is not None and d.voucher.voucher_no == "0123456789"


@pytest.mark.parametrize("seed", range(6))
def test_thumb_over_the_ocr_line_gives_no_read(pipe: Pipeline, seed: int) -> None:
    rng = np.random.default_rng(seed)
    deg = dataclasses.replace(synthetic.Degradation.moderate(rng), thumb_on_line=True)
    d = still(pipe, synthetic.random_spec(rng), seed, deg)
    assert not d.accepted and d.voucher is None


def test_nw7_alone_without_municipality_cannot_be_placed(pipe: Pipeline) -> None:
    pipe.municipality = None
    d = still(pipe, synthetic.TicketSpec(nw7=True, ocr=False))
    assert d.outcome == "invalid" and "municipality" in d.reason and "0123456789" in d.reason


def test_nw7_alone_with_the_station_municipality(pipe: Pipeline) -> None:
    pipe.municipality = "271004"
    try:
        d = still(pipe, synthetic.TicketSpec(nw7=True, ocr=False))
    finally:
        pipe.municipality = None
    assert d.accepted and d.source == "nw7" and d.voucher is not None
    assert d.voucher.municipality_code == "271004" and d.voucher.source_municipality_preset
    assert "preset" in d.reason


def test_nw7_with_a_wrong_length_is_refused(pipe: Pipeline) -> None:
    pipe.municipality = "131016"
    try:
        d = still(pipe, synthetic.TicketSpec(nw7=True, ocr=False, nw7_text="A012345678A"))
    finally:
        pipe.municipality = None
    assert d.outcome == "invalid" and "9 digits" in d.reason


def test_qr_with_only_a_voucher_number_is_refused(pipe: Pipeline) -> None:
    d = still(pipe, synthetic.TicketSpec(qr=True, ocr=False, qr_text="0123456789"))
    assert d.outcome == "invalid" and d.voucher is None


def test_qr_with_text_is_refused(pipe: Pipeline) -> None:
    d = still(pipe, synthetic.TicketSpec(qr=True, ocr=False, qr_text="https://example.com/?id=1"))
    assert d.outcome == "invalid" and "digits only" in d.reason


def test_one_read_as_four_across_frames_gives_no_read(pipe: Pipeline) -> None:
    # A sequence of OCR-only frames where one frame shows a different voucher number (1 vs 4): prefer
    # no read to a wrong one, even though the right number is read twice.
    right = synthetic.TicketSpec(voucher_no="0123456789")
    misread = synthetic.TicketSpec(voucher_no="0423456789")
    images = [synthetic.voucher_frame(s, i, STRAIGHT) for i, s in enumerate([right, misread, right])]
    seq = [Frame(im, i / 10, i, f"f{i}") for i, im in enumerate(images)]
    pipe.consensus.rules = Rules()
    timed = pipe.decode_frames(seq)
    d = timed.decision
    assert not d.accepted and d.outcome == "conflict"
    assert "0123456789" in d.reason and "0423456789" in d.reason
