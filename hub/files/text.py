"""Text normalisation for imported files: NFKC for codes and kana, and keys for matching names.

Codes, numbers and dates are read after NFKC (full-width digits become ASCII, half-width kana become
full-width). Names are kept as written; ``name_key`` and ``kana_key`` are what searches and matches compare.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

_normalize = unicodedata.normalize

# Kana that legacy ledger systems could not store (small kana, ヰヱヲヂヅ) folded to what those systems
# wrote instead, so that a name matches however the older system spelled it; hiragana become katakana.
_FOLD_KATAKANA: dict[str, str | None] = {
    **dict(zip("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ", strict=True)),
    "ヰ": "イ",
    "ヱ": "エ",
    "ヲ": "オ",
    "ヂ": "ジ",
    "ヅ": "ズ",
    # Long-vowel marks typed as dashes on systems without ー.
    **dict.fromkeys("-‐−—―～~", "ー"),
    # Separators between family and given names carry no meaning for matching.
    **dict.fromkeys(" \u3000・=.,", None),
}
_FOLD_FOR_MATCHING: Final[dict[int, str | None]] = {
    **{ord(key): value for key, value in _FOLD_KATAKANA.items()},
    **{code: _FOLD_KATAKANA.get(chr(code + 0x60), chr(code + 0x60)) for code in range(0x3041, 0x3097)},
}


def nfkc(text: str) -> str:
    """NFKC-normalise ``text``; ASCII text is returned as is (it is already normal, and this is hot)."""
    if text.isascii():
        return text
    # U+3000 between family and given name is so common that it is worth keeping the input on
    # unicodedata's fast path (a quick check that passes returns at once; U+3000 makes it fail).
    return _normalize("NFKC", text.replace("\u3000", " "))


def kana_key(kana: str) -> str:
    """The form of a kana name that matching compares: NFKC, katakana, small kana folded, no separators."""
    return fold_kana(nfkc(kana))


def fold_kana(normal_kana: str) -> str:
    """``kana_key`` of a text already NFKC-normalised."""
    return normal_kana.translate(_FOLD_FOR_MATCHING)


def name_key(name: str) -> str:
    """The form of a written name that matching compares: NFKC, case-folded, without any white space."""
    return "".join(nfkc(name).casefold().split())


_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_IDEOGRAPH: Final = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")


def has_control_character(text: str) -> bool:
    """True when ``text`` holds a C0/C1 control character, a line/paragraph separator or a lone surrogate."""
    # isprintable() is the fast path; it is also False for spaces such as U+3000, which names may hold.
    return not text.isprintable() and _CONTROL.search(text) is not None


def has_ideograph(text: str) -> bool:
    """True when ``text`` holds a CJK ideograph (a kanji), e.g. a written name in a kana column."""
    return _IDEOGRAPH.search(text) is not None
