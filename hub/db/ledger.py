"""The ledger layout (one row per person) as stored rows: each person's CSV row is built from the records when
they change and kept in ledger_rows, so that an export reads one stored row per person (migration 0066).

Every change of a vaccinated, matched record (or of a venue such a record names) marks its person stale in
the same transaction. An export first stores the rows of the people marked so far (``refresh``), then, in
its own snapshot, reads the stored rows of everyone not marked and builds the rows of anyone marked since
(``ledger_query``): the stored rows are a shortcut, never a second truth.

Rows are rendered here as PostgreSQL's COPY writes CSV for the cells of the ledger (hub.files.export
``write_ledger`` writes the same bytes in Python), and read back with hub.db.export.copy_csv's `rendered`.
Each stored row is kept in CP932 as well, as a CP932 export writes it (``line_cp932``, migration 0071), so
that such an export sends the stored bytes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import psycopg
from psycopg import sql

from hub.db.export import FORMULA_START, LEDGER_ZONE, label_cell
from hub.db.scoped import Scope, scoped
from protocol.records import MAKER_LABELS

MAX_DOSE: Final = 9  # vaccinations_dose_check
DOSE_CELLS: Final = 8  # hub.files.export.LEDGER_DOSE_FIELDS
# People rebuilt at once from which on the tables' statistics are renewed (vrs_ledger_analyze).
ANALYZE_AFTER: Final = 10_000


class LedgerError(Exception):
    """The ledger's rows cannot be stored as asked."""


_SPECIAL: Final = sql.Literal('[,"\r\n]')  # what makes COPY quote a cell
_QUOTED: Final = "'\"' || replace({t}, '\"', '\"\"') || '\"'"


def _csv(expr: sql.Composable) -> sql.Composable:
    """A non-empty text as one CSV cell, quoted as COPY quotes it: when it holds a comma, a quote or a line
    break."""
    return sql.SQL("CASE WHEN {e} ~ {special} THEN " + _QUOTED.format(t="{e}") + " ELSE {e} END").format(
        e=expr, special=_SPECIAL)


def _text(expr: sql.Composable) -> sql.Composable:
    """A free text cell (hub.db.export's): empty when NULL or empty, else formula-neutralised and quoted.

    Each branch works the neutralised text out once (SQL has no variables; the nested form of _csv over the
    neutralised text worked it out up to nine times); the quote test reads the text as it is, since the
    leading "'" of neutralising is none of the characters it looks for.
    """
    starts = sql.SQL(", ").join(sql.Literal(ord(c)) for c in FORMULA_START)
    neutral = sql.SQL("CASE WHEN ascii({e}) IN ({starts}) THEN '''' || {e} ELSE {e} END").format(e=expr, starts=starts)
    return sql.SQL("CASE WHEN {e} IS NULL OR {e} = '' THEN '' WHEN {e} ~ {special} THEN "
                   + _QUOTED.format(t="{neutral}") + " ELSE {neutral} END").format(
        e=expr, special=_SPECIAL, neutral=neutral)


# The eight cells of a dose, as hub.files.export.LEDGER_DOSE_FIELDS: registered (Japan time), day, voucher,
# venue's municipality, venue's name, doctor, maker, lot. Dates of any year as strftime writes them.
_DOSE_CELLS: Final = [
    sql.SQL("to_char(v.registered_at AT TIME ZONE {}, 'FMYYYYMMDDHH24MISS')").format(sql.Literal(LEDGER_ZONE)),
    sql.SQL("to_char(v.administered_on, 'FMYYYYMMDD')"),
    sql.SQL("v.voucher_no"),
    sql.SQL("coalesce(ve.municipality_code, v.municipality_code)"),
    _text(sql.SQL("coalesce(ve.name, v.venue_id)")),
    _text(sql.SQL("v.doctor")),
    _csv(label_cell(sql.SQL("v.maker"), {str(k): v for k, v in MAKER_LABELS.items()})),
    _text(sql.SQL("v.lot")),
]
_EMPTY_DOSE: Final = "," * DOSE_CELLS


