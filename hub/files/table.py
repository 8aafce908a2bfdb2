"""A header-keyed CSV table read row by row, with editor line numbers and an error report.

The file parsers (residents, record import) give a column list and a function that turns one row's fields
into a struct or reports what is wrong; this module does the reading, the header, the line numbers, the
progress callback and the capped error list shared by both.
"""

from __future__ import annotations

import csv
import io
import itertools
import operator
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Final, Generic, Protocol, TypeVar

import msgspec

from hub.files.encoding import CHUNK_SIZE, BinaryReader, TextLines
from hub.files.errors import EncodingError, FileFormatError, HeaderError, ImportSetupError
from hub.files.text import nfkc
from protocol import municipality_check_digit

MAX_ERRORS: Final = 1000

RowT = TypeVar("RowT")
RowT_co = TypeVar("RowT_co", covariant=True)
BatchT = TypeVar("BatchT")
BatchT_co = TypeVar("BatchT_co", covariant=True)

ProgressCallback = Callable[[int, int, "int | None"], None]
"""Called as ``progress(rows_done, bytes_done, bytes_total)``; ``bytes_total`` is None when unknown."""


class RowError(msgspec.Struct, frozen=True):
    """One thing wrong in the file: its line (as an editor shows it), its column (None: the whole row)."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        if self.column is None:
            return f"line {self.line}: {self.message}"
        return f"line {self.line}, {self.column}: {self.message}"


class ImportReport(msgspec.Struct, kw_only=True):
    """What reading a file found. The file may be applied only when ``ok``.

    ``errors`` holds at most ``max_errors`` entries in file order; ``error_count`` counts them all.
    """

    encoding: str
    bom: bool
    rows: int
    valid_rows: int
    bytes_read: int
    error_count: int
    errors: list[RowError]
    ignored_columns: list[str]

    @property
    def ok(self) -> bool:
        """True when no error was found anywhere in the file."""
        return self.error_count == 0

    def messages(self) -> list[str]:
        """The errors as ``line N, COLUMN: what is wrong`` lines, plus a last line if the list was capped."""
        lines = [str(error) for error in self.errors]
        if self.error_count > len(self.errors):
            lines.append(f"... and {self.error_count - len(self.errors)} more errors")
        return lines


class ErrorSink:
    """Collects row errors, keeping the first ``limit`` and counting the rest."""

    __slots__ = ("count", "errors", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.errors: list[RowError] = []

    def add(self, line: int, column: str | None, message: str) -> None:
        """Record one error."""
        self.count += 1
        if len(self.errors) < self.limit:
            self.errors.append(RowError(line, column, message))


class RowReader(Protocol[RowT_co]):
    """Turns one row's fields (in the table's column order) into a struct, or reports errors and gives None."""

    def __call__(self, fields: Sequence[str], line: int, sink: ErrorSink, /) -> RowT_co | None: ...


class BlockReader(Protocol[BatchT_co]):
    """Decides a run of rows at once, from the file's bytes of them (whole lines, no quote; CP932 if ``cp932``,
    else UTF-8, which it checks), the line of the first, the header's width and where each of the table's
    columns is in it (``order``): it answers only when those bytes are text in that encoding and its RowReader
    would take every row without an error, and gives None, having changed nothing, for the rows to be read
    one by one (which says what is wrong, and where)."""

    def __call__(
        self, block: bytes, cp932: bool, first_line: int, width: int, order: tuple[int, ...], /
    ) -> BatchT_co | None: ...


def shown(value: str, limit: int = 24) -> str:
    """A field's value quoted for an error message, cut short so a huge field cannot flood the report."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def wrong_municipality(value: str, expected: str) -> str:
    """The message for a 自治体コード that is not the importing municipality's."""
    if len(value) == 5 and value.isascii() and value.isdigit():
        if value + municipality_check_digit(value) == expected:
            return f"{shown(value)} lacks its check digit; write {expected}"
        return f"{shown(value)} has 5 digits; the code of this municipality is {expected}"
    return f"{shown(value)} is not this municipality's code {expected}"


def _split_record(first_text: str, texts: Iterator[str], line: int) -> tuple[list[str], int]:
    """Split the record starting with ``first_text`` (taking more lines from ``texts`` while a quoted field
    goes on); return its fields and the number of its last line."""
    reader = csv.reader(itertools.chain((first_text,), texts))
    try:
        fields = next(reader, [])
    except csv.Error as exc:
        raise FileFormatError(
            f"this is not valid CSV from here on ({exc}); is a quote (\") never closed?", line=line
        ) from None
    return fields, line + reader.line_num - 1


def voucher_message(value: str) -> str:
    """The message for a 接種券番号 that is not 10 digits."""
    message = f"{shown(value)} is not the 10 digits of a voucher number"
    if value.isascii() and value.isdigit() and len(value) < 10:
        message += " (were leading zeros lost in a spreadsheet? format the column as text)"
    return message


