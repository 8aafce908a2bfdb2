"""Reading a clerk's CSV bytes as text lines: UTF-8 (with or without BOM) or CP932, detected, streamed.

The stream is read in chunks cut at line breaks, so memory stays bounded whatever the file's size. The
encoding is decided on the first chunk holding a non-ASCII byte (UTF-8 first: CP932 text is almost never
valid UTF-8). Bytes that do not decode are never replaced silently: their line is recorded in ``bad_lines``
with a message, so the caller reports it and refuses the file.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from typing import Final, Protocol

from hub.files.errors import EncodingError, FileFormatError

CHUNK_SIZE: Final = 1 << 20
MAX_LINE_BYTES: Final = 1 << 20

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_LABELS: Final = {"utf-8": "UTF-8", "cp932": "CP932 (Shift_JIS)", "ascii": "ASCII"}
_SAVE_AS: Final = "save the file as CSV in UTF-8 or CP932 (Shift_JIS)"


class BinaryReader(Protocol):
    """What is needed of a file: ``read(n)`` returning bytes (a file opened "rb", BytesIO, an upload)."""

    def read(self, size: int, /) -> bytes: ...


def _refuse_non_text(head: bytes) -> None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise EncodingError(f"the file is UTF-16 text; {_SAVE_AS}", line=1)
    if head.startswith(b"PK\x03\x04"):
        raise EncodingError(f"the file is an Excel workbook (.xlsx) or a zip archive, not CSV; {_SAVE_AS}", 1)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise EncodingError(f"the file is an old Excel workbook (.xls), not CSV; {_SAVE_AS}", line=1)
    if b"\x00" in head[:4096]:
        raise EncodingError(f"the file holds NUL bytes, so it is not UTF-8 or CP932 text; {_SAVE_AS}", 1)


class TextLines:
    """Iterate the decoded lines of a binary stream (line ends kept); see the module docstring.

    ``encoding`` is "ascii" while every byte so far was ASCII, then "utf-8" or "cp932"; ``bom`` tells whether
    a UTF-8 byte order mark was dropped. ``bad_lines`` maps a line number (1-based, counting line feeds as an
    editor does) to what is wrong with its bytes. ``on_chunk(bytes_read)`` is called after each chunk.
    """

    def __init__(
        self,
        stream: BinaryReader,
        *,
        chunk_size: int = CHUNK_SIZE,
        max_line_bytes: int = MAX_LINE_BYTES,
        on_chunk: Callable[[int], None] | None = None,
    ) -> None:
        self._stream = stream
        self._chunk_size = max(chunk_size, 16)
        self._max_line_bytes = max_line_bytes
        self._on_chunk = on_chunk
        self.encoding = "ascii"
        self.bom = False
        self.bad_lines: dict[int, str] = {}
        self.bytes_read = 0
        self._decided_at_line = 0

    def __iter__(self) -> Iterator[str]:
        # chain.from_iterable hands lines from C: no generator step per line.
        # newline="\n": split on line feeds only, like the numbering above (and keep them for csv).
        return itertools.chain.from_iterable(io.StringIO(text, newline="\n") for text in self.blocks())

    def blocks(self) -> Iterator[str]:
        """The decoded text a chunk at a time, each a run of whole lines (the last may lack its line feed)."""
        for block, lines_before, _ in self.byte_blocks():
            yield self.decode(block, lines_before)

    def byte_blocks(self) -> Iterator[tuple[bytes, int, int]]:
        """The same blocks undecoded, each with the number of lines before it and of line feeds in it.
        ``encoding`` is decided for a block before it is given; ``decode`` gives its text (and records its bad
        lines)."""
        pending = self._read_start()
        lines_before = 0
        at_end = False
        while not at_end:
            chunk = self._read()
            if chunk:
                data = pending + chunk if pending else chunk
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    self._check_line_length(data, lines_before)
                    pending = data
                    continue
                block, pending = data[:cut], data[cut:]
                lines = block.count(b"\n")
                self._check_line_length(pending, lines_before + lines)
            else:
                at_end = True
                block, pending = pending, b""
                if not block:
                    break
                lines = block.count(b"\n")
            if self.encoding == "ascii" and not block.isascii():
                self._detect(block, lines_before)
            if self._on_chunk is not None:
                self._on_chunk(self.bytes_read)
            yield block, lines_before, lines
            lines_before += lines

    def _read(self) -> bytes:
        chunk = self._stream.read(self._chunk_size)
        if not isinstance(chunk, bytes | bytearray):
            raise EncodingError("the file was opened as text; it must be read as bytes", line=None)
        self.bytes_read += len(chunk)
        return bytes(chunk)

    def _read_start(self) -> bytes:
        head = b""
        while len(head) < 4:
            chunk = self._read()
            if not chunk:
                break
            head += chunk
        _refuse_non_text(head)
        if head.startswith(_UTF8_BOM):
            self.encoding = "utf-8"
            self.bom = True
            self._decided_at_line = 1
            head = head[len(_UTF8_BOM) :]
        return head

    def _check_line_length(self, unfinished: bytes, lines_before: int) -> None:
        if len(unfinished) > self._max_line_bytes:
            raise FileFormatError(
                f"the line is longer than {self._max_line_bytes} bytes without a line break; "
                "is this a CSV file with one record per line?",
                line=lines_before + 1,
            )

    def decode(self, block: bytes, lines_before: int) -> str:
        """The text of a block of byte_blocks, the lines whose bytes do not decode recorded in ``bad_lines``."""
        try:
            return block.decode(self.encoding)
        except UnicodeDecodeError:
            return self._decode_by_line(block, lines_before)

    def _detect(self, block: bytes, lines_before: int) -> None:
        first_non_ascii = next(i for i, byte in enumerate(block) if byte > 0x7F)
        self._decided_at_line = lines_before + block.count(b"\n", 0, first_non_ascii) + 1
        furthest = -1
        for candidate in ("utf-8", "cp932"):
            try:
                block.decode(candidate)
            except UnicodeDecodeError as exc:
                if exc.start > furthest:
                    furthest = exc.start
                    self.encoding = candidate
            else:
                self.encoding = candidate
                return

    def _decode_by_line(self, block: bytes, lines_before: int) -> str:
        label = _LABELS.get(self.encoding, self.encoding)
        parts: list[str] = []
        for offset, raw in enumerate(_lf_lines(block)):
            try:
                parts.append(raw.decode(self.encoding))
            except UnicodeDecodeError as exc:
                column = len(raw[: exc.start].decode(self.encoding, "replace")) + 1
                bad = raw[exc.start : max(exc.end, exc.start + 2)].rstrip(b"\r\n").hex(" ").upper()
                self.bad_lines[lines_before + offset + 1] = (
                    f"bytes {bad} at character {column} are not {label} text (the file was read as {label} "
                    f"from line {self._decided_at_line}); fix this line or {_SAVE_AS}"
                )
                # The row is reported and never used: the replacement only keeps the CSV structure readable.
                parts.append(raw.decode(self.encoding, "replace"))
        return "".join(parts)


def _lf_lines(block: bytes) -> list[bytes]:
    # Not bytes.splitlines(): it also splits on a lone CR, which the numbering does not count as a line.
    lines = block.split(b"\n")
    last = lines.pop()
    result = [line + b"\n" for line in lines]
    if last:
        result.append(last)
    return result