def lines_query(municipality_code: str, people: sql.Composable) -> sql.Composable:
    """(atena_no, doses, line) of each person of the municipality whose 宛名番号 `people` (a query of one
    column) names and who has a vaccinated record: `line` is the ledger's CSV row up to dose `doses`, the
    person's highest; of two records of one dose the latest registered wins."""
    cells = sql.SQL(", ',', ").join(_DOSE_CELLS)
    slots = sql.SQL(", ").join(
        sql.SQL("CASE WHEN max(d.dose) >= {n} THEN coalesce(min(d.cells) FILTER (WHERE d.dose = {n}), {empty}) END")
        .format(n=sql.Literal(n), empty=sql.Literal(_EMPTY_DOSE))
        for n in range(1, MAX_DOSE + 1))
    return sql.SQL(
        "SELECT d.atena_no, max(d.dose)::smallint AS doses, concat({atena}, {slots}) AS line FROM ("
        " SELECT DISTINCT ON (v.atena_no, v.dose) v.atena_no, v.dose, concat(',', {cells}) AS cells"
        " FROM vaccinations v LEFT JOIN venues ve ON ve.venue_id = v.venue_id"
        " WHERE v.municipality_code = {m} AND v.status = 'vaccinated' AND v.atena_no IN ({people})"
        " ORDER BY v.atena_no, v.dose, v.registered_at DESC) d GROUP BY d.atena_no"
    ).format(atena=_text(sql.SQL("d.atena_no")), slots=slots, cells=cells, m=sql.Literal(municipality_code),
             people=people)


def _in_cp932(line: sql.Composable) -> sql.Composable:
    """A row's `line` as a CP932 export writes it (bytea): 〓 for what CP932 lacks (vrs_cp932), then
    PostgreSQL's conversion, whose table is Windows' CP932."""
    return sql.SQL("convert_to(vrs_cp932({}), 'SJIS')").format(line)


def refresh(conn: psycopg.Connection[Any], municipality_code: str) -> int:
    """Store the rows of the municipality's people marked stale, and clear their marks; how many people.

    Call in a read-committed transaction scoped to the municipality, before the export's own. Each
    statement below reads the data as committed when it starts, each later than the one before: the rows
    are built from records at least as new as the marks cleared, and a mark added after they were cleared
    stays for the next refresh. Refreshes of one municipality take turns, each after the one before has
    committed; otherwise an older one could store its older rows over a newer one's.
    """
    isolation = conn.execute("SELECT current_setting('transaction_isolation')").fetchone()
    if isolation is None or isolation[0] != "read committed":
        raise LedgerError("the ledger's rows are stored in a read-committed transaction only")
    params = {"m": municipality_code}
    marks = conn.execute("SELECT EXISTS (SELECT FROM ledger_stale WHERE municipality_code = %(m)s)", params).fetchone()
    if not (marks and marks[0]):
        return 0  # nothing to do, and no temporary table made for it
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('vrs_ledger:' || %(m)s, 0))", params)
    # The people marked, counted for the planner: there may be a handful or the whole municipality.
    people = conn.execute(
        "CREATE TEMP TABLE ledger_marked ON COMMIT DROP AS WITH marked AS (DELETE FROM ledger_stale"
        " WHERE municipality_code = %(m)s RETURNING atena_nos)"
        " SELECT DISTINCT unnest(atena_nos) AS atena_no FROM marked",
        params, prepare=False).rowcount
    if people > 0:
        conn.execute("ANALYZE ledger_marked")
        conn.execute("DELETE FROM ledger_rows r USING ledger_marked k WHERE r.municipality_code = %(m)s"
                     " AND r.atena_no = k.atena_no", params, prepare=False)
        conn.execute(
            sql.SQL("INSERT INTO ledger_rows (municipality_code, atena_no, doses, line, line_cp932)"
                    " SELECT {m}, f.atena_no, f.doses, f.line, {cp932} FROM ({lines}) f").format(
                cp932=_in_cp932(sql.SQL("f.line")),
                m=sql.Literal(municipality_code),
                lines=lines_query(municipality_code, sql.SQL("SELECT atena_no FROM ledger_marked"))),
            prepare=False)
        if people >= ANALYZE_AFTER:
            # Statistics that still call the table empty (or full of marks) would make every later
            # refresh and export of a large municipality plan as if it were tiny.
            conn.execute("SELECT vrs_ledger_analyze()")
    conn.execute("DROP TABLE ledger_marked")  # a second refresh in this transaction makes it again
    return people


