"""Finding, straightening and reading the voucher's 18-digit OCR-B line.

OpenCV finds rows of evenly spaced, equally tall dark marks (the line's digits) at any rotation, cuts each
row out along its own slant and perspective, and two independent readings must agree on all 18 digits:
each glyph compared with the OCR-B digits drawn from Debian's font, and tesseract with a digit whitelist in
single-line mode. A digit is never guessed or fixed: any doubt means no read.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture import DecoderUnavailableError

Grey = npt.NDArray[np.uint8]

DEFAULT_TESSDATA = "/usr/share/tesseract-ocr/5/tessdata"
LINE_DIGITS = 18


@dataclass(frozen=True)
class Tuning:
    """The knobs of the line finder and reader, named so that tests and the benchmark can vary them."""

    min_char_px: int = 9  # smallest digit height considered, frame pixels
    max_char_px: int = 70
    min_marks: int = 14  # a row must hold about 18 marks (digits touching after blur may merge)
    max_marks: int = 24
    max_candidates: int = 4  # rows read per frame, best first
    crop_char_px: int = 28  # digit height the crop is scaled to before tesseract reads it
    min_symbol_confidence: float = 60.0  # tesseract's confidence in its least sure digit (0-100)
    min_glyph_score: float = 0.6  # correlation of each glyph with its OCR-B template (-1..1)
    min_glyph_margin: float = 0.1  # ... and how much better than the next-best digit


@dataclass(frozen=True)
class LineCandidate:
    """A row of digit-like marks: its four corners in the frame (top-left, top-right, bottom-right,
    bottom-left when read left to right), how many marks it holds and their median height."""

    corners: npt.NDArray[np.float32]
    marks: int
    char_px: float
    score: float


@dataclass(frozen=True)
class LineRead:
    """One row that looked like the OCR line: its 18 digits by shape, and whether tesseract read the same.

    Only an `agreed` read may become a voucher. A row where the two readings differ, or an 18-mark row
    whose shapes are unclear (`text` empty), is reported so the caller can say a line was seen but not
    read with certainty.
    """

    text: str
    agreed: bool
    tesseract_text: str
    candidate: LineCandidate
    flipped: bool


def _stroke_mask(grey: Grey, max_char_px: int) -> Grey:
    # Black-hat keeps dark marks thinner than the kernel whatever the light around them, which is what
    # makes shadows and light gradients harmless.
    k = max(9, max_char_px // 3) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    hat = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)
    _, mask = cv2.threshold(hat, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    # Otsu on a mostly empty hat image can pick a threshold in the noise; never go below a floor.
    floor = 18
    if _ < floor:
        _, mask = cv2.threshold(hat, floor, 255, cv2.THRESH_BINARY)
    return np.asarray(mask, np.uint8)


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def find_line_candidates(grey: Grey, tuning: Tuning = Tuning()) -> list[LineCandidate]:
    """Rows of 14-24 evenly spaced marks of one height, best first (most like an 18-digit OCR-B line)."""
    mask = _stroke_mask(grey, tuning.max_char_px)
    # Outer boundaries of every mark, also those inside a printed box (RETR_CCOMP puts them at the top level).
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    outer = [c for c, hier in zip(contours, hierarchy[0], strict=True) if hier[3] < 0 and len(c) >= 4]
    if len(outer) < tuning.min_marks:
        return []
    boxes = np.array([cv2.boundingRect(c) for c in outer], np.float64)
    area = np.array([cv2.contourArea(c) for c in outer], np.float64)
    w, h = boxes[:, 2], boxes[:, 3]
    size = np.maximum(w, h)
    fill = area / np.maximum(w * h, 1.0)
    keep = (size >= tuning.min_char_px) & (size <= tuning.max_char_px) & (fill > 0.05) & (fill < 0.9)
    idx = np.nonzero(keep)[0]
    if len(idx) < tuning.min_marks:
        return []
    c = boxes[idx, :2] + boxes[idx, 2:] / 2
    s = size[idx]
    # Link marks that sit about one digit pitch apart and are about the same size.
    d = np.hypot(c[:, None, 0] - c[None, :, 0], c[:, None, 1] - c[None, :, 1])
    smax = np.maximum(s[:, None], s[None, :])
    smin = np.minimum(s[:, None], s[None, :])
    linked = (d < 1.45 * smax) & (smin > 0.55 * smax)
    np.fill_diagonal(linked, False)
    parent = list(range(len(idx)))
    for a, b in zip(*np.nonzero(np.triu(linked)), strict=True):
        ra, rb = _find(parent, int(a)), _find(parent, int(b))
        if ra != rb:
            parent[ra] = rb
    groups: dict[int, list[int]] = {}
    for i in range(len(idx)):
        groups.setdefault(_find(parent, i), []).append(i)
    out: list[LineCandidate] = []
    for members in groups.values():
        if not tuning.min_marks <= len(members) <= tuning.max_marks:
            continue
        marks = [np.asarray(outer[idx[m]], np.float64).reshape(-1, 2) for m in members]
        cand = _row_candidate(marks, c[members], s[members])
        if cand is not None:
            out.append(cand)
    out.sort(key=lambda cand: -cand.score)
    return out[: tuning.max_candidates]


def _row_candidate(
    marks: list[npt.NDArray[np.float64]],
    centres: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
) -> LineCandidate | None:
    char_px = float(np.median(sizes))
    keep_idx = np.arange(len(sizes))
    # Marks touching the row (a stray dot, a border) are dropped one by one, farthest first.
    while True:
        mean = centres.mean(axis=0)
        _, _, vt = np.linalg.svd(centres - mean)
        off = np.abs((centres - mean) @ vt[1])
        worst = int(np.argmax(off))
        if off[worst] <= 0.3 * char_px or len(sizes) <= LINE_DIGITS - 4:
            break
        keep = np.arange(len(sizes)) != worst
        keep_idx, centres, sizes = keep_idx[keep], centres[keep], sizes[keep]
    u = vt[0]
    if u[0] < 0 or (abs(u[0]) < 1e-9 and u[1] < 0):
        u = -u  # read left to right in the frame first; the other way is tried as "flipped"
    v = np.array([-u[1], u[0]])
    along = (centres - mean) @ u
    across = (centres - mean) @ v
    order = np.argsort(along)
    gaps = np.diff(along[order])
    pitch = float(np.median(gaps))
    if pitch <= 0:
        return None
    # A printed line is straight and regular: centres on one line, no holes, no pile-ups.
    straight = float(np.abs(across).max()) / char_px
    if straight > 0.35 or gaps.max() > 1.8 * pitch or gaps.min() < 0.4 * pitch:
        return None
    if not 0.45 < pitch / char_px < 1.3:
        return None
    # Extent of the marks' outlines in line coordinates, at each end separately: this captures perspective.
    pts = np.concatenate([marks[k] for k in keep_idx]) - mean
    pa = pts @ u
    pc = pts @ v
    lo, hi = float(pa.min()), float(pa.max())
    span = hi - lo
    head = pa < lo + 0.2 * span
    tail = pa > hi - 0.2 * span
    if not head.any() or not tail.any():
        return None
    margin_a = 0.6 * pitch
    margin_c = 0.3 * char_px
    t_head, b_head = float(pc[head].min()) - margin_c, float(pc[head].max()) + margin_c
    t_tail, b_tail = float(pc[tail].min()) - margin_c, float(pc[tail].max()) + margin_c
    a0, a1 = lo - margin_a, hi + margin_a

    def at(a: float, cc: float) -> npt.NDArray[np.float64]:
        return np.asarray(mean + a * u + cc * v, np.float64)

    corners = np.array([at(a0, t_head), at(a1, t_tail), at(a1, b_tail), at(a0, b_head)], np.float32)
    n = len(sizes)
    regularity = float(np.std(sizes) / char_px) + float(np.std(gaps) / pitch)
    score = -abs(n - LINE_DIGITS) - 4.0 * regularity - 2.0 * straight
    return LineCandidate(corners=corners, marks=n, char_px=char_px, score=score)


def straighten(grey: Grey, cand: LineCandidate, *, flipped: bool, char_px: int = 34) -> Grey:
    """The candidate row cut out, level and upright, with its digits `char_px` tall, dark on light."""
    tl, tr, br, bl = cand.corners
    length = float(np.hypot(*(tr - tl)) + np.hypot(*(br - bl))) / 2
    thick = float(np.hypot(*(bl - tl)) + np.hypot(*(br - tr))) / 2
    scale = char_px / max(cand.char_px, 1.0)
    out_w = max(8, round(length * scale))
    out_h = max(8, round(thick * scale))
    src = np.array([tl, tr, br, bl], np.float32)
    if flipped:
        src = np.array([br, bl, tl, tr], np.float32)
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)

    def warp(matrix: npt.NDArray[np.float64]) -> Grey:
        out = cv2.warpPerspective(grey, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return _flatten(np.asarray(out, np.uint8), char_px)

    crop = warp(np.asarray(m, np.float64))
    # Perspective also slants the digits; undo the slant that makes the gaps between digits cleanest.
    shear = _slant(crop)
    if shear != 0.0:
        sm = np.array([[1.0, shear, -shear * out_h / 2], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        crop = warp(sm @ m)
    # Tesseract reads best with a white border around the line.
    pad = char_px // 2
    return np.asarray(cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255), np.uint8)


def _flatten(crop: Grey, char_px: int) -> Grey:
    """Divide by the paper's own brightness, so a shadow edge across the row does not look like ink."""
    k = (char_px // 2) | 1
    paper = cv2.morphologyEx(crop, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    flat = np.asarray(crop, np.float32) / np.maximum(np.asarray(paper, np.float32), 1.0)
    lo, hi = float(flat.min()), float(flat.max())
    return np.asarray((flat - lo) * (255.0 / max(hi - lo, 1e-6)), np.float32).astype(np.uint8)


_SHEARS = np.linspace(-0.45, 0.45, 19)


def _slant(crop: Grey) -> float:
    _, ink = cv2.threshold(crop, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    ys, xs = np.nonzero(ink)
    if len(xs) == 0:
        return 0.0
    yc = ys.astype(np.float64) - crop.shape[0] / 2
    best, best_score = 0.0, -1.0
    for shear in _SHEARS:
        cols = np.round(xs + shear * yc).astype(np.int64)
        cols -= cols.min()
        score = float(np.square(np.bincount(cols)).sum())
        # Prefer no shear unless a slant is clearly better: ties must not tilt a straight row.
        if abs(shear) < 1e-9:
            score *= 1.02
        if score > best_score:
            best, best_score = float(shear), score
    return best


GLYPH_W, GLYPH_H = 24, 32


def _normalise_glyph(ink: Grey) -> npt.NDArray[np.float32]:
    """A glyph's ink (255 = ink) scaled to GLYPH_H tall, centred on a GLYPH_W canvas, aspect kept."""
    h, w = ink.shape
    scale = GLYPH_H / max(h, 1)
    nw = max(1, min(GLYPH_W, round(w * scale)))
    small = cv2.resize(ink, (nw, GLYPH_H), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((GLYPH_H, GLYPH_W), np.float32)
    x0 = (GLYPH_W - nw) // 2
    canvas[:, x0 : x0 + nw] = small.astype(np.float32)
    # A little blur makes the comparison care about shape, not stroke weight (print, focus and light vary).
    return np.asarray(cv2.GaussianBlur(canvas, (5, 5), 1.0), np.float32)


class GlyphTemplates:
    """The ten OCR-B digits drawn from Debian's fonts-ocr-b, to check each digit tesseract reports.

    OCR-B was designed to be told apart by shape; comparing each cut-out glyph with the ten drawn ones is
    an independent second reading. A row is accepted only when both readings agree on every digit.
    """

    def __init__(self, font_path: str | None = None) -> None:
        from PIL import Image, ImageDraw, ImageFont

        from edge.capture import fonts

        font = ImageFont.truetype(font_path or fonts.ocrb_path(), 96)
        self.templates: list[npt.NDArray[np.float32]] = []
        # Print, focus and thresholding make strokes thinner or bolder than the font's: each digit is kept
        # in three weights and a glyph is scored against the one it resembles most.
        weights = (cv2.MORPH_ERODE, None, cv2.MORPH_DILATE)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        for digit in "0123456789":
            im = Image.new("L", (140, 160), 0)
            ImageDraw.Draw(im).text((20, 10), digit, font=font, fill=255)
            ink = np.asarray(np.asarray(im, np.uint8) > 127, np.uint8) * np.uint8(255)
            for op in weights:
                arr = ink if op is None else np.asarray(cv2.morphologyEx(ink, op, kernel), np.uint8)
                ys, xs = np.nonzero(arr)
                self.templates.append(_normalise_glyph(arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]))
        self._per_digit = len(weights)
        self._stack = np.stack([(t - t.mean()) / (t.std() + 1e-6) for t in self.templates])

    def scores(self, ink: Grey) -> npt.NDArray[np.float64]:
        """Correlation (-1..1) of one glyph's ink with each digit's template."""
        g = _normalise_glyph(ink)
        g = (g - g.mean()) / (g.std() + 1e-6)
        every = np.asarray((self._stack * g).mean(axis=(1, 2)), np.float64)
        return np.asarray(every.reshape(10, self._per_digit).max(axis=1), np.float64)


def cut_glyphs(crop: Grey, char_px: int) -> list[Grey]:
    """The ink of each digit on a straightened row, left to right (255 = ink).

    A digit may fall apart into pieces after thresholding (the thin stroke of a 7); pieces are joined to
    the tall mark whose columns they share. Specks beside no tall mark are dropped.
    """
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    left = stats[1:, cv2.CC_STAT_LEFT]
    top = stats[1:, cv2.CC_STAT_TOP]
    right = left + stats[1:, cv2.CC_STAT_WIDTH]
    bottom = top + stats[1:, cv2.CC_STAT_HEIGHT]
    tall = [i for i in range(n - 1) if bottom[i] - top[i] >= 0.6 * char_px]
    tall.sort(key=lambda i: int(left[i]))
    glyphs: list[list[int]] = [[i] for i in tall]
    for i in range(n - 1):
        if i in tall or stats[i + 1, cv2.CC_STAT_AREA] < 4:
            continue
        for g in glyphs:
            j = g[0]
            overlap = min(right[i], right[j]) - max(left[i], left[j])
            narrower = min(right[i] - left[i], right[j] - left[j])
            if overlap > 0.5 * narrower and top[i] >= top[j] - 0.2 * char_px:
                g.append(i)
                break
    out: list[Grey] = []
    for g in glyphs:
        ids = np.array(g) + 1
        x0, x1 = int(left[g].min()), int(right[g].max())
        y0, y1 = int(top[g].min()), int(bottom[g].max())
        roi = labels[y0:y1, x0:x1]
        inside = roi == ids[0] if len(ids) == 1 else np.isin(roi, ids)
        out.append(inside.astype(np.uint8) * np.uint8(255))
    return out


class OcrLineReader:
    """A long-lived tesseract instance (loading its model costs ~100 ms) reading candidate rows."""

    def __init__(self, tessdata: str | None = None, tuning: Tuning = Tuning()) -> None:
        # Tesseract's OpenMP threads fight over a shared or small CPU (a Pi, or this station's other work)
        # and make one line several times slower; one thread per reader is fastest. Read at library load.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        try:
            import tesserocr
        except ImportError as exc:  # pragma: no cover - the edge extra installs it
            raise DecoderUnavailableError("tesserocr is not installed (pip install tesserocr)") from exc
        path = tessdata or os.environ.get("TESSDATA_PREFIX") or DEFAULT_TESSDATA
        if not (Path(path) / "eng.traineddata").is_file():
            raise DecoderUnavailableError(
                f"no tesseract language data at {path}: install Debian tesseract-ocr-eng or set TESSDATA_PREFIX"
            )
        self._t = tesserocr
        self._api = tesserocr.PyTessBaseAPI(
            path=path, lang="eng", psm=tesserocr.PSM.SINGLE_LINE, oem=tesserocr.OEM.LSTM_ONLY
        )
        self._api.SetVariable("tessedit_char_whitelist", "0123456789")
        self._api.SetVariable("load_system_dawg", "0")
        self._api.SetVariable("load_freq_dawg", "0")
        self.tuning = tuning
        self._templates = GlyphTemplates()

    def close(self) -> None:
        """Free tesseract's memory."""
        self._api.End()

    def read_crop(self, crop: Grey) -> tuple[str, float]:
        """Digits read on a straightened row (spaces dropped) and the least per-digit confidence."""
        crop = np.ascontiguousarray(crop)
        h, w = crop.shape
        self._api.SetImageBytes(crop.tobytes(), w, h, 1, w)
        self._api.Recognize()
        level = self._t.RIL.SYMBOL
        digits: list[str] = []
        least = 100.0
        it = self._api.GetIterator()
        if it is None:
            return "", 0.0
        for r in self._t.iterate_level(it, level):
            try:
                ch = r.GetUTF8Text(level)
            except RuntimeError:  # tesserocr raises when a level holds no text
                continue
            if not ch:
                continue
            digits.append(ch.strip())
            least = min(least, float(r.Confidence(level)))
        text = "".join(digits)
        return text, (least if digits else 0.0)

    def read(self, grey: Grey) -> list[LineRead]:
        """Every candidate row that shows 18 digits by shape, with tesseract's agreement or not.

        The glyph shapes also decide which way up the row is, so tesseract runs once per row in the
        usual case, and only on rows that already look like 18 clear OCR-B digits.
        """
        t = self.tuning
        reads: list[LineRead] = []
        for cand in find_line_candidates(grey, t):
            ways: list[tuple[str, Grey, bool]] = []
            level = straighten(grey, cand, flipped=False, char_px=t.crop_char_px)
            # Upside down is the same cut turned half a turn (the slant is the same both ways up).
            for flipped, crop in ((False, level), (True, np.asarray(cv2.rotate(level, cv2.ROTATE_180), np.uint8))):
                shape = self.read_shapes(crop)
                if shape is not None:
                    ways.append((shape[0], crop, flipped))
            if len(ways) != 1:
                # Nothing sure, or sure both ways up (a row of 0, 6, 8 and 9 reads upside down as well):
                # either way the digits are not known. An 18-mark row is reported, so that it can stop a
                # read of another voucher in the same frame.
                if cand.marks == LINE_DIGITS or ways:
                    reads.append(LineRead("", False, "", cand, False))
                continue
            text, crop, flipped = ways[0]
            agreed, seen = False, ""
            for variant in (crop, _binarised(crop)):
                seen, conf = self.read_crop(variant)
                if seen == text and conf >= t.min_symbol_confidence:
                    agreed = True
                    break
            reads.append(LineRead(text, agreed, seen, cand, flipped))
        return reads

    def read_shapes(self, crop: Grey) -> tuple[str, float] | None:
        """The 18 digits as the glyph shapes say, with their mean score; None unless every glyph is clear."""
        t = self.tuning
        glyphs = cut_glyphs(crop, t.crop_char_px)
        if len(glyphs) != LINE_DIGITS:
            return None
        digits: list[str] = []
        total = 0.0
        for glyph in glyphs:
            scores = self._templates.scores(glyph)
            order = np.argsort(-scores)
            top, second = float(scores[order[0]]), float(scores[order[1]])
            if top < t.min_glyph_score or top - second < t.min_glyph_margin:
                return None
            digits.append(str(int(order[0])))
            total += top
        return "".join(digits), total / LINE_DIGITS


def _binarised(crop: Grey) -> Grey:
    _, out = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return np.asarray(out, np.uint8)


def line_angle(cand: LineCandidate) -> float:
    """The row's direction in degrees (for diagnostics)."""
    tl, tr = cand.corners[0], cand.corners[1]
    return math.degrees(math.atan2(float(tr[1] - tl[1]), float(tr[0] - tl[0])))
