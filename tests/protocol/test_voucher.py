"""Voucher parsing: what real reads contain is accepted, anything but exactly one valid voucher is not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol
from protocol import Voucher, VoucherError, parse_voucher
from protocol.check_digits import municipality_check_digit

LINE = "12" + "131016" + "0123456789"  # 券種 1, 回数 2, 千代田区, 券番号
EXPECTED = Voucher(municipality_code="131016", voucher_no="0123456789", dose=2, ticket_kind="1")
UNKNOWN = "48100" + municipality_check_digit("48100")


def reason_of(text: str, default: str | None = None) -> VoucherError:
    with pytest.raises(VoucherError) as caught:
        parse_voucher(text, default)
    return caught.value


@pytest.mark.parametrize(
    "text",
    [
        LINE,
        "1 2 131016 0123456789",
        "12-131016-0123456789",
        " 12131016 01234 56789 \n",
        "１２１３１０１６０１２３４５６７８９",  # full-width digits
        "１２　１３１０１６　０１２３４５６７８９",  # and full-width spaces
        LINE + ".",  # one stray mark after the line, as OCR reads it
        LINE + "|",
        LINE + "」",
        "12\t131016\r\n0123456789",  # a QR payload with line breaks
    ],
)
def test_real_reads_of_one_voucher_are_accepted(text: str) -> None:
    assert parse_voucher(text) == EXPECTED
    assert protocol.parse_voucher(text) == EXPECTED


def test_fields_are_taken_from_their_positions() -> None:
    v = parse_voucher("30" + "271004" + "9999999999")
    assert (v.ticket_kind, v.dose, v.municipality_code, v.voucher_no) == ("3", 0, "271004", "9999999999")
    assert not v.source_municipality_preset


def test_the_stations_default_is_ignored_when_the_voucher_names_its_municipality() -> None:
    v = parse_voucher(LINE, default_municipality="271004")
    assert v.municipality_code == "131016" and not v.source_municipality_preset


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (LINE + LINE, "text", "two vouchers"),
        (LINE + " " + LINE, "text", "two vouchers"),
        (LINE[:-1], "text", "17 digits"),
        (LINE + "0", "text", "19 digits"),
        (LINE + "..", "text", "'.'"),  # two stray characters are not one
        ("12131016012345678" + "A" + "9", "text", "'A'"),
        ("12131O16O123456789", "text", "'O'"),  # letter O inside, never read as zero
        ("x" + LINE, "text", "'x'"),
        ("", "text", "empty"),
        ("  \n", "text", "empty"),
        ("12" + "131017" + "0123456789", "municipality_code", "check digit"),
        ("12" + "271276" + "0123456789", "municipality_code", "ward"),
        ("12" + UNKNOWN + "0123456789", "municipality_code", "not on the list"),
        ("12345", "text", "5 digits"),
        ("٠١٢٣٤٥٦٧٨٩", "text", "digits only"),  # Arabic-Indic digits are not voucher digits
    ],
)
def test_anything_but_one_valid_voucher_is_refused_naming_the_field(text: str, field: str, words: str) -> None:
    error = reason_of(text)
    assert error.field == field
    assert words in error.reason
    assert isinstance(error, protocol.ProtocolError)


def test_a_ward_is_refused_and_the_reason_names_the_city() -> None:
    error = reason_of("12" + "271276" + "0123456789")
    assert "大阪市 北区" in error.reason and "271004" in error.reason


def test_a_bad_check_digit_is_never_corrected() -> None:
    error = reason_of("12" + "131017" + "0123456789")
    assert "131017" in error.reason
    assert "131016" not in error.reason  # no suggestion that staff might accept blindly


@pytest.mark.parametrize("text", ["0123456789", "A0123456789B", "a0123456789d", "C0123456789C", "D 0123456789 A"])
def test_nw7_takes_the_municipality_from_the_station_preset(text: str) -> None:
    v = parse_voucher(text, default_municipality="131016")
    assert v == Voucher(
        municipality_code="131016",
        voucher_no="0123456789",
        dose=0,
        ticket_kind=None,
        source_municipality_preset=True,
    )


def test_nw7_without_a_default_municipality_is_refused() -> None:
    error = reason_of("A0123456789B")
    assert error.field == "municipality_code"
    assert "default municipality" in error.reason


@pytest.mark.parametrize(
    ("default", "words"), [("271276", "ward"), ("131017", "check digit"), (UNKNOWN, "not on the list"), ("1310", "six")]
)
def test_nw7_with_a_bad_default_municipality_is_refused(default: str, words: str) -> None:
    error = reason_of("0123456789", default)
    assert error.field == "municipality_code"
    assert words in error.reason


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("A012345678B", "voucher_no"),  # 9 digits between the guards
        ("A01234567890B", "voucher_no"),
        ("AA0123456789BB", "text"),  # only one pair of guards is stripped
        ("A0123456789", "text"),  # a start guard without a stop guard
        ("E0123456789E", "text"),  # not a Codabar guard
        ("0123456789" + "0123456789", "text"),
    ],
)
def test_malformed_nw7_reads_are_refused(text: str, field: str) -> None:
    assert reason_of(text, "131016").field == field


def test_the_parsed_voucher_is_immutable() -> None:
    v = parse_voucher(LINE)
    with pytest.raises(AttributeError):
        v.voucher_no = "9999999999"  # type: ignore[misc]


@given(
    st.sampled_from(["1", "2", "9"]),
    st.integers(0, 9),
    st.sampled_from(["131016", "271004", "011002", "472018"]),
    st.from_regex(r"[0-9]{10}", fullmatch=True),
)
def test_every_well_formed_line_round_trips(kind: str, dose: int, code: str, number: str) -> None:
    v = parse_voucher(f"{kind}{dose}{code}{number}")
    assert (v.ticket_kind, v.dose, v.municipality_code, v.voucher_no) == (kind, dose, code, number)


@given(st.text(max_size=40))
def test_arbitrary_text_either_parses_or_raises_voucher_error(text: str) -> None:
    try:
        v = parse_voucher(text, "131016")
    except VoucherError as error:
        assert error.reason and error.field in {"municipality_code", "voucher_no", "dose", "ticket_kind", "text"}
    else:
        assert protocol.is_municipality(v.municipality_code)
        assert len(v.voucher_no) == 10 and v.voucher_no.isascii() and v.voucher_no.isdigit()