def rebuild(conn: psycopg.Connection[Any], codes: Iterable[str],
            progress: Callable[[str, int], None] | None = None) -> int:
    """``refresh`` each municipality of `codes`, each in a transaction of its own acting for it (`conn` acts
    as vrs_api, in no transaction); how many people's rows were rebuilt in all. `progress` hears of each
    municipality that had any."""
    total = 0
    for code in codes:
        with scoped(conn, Scope.municipality(code)):
            people = refresh(conn, code)
        if people and progress is not None:
            progress(code, people)
        total += people
    return total


def ledger_query(municipality_code: str, doses: int, start: str | None = None,
                 stop: str | None = None, cp932: bool = False) -> sql.Composable:
    """The ledger's rows (no header), one text column each (with `cp932`, one bytea column of the rows as a
    CP932 export writes them), by 宛名番号, with cells up to dose `doses`: the stored rows of people not marked
    stale, the rows of marked people built from their records.

    `start` and `stop` keep to the people with start <= 宛名番号 < stop (either end open when None): the
    queries of consecutive ranges give, one after another, the rows of the whole query.
    """
    m = sql.Literal(municipality_code)

    def bounds(column: str) -> sql.Composable:
        return sql.SQL("").join([
            *([sql.SQL(" AND {} >= {}").format(sql.SQL(column), sql.Literal(start))] if start is not None else []),
            *([sql.SQL(" AND {} < {}").format(sql.SQL(column), sql.Literal(stop))] if stop is not None else []),
        ])

    stale = sql.SQL("SELECT a.atena_no FROM ledger_stale s, unnest(s.atena_nos) AS a (atena_no)"
                    " WHERE s.municipality_code = {m}{b}").format(m=m, b=bounds("a.atena_no"))

    def padded(line: sql.Composable, alias: str) -> sql.Composable:
        """The row's `line` with empty cells up to dose `doses`."""
        commas = sql.SQL("{cells} * ({doses} - {a}.doses)").format(
            cells=sql.Literal(DOSE_CELLS), doses=sql.Literal(doses), a=sql.Identifier(alias))
        # In CP932 a comma is ASCII's byte: a slice of enough of them.
        empty = (sql.SQL("substring({} FOR {})").format(sql.Literal(b"," * DOSE_CELLS * MAX_DOSE), commas) if cp932
                 else sql.SQL("repeat(',', {})").format(commas))
        return sql.SQL("{} || {}").format(line, empty)

    stored = sql.SQL("r.line_cp932") if cp932 else sql.SQL("r.line")
    built = _in_cp932(sql.SQL("f.line")) if cp932 else sql.SQL("f.line")
    return sql.SQL(
        "SELECT t.line FROM ("
        " SELECT r.atena_no, {line_r} AS line FROM ledger_rows r WHERE r.municipality_code = {m}{b}"
        "  AND NOT EXISTS (SELECT FROM ledger_stale s, unnest(s.atena_nos) AS a (atena_no)"
        "   WHERE s.municipality_code = {m} AND a.atena_no = r.atena_no)"
        " UNION ALL SELECT f.atena_no, {line_f} FROM ({lines}) f"
        ") t ORDER BY t.atena_no"
    ).format(line_r=padded(stored, "r"), line_f=padded(built, "f"), m=m, b=bounds("r.atena_no"),
             lines=lines_query(municipality_code, stale))


def ledger_parts(municipality_code: str, doses: int, starts: Sequence[str],
                 cp932: bool = False) -> list[sql.Composable]:
    """The ledger query cut at `starts` (increasing 宛名番号): the parts' rows, in order, are the ledger's."""
    edges: list[str | None] = [None, *starts, None]
    return [ledger_query(municipality_code, doses, a, b, cp932) for a, b in itertools.pairwise(edges)]
