"""Writing record exports as CSV bytes, streamed: the long layout (one row per record) and the 2021
ledger layout (one row per person), UTF-8 with BOM or CP932.

Two writers give the same bytes: ``write_long``/``write_ledger`` render rows in Python (csv module), and
``from_copy`` finishes CSV that PostgreSQL rendered (the queries of hub.db.export and hub.db.ledger): it
only turns the row ends into CRLF and re-encodes, which is what makes a large export fast.

A cell a spreadsheet would run as a formula gets a leading ``'``. Characters CP932 cannot hold are
written as 〓 (the customary substitute mark) rather than failing the whole download.
"""

from __future__ import annotations

import codecs
import csv
import io
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
            yield buf.getvalue().encode(encoding, errors="vrs-substitute")
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode(encoding, errors="vrs-substitute")


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
    ones included) come in pairs, so the parts between quotes alternate outside, inside, outside...
    """
    if b'"' not in data:
        return data.replace(b"\n", b"\r\n")
    parts = data.split(b'"')
    parts[::2] = [p.replace(b"\n", b"\r\n") for p in parts[::2]]
    return b'"'.join(parts)


def from_copy(header: tuple[str, ...], batches: Iterable[bytes], encoding: Encoding = "utf-8") -> Iterator[bytes]:
    """The header, then PostgreSQL's UTF-8 CSV batches (whole rows each), as the export's byte chunks."""
    yield b"".join(_encode_rows([header], encoding))
    for batch in batches:
        data = crlf_rows(batch)
        yield data if encoding == "utf-8" else data.decode("utf-8").encode(encoding, errors="vrs-substitute")
