"""Synthetic camera frames of vaccination vouchers, for tests, the benchmark and the demo.

A ticket-like sheet (Japanese text, boxes, decoy numbers, the 18-digit OCR-B line, optionally a QR code and
an NW-7 barcode) is drawn flat, then placed on a desk in a 1280x720 frame under rotation, perspective, blur,
noise, uneven light, shadow, a thumb and JPEG compression. Everything is deterministic from a seed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from edge.capture import fonts

Image8 = npt.NDArray[np.uint8]

FRAME_SIZE = (1280, 720)
TICKET_SIZE = (1000, 560)


# Codabar (NW-7) symbol table: 7 elements (bar, space, bar, space, bar, space, bar), 1 = wide.
CODABAR_PATTERNS: dict[str, str] = {
    "0": "0000011", "1": "0000110", "2": "0001001", "3": "1100000", "4": "0010010",
    "5": "1000010", "6": "0100001", "7": "0100100", "8": "0110000", "9": "1001000",
    "-": "0001100", "$": "0011000", ":": "1000101", "/": "1010001", ".": "1010100",
    "+": "0010101", "A": "0011010", "B": "0101001", "C": "0001011", "D": "0001110",
}  # fmt: skip


@dataclass(frozen=True)
class TicketSpec:
    """What is printed on one synthetic voucher."""

    municipality_code: str = "131016"
    voucher_no: str = "0123456789"
    dose: int = 1
    ticket_kind: str = "1"
    qr: bool = False
    nw7: bool = False
    ocr: bool = True
    decoys: bool = True
    # Printed instead of the true values, to make vouchers that must be refused.
    ocr_text: str | None = None
    qr_text: str | None = None
    nw7_text: str | None = None

    @property
    def line(self) -> str:
        """The 18 digits: ticket kind, dose, municipality code, voucher number."""
        return f"{self.ticket_kind}{self.dose}{self.municipality_code}{self.voucher_no}"


@dataclass(frozen=True)
class Degradation:
    """How the camera sees the sheet. Zero values mean a clean, straight, well-lit view."""

    rotation: float = 0.0  # degrees, in plane
    tilt: float = 0.0  # perspective: corner displacement as a fraction of the sheet size
    scale: float = 0.85  # sheet width as a fraction of the frame width
    offset: tuple[float, float] = (0.0, 0.0)  # sheet centre shift, fraction of frame size
    blur: float = 0.0  # Gaussian sigma in frame pixels
    noise: float = 0.0  # Gaussian sigma in grey levels
    light: float = 0.0  # strength of the uneven light gradient, 0..1
    shadow: float = 0.0  # darkness of a soft shadow across part of the sheet, 0..1
    thumb: bool = False  # a thumb over one edge of the sheet
    thumb_on_line: bool = False  # the thumb covers part of the OCR line instead
    jpeg: int | None = None  # JPEG quality, None for no compression
    grey: bool = False

    @classmethod
    def moderate(cls, rng: np.random.Generator) -> Degradation:
        """A random view as a station sees it on a normal day: any rotation, some tilt, blur, light, JPEG."""
        quarter = float(rng.choice([0.0, 90.0, 180.0, 270.0], p=[0.55, 0.15, 0.15, 0.15]))
        return cls(
            rotation=quarter + float(rng.uniform(-20, 20)),
            tilt=float(rng.uniform(0.0, 0.07)),
            scale=float(rng.uniform(0.72, 0.92)) if quarter in (0.0, 180.0) else float(rng.uniform(0.5, 0.56)),
            offset=(float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.04, 0.04))),
            blur=float(rng.uniform(0.0, 1.2)),
            noise=float(rng.uniform(0.0, 6.0)),
            light=float(rng.uniform(0.0, 0.45)),
            shadow=float(rng.uniform(0.0, 0.35)) if rng.random() < 0.4 else 0.0,
            thumb=bool(rng.random() < 0.3),
            jpeg=int(rng.integers(60, 92)) if rng.random() < 0.7 else None,
            grey=bool(rng.random() < 0.3),
        )


@functools.cache
def _jp_font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(fonts.japanese_path(), size, index=0)


@functools.cache
def _ocrb_font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(fonts.ocrb_path(), size)


def codabar_modules(text: str, narrow: int = 2, wide: int = 5) -> list[int]:
    """Bar/space widths in pixels for a Codabar symbol; `text` includes its start and stop letters."""
    widths: list[int] = []
    for i, ch in enumerate(text):
        widths.extend(wide if bit == "1" else narrow for bit in CODABAR_PATTERNS[ch])
        if i < len(text) - 1:
            widths.append(narrow)  # inter-character gap (a space)
    return widths


def draw_codabar(text: str, height: int, narrow: int = 2, wide: int = 5, quiet: int = 20) -> Image8:
    """A black-on-white Codabar symbol as a grey image."""
    widths = codabar_modules(text, narrow, wide)
    img = np.full((height, sum(widths) + 2 * quiet), 255, np.uint8)
    x = quiet
    for i, w in enumerate(widths):
        if i % 2 == 0:
            img[:, x : x + w] = 0
        x += w
    return img


def draw_qr(text: str, module: int = 5, border: int = 4) -> Image8:
    """A QR code (Model 2) as a grey image."""
    encoder = cv2.QRCodeEncoder.create()
    qr = encoder.encode(text)
    qr = cv2.resize(qr, None, fx=module, fy=module, interpolation=cv2.INTER_NEAREST)
    pad = border * module
    return np.asarray(cv2.copyMakeBorder(qr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255), np.uint8)


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def render_ticket(spec: TicketSpec, rng: np.random.Generator) -> Image8:
    """The flat sheet, BGR, TICKET_SIZE."""
    w, h = TICKET_SIZE
    r, g, b = (int(v) for v in rng.integers(236, 256, 3))
    im = Image.new("RGB", (w, h), (r, g, b))
    d = ImageDraw.Draw(im)
    ink = (20, 20, 30)
    d.rectangle((8, 8, w - 9, h - 9), outline=ink, width=2)
    d.text((30, 22), "新型コロナウイルス感染症 予防接種 接種券", font=_jp_font(30), fill=ink)
    d.line((24, 66, w - 24, 66), fill=ink, width=2)
    small, mid = _jp_font(18), _jp_font(22)
    no_spaced = " ".join(spec.voucher_no[i : i + 2] for i in range(0, 10, 2))
    rows = [
        f"券種 {spec.ticket_kind}    接種回数 {spec.dose}回目",
        f"請求先 {spec.municipality_code}  市町村長",
        f"券番号 {spec.voucher_no if spec.decoys else no_spaced}",
        "氏名  山田 太郎  様",
    ]
    if spec.decoys:
        rows += [
            f"生年月日 {int(rng.integers(1930, 2005))}年{int(rng.integers(1, 13))}月{int(rng.integers(1, 29))}日",
            f"〒{_digits(rng, 3)}-{_digits(rng, 4)} 東京都千代田区九段南1-2-1",
            f"問合せ先 0{_digits(rng, 1)}-{_digits(rng, 4)}-{_digits(rng, 4)}  (平日9時〜17時)",
        ]
    y = 82
    for row in rows:
        d.text((36, y), row, font=mid if y < 200 else small, fill=ink)
        y += 34 if y < 200 else 28
    # The 予診のみ box and the record box, as on the real sheet.
    d.rectangle((600, 82, w - 30, 180), outline=ink, width=2)
    d.text((612, 90), "接種記録 (医療機関記入欄)", font=small, fill=ink)
    d.text((612, 130), "予診のみ □   接種日  年  月  日", font=small, fill=ink)
    if spec.qr:
        qr = draw_qr(spec.qr_text if spec.qr_text is not None else spec.line, module=5)
        qw = qr.shape[1]
        x0, y0 = w - 30 - qw, 196
        im.paste(Image.fromarray(qr).convert("RGB"), (x0, y0))
    if spec.nw7:
        payload = spec.nw7_text if spec.nw7_text is not None else f"A{spec.voucher_no}A"
        bars = draw_codabar(payload, height=70, narrow=3, wide=7)
        x0, y0 = 300, 330
        im.paste(Image.fromarray(bars).convert("RGB"), (x0, y0))
        # Human-readable text under the bars (a decoy for the OCR: 10 digits, never 18).
        d.text((x0 + 30, y0 + 74), payload.strip("ABCD"), font=small, fill=ink)
    if spec.ocr:
        text = spec.ocr_text if spec.ocr_text is not None else spec.line
        font = _ocrb_font(34)
        x0, y0 = 60, h - 86
        d.text((x0, y0), text, font=font, fill=(0, 0, 0))
    return np.asarray(im, np.uint8)[:, :, ::-1].copy()


def render_receipt(rng: np.random.Generator, number: str | None = None) -> Image8:
    """A shop receipt (another document that carries a long OCR-B number), BGR."""
    w, h = 560, 420
    im = Image.new("RGB", (w, h), (250, 250, 246))
    d = ImageDraw.Draw(im)
    ink = (30, 30, 30)
    d.text((24, 18), "領収書  株式会社サンプル商店", font=_jp_font(24), fill=ink)
    d.text((24, 70), f"TEL 03-{_digits(rng, 4)}-{_digits(rng, 4)}", font=_jp_font(18), fill=ink)
    d.text((24, 100), f"合計 ¥{int(rng.integers(100, 99999)):,}", font=_jp_font(22), fill=ink)
    d.text((24, 150), f"2021/{int(rng.integers(1, 13)):02d}/{int(rng.integers(1, 29)):02d}", font=_jp_font(18),
           fill=ink)  # fmt: skip
    d.text((24, 330), number if number is not None else _digits(rng, 18), font=_ocrb_font(30), fill=(0, 0, 0))
    return np.asarray(im, np.uint8)[:, :, ::-1].copy()


def _desk(rng: np.random.Generator) -> Image8:
    w, h = FRAME_SIZE
    base = rng.integers(60, 150, 3).astype(np.float32)
    small = rng.normal(0.0, 12.0, (h // 16, w // 16, 1)).astype(np.float32)
    texture = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[:, :, None]
    return np.asarray(np.clip(base[None, None, :] + texture, 0, 255), np.uint8)


def _sheet_corners(
    size: tuple[int, int], deg: Degradation, rng: np.random.Generator, centre: tuple[float, float] | None = None
) -> npt.NDArray[np.float32]:
    sw, sh = size
    fw, fh = FRAME_SIZE
    width = deg.scale * fw
    height = width * sh / sw
    cx, cy = centre if centre is not None else (fw / 2 + deg.offset[0] * fw, fh / 2 + deg.offset[1] * fh)
    half = np.array([[-width / 2, -height / 2], [width / 2, -height / 2], [width / 2, height / 2],
                     [-width / 2, height / 2]], np.float64)  # fmt: skip
    half += rng.uniform(-deg.tilt, deg.tilt, (4, 2)) * np.array([width, height])
    a = math.radians(deg.rotation)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pts = half @ rot.T + np.array([cx, cy])
    # A station frames the sheet: keep all of it in view, shrinking it about its centre if need be.
    margin = 12.0
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    room = np.array([fw - 2 * margin, fh - 2 * margin])
    shrink = float(min(1.0, *(room / np.maximum(hi - lo, 1.0))))
    centre_pt = (lo + hi) / 2
    pts = centre_pt + (pts - centre_pt) * shrink
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pts += np.maximum(margin - lo, 0) - np.maximum(hi - (np.array([fw, fh]) - margin), 0)
    return np.asarray(pts, np.float32)


def _place(frame: Image8, sheet: Image8, corners: npt.NDArray[np.float32]) -> Image8:
    sh, sw = sheet.shape[:2]
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
    m = cv2.getPerspectiveTransform(src, corners)
    fw, fh = FRAME_SIZE
    warped = cv2.warpPerspective(sheet, m, (fw, fh), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((sh, sw), 255, np.uint8), m, (fw, fh), flags=cv2.INTER_AREA)
    alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
    out = frame.astype(np.float32) * (1 - alpha) + warped.astype(np.float32) * alpha
    return out.astype(np.uint8)


def _line_box_in_frame(corners: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Where the OCR line lands in the frame (for a thumb over it)."""
    w, h = TICKET_SIZE
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, corners)
    pts = np.array([[[60, h - 80], [400, h - 80], [400, h - 50], [60, h - 50]]], np.float32)
    return np.asarray(cv2.perspectiveTransform(pts, m)[0], np.float32)


