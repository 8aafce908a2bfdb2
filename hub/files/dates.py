"""Dates as municipal files write them: YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD and Japanese era dates.

Era dates come as ``S23.4.1`` (M/T/S/H/R, also ``S230401`` and the 7-digit ``3230401`` of resident-register
systems) or ``昭和23年4月1日`` (``元年`` for year 1). A date outside its era (``昭和64年2月1日``: Shōwa ended on
1989-01-07) or off the calendar (Feb 30) is refused with a reason a clerk can act on.
"""

from __future__ import annotations

import datetime
import re
from typing import Final

from hub.files.errors import DateError
from hub.files.text import nfkc


class Era:
    """One Japanese era: its names and the days it covers (``last`` is None for the current one)."""

    __slots__ = ("first", "last", "letter", "name", "number")

    def __init__(
        self, name: str, letter: str, number: int, first: datetime.date, last: datetime.date | None
    ) -> None:
        self.name = name
        self.letter = letter
        self.number = number
        self.first = first
        self.last = last


ERAS: Final = (
    # Meiji year 1 counts from the start of 1868 although the calendar became Gregorian only in Meiji 6;
    # nobody born before then is alive, so the difference never reaches a real file.
    Era("明治", "M", 1, datetime.date(1868, 1, 25), datetime.date(1912, 7, 29)),
    Era("大正", "T", 2, datetime.date(1912, 7, 30), datetime.date(1926, 12, 24)),
    Era("昭和", "S", 3, datetime.date(1926, 12, 25), datetime.date(1989, 1, 7)),
    Era("平成", "H", 4, datetime.date(1989, 1, 8), datetime.date(2019, 4, 30)),
    Era("令和", "R", 5, datetime.date(2019, 5, 1), None),
)
_ERA_BY_KEY: Final = {
    key: era for era in ERAS for key in (era.name, era.letter, era.letter.lower(), str(era.number))
}

_FORMS_HINT: Final = "YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD, S23.4.1 or 昭和23年4月1日"
_WESTERN: Final = re.compile(r"(\d{4})(?:([-/.])(\d{1,2})\2(\d{1,2})|年(\d{1,2})月(\d{1,2})日)", re.ASCII)
_ERA: Final = re.compile(
    r"(明治|大正|昭和|平成|令和|[MTSHRmtshr])\.?\s*(\d{1,3}|元)\s*(?:[-/.]|年)\s*"
    r"(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?",
    re.ASCII,
)
_ERA_COMPACT: Final = re.compile(r"([MTSHRmtshr1-5])(\d{2})(\d{2})(\d{2})", re.ASCII)
_MAX_DATE_TEXT: Final = 40
# Spreadsheets write a date cell that holds a time as "1948/4/1 0:00"; midnight adds nothing.
_MIDNIGHT: Final = re.compile(r"(.+?)\s+0?0:00(?::00)?", re.ASCII)


def _calendar_date(year: int, month: int, day: int, shown: str) -> datetime.date:
    if year < 1:
        raise DateError(f"{shown}: there is no year {year}")
    try:
        return datetime.date(year, month, day)
    except ValueError:
        pass
    if not 1 <= month <= 12:
        raise DateError(f"{shown}: there is no month {month}") from None
    raise DateError(f"{shown}: month {month} of {year} has no day {day}") from None


def _era_date(era: Era, era_year: int, month: int, day: int, shown: str) -> datetime.date:
    if era_year < 1:
        raise DateError(f"{shown}: {era.name} has no year {era_year}")
    value = _calendar_date(era.first.year + era_year - 1, month, day, shown)
    if value < era.first:
        raise DateError(f"{shown}: {era.name} began on {era.first.isoformat()}, this day is before it")
    if era.last is not None and value > era.last:
        raise DateError(f"{shown}: {era.name} ended on {era.last.isoformat()}, this day is after it")
    return value


def parse_date(text: str) -> datetime.date:
    """Read one date in any accepted form (full-width digits and spaces allowed); DateError if it is not one."""
    if len(text) == 8 and text.isdigit() and text.isascii():
        # The common case, kept short: files of millions of rows go through here.
        try:
            return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            pass  # the slow path below says what is wrong
    raw = text.strip()
    if not raw:
        raise DateError("the date is blank")
    if len(raw) > _MAX_DATE_TEXT:
        raise DateError(f"a date is at most {_MAX_DATE_TEXT} characters; expected {_FORMS_HINT}")
    shown = raw
    normal = nfkc(raw).strip()
    midnight = _MIDNIGHT.fullmatch(normal)
    if midnight is not None:
        normal = midnight[1]
    # The common case first, without a regular expression.
    if len(normal) == 8 and normal.isascii() and normal.isdigit():
        return _calendar_date(int(normal[:4]), int(normal[4:6]), int(normal[6:]), shown)
    match = _ERA_COMPACT.fullmatch(normal) if len(normal) == 7 else None
    if match is not None:
        era = _ERA_BY_KEY[match[1]]
        return _era_date(era, int(match[2]), int(match[3]), int(match[4]), shown)
    match = _WESTERN.fullmatch(normal)
    if match is not None:
        month, day = (match[3], match[4]) if match[2] else (match[5], match[6])
        return _calendar_date(int(match[1]), int(month), int(day), shown)
    match = _ERA.fullmatch(normal)
    if match is not None:
        era = _ERA_BY_KEY[match[1]]
        era_year = 1 if match[2] == "元" else int(match[2])
        return _era_date(era, era_year, int(match[3]), int(match[4]), shown)
    raise DateError(f"{shown!r} is not a date; expected {_FORMS_HINT}")


def format_era(value: datetime.date) -> str:
    """The written era form of ``value`` (``昭和23年4月1日``, ``元年`` for year 1), for messages and tests."""
    for era in reversed(ERAS):
        if value >= era.first:
            year = value.year - era.first.year + 1
            shown_year = "元" if year == 1 else str(year)
            return f"{era.name}{shown_year}年{value.month}月{value.day}日"
    raise DateError(f"{value.isoformat()} is before the first era this system knows (明治)")
