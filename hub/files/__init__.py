"""Reading the files municipal clerks upload: resident lists and record imports (CSV, UTF-8 or CP932).

Pure parsing and validation over a binary stream; the database layer applies the rows. The hub's
record export writer lives in hub.files.export.

Exceptions (hub.files.errors)::

    FilesError                  base of everything raised here
     +-- DateError              a text is not a real date in an accepted form (.reason)
     +-- FileFormatError        the file cannot be read as the expected CSV table (.line, .message)
     |    +-- EncodingError     the header is not UTF-8/CP932 text, or the file is UTF-16, a workbook, binary
     |    +-- HeaderError       header row missing, columns missing or repeated (.missing, .repeated, .unknown)
     +-- ImportSetupError       the caller's request is impossible (the municipality code is not one)

Errors in rows are not exceptions: they are collected in the ImportReport as ``line N, COLUMN: what``.
"""

from hub.files.dates import parse_date
from hub.files.errors import (
    DateError,
    EncodingError,
    FileFormatError,
    FilesError,
    HeaderError,
    ImportSetupError,
)
from hub.files.record_import import ImportedRecord, ParsedRecords, parse_records, scan_records
from hub.files.resident_copy import ResidentCopy, scan_resident_copy
from hub.files.residents import ParsedResidents, Resident, parse_residents, scan_residents
from hub.files.table import ImportReport, ProgressCallback, RowError, TableScan
from hub.files.text import kana_key, name_key, nfkc

__all__ = [
    "DateError",
    "EncodingError",
    "FileFormatError",
    "FilesError",
    "HeaderError",
    "ImportReport",
    "ImportSetupError",
    "ImportedRecord",
    "ParsedRecords",
    "ParsedResidents",
    "ProgressCallback",
    "Resident",
    "ResidentCopy",
    "RowError",
    "TableScan",
    "kana_key",
    "name_key",
    "nfkc",
    "parse_date",
    "parse_records",
    "parse_residents",
    "scan_records",
    "scan_resident_copy",
    "scan_residents",
]