def _remaining_size(stream: object) -> int | None:
    """Bytes left in a seekable stream (a file, an upload spooled to disk), for progress; None if unknown."""
    try:
        if not stream.seekable():  # type: ignore[attr-defined]  # probed: BinaryReader promises only read()
            return None
        here: int = stream.tell()  # type: ignore[attr-defined]
        end: int = stream.seek(0, io.SEEK_END)  # type: ignore[attr-defined]
        stream.seek(here)  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None
    return end - here


def _as_list(rows: list[RowT]) -> list[RowT]:
    return rows


class _Blocks:
    """A file's blocks (TextLines.byte_blocks), read on from where a record that ran on ended."""

    def __init__(self, lines: TextLines) -> None:
        self._lines = lines
        self._blocks = lines.byte_blocks()
        self._lines_before = 0
        self.line_feeds = 0
        """The line feeds of the block ``next`` gave last."""
        self.current = io.StringIO("", newline="\n")

    def next(self) -> str | bytes | None:
        """What is left of the current block (its text), or the next block's bytes; None at the end."""
        rest = self.current.read()
        if rest:
            return rest
        block = next(self._blocks, None)
        if block is None:
            return None
        data, self._lines_before, self.line_feeds = block
        return data

    def next_text(self) -> str | None:
        """As ``next``, the bytes decoded."""
        rest = self.current.read()
        if rest:
            return rest
        block = next(self._blocks, None)
        return None if block is None else self._text(block)

    def decode(self, block: bytes) -> str:
        """The text of the block ``next`` gave last."""
        return self._lines.decode(block, self._lines_before)

    def start(self, text: str) -> io.StringIO:
        """Make ``text`` the current block and give its lines."""
        # newline="\n": split on line feeds only, like TextLines' numbering (and keep them for csv).
        self.current = io.StringIO(text, newline="\n")
        return self.current

    def run_on(self) -> Iterator[str]:
        """The lines after the current block, for a record that goes on; each block read becomes current."""
        for block in self._blocks:
            # Not "yield from": closing this generator (the record ended) would close the block it reads.
            for line in self.start(self._text(block)):  # noqa: UP028  (see above)
                yield line

    def _text(self, block: tuple[bytes, int, int]) -> str:
        data, lines_before, _ = block
        return self._lines.decode(data, lines_before)


def _header_names(cells: Sequence[str]) -> list[str]:
    names = [nfkc(cell).strip() for cell in cells]
    if names:
        # A second BOM (a file re-saved by a tool that added one) sticks to the first column's name.
        names[0] = names[0].lstrip("\ufeff").strip()
    return names


