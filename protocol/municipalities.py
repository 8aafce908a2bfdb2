"""The registry of local government codes: municipalities and the wards of designated cities.

The list is a packaged copy of the public 総務省 code list, read once, on first use.
"""

from __future__ import annotations

import csv
import functools
import io
from importlib import resources

import msgspec

from protocol.check_digits import is_valid_municipality_code_form

_DATA_FILE = "municipalities.csv"
_COLUMNS = ("code", "prefecture_code", "prefecture", "name", "name_kana", "designated_city_code")


class Municipality(msgspec.Struct, frozen=True):
    """One row of the code list: a municipality, or a ward when ``designated_city_code`` is set."""

    code: str
    prefecture_code: str
    prefecture: str
    name: str
    name_kana: str
    designated_city_code: str | None = None

    @property
    def is_ward(self) -> bool:
        """True for a ward (区) of a designated city: it has a code but is not a municipality."""
        return self.designated_city_code is not None


@functools.cache
def all_municipalities() -> tuple[Municipality, ...]:
    """Every row of the packaged list, wards included, in file order."""
    text = resources.files("protocol").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise RuntimeError(f"packaged {_DATA_FILE} has columns {reader.fieldnames}, expected {_COLUMNS}")
    return tuple(
        Municipality(
            code=row["code"],
            prefecture_code=row["prefecture_code"],
            prefecture=row["prefecture"],
            name=row["name"],
            name_kana=row["name_kana"],
            designated_city_code=row["designated_city_code"] or None,
        )
        for row in reader
    )


@functools.cache
def _by_code() -> dict[str, Municipality]:
    return {m.code: m for m in all_municipalities()}


def lookup(code: str) -> Municipality | None:
    """The row for ``code`` (wards included), or None when the code is on no list."""
    return _by_code().get(code)


def is_municipality(code: str) -> bool:
    """True only for a listed municipality code with a valid check digit; False for wards."""
    if not is_valid_municipality_code_form(code):
        return False
    found = lookup(code)
    return found is not None and not found.is_ward
