"""The move-in inquiry's database path: the only cross-municipality read, narrow, consented, audited twice.

Residents are loaded through the real resident import; records through the real ingest.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.api.services.residents import import_residents
from hub.db import moves
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from hub.errors import InputError, NotFoundError
from hub.files.text import kana_key
from hub.keys import load_secret, my_number_hmac
from tests.hub.api.files import resident_csv, resident_line
from tests.hub.stations import Station
from tests.hub.test_ingest_apply import send

OLD = "131016"  # 千代田区: where the person lived
NEW = "131024"  # 中央区: where the person moved in
MY_NUMBER = "123456789018"
NOW = dt.datetime(2021, 8, 1, 10, 0, tzinfo=dt.UTC)


def load_residents(dsn: str, code: str, lines: list[str], secret: bytes) -> None:
    with connect(dsn, "vrs_api") as conn, scoped(conn, Scope.municipality(code)):
        result = import_residents(conn, municipality_code=code, stream=io.BytesIO(resident_csv(lines)), mode="diff",
                                  dry_run=False, secret=secret, today=dt.date(2021, 8, 1), actor="loader")
        assert result.ok, result.errors


@pytest.fixture
def secret(hub_key_files: tuple[Path, Path]) -> bytes:
    return load_secret(hub_key_files[1])


@pytest.fixture
def moved_person(hub_db: str, secret: bytes) -> Station:
    """A resident of OLD with My Number and two doses (through the ingest), and twins by 3 items."""
    load_residents(hub_db, OLD, [
        resident_line(OLD, "A001", "0000000001", my_number=MY_NUMBER, name="山田 太郎", kana="ヤマダ タロウ"),
        resident_line(OLD, "A002", "0000000002", name="山田 大郎", kana="ﾔﾏﾀﾞ ﾀﾛｳ"),
        resident_line(OLD, "A003", "0000000003", name="佐藤 一", kana="サトウ ハジメ", birth="19900101"),
    ], secret)
    load_residents(hub_db, NEW, [resident_line(NEW, "B001", "0000000101", name="山田 太郎", kana="ヤマダ タロウ")],
                   secret)
    st = Station()
    st.enroll(hub_db)
    with connect(hub_db, "vrs_ingest") as conn:
        d1 = st.record("0000000001", 1, administered_on=dt.date(2021, 6, 1))
        d2 = st.record("0000000001", 2, administered_on=dt.date(2021, 6, 22))
        other = st.record("0000000003", 1, administered_on=dt.date(2021, 6, 2))
        assert send(conn, st, [d1, d2, other]).acks[0].rejected == []
    return st


@pytest.fixture
def api(hub_db: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(hub_db, "vrs_api") as conn:
        yield conn


def consented(**kw: Any) -> moves.NewInquiry:
    base: dict[str, Any] = {"from_municipality_code": OLD, "consent_kind": "written", "consent_at": NOW,
                            "consent_given_by": "本人", "consent_taken_by": "clerk_b"}
    return moves.NewInquiry(**{**base, **kw})


def audit_rows(dsn: str, code: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT action, actor FROM audit_log WHERE municipality_code = %s"
                            " AND action LIKE 'transfer%%' ORDER BY seq", (code,)).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_by_my_number_returns_that_persons_records_and_audits_both_sides(
        hub_db: str, moved_person: Station, api: Any, secret: bytes) -> None:
    with scoped(api, Scope.municipality(NEW)):
        iid = moves.create_inquiry(api, NEW, consented(method="my_number",
                                                       my_number_hmac=my_number_hmac(secret, MY_NUMBER)),
                                   asked_by="clerk_b")
        answer = moves.run_inquiry(api, iid, "clerk_b")
    assert answer.matches == 1 and answer.chosen == 1 and answer.candidates == []
    assert [(r.voucher_no, r.dose, r.administered_on) for r in answer.records] == [
        ("0000000001", 1, dt.date(2021, 6, 1)), ("0000000001", 2, dt.date(2021, 6, 22))]
    assert audit_rows(hub_db, OLD) == [("transfer_inquiry_provided", "clerk_b")]
    assert audit_rows(hub_db, NEW) == [("transfer_inquiry", "clerk_b")]
    with psycopg.connect(hub_db) as conn:
        details = conn.execute("SELECT details FROM audit_log WHERE municipality_code = %s AND action ="
                               " 'transfer_inquiry_provided'", (OLD,)).fetchone()
    assert details is not None and details[0]["consent_kind"] == "written" and details[0]["asking_municipality"] == NEW

    # Copy into the new resident: marked as provided by the old municipality, audited on both sides.
    with scoped(api, Scope.municipality(NEW)):
        assert moves.copy_records(api, iid, "B001", "clerk_b") == 2
        assert moves.copy_records(api, iid, "B001", "clerk_b") == 0  # nothing twice
        copied = moves.provided_records(api, NEW, "B001")
    assert {(c.provided_by_municipality_code, c.dose) for c in copied} == {(OLD, 1), (OLD, 2)}
    assert audit_rows(hub_db, OLD)[-1] == ("transfer_copy_provided", "clerk_b")
    # Provided records are never edited in the new municipality.
    with pytest.raises(psycopg.errors.InsufficientPrivilege), scoped(api, Scope.municipality(NEW)):
        api.execute("UPDATE provided_records SET lot = 'X'")


def test_three_items_ambiguous_lists_masked_candidates_then_one_is_chosen(
        hub_db: str, moved_person: Station, api: Any) -> None:
    with scoped(api, Scope.municipality(NEW)):
        iid = moves.create_inquiry(api, NEW, consented(method="three_items", name_kana_norm=kana_key("やまだ たろう"),
                                                       birth_date=dt.date(1980, 4, 1), sex=1), asked_by="clerk_b")
        answer = moves.run_inquiry(api, iid, "clerk_b")
    assert answer.matches == 2 and answer.chosen is None and answer.records == []
    assert [(c.candidate_no, c.masked_name, c.birth_date) for c in answer.candidates] == [
        (1, "山＊ 太＊", dt.date(1980, 4, 1)), (2, "山＊ 大＊", dt.date(1980, 4, 1))]
    text = str(answer)
    assert "A001" not in text and "太郎" not in text and "0000000001" not in text
    with scoped(api, Scope.municipality(NEW)):
        chosen = moves.choose_candidate(api, iid, 1, "clerk_b")
        assert len(chosen.records) == 2
        with pytest.raises(InputError):
            moves.choose_candidate(api, iid, 2, "clerk_b")  # one choice per inquiry
        with pytest.raises(InputError):
            moves.run_inquiry(api, iid, "clerk_b")  # one answer per inquiry
    assert [a for a, _ in audit_rows(hub_db, OLD)] == ["transfer_inquiry_provided", "transfer_inquiry_choice_provided"]


def test_no_match_answers_nothing(hub_db: str, moved_person: Station, api: Any, secret: bytes) -> None:
    with scoped(api, Scope.municipality(NEW)):
        iid = moves.create_inquiry(api, NEW, consented(method="my_number",
                                                       my_number_hmac=my_number_hmac(secret, "983205673214")),
                                   asked_by="clerk_b")
        answer = moves.run_inquiry(api, iid, "clerk_b")
        assert (answer.matches, answer.records, answer.candidates) == (0, [], [])
        with pytest.raises(InputError):
            moves.copy_records(api, iid, "B001", "clerk_b")


def test_the_path_stays_narrow(hub_db: str, moved_person: Station, api: Any, secret: bytes) -> None:
    # The normal policies still hide the old municipality, even with the inquiry setting forged.
    with scoped(api, Scope.municipality(NEW)):
        api.execute("SELECT set_config('vrs.inquiry_from', %s, true)", (OLD,))
        assert api.execute("SELECT count(*) FROM residents WHERE municipality_code = %s", (OLD,)).fetchone() == (0,)
        assert api.execute("SELECT count(*) FROM vaccinations WHERE municipality_code = %s",
                           (OLD,)).fetchone() == (0,)
        assert api.execute("SELECT count(*) FROM audit_log WHERE municipality_code = %s", (OLD,)).fetchone() == (0,)
    # The API role cannot become the inquiry role (tests log in as a superuser, so ask the catalog).
    assert api.execute("SELECT pg_has_role('vrs_api', 'vrs_inquiry', 'MEMBER')").fetchone() == (False,)
    # The candidate list (the other municipality's 宛名番号) is not readable by the API role at all.
    with pytest.raises(psycopg.errors.InsufficientPrivilege), scoped(api, Scope.municipality(NEW)):
        api.execute("SELECT * FROM transfer_inquiry_candidates")
    # The helpers behind the three functions cannot be called directly.
    for call in ("SELECT vrs_inquiry_open(gen_random_uuid())", "SELECT vrs_mask_name('x')"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), scoped(api, Scope.municipality(NEW)):
            api.execute(call)
    # Another municipality's inquiry id is unknown; a venue scope cannot run one.
    with scoped(api, Scope.municipality(NEW)):
        iid = moves.create_inquiry(api, NEW, consented(method="my_number",
                                                       my_number_hmac=my_number_hmac(secret, MY_NUMBER)),
                                   asked_by="clerk_b")
    with scoped(api, Scope.municipality("131032")), pytest.raises(NotFoundError):
        moves.run_inquiry(api, iid, "intruder")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), scoped(api, Scope.venue("v-131016-001", OLD)):
        api.execute("SELECT vrs_inquiry_run(%s, 'venue')", (iid,))
    # An inquiry without consent cannot even be recorded.
    with pytest.raises(psycopg.errors.NotNullViolation), scoped(api, Scope.municipality(NEW)):
        api.execute("INSERT INTO transfer_inquiries (municipality_code, inquiry_id, from_municipality_code, method,"
                    " my_number_hmac, consent_at, consent_given_by, consent_taken_by, asked_by)"
                    " VALUES (%s, gen_random_uuid(), %s, 'my_number', %s, now(), '本人', 'x', 'x')",
                    (NEW, OLD, bytes(32)))
    assert audit_rows(hub_db, OLD) == []  # nothing was provided by any of this
    # The setting does not outlive the function: after an answer the old municipality is hidden again.
    with scoped(api, Scope.municipality(NEW)):
        moves.run_inquiry(api, iid, "clerk_b")
        assert api.execute("SELECT current_setting('vrs.inquiry_from', true)").fetchone() == ("",)
