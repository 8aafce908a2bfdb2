"""Finding 1D barcodes (NW-7) at any angle and turning them level for the barcode decoders.

Barcode readers scan along rows: a bar code turned 15 degrees is missed because no row crosses all of its
bars. Bars are many parallel edges: where the image gradient is strong and points the same way over an
area elongated along that direction, there is a barcode. Each such area is cut out, turned so that its
bars stand upright, and handed to the decoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Grey = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class BarTuning:
    """Knobs of the barcode finder (half-resolution pixels)."""

    window: int = 11  # side of the box over which gradient direction must agree
    min_coherence: float = 0.75  # 0..1: how much the gradients in the window point the same way
    min_energy: float = 20000.0  # mean squared gradient: bars are high-contrast edges
    min_area: int = 800
    max_regions: int = 3


def find_bar_regions(grey: Grey, tuning: BarTuning = BarTuning()) -> list[Grey]:
    """Level crops of the areas that look like 1D barcodes, most barcode-like first."""
    t = tuning
    small = cv2.resize(grey, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    k = (t.window, t.window)
    jxx = cv2.boxFilter(gx * gx, -1, k)
    jyy = cv2.boxFilter(gy * gy, -1, k)
    jxy = cv2.boxFilter(gx * gy, -1, k)
    energy = jxx + jyy
    diff = jxx - jyy
    # Coherence test without a square root: (jxx-jyy)^2 + 4 jxy^2 > c^2 (jxx+jyy)^2.
    lhs = cv2.add(cv2.multiply(diff, diff), cv2.multiply(jxy, jxy, scale=4.0))
    rhs = cv2.multiply(energy, energy, scale=t.min_coherence**2)
    strong = np.asarray(energy > t.min_energy, np.uint8) * np.uint8(255)
    mask = cv2.bitwise_and(cv2.compare(lhs, rhs, cv2.CMP_GT), strong)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    found: list[tuple[float, Grey]] = []
    for contour in contours:
        m = cv2.moments(contour)
        area = m["m00"]
        if area < t.min_area:
            continue
        x, y, w, h = cv2.boundingRect(contour)
        inside = np.zeros((h, w), np.uint8)
        cv2.drawContours(inside, [contour], -1, 1, thickness=-1, offset=(-x, -y))
        sel = inside.astype(bool)
        sxx = float(jxx[y : y + h, x : x + w][sel].sum())
        syy = float(jyy[y : y + h, x : x + w][sel].sum())
        sxy = float(jxy[y : y + h, x : x + w][sel].sum())
        cx, cy = m["m10"] / area, m["m01"] / area
        cxx, cyy, cxy = m["mu20"] / area, m["mu02"] / area, m["mu11"] / area
        # Direction across the bars (the gradient's) and the area's own long axis must agree: the border
        # of a sheet or a line of text is long the other way.
        across = 0.5 * math.atan2(2 * sxy, sxx - syy)
        axis = 0.5 * math.atan2(2 * cxy, cxx - cyy)
        if abs(math.cos(across - axis)) < 0.9:
            continue
        spread = math.sqrt(max((cxx - cyy) ** 2 / 4 + cxy**2, 0.0))
        long_var = (cxx + cyy) / 2 + spread
        short_var = max((cxx + cyy) / 2 - spread, 1e-6)
        if not 1.5 <= math.sqrt(long_var / short_var) <= 15:
            continue
        # A uniform band of length L has variance L^2/12; the crop is in full-resolution pixels.
        length = math.sqrt(12 * long_var) * 2
        height = math.sqrt(12 * short_var) * 2
        crop = _level_crop(grey, (cx * 2, cy * 2), across, length * 1.7 + 40, height)
        found.append((float(area), crop))
    found.sort(key=lambda f: -f[0])
    return [c for _, c in found[: t.max_regions]]


def _level_crop(grey: Grey, centre: tuple[float, float], angle: float, length: float, height: float) -> Grey:
    w, h = max(8, round(length)), max(8, round(height))
    cos, sin = math.cos(angle), math.sin(angle)
    # Output pixel (u, v) comes from centre + (u - w/2) * along + (v - h/2) * up, with `along` the
    # direction across the bars.
    m = np.array(
        [
            [cos, -sin, centre[0] - cos * w / 2 + sin * h / 2],
            [sin, cos, centre[1] - sin * w / 2 - cos * h / 2],
        ],
        np.float64,
    )
    out = cv2.warpAffine(
        grey, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(out, np.uint8)
