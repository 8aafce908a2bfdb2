"""Turning per-frame reads into at most one accepted voucher (pure: no I/O, time is passed in).

The rules (DESIGN.md, "Edge station"): an OCR or NW-7 read is accepted only when the same voucher is read in
at least 2 frames; a QR read (error-corrected) may pass on one frame; a voucher just accepted is not accepted
again while it stays in view and for a few seconds after. Whenever the frames in view disagree (1 read as
4 in one frame) or show two different vouchers, nothing is accepted and the decision says why.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from protocol import Voucher

Source = Literal["qr", "nw7", "ocr"]
Outcome = Literal["accepted", "idle", "unclear", "waiting", "repeat", "conflict", "invalid"]
"""accepted: register it. idle: nothing in view. unclear: something voucher-like, not read with certainty
yet (hold still). waiting: read once, needs another agreeing frame. repeat: the voucher just accepted is
still in view. conflict: frames or vouchers disagree. invalid: a voucher was read but is not valid."""


@dataclass(frozen=True)
class Read:
    """One decoder's valid read in one frame. `voucher` is None for an NW-7 read on a station without a
    municipality preset: the number is known, the municipality is not."""

    source: Source
    voucher_no: str
    voucher: Voucher | None


@dataclass(frozen=True)
class Refusal:
    """Something that looked like a voucher in a frame but is not a valid one, and why."""

    source: Source
    reason: str
    unsure: bool = False  # not a verdict on the voucher: the reading itself was not certain


@dataclass(frozen=True)
class FrameReads:
    """Everything the decoders found in one frame."""

    reads: tuple[Read, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    unclear_lines: int = 0  # rows that look like an OCR line but were not read with certainty


@dataclass(frozen=True)
class Decision:
    """What to do after a frame: accept `voucher`, or not, and why (`reason`, English, for staff)."""

    outcome: Outcome
    reason: str
    voucher: Voucher | None = None
    source: Source | None = None
    frames: int = 0

    @property
    def accepted(self) -> bool:
        """True when this frame completed a read the station should register."""
        return self.outcome == "accepted"


@dataclass(frozen=True)
class Rules:
    """The consensus knobs; the defaults are the station's, tests may change them."""

    min_frames: int = 2  # agreeing frames an OCR or NW-7 read needs
    qr_min_frames: int = 1
    window_s: float = 1.0  # how long a frame's read counts towards agreement (and disagreement)
    cooldown_s: float = 3.0  # after the accepted voucher was last seen, before it may be accepted again

    @classmethod
    def still(cls) -> Rules:
        """For one still image: there is no second frame, so one read must do; nothing else changes."""
        return cls(min_frames=1, qr_min_frames=1)


@dataclass(frozen=True)
class _Seen:
    """One frame's reads reduced to the voucher it shows (if exactly one)."""

    t: float
    voucher_no: str | None
    full: Voucher | None  # from a QR or OCR read: the voucher's own municipality, dose and kind
    preset: Voucher | None  # from an NW-7 read with the station's municipality preset
    sources: frozenset[Source]
    conflict: str | None


def _describe(v: Voucher) -> str:
    return f"{v.municipality_code}-{v.voucher_no} (dose {v.dose})"


def summarise(frame: FrameReads, t: float) -> _Seen:
    """Reduce one frame's reads to a single voucher, or to a conflict saying which numbers clash."""
    numbers = sorted({r.voucher_no for r in frame.reads})
    sources = frozenset(r.source for r in frame.reads)
    if not numbers:
        return _Seen(t, None, None, None, sources, None)
    if len(numbers) > 1:
        return _Seen(t, None, None, None, sources, f"two different vouchers in view ({' and '.join(numbers)})")
    if frame.unclear_lines and any(r.source == "ocr" for r in frame.reads):
        # One OCR line read and another not: the other may be a second voucher.
        return _Seen(t, None, None, None, sources, "two OCR lines in view, one of them unreadable")
    fulls = {r.voucher for r in frame.reads if r.source != "nw7" and r.voucher is not None}
    if len(fulls) > 1:
        listed = " and ".join(sorted(_describe(v) for v in fulls))
        return _Seen(t, None, None, None, sources, f"the QR code and the OCR line disagree ({listed})")
    preset = next((r.voucher for r in frame.reads if r.source == "nw7" and r.voucher is not None), None)
    return _Seen(t, numbers[0], next(iter(fulls), None), preset, sources, None)