def _thumb(frame: Image8, at: tuple[float, float], angle: float, rng: np.random.Generator) -> Image8:
    out = frame.copy()
    skin = tuple(int(v) for v in (rng.integers(120, 170), rng.integers(150, 190), rng.integers(200, 235)))
    axes = (int(rng.integers(55, 75)), int(rng.integers(110, 150)))
    cv2.ellipse(out, (int(at[0]), int(at[1])), axes, angle, 0, 360, skin, -1, cv2.LINE_AA)
    return out


def degrade(frame: Image8, deg: Degradation, rng: np.random.Generator) -> Image8:
    """Light, shadow, blur, noise, grey and JPEG, in the order a camera applies them."""
    fw, fh = FRAME_SIZE
    img = frame.astype(np.float32)
    if deg.light > 0:
        yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float32)
        a = float(rng.uniform(0, 2 * math.pi))
        ramp = (xx / fw - 0.5) * math.cos(a) + (yy / fh - 0.5) * math.sin(a)
        gain = 1.0 - deg.light * (ramp + 0.5)
        img *= gain[:, :, None]
    if deg.shadow > 0:
        mask = np.zeros((fh, fw), np.float32)
        x0 = int(rng.integers(0, fw // 2))
        pts = np.array([[x0, 0], [x0 + int(rng.integers(200, 500)), 0],
                        [x0 + int(rng.integers(100, 600)), fh], [x0 - 100, fh]], np.int32)  # fmt: skip
        cv2.fillPoly(mask, [pts], 1.0)
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), 25), np.float32)
        img *= (1.0 - deg.shadow * mask)[:, :, None]
    if deg.blur > 0:
        img = np.asarray(cv2.GaussianBlur(img, (0, 0), deg.blur), np.float32)
    if deg.noise > 0:
        img += rng.normal(0, deg.noise, img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if deg.grey:
        out = np.asarray(cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR), np.uint8)
    if deg.jpeg is not None:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, deg.jpeg])
        if ok:
            out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)
    return out