class TableScan(Generic[RowT]):
    """One pass over a CSV table: iterate it (or ``batches``) for the valid rows, then read ``report``.

    Valid rows are yielded a block of the file at a time as they are read, even when a later row turns out
    bad: the caller must apply nothing unless ``report.ok`` once the iteration has finished (e.g. stage the
    rows in a transaction and commit only then). File-level problems raise FileFormatError (HeaderError,
    EncodingError) at once.
    """

    def __init__(
        self,
        stream: BinaryReader,
        *,
        columns: Sequence[str],
        read_row: RowReader[RowT],
        progress: ProgressCallback | None = None,
        total_bytes: int | None = None,
        max_errors: int = MAX_ERRORS,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self._stream = stream
        self._columns = tuple(columns)
        self._read_row = read_row
        self._progress = progress
        self._total_bytes = total_bytes if total_bytes is not None else _remaining_size(stream)
        self._sink = ErrorSink(max(max_errors, 0))
        self._chunk_size = chunk_size
        self._lines: TextLines | None = None
        self._rows = 0
        self._valid_rows = 0
        self._ignored: list[str] = []
        self._finished = False

    @property
    def report(self) -> ImportReport:
        """The report; complete only once the iteration has finished."""
        if not self._finished:
            raise ImportSetupError("the report is ready only after every row has been read")
        lines = self._lines
        return ImportReport(
            encoding=lines.encoding if lines is not None else "ascii",
            bom=lines.bom if lines is not None else False,
            rows=self._rows,
            valid_rows=self._valid_rows,
            bytes_read=lines.bytes_read if lines is not None else 0,
            error_count=self._sink.count,
            errors=list(self._sink.errors),
            ignored_columns=list(self._ignored),
        )

    @property
    def error_count(self) -> int:
        """Errors found so far (the file may be applied only if it is 0 at the end)."""
        return self._sink.count

    def _on_chunk(self, bytes_read: int) -> None:
        if self._progress is not None:
            self._progress(self._rows, bytes_read, self._total_bytes)

    def _map_header(self, cells: Sequence[str]) -> list[int]:
        names = _header_names(cells)
        seen: dict[str, int] = {}
        repeated: list[str] = []
        for index, name in enumerate(names):
            if name in seen and name not in repeated:
                repeated.append(name)
            seen.setdefault(name, index)
        missing = [column for column in self._columns if column not in seen]
        unknown = [name for name in names if name not in self._columns]
        expected = ",".join(self._columns)
        if len(missing) == len(self._columns):
            raise HeaderError(
                f"the first line is not the header row; the file must start with the line {expected}",
                missing=tuple(missing),
                unknown=tuple(unknown),
            )
        if missing or repeated:
            parts = []
            if missing:
                parts.append("missing column(s) " + ", ".join(missing))
            if repeated:
                parts.append("repeated column(s) " + ", ".join(repeated))
            if unknown:
                parts.append("unknown column(s) " + ", ".join(shown(name) for name in unknown))
            raise HeaderError(
                "the header row has " + "; ".join(parts) + f"; expected {expected}",
                missing=tuple(missing),
                repeated=tuple(repeated),
                unknown=tuple(unknown),
            )
        self._ignored = [name for name in unknown if name]
        return [seen[column] for column in self._columns]

    def __iter__(self) -> Iterator[RowT]:
        return itertools.chain.from_iterable(self.batches(_as_list))

    def batches(
        self, write: Callable[[list[RowT]], BatchT], read_block: BlockReader[BatchT] | None = None
    ) -> Iterator[BatchT]:
        """The valid rows a block of the file at a time (see the class docstring): ``read_block``'s answer for
        a run of rows it decides at once, else ``write`` of the rows read one by one (never of none)."""
        if self._lines is not None:
            raise ImportSetupError("a file can be read only once per scan")
        # The lines hold the progress callback only weakly: a bound method would make a cycle that keeps this
        # scan, and the row rules' keys of every row of the file, alive until a full garbage collection.
        on_chunk = weakref.WeakMethod(self._on_chunk)

        def chunk_read(bytes_read: int) -> None:
            method = on_chunk()
            if method is not None:
                method(bytes_read)

        lines = self._lines = TextLines(self._stream, chunk_size=self._chunk_size, on_chunk=chunk_read)
        blocks = _Blocks(lines)
        first_block = blocks.next_text()
        if first_block is None:
            raise HeaderError(
                "the file is empty; it must start with the header row " + ",".join(self._columns),
                missing=self._columns,
            )
        current = blocks.start(first_block)
        header, previous = _split_record(next(current), itertools.chain(current, blocks.run_on()), 1)
        bad_lines = lines.bad_lines
        if bad_lines:
            first_bad = min(bad_lines)
            if first_bad <= previous:
                raise EncodingError(bad_lines[first_bad], line=first_bad)
        order = self._map_header(header)
        width = len(header)
        reorder = None if order == list(range(len(self._columns))) else operator.itemgetter(*order)
        block_order = tuple(order)
        read_row = self._read_row
        sink = self._sink
        while (block := blocks.next()) is not None:
            # The block reader takes the file's own bytes, undecoded (the rest of a block begun row by row is
            # text already, given as UTF-8). Bad bytes and quotes are left to the row-by-row reading: it reports
            # the one, and only csv knows where the fields and records of the other end.
            if read_block is not None and not bad_lines:
                data = block if isinstance(block, bytes) else block.encode()
                cp932 = isinstance(block, bytes) and lines.encoding == "cp932"
                answer = None if b'"' in data else read_block(data, cp932, previous + 1, width, block_order)
                if answer is not None:
                    # Neither encoding has a line feed within a character.
                    line_feeds = blocks.line_feeds if isinstance(block, bytes) else data.count(b"\n")
                    rows_in_block = line_feeds + (not data.endswith(b"\n"))  # the last line may lack its line feed
                    self._rows += rows_in_block
                    self._valid_rows += rows_in_block
                    previous += line_feeds
                    yield answer
                    continue
            text = blocks.decode(block) if isinstance(block, bytes) else block
            rows: list[RowT] = []
            current = blocks.start(text)
            for record_text in current:
                line = previous + 1
                # Most rows hold no quote: a plain split is several times faster than the csv module.
                if '"' in record_text:
                    # A quoted field may run on into the next block, whose rest the while loop then reads.
                    fields, previous = _split_record(record_text, itertools.chain(current, blocks.run_on()), line)
                else:
                    fields = record_text.rstrip("\r\n").split(",")
                    previous = line
                if not fields or (not fields[0] and not any(fields)):
                    continue  # blank lines, and the ",,,," rows spreadsheets leave at the end
                self._rows += 1
                if bad_lines and self._report_bad_bytes(line, previous):
                    continue
                if len(fields) != width:
                    spans = f" (it runs on to line {previous}: is a quote never closed?)" if previous > line else ""
                    sink.add(line, None, f"the row has {len(fields)} fields but the header has {width}{spans}")
                    continue
                row = read_row(fields if reorder is None else reorder(fields), line, sink)
                if row is not None:
                    rows.append(row)
            if rows:
                self._valid_rows += len(rows)
                yield write(rows)
        self._finished = True
        if self._progress is not None:
            self._progress(self._rows, lines.bytes_read, self._total_bytes)

    def _report_bad_bytes(self, first: int, last: int) -> bool:
        assert self._lines is not None
        found = False
        for number in range(first, last + 1):
            message = self._lines.bad_lines.get(number)
            if message is not None:
                self._sink.add(number, None, message)
                found = True
        return found
