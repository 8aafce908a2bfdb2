"""Check digits of municipality codes and My Number, against DOMAIN.md's worked examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol
from protocol.check_digits import (
    is_valid_municipality_code_form,
    municipality_check_digit,
    my_number_check_digit,
)
from protocol.municipalities import all_municipalities, is_municipality, lookup

MUNICIPALITY_CODES = [m.code for m in all_municipalities() if not m.is_ward]


@pytest.mark.parametrize("code", ["131016", "131024", "131032", "271004"])
def test_worked_examples_are_valid_municipalities(code: str) -> None:
    assert municipality_check_digit(code[:5]) == code[5]
    assert protocol.municipality_check_digit(code[:5]) == code[5]
    assert is_valid_municipality_code_form(code)
    assert protocol.is_municipality(code)


def test_check_digit_wraps_remainders_zero_and_one() -> None:
    # r = 0 gives 1 and r = 1 gives 0: the two cases a naive "11 - r" gets wrong.
    assert municipality_check_digit("00000") == "1"
    assert municipality_check_digit("00006") == "0"  # 6*2 = 12, r = 1
    assert municipality_check_digit("00005") == "1"  # 5*2 = 10, r = 10
    assert municipality_check_digit("10001") == "3"  # 6 + 2 = 8
    assert municipality_check_digit("13101") == "6"


def test_ward_has_valid_check_digit_but_is_not_a_municipality() -> None:
    assert is_valid_municipality_code_form("271276")
    ward = lookup("271276")
    assert ward is not None and ward.is_ward and ward.designated_city_code == "271004"
    assert not is_municipality("271276")


def test_unknown_code_with_valid_check_digit_is_not_a_municipality() -> None:
    code = "48100" + municipality_check_digit("48100")  # prefecture 48 does not exist
    assert is_valid_municipality_code_form(code)
    assert lookup(code) is None
    assert not is_municipality(code)


@pytest.mark.parametrize("code", ["131017", "13101", "1310166", "13101６", "１３１０１６", "", "abcdef", " 131016"])
def test_malformed_codes_are_refused(code: str) -> None:
    assert not is_valid_municipality_code_form(code)
    assert not is_municipality(code)


@pytest.mark.parametrize("bad", ["1310", "131016", "1310a", "１３１０１"])
def test_check_digit_needs_five_ascii_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        municipality_check_digit(bad)


def _weighted_remainder(code: str) -> int:
    return sum(int(d) * w for d, w in zip(code[:5], (6, 5, 4, 3, 2), strict=True)) % 11


@given(
    st.one_of(st.sampled_from(MUNICIPALITY_CODES), st.from_regex(r"[0-9]{5}", fullmatch=True)),
    st.integers(0, 5),
    st.integers(1, 9),
)
def test_any_single_digit_change_fails_the_check_digit_outside_its_one_blind_spot(
    code: str, pos: int, delta: int
) -> None:
    code = code[:5] + municipality_check_digit(code[:5])
    changed = code[:pos] + str((int(code[pos]) + delta) % 10) + code[pos + 1 :]
    assert changed != code
    # The scheme maps remainders 0 and 10 both to check digit 1 ((11 - r) mod 10), so a change that
    # moves the weighted sum between those two is invisible to it. Every other change is caught.
    blind_spot = pos < 5 and {_weighted_remainder(code), _weighted_remainder(changed)} == {0, 10}
    assert is_valid_municipality_code_form(changed) == blind_spot
    if not blind_spot:
        assert not is_municipality(changed)


def test_blind_spot_can_turn_one_real_municipality_into_another() -> None:
    # 苫小牧市 012131 and 赤平市 012181 differ in one digit and both pass: the check digit alone cannot
    # tell a misread here, which is why stations also require agreement across frames.
    assert is_municipality("012131") and is_municipality("012181")


def test_one_four_confusions_that_pass_the_check_digit_are_stopped_by_the_list() -> None:
    # 1 and 4, the pair the 2021 tablets confused most, hit the blind spot in the third digit (weight 4):
    # 014371 read as 011371 passes the check digit. The municipality list is what refuses it.
    swap = {"1": "4", "4": "1"}
    passing = [
        code[:pos] + swap[code[pos]] + code[pos + 1 :]
        for code in MUNICIPALITY_CODES
        for pos in range(6)
        if code[pos] in swap and is_valid_municipality_code_form(code[:pos] + swap[code[pos]] + code[pos + 1 :])
    ]
    assert "011371" in passing
    assert not any(is_municipality(code) for code in passing)


def test_every_listed_code_has_a_valid_check_digit() -> None:
    assert len(MUNICIPALITY_CODES) == 1741
    assert all(is_valid_municipality_code_form(m.code) for m in all_municipalities())


@pytest.mark.parametrize("number", ["983205673214", "123456789018"])
def test_my_number_worked_examples(number: str) -> None:
    assert my_number_check_digit(number[:11]) == number[11]
    assert protocol.is_valid_my_number(number)


@pytest.mark.parametrize(
    "number",
    ["983205673215", "123456789010", "12345678901", "1234567890180", "１２３４５６７８９０１８", "12345678901a", ""],
)
def test_my_number_refuses_bad_check_digit_and_shape(number: str) -> None:
    assert not protocol.is_valid_my_number(number)


@given(st.from_regex(r"[0-9]{11}", fullmatch=True), st.integers(1, 9))
def test_my_number_with_a_changed_check_digit_is_refused(first: str, delta: int) -> None:
    number = first + my_number_check_digit(first)
    assert protocol.is_valid_my_number(number)
    changed = number[:11] + str((int(number[11]) + delta) % 10)
    assert not protocol.is_valid_my_number(changed)