def voucher_frame(
    spec: TicketSpec,
    seed: int,
    degradation: Degradation | None = None,
    *,
    extra: Image8 | None = None,
) -> Image8:
    """One 1280x720 BGR camera frame showing the voucher (and `extra`, another sheet, if given)."""
    rng = np.random.default_rng(seed)
    deg = degradation if degradation is not None else Degradation()
    frame = _desk(rng)
    ticket = render_ticket(spec, rng)
    if extra is not None:
        # Two sheets side by side: both smaller so that both fit.
        deg = dataclasses.replace(deg, scale=min(deg.scale, 0.48))
        eh, ew = extra.shape[:2]
        other = dataclasses.replace(deg, scale=deg.scale * ew / TICKET_SIZE[0], rotation=deg.rotation * 0.5)
        frame = _place(frame, extra, _sheet_corners((ew, eh), other, rng, centre=(FRAME_SIZE[0] * 0.76, 360)))
        corners = _sheet_corners(TICKET_SIZE, deg, rng, centre=(FRAME_SIZE[0] * 0.27, 360))
    else:
        corners = _sheet_corners(TICKET_SIZE, deg, rng)
    frame = _place(frame, ticket, corners)
    if deg.thumb_on_line:
        box = _line_box_in_frame(corners)
        centre = box.mean(axis=0)
        frame = _thumb(frame, (float(centre[0]), float(centre[1])), deg.rotation + 90, rng)
    elif deg.thumb:
        # Over the top edge, where the title is: staff hold the sheet by its margin.
        mid_top = (corners[0] + corners[1]) / 2
        frame = _thumb(frame, (float(mid_top[0]), float(mid_top[1])), deg.rotation, rng)
    return degrade(frame, deg, rng)


