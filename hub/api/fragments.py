"""HTML of the table rows a page lists by the hundred (the residents list), made by one format per row, and
the filters those rows and the templates share.

Through Jinja each cell was a Markup object made by markupsafe's escape plus an attribute look-up, about
30 µs a row of eight cells: most of the residents page's Python time. Every text here is escaped with the
same entities as Jinja's autoescape, so the page is the same byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from markupsafe import Markup

from hub.db.residents import ResidentSummary

_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]*").fullmatch


def urlpath(value: object) -> str:
    """Template filter: Jinja's ``urlencode`` of a text for a URL path, without its cost for the text that
    needs no quoting (宛名番号 are digits, and a page lists a hundred of them)."""
    text = str(value)
    return text if _URL_SAFE(text) else quote(text, safe="/")


_SPECIAL = re.compile("[&<>'\"]").search


def esc(text: str) -> str:
    """`text` with ``& < > ' "`` escaped exactly as markupsafe (and so Jinja's autoescape) does."""
    if _SPECIAL(text) is None:
        return text
    return (text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("'", "&#39;")
            .replace('"', "&#34;"))


def resident_rows(hits: Sequence[ResidentSummary], status_labels: Mapping[str, str]) -> Markup:
    """Template filter: the rows of the residents table (residents.html), each a link to the resident."""
    # A path quoted by urlpath holds none of the characters to escape, and a date's ISO text none either.
    rows = []
    for r in hits:
        atena = esc(r.atena_no)
        rows.append(
            f'\n    <tr><td><a href="/residents/{urlpath(r.atena_no)}">{atena}</a></td>'
            f"<td>{esc(r.voucher_no or '')}</td>\n      <td>{esc(r.name)}</td><td>{esc(r.name_kana)}</td>"
            f"<td>{r.birth_date.isoformat() if r.birth_date else ''}</td>\n"
            f"      <td>{esc(status_labels.get(r.status, r.status))}</td><td class=\"num\">{r.doses}</td></tr>\n    "
        )
    return Markup("".join(rows))
