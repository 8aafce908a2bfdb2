"""The consensus rules on frame sequences (pure: reads are built directly, time is given)."""

from __future__ import annotations

from edge.capture.consensus import Consensus, FrameReads, Read, Refusal, Rules
from protocol import Voucher, parse_voucher

A = parse_voucher("111310160123456789")
A_MISREAD = parse_voucher("111310160423456789")  # 1 read as 4 in the voucher number
A_OTHER_DOSE = parse_voucher("121310160123456789")
B = parse_voucher("212710049876543210")


def ocr(v: Voucher) -> FrameReads:
    return FrameReads((Read("ocr", v.voucher_no, v),))


def qr(v: Voucher) -> FrameReads:
    return FrameReads((Read("qr", v.voucher_no, v),))


def nw7(no: str, municipality: str | None = None) -> FrameReads:
    v = parse_voucher(no, default_municipality=municipality) if municipality else None
    return FrameReads((Read("nw7", no, v),))


EMPTY = FrameReads()


def run(frames: list[FrameReads], rules: Rules | None = None, fps: float = 10.0) -> list[str]:
    c = Consensus(rules or Rules())
    return [c.observe(f, i / fps).outcome for i, f in enumerate(frames)]


def test_ocr_needs_two_agreeing_frames() -> None:
    c = Consensus()
    first = c.observe(ocr(A), 0.0)
    assert first.outcome == "waiting" and first.voucher is None
    second = c.observe(ocr(A), 0.1)
    assert second.accepted and second.voucher == A and second.source == "ocr" and second.frames == 2


def test_a_missed_frame_between_two_reads_still_agrees() -> None:
    assert run([ocr(A), EMPTY, ocr(A)]) == ["waiting", "idle", "accepted"]


def test_reads_too_far_apart_do_not_agree() -> None:
    c = Consensus(Rules(window_s=1.0))
    assert c.observe(ocr(A), 0.0).outcome == "waiting"
    assert c.observe(ocr(A), 2.0).outcome == "waiting"


def test_qr_passes_on_one_frame() -> None:
    d = Consensus().observe(qr(A), 0.0)
    assert d.accepted and d.source == "qr" and d.frames == 1


def test_nw7_needs_two_frames_and_uses_the_preset() -> None:
    c = Consensus()
    assert c.observe(nw7("0123456789", "271004"), 0.0).outcome == "waiting"
    d = c.observe(nw7("0123456789", "271004"), 0.1)
    assert d.accepted and d.source == "nw7"
    assert d.voucher is not None and d.voucher.municipality_code == "271004"
    assert d.voucher.source_municipality_preset and "preset" in d.reason


def test_nw7_without_preset_cannot_place_the_voucher() -> None:
    c = Consensus()
    c.observe(nw7("0123456789"), 0.0)
    d = c.observe(nw7("0123456789"), 0.1)
    assert d.outcome == "invalid" and d.voucher is None and "municipality" in d.reason


def test_nw7_and_ocr_of_the_same_voucher_agree_and_the_ocr_gives_the_municipality() -> None:
    c = Consensus()
    c.observe(nw7("0123456789"), 0.0)
    d = c.observe(ocr(A), 0.1)
    assert d.accepted and d.voucher == A and d.source == "ocr"


def test_one_read_as_four_across_frames_gives_no_read() -> None:
    c = Consensus()
    outcomes = [c.observe(f, i / 10).outcome for i, f in enumerate([ocr(A), ocr(A_MISREAD), ocr(A), ocr(A)])]
    assert "accepted" not in outcomes
    d = c.observe(ocr(A), 0.4)
    assert d.outcome == "conflict" and "0123456789" in d.reason and "0423456789" in d.reason


def test_disagreement_clears_once_the_odd_frame_is_out_of_the_window() -> None:
    c = Consensus(Rules(window_s=0.5))
    c.observe(ocr(A_MISREAD), 0.0)
    assert c.observe(ocr(A), 0.1).outcome == "conflict"
    assert c.observe(ocr(A), 1.0).outcome == "waiting"  # the misread aged out; the earlier A is in view too
    assert c.observe(ocr(A), 1.1).accepted


def test_same_number_with_a_different_dose_is_a_conflict() -> None:
    assert run([ocr(A), ocr(A_OTHER_DOSE), ocr(A)])[-1] == "conflict"