def sample_municipalities() -> tuple[str, ...]:
    """A few real municipality codes (not wards) with valid check digits, for generated vouchers."""
    return ("131016", "131024", "131032", "271004", "011002", "141003", "401005", "472018", "232017", "082015")


def random_spec(rng: np.random.Generator, **overrides: object) -> TicketSpec:
    """A valid voucher with random numbers."""
    codes = sample_municipalities()
    spec = TicketSpec(
        municipality_code=codes[int(rng.integers(0, len(codes)))],
        voucher_no=_digits(rng, 10),
        dose=int(rng.integers(1, 5)),
        ticket_kind=str(int(rng.integers(1, 4))),
    )
    return dataclasses.replace(spec, **overrides)  # type: ignore[arg-type]  # overrides are TicketSpec fields


def main(argv: list[str] | None = None) -> int:
    """Write sample frames: `python -m edge.capture.synthetic OUT.jpg [--qr] [--nw7] [--seed N] ...`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m edge.capture.synthetic",
        description="Write a synthetic camera frame of a voucher (for trying `vrs-edge decode`).",
    )
    parser.add_argument("out", help="image file to write (.jpg or .png)")
    parser.add_argument("--municipality", default="131016", help="municipality code printed (default 131016)")
    parser.add_argument("--voucher-no", default="0123456789", help="10-digit voucher number printed")
    parser.add_argument("--dose", type=int, default=1)
    parser.add_argument("--qr", action="store_true", help="print the QR code")
    parser.add_argument("--nw7", action="store_true", help="print the NW-7 barcode")
    parser.add_argument("--no-ocr", action="store_true", help="leave out the OCR line")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the view (default 1)")
    parser.add_argument("--clean", action="store_true", help="a straight, sharp view instead of a degraded one")
    args = parser.parse_args(argv)
    spec = TicketSpec(
        municipality_code=args.municipality,
        voucher_no=args.voucher_no,
        dose=args.dose,
        qr=args.qr,
        nw7=args.nw7,
        ocr=not args.no_ocr,
    )
    deg = Degradation() if args.clean else Degradation.moderate(np.random.default_rng(args.seed))
    if not cv2.imwrite(args.out, voucher_frame(spec, args.seed, deg)):
        parser.error(f"could not write {args.out} (use a .jpg or .png name in an existing folder)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
