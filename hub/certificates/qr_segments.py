"""Reading the mode segments back out of a QR code's module matrix, to check what the specification asks of
a card's QR: `shc:/` in byte mode, the digits in one numeric segment, version 22 or lower.

Decoders report only the text, not how it was encoded, so this reads the matrix itself: format information,
unmasking, codeword placement and block interleaving, then the segment headers. It trusts the matrix (no
error correction); callers compare the text read here with the decoder's and ignore a mismatch. The QR
tables and placement come from segno, the encoder we issue with, so reading and writing cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from segno import consts
from segno import encoder as _segno_encoder

# segno's encoder module has no type annotations; it is used through this untyped handle.
qrenc: Any = _segno_encoder
_ECC: Any = consts.ECC

Matrix = Sequence[Sequence[int]]
_MODES = {consts.MODE_NUMERIC: "numeric", consts.MODE_ALPHANUMERIC: "alphanumeric", consts.MODE_BYTE: "byte",
          consts.MODE_KANJI: "kanji"}
_ALNUM = consts.ALPHANUMERIC_CHARS.decode("ascii")
_ERROR_NAMES = {consts.ERROR_LEVEL_L: "L", consts.ERROR_LEVEL_M: "M", consts.ERROR_LEVEL_Q: "Q",
                consts.ERROR_LEVEL_H: "H"}


class Segment(msgspec.Struct, frozen=True):
    """One mode segment: its mode name and the characters it holds."""

    mode: str
    text: str


class QrLayout(msgspec.Struct, frozen=True):
    """What a QR symbol's matrix says about how its content was encoded."""

    version: int
    error: str
    segments: list[Segment]

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)


class UnreadableMatrix(ValueError):
    """The matrix is not a QR code this reader can take apart (size, format information, bit stream)."""


def _format_positions(n: int) -> list[tuple[int, int]]:
    return ([(8, i) for i in range(9)] + [(i, 8) for i in range(9)] + [(8, n - 1 - i) for i in range(8)]
            + [(n - 1 - i, 8) for i in range(8)])


def _format(matrix: Matrix, version: int) -> tuple[int, int]:
    n = len(matrix)
    spots = _format_positions(n)
    seen = [1 if matrix[i][j] else 0 for i, j in spots]
    best: tuple[int, int, int] | None = None
    for error in _ERROR_NAMES:
        for mask in range(8):
            probe = qrenc.make_matrix(n, n)
            qrenc.add_format_info(probe, version, error, mask)
            distance = sum(a != (1 if probe[i][j] == 1 else 0) for a, (i, j) in zip(seen, spots, strict=True))
            if best is None or distance < best[0]:
                best = (distance, error, mask)
    assert best is not None
    if best[0] > 6:  # two copies of 15 bits; more errors than this is not a readable symbol
        raise UnreadableMatrix("format information unreadable")
    return best[1], best[2]


def _data_bits(matrix: Matrix, version: int, mask: int) -> list[int]:
    n = len(matrix)
    template = qrenc.make_matrix(n, n)
    qrenc.add_finder_patterns(template, n, n)
    qrenc.add_alignment_patterns(template, n, n)
    mask_fn = qrenc.get_data_mask_functions(False)[mask]
    bits: list[int] = []
    for start in range(n - 1, 0, -2):
        right = start - 1 if start <= 6 else start
        for vertical in range(n):
            for z in range(2):
                j = right - z
                upwards = (right & 2) == 0
                upwards ^= j < 6
                i = (n - 1 - vertical) if upwards else vertical
                if template[i][j] == 0x2:
                    bits.append((1 if matrix[i][j] else 0) ^ (1 if mask_fn(i, j) else 0))
    return bits


def _data_codewords(bits: list[int], version: int, error: int) -> list[int]:
    blocks = [ec.num_data for ec in _ECC[version][error] for _ in range(ec.num_blocks)]
    total_data = sum(blocks)
    words = [int("".join(map(str, bits[k:k + 8])), 2) for k in range(0, total_data * 8, 8)]
    if len(words) < total_data:
        raise UnreadableMatrix("fewer modules than codewords")
    per_block: list[list[int]] = [[] for _ in blocks]
    it = iter(words)
    for i in range(max(blocks)):
        for b, size in enumerate(blocks):
            if i < size:
                per_block[b].append(next(it))
    return [w for block in per_block for w in block]


class _Bits:
    def __init__(self, words: list[int]) -> None:
        self.bits = "".join(f"{w:08b}" for w in words)
        self.pos = 0

    def left(self) -> int:
        return len(self.bits) - self.pos

    def take(self, n: int) -> int:
        if n > self.left():
            raise UnreadableMatrix("bit stream ends inside a segment")
        value = int(self.bits[self.pos:self.pos + n], 2) if n else 0
        self.pos += n
        return value


def _segments(words: list[int], version: int) -> list[Segment]:
    stream = _Bits(words)
    ver_range = qrenc.version_range(version)
    found: list[Segment] = []
    while stream.left() >= 4:
        mode = stream.take(4)
        if mode == 0:
            break
        if mode == consts.MODE_ECI:
            stream.take(8)
            continue
        if mode not in _MODES:
            raise UnreadableMatrix(f"mode indicator {mode:04b} is not one this reader knows")
        count = stream.take(consts.CHAR_COUNT_INDICATOR_LENGTH[mode][ver_range])
        if mode == consts.MODE_NUMERIC:
            text = "".join(f"{stream.take(10):03d}" for _ in range(count // 3))
            if count % 3 == 1:
                text += f"{stream.take(4):01d}"
            elif count % 3 == 2:
                text += f"{stream.take(7):02d}"
        elif mode == consts.MODE_ALPHANUMERIC:
            chars = []
            for _ in range(count // 2):
                pair = stream.take(11)
                chars += [_ALNUM[pair // 45], _ALNUM[pair % 45]]
            if count % 2:
                chars.append(_ALNUM[stream.take(6)])
            text = "".join(chars)
        elif mode == consts.MODE_BYTE:
            text = bytes(stream.take(8) for _ in range(count)).decode("latin-1")
        else:
            stream.take(13 * count)
            text = "?" * count
        found.append(Segment(_MODES[mode], text))
    return found


def read_layout(matrix: Matrix) -> QrLayout:
    """Version, error level and segments of a QR symbol given as rows of dark (truthy) / light modules."""
    n = len(matrix)
    if n < 21 or (n - 17) % 4 or any(len(row) != n for row in matrix):
        raise UnreadableMatrix(f"a {n}-module-wide matrix is not a QR code symbol")
    version = (n - 17) // 4
    error, mask = _format(matrix, version)
    words = _data_codewords(_data_bits(matrix, version, mask), version, error)
    return QrLayout(version=version, error=_ERROR_NAMES[error], segments=_segments(words, version))
