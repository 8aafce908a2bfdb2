"""Check digits of the local government code (全国地方公共団体コード) and of My Number (個人番号)."""

from __future__ import annotations

_MUNICIPALITY_WEIGHTS = (6, 5, 4, 3, 2)
_MY_NUMBER_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _ascii_digits(text: str, length: int) -> bool:
    # str.isdigit() accepts full-width and other Unicode digits; the codes are ASCII only.
    return len(text) == length and text.isascii() and text.isdigit()


def municipality_check_digit(first_five: str) -> str:
    """Return the check digit of a local government code from its first five digits."""
    if not _ascii_digits(first_five, 5):
        raise ValueError(f"expected 5 ASCII digits, got {first_five!r}")
    remainder = sum(int(d) * w for d, w in zip(first_five, _MUNICIPALITY_WEIGHTS, strict=True)) % 11
    return str((11 - remainder) % 10)


def is_valid_municipality_code_form(code: str) -> bool:
    """True when ``code`` is six ASCII digits whose last one is the right check digit."""
    return _ascii_digits(code, 6) and municipality_check_digit(code[:5]) == code[5]


def my_number_check_digit(first_eleven: str) -> str:
    """Return the check digit of a My Number from its first eleven digits."""
    if not _ascii_digits(first_eleven, 11):
        raise ValueError(f"expected 11 ASCII digits, got {first_eleven!r}")
    remainder = sum(int(d) * w for d, w in zip(first_eleven, _MY_NUMBER_WEIGHTS, strict=True)) % 11
    return "0" if remainder <= 1 else str(11 - remainder)


def is_valid_my_number(text: str) -> bool:
    """True when ``text`` is twelve ASCII digits whose last one is the right check digit."""
    return _ascii_digits(text, 12) and my_number_check_digit(text[:11]) == text[11]
