"""The exception tree of hub.files (drawn in hub/files/__init__.py)."""

from __future__ import annotations


class FilesError(Exception):
    """Base of every error raised by hub.files."""


class DateError(FilesError, ValueError):
    """A text is not a real date in one of the accepted forms; ``reason`` says why, for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FileFormatError(FilesError):
    """The file as a whole cannot be read as the expected CSV; ``line`` is where reading stopped."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.message = message
        self.line = line


class EncodingError(FileFormatError):
    """The header is not UTF-8 or CP932 text, or the file is not text at all (UTF-16, a workbook)."""


class HeaderError(FileFormatError):
    """The header row is missing, or columns are missing or repeated; the lists name them."""

    def __init__(
        self,
        message: str,
        *,
        missing: tuple[str, ...] = (),
        repeated: tuple[str, ...] = (),
        unknown: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, line=1)
        self.missing = missing
        self.repeated = repeated
        self.unknown = unknown


class ImportSetupError(FilesError, ValueError):
    """The caller asked for an import that cannot be (the importing municipality code is not one)."""
