"""Properties of the consensus over arbitrary frame sequences (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.capture.consensus import Consensus, FrameReads, Read, Rules
from protocol import Voucher, parse_voucher

VOUCHERS = [
    parse_voucher("111310160123456789"),
    parse_voucher("111310160423456789"),  # differs from the first in one digit (1 vs 4)
    parse_voucher("212710049876543210"),
]
RULES = Rules(min_frames=2, qr_min_frames=1, window_s=1.0, cooldown_s=3.0)


def frame(choice: tuple[int, str] | None) -> FrameReads:
    if choice is None:
        return FrameReads()
    i, source = choice
    v: Voucher = VOUCHERS[i]
    if source == "nw7":  # the barcode carries the number only; the municipality is the station's preset
        v = parse_voucher(v.voucher_no, default_municipality="271004")
    return FrameReads((Read(source, v.voucher_no, v),))  # type: ignore[arg-type]


frames = st.lists(
    st.tuples(
        st.one_of(st.none(), st.tuples(st.integers(0, 2), st.sampled_from(["ocr", "qr", "nw7"]))),
        st.floats(0.01, 2.0),
    ),
    max_size=40,
)


@given(frames)
def test_every_acceptance_is_backed_by_agreeing_frames_and_nothing_else(seq: list) -> None:
    c = Consensus(RULES)
    t = 0.0
    history: list[tuple[float, tuple[int, str] | None]] = []
    for choice, dt in seq:
        t += dt
        history.append((t, choice))
        d = c.observe(frame(choice), t)
        if not d.accepted:
            continue
        assert choice is not None and d.voucher is not None
        recent = [ch for (ts, ch) in history if ts >= t - RULES.window_s and ch is not None]
        # Every recent read is of this one voucher: no disagreement, no second voucher.
        assert {VOUCHERS[i].voucher_no for i, _ in recent} == {d.voucher.voucher_no}
        agreeing = [s for i, s in recent]
        if "qr" not in agreeing:
            assert len(agreeing) >= RULES.min_frames
        # Only NW-7 reads: the voucher says so (its municipality is the preset), else it is the full read.
        if not any(s in ("qr", "ocr") for s in agreeing):
            assert d.source == "nw7" and d.voucher.source_municipality_preset
        else:
            assert d.voucher in VOUCHERS


@given(st.integers(0, 2), st.sampled_from(["ocr", "qr"]), st.integers(3, 60))
def test_a_voucher_left_in_view_is_accepted_once(i: int, source: str, n: int) -> None:
    c = Consensus(RULES)
    accepted = [c.observe(frame((i, source)), k / 10).accepted for k in range(n)]
    assert accepted.count(True) == 1
