"""Writing record exports as CSV bytes, streamed: the long layout (one row per record) and the 2021
ledger layout (one row per person), UTF-8 with BOM or CP932.

Two writers give the same rows: ``write_long``/``write_ledger`` render them in Python (csv module), and
``from_copy`` finishes CSV that PostgreSQL rendered (the queries of hub.db.export and hub.db.ledger): it
only turns the row ends into CRLF and, for the long layout in CP932, re-encodes, which is what makes a large
export fast. The CP932 ledger comes in CP932, as stored (hub.db.ledger).

A cell a spreadsheet would run as a formula gets a leading ``'``. Characters outside what both Python's
cp932 codec and PostgreSQL's SJIS conversion convert both ways are written as 〓 (the customary substitute
mark) rather than failing the whole download: the same characters whichever of the two converted a file
(vrs_cp932, migration 0071). The two agree on the bytes of every character but some 390 that CP932 has
two codes for (NEC and IBM extensions such as 髙 and ⅰ): each picks one, and every CP932 reader reads both.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Final, Literal
from zoneinfo import ZoneInfo

from hub.db.export import FORMULA_START, ExportRecord
from protocol.records import MAKER_LABELS, STATUS_LABELS

Encoding = Literal["utf-8", "cp932"]
JST: Final = ZoneInfo("Asia/Tokyo")
LONG_HEADER: Final = ("自治体コード", "接種券番号", "接種回数", "接種状況", "接種日", "接種会場", "ワクチンメーカー",
                      "ロット番号", "医師名")
LEDGER_DOSE_FIELDS: Final = ("接種履歴登録日時", "接種日", "券番号", "接種自治体コード", "接種会場名", "接種医師名",
                             "ワクチンメーカー", "ワクチンロット番号")
# The 2021 ledger had columns for two doses at least; more appear when the data holds later doses.
LEDGER_MIN_DOSES: Final = 2
_ROWS_PER_CHUNK: Final = 500
_SUBSTITUTE: Final = "〓"


def _substitute(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return _SUBSTITUTE * (error.end - error.start), error.end


codecs.register_error("vrs-substitute", _substitute)

# What Python's codec holds and PostgreSQL's conversion lacks: user-defined characters (外字, in the private
# use area) and five single-byte vendor codes. (¥ and ‾, which only the conversion writes, as \ and ~, the
# codec lacks.)
_CODEC_ONLY: Final = re.compile("[\x80\ue000-\uf8ff]")
# Their UTF-8: U+0080 is C2 80, U+E000-U+EFFF start with EE, U+F000-U+F8FF with EF 80-A3. Looking for these
# bytes costs a third of a search of the decoded text, which took more than the encoding itself.
_EF_CODEC_ONLY: Final = re.compile(rb"\xef[\x80-\xa3]")


def to_cp932(text: str) -> bytes:
    """`text` in CP932, 〓 for what a CP932 export does not hold (vrs_cp932)."""
    if _CODEC_ONLY.search(text):
        text = _CODEC_ONLY.sub(_SUBSTITUTE, text)
    return text.encode("cp932", errors="vrs-substitute")


def utf8_to_cp932(data: bytes) -> bytes:
    """UTF-8 `data` in CP932, as to_cp932 writes it."""
    text = data.decode("utf-8")
    if b"\xee" in data or b"\xc2\x80" in data or _EF_CODEC_ONLY.search(data):
        return to_cp932(text)
    return text.encode("cp932", errors="vrs-substitute")


def _encode(text: str, encoding: Encoding) -> bytes:
    return text.encode("utf-8") if encoding == "utf-8" else to_cp932(text)


def neutralise(cell: str) -> str:
    """The cell as text a spreadsheet will not run as a formula."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


_MAKERS: Final[dict[str, str]] = {str(k): v for k, v in MAKER_LABELS.items()}
_STATUSES: Final[dict[str, str]] = {str(k): v for k, v in STATUS_LABELS.items()}


def _maker(maker: str) -> str:
    return _MAKERS.get(maker, maker)