def test_two_vouchers_in_one_frame_give_no_read() -> None:
    d = Consensus().observe(FrameReads((Read("qr", A.voucher_no, A), Read("qr", B.voucher_no, B))), 0.0)
    assert d.outcome == "conflict" and d.voucher is None and "two different vouchers" in d.reason


def test_qr_and_ocr_disagreeing_in_one_frame_give_no_read() -> None:
    frame = FrameReads((Read("qr", A.voucher_no, A), Read("ocr", A_OTHER_DOSE.voucher_no, A_OTHER_DOSE)))
    d = Consensus().observe(frame, 0.0)
    assert d.outcome == "conflict" and "disagree" in d.reason


def test_a_qr_read_does_not_pass_while_another_voucher_was_just_in_view() -> None:
    c = Consensus()
    c.observe(ocr(B), 0.0)
    assert c.observe(qr(A), 0.1).outcome == "conflict"


def test_accepted_voucher_is_not_accepted_again_while_it_stays_in_view() -> None:
    c = Consensus(Rules(cooldown_s=3.0))
    c.observe(ocr(A), 0.0)
    assert c.observe(ocr(A), 0.1).accepted
    # Ten seconds under the camera: never a second acceptance.
    outcomes = {c.observe(ocr(A), 0.2 + i / 10).outcome for i in range(100)}
    assert outcomes == {"repeat"}
    # Taken away for longer than the cooldown, shown again: a new scan.
    assert c.observe(EMPTY, 14.0).outcome == "idle"
    c.observe(ocr(A), 14.1)
    assert c.observe(ocr(A), 14.2).accepted


def test_next_voucher_after_an_accepted_one() -> None:
    c = Consensus()
    c.observe(qr(A), 0.0)
    assert c.observe(EMPTY, 2.0).outcome == "idle"
    assert c.observe(qr(B), 2.1).accepted


def test_a_misread_of_the_voucher_still_in_view_is_refused() -> None:
    # A was accepted and stays under the camera; one frame misreads it as A_MISREAD: no second voucher.
    c = Consensus()
    c.observe(qr(A), 0.0)
    for i in range(1, 5):
        c.observe(ocr(A), i / 10)
    assert c.observe(ocr(A_MISREAD), 0.5).outcome == "conflict"
    assert c.observe(ocr(A_MISREAD), 0.6).outcome == "conflict"


def test_refusals_are_explained() -> None:
    frame = FrameReads(refusals=(Refusal("qr", "code 271276 is a ward"),))
    d = Consensus().observe(frame, 0.0)
    assert d.outcome == "invalid" and "271276" in d.reason and d.voucher is None


def test_still_rules_accept_one_ocr_frame() -> None:
    d = Consensus(Rules.still()).observe(ocr(A), 0.0)
    assert d.accepted and d.voucher == A


def test_nothing_in_view() -> None:
    assert run([EMPTY, EMPTY]) == ["idle", "idle"]


def test_an_unreadable_second_ocr_line_stops_the_read() -> None:
    frame = FrameReads((Read("ocr", A.voucher_no, A),), unclear_lines=1)
    d = Consensus(Rules.still()).observe(frame, 0.0)
    assert d.outcome == "conflict" and "unreadable" in d.reason


def test_an_unclear_line_beside_a_qr_read_does_not_matter() -> None:
    d = Consensus().observe(FrameReads((Read("qr", A.voucher_no, A),), unclear_lines=1), 0.0)
    assert d.accepted


def test_two_misreads_right_after_an_acceptance_are_refused() -> None:
    c = Consensus()
    c.observe(ocr(A), 0.0)
    assert c.observe(ocr(A), 0.1).accepted
    assert c.observe(ocr(A_MISREAD), 0.2).outcome == "conflict"
    assert c.observe(ocr(A_MISREAD), 0.3).outcome == "conflict"


def test_a_line_seen_but_not_read_surely_is_unclear_not_invalid() -> None:
    frame = FrameReads(refusals=(Refusal("ocr", "an OCR line was seen but not read with certainty", unsure=True),))
    d = Consensus().observe(frame, 0.0)
    assert d.outcome == "unclear" and "hold the voucher still" in d.reason
    both = FrameReads(refusals=(*frame.refusals, Refusal("qr", "code 271276 is a ward")))
    assert Consensus().observe(both, 0.0).outcome == "invalid"
