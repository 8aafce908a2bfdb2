"""Dates as clerks' files write them: Western and Japanese era forms, and the impossible ones refused."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.files import DateError, parse_date
from hub.files.dates import ERAS, format_era


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19480401", datetime.date(1948, 4, 1)),
        ("1948-04-01", datetime.date(1948, 4, 1)),
        ("1948/04/01", datetime.date(1948, 4, 1)),
        ("1948/4/1", datetime.date(1948, 4, 1)),  # what a spreadsheet writes
        ("1948年4月1日", datetime.date(1948, 4, 1)),
        ("S23.4.1", datetime.date(1948, 4, 1)),
        ("s23/4/1", datetime.date(1948, 4, 1)),
        ("S230401", datetime.date(1948, 4, 1)),
        ("3230401", datetime.date(1948, 4, 1)),  # resident-register 7-digit form: era number + YYMMDD
        ("昭和23年4月1日", datetime.date(1948, 4, 1)),
        ("昭和 23年 4月 1日", datetime.date(1948, 4, 1)),
        ("Ｓ２３．４．１", datetime.date(1948, 4, 1)),
        ("昭和２３年４月１日", datetime.date(1948, 4, 1)),
        ("１９４８０４０１", datetime.date(1948, 4, 1)),
        ("㍼23年4月1日", datetime.date(1948, 4, 1)),
        ("  19480401 ", datetime.date(1948, 4, 1)),
        ("M45.7.29", datetime.date(1912, 7, 29)),
        ("大正元年7月30日", datetime.date(1912, 7, 30)),
        ("T15.12.24", datetime.date(1926, 12, 24)),
        ("昭和元年12月25日", datetime.date(1926, 12, 25)),
        ("S64.1.7", datetime.date(1989, 1, 7)),
        ("平成元年1月8日", datetime.date(1989, 1, 8)),
        ("H31.4.30", datetime.date(2019, 4, 30)),
        ("令和元年5月1日", datetime.date(2019, 5, 1)),
        ("R3.6.1", datetime.date(2021, 6, 1)),
        ("20000229", datetime.date(2000, 2, 29)),
        ("1948/04/01 0:00", datetime.date(1948, 4, 1)),  # a spreadsheet's date cell with a time
        ("1948-04-01 00:00:00", datetime.date(1948, 4, 1)),
    ],
)
def test_accepted_forms(text: str, expected: datetime.date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "reason_part"),
    [
        ("昭和64年2月1日", "昭和 ended on 1989-01-07"),
        ("S64.1.8", "昭和 ended on 1989-01-07"),
        ("平成31年5月1日", "平成 ended on 2019-04-30"),
        ("令和1年4月30日", "令和 began on 2019-05-01"),
        ("令和元年4月30日", "令和 began on 2019-05-01"),
        ("昭和元年12月24日", "昭和 began on 1926-12-25"),
        ("大正15年12月25日", "大正 ended on 1926-12-24"),
        ("H0.5.1", "平成 has no year 0"),
        ("20210230", "has no day 30"),
        ("2021-02-30", "has no day 30"),
        ("19000229", "has no day 29"),  # 1900 was not a leap year
        ("20211301", "no month 13"),
        ("00000101", "no year 0"),
        ("", "blank"),
        ("   ", "blank"),
        ("yesterday", "is not a date"),
        ("1948-04/01", "is not a date"),  # mixed separators
        ("X23.4.1", "is not a date"),
        ("8230401", "is not a date"),  # no era number 8
        ("1948/04/01 9:30", "is not a date"),  # a time of day is not a date
        ("2" * 1000, "at most"),
    ],
)
def test_impossible_or_unknown_dates_are_refused_with_a_reason(text: str, reason_part: str) -> None:
    with pytest.raises(DateError) as caught:
        parse_date(text)
    assert reason_part in caught.value.reason


def test_a_showa_date_after_the_emperors_death_names_the_last_day() -> None:
    with pytest.raises(DateError, match=r"昭和64年2月1日: 昭和 ended on 1989-01-07"):
        parse_date("昭和64年2月1日")


days = st.dates(min_value=datetime.date(1873, 1, 1), max_value=datetime.date(2099, 12, 31))


@given(days)
def test_every_written_form_of_a_day_reads_back_as_that_day(day: datetime.date) -> None:
    assert parse_date(day.strftime("%Y%m%d")) == day
    assert parse_date(day.isoformat()) == day
    assert parse_date(day.strftime("%Y/%m/%d")) == day
    assert parse_date(f"{day.year}/{day.month}/{day.day}") == day
    assert parse_date(format_era(day)) == day


@given(days)
def test_era_letter_forms_read_back(day: datetime.date) -> None:
    era = next(era for era in reversed(ERAS) if day >= era.first)
    year = day.year - era.first.year + 1
    assert parse_date(f"{era.letter}{year}.{day.month}.{day.day}") == day
    full_width = f"{era.name}{year}年{day.month}月{day.day}日".translate(
        {ord(c): ord(c) + 0xFEE0 for c in "0123456789"}
    )
    assert parse_date(full_width) == day
    if year < 100:
        assert parse_date(f"{era.number}{year:02d}{day.month:02d}{day.day:02d}") == day


@given(days)
def test_the_previous_eras_name_for_a_day_after_it_ended_is_refused(day: datetime.date) -> None:
    current = max(index for index, era in enumerate(ERAS) if day >= era.first)
    if current == 0:
        return
    previous = ERAS[current - 1]
    year = day.year - previous.first.year + 1
    with pytest.raises(DateError, match="ended on"):
        parse_date(f"{previous.name}{year}年{day.month}月{day.day}日")


@given(st.text(max_size=60))
def test_any_text_is_a_date_or_a_date_error(text: str) -> None:
    try:
        value = parse_date(text)
    except DateError as exc:
        assert exc.reason
    else:
        assert isinstance(value, datetime.date)