@dataclass
class Consensus:
    """The per-station state: recent frames and recently accepted vouchers. Feed it every frame."""

    rules: Rules = field(default_factory=Rules)
    _window: deque[_Seen] = field(default_factory=deque)
    _cooldown: dict[str, float] = field(default_factory=dict)  # voucher_no -> last seen while cooling

    def reset(self) -> None:
        """Forget everything (staff cleared the screen, or a new still image)."""
        self._window.clear()
        self._cooldown.clear()

    def observe(self, frame: FrameReads, t: float) -> Decision:
        """The decision after one more frame taken at time `t` (seconds, monotonic)."""
        r = self.rules
        while self._window and self._window[0].t < t - r.window_s:
            self._window.popleft()
        for no, seen_at in list(self._cooldown.items()):
            if seen_at < t - r.cooldown_s:
                del self._cooldown[no]
        seen = summarise(frame, t)
        self._window.append(seen)

        if seen.conflict is not None:
            return Decision("conflict", f"no read: {seen.conflict}; show one voucher at a time")
        if seen.voucher_no is not None and seen.voucher_no in self._cooldown:
            self._cooldown[seen.voucher_no] = t
            return Decision("repeat", f"voucher {seen.voucher_no} was just accepted; take it away before the next one")
        if seen.voucher_no is None:
            return self._nothing(frame)

        in_view = [s for s in self._window if s.voucher_no is not None or s.conflict is not None]
        clash = self._disagreement(in_view)
        if clash is not None:
            return Decision("conflict", f"no read: {clash}; hold the voucher still")

        agreeing = [s for s in in_view if s.voucher_no == seen.voucher_no]
        qr = any("qr" in s.sources for s in agreeing)
        needed = r.qr_min_frames if qr else r.min_frames
        full = next((s.full for s in reversed(agreeing) if s.full is not None), None)
        preset = next((s.preset for s in reversed(agreeing) if s.preset is not None), None)
        voucher = full or preset
        if voucher is None:
            return Decision(
                "invalid",
                f"the NW-7 barcode gives voucher number {seen.voucher_no} but not the municipality: "
                "set the station's municipality, or show the OCR line or QR code",
            )
        if len(agreeing) < needed:
            return Decision(
                "waiting",
                f"read once ({_describe(voucher)}); waiting for {needed - len(agreeing)} more agreeing frame(s)",
            )
        source: Source = "qr" if qr else ("ocr" if full is not None else "nw7")
        # The window is kept: frames of this voucher still count against a different number read right
        # after (a misread of the voucher still under the camera), until they age out.
        self._cooldown[seen.voucher_no] = t
        reason = "accepted"
        if full is None:
            reason = "accepted from the NW-7 barcode; the municipality is the station's preset"
        return Decision("accepted", reason, voucher, source, len(agreeing))

    def _disagreement(self, in_view: list[_Seen]) -> str | None:
        for s in in_view:
            if s.conflict is not None:
                return f"a recent frame showed {s.conflict}"
        numbers = sorted({s.voucher_no for s in in_view if s.voucher_no is not None})
        if len(numbers) > 1:
            return f"frames disagree on the voucher number ({' vs '.join(numbers)})"
        fulls = {s.full for s in in_view if s.full is not None}
        if len(fulls) > 1:
            return f"frames disagree ({' vs '.join(sorted(_describe(v) for v in fulls))})"
        return None

    def _nothing(self, frame: FrameReads) -> Decision:
        definite = [f for f in frame.refusals if not f.unsure]
        if definite:
            reasons = "; ".join(dict.fromkeys(f"{f.source}: {f.reason}" for f in definite))
            return Decision("invalid", f"no valid voucher: {reasons}")
        if frame.refusals:
            return Decision("unclear", f"{frame.refusals[0].reason}; hold the voucher still")
        return Decision("idle", "no voucher in view")