def _status(status: str) -> str:
    return _STATUSES.get(status, status)


def _encode_rows(rows: Iterable[Iterable[str]], encoding: Encoding) -> Iterator[bytes]:
    if encoding == "utf-8":
        yield codecs.BOM_UTF8
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for n, row in enumerate(rows, 1):
        writer.writerow([neutralise(c) for c in row])
        if n % _ROWS_PER_CHUNK == 0:
            yield _encode(buf.getvalue(), encoding)
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield _encode(buf.getvalue(), encoding)


def long_rows(records: Iterable[ExportRecord]) -> Iterator[tuple[str, ...]]:
    """The long layout's rows, header first."""
    yield LONG_HEADER
    for r in records:
        yield (r.municipality_code, r.voucher_no, str(r.dose), _status(r.status), r.administered_on.strftime("%Y%m%d"),
               r.venue_name, _maker(r.maker), r.lot, r.doctor)


def ledger_header(doses: int) -> tuple[str, ...]:
    """個別宛名番号 then the eight dose columns for each dose 1..doses."""
    return ("個別宛名番号", *(f"{n}回目{field}" for n in range(1, doses + 1) for field in LEDGER_DOSE_FIELDS))


def ledger_rows(records: Iterable[ExportRecord], max_dose: int) -> Iterator[tuple[str, ...]]:
    """The ledger layout's rows from records sorted by 宛名番号 then dose (the first of a dose wins)."""
    doses = max(LEDGER_MIN_DOSES, max_dose)
    yield ledger_header(doses)
    person: str | None = None
    cells: dict[int, tuple[str, ...]] = {}

    def row() -> tuple[str, ...]:
        empty = ("",) * len(LEDGER_DOSE_FIELDS)
        return (person or "", *(c for n in range(1, doses + 1) for c in cells.get(n, empty)))

    for r in records:
        if r.atena_no != person:
            if person is not None:
                yield row()
            person, cells = r.atena_no, {}
        if r.dose in cells or r.dose > doses:
            continue
        cells[r.dose] = (
            r.registered_at.astimezone(JST).strftime("%Y%m%d%H%M%S"), r.administered_on.strftime("%Y%m%d"),
            r.voucher_no, r.venue_municipality_code, r.venue_name, r.doctor, _maker(r.maker), r.lot,
        )
    if person is not None:
        yield row()


def write_long(records: Iterable[ExportRecord], encoding: Encoding = "utf-8") -> Iterator[bytes]:
    """The long layout as CSV byte chunks."""
    return _encode_rows(long_rows(records), encoding)


def write_ledger(records: Iterable[ExportRecord], max_dose: int, encoding: Encoding = "utf-8") -> Iterator[bytes]:
    """The ledger layout as CSV byte chunks."""
    return _encode_rows(ledger_rows(records, max_dose), encoding)


def crlf_rows(data: bytes) -> bytes:
    """PostgreSQL's CSV rows (LF after each) with the CRLF row ends of Python's csv module.

    `data` holds whole rows. A line feed inside a quoted cell stays as it is: the cell's quotes (doubled
    ones included) come in pairs, so the parts between quotes alternate outside, inside, outside... The
    same holds of CP932 rows: neither byte is ever the second byte of a CP932 character.
    """
    if b'"' not in data:
        return data.replace(b"\n", b"\r\n")
    parts = data.split(b'"')
    parts[::2] = [p.replace(b"\n", b"\r\n") for p in parts[::2]]
    return b'"'.join(parts)


def from_copy(header: tuple[str, ...], batches: Iterable[bytes], encoding: Encoding = "utf-8",
              converted: bool = False) -> Iterator[bytes]:
    """The header, then PostgreSQL's CSV batches (whole rows each; UTF-8, or already in `encoding` if
    `converted`), as the export's byte chunks in `encoding`."""
    yield b"".join(_encode_rows([header], encoding))
    for batch in batches:
        data = crlf_rows(batch)
        yield data if encoding == "utf-8" or converted else utf8_to_cp932(data)
