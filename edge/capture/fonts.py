"""Where the Debian fonts the capture code draws or compares against live (fonts-ocr-b, fonts-noto-cjk)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from edge.capture import FontMissingError

OCRB_PATHS = ("/usr/share/fonts/opentype/ocr-b/OCRB.otf",)
NOTO_CJK_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)


def find_font(candidates: tuple[str, ...], fc_query: str, package: str) -> str:
    """The first existing path among `candidates`, else what fontconfig knows for `fc_query`."""
    for path in candidates:
        if Path(path).is_file():
            return path
    try:
        out = subprocess.run(["fc-list", fc_query, "file"], capture_output=True, text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        path = line.split(":", 1)[0].strip()
        if path:
            return path
    raise FontMissingError(f"no font for {fc_query!r}: install the Debian package {package}")


def ocrb_path() -> str:
    """The OCR-B regular font file."""
    return find_font(OCRB_PATHS, "OCR B:style=Regular", "fonts-ocr-b")


def japanese_path() -> str:
    """A Japanese font (Noto Sans CJK JP)."""
    return find_font(NOTO_CJK_PATHS, ":lang=ja", "fonts-noto-cjk")
