"""Certificates against a real database: issuing from a resident's records (audited, tenant-scoped), and
revocation of every card that listed a record when the record is overwritten, corrected or voided."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.api.services.records import CorrectionInput, correct_record, delete_record
from hub.certificates import issuer_keys
from hub.certificates.errors import CardRejected, NothingToCertify
from hub.certificates.issuance import IssuedCertificate, issue
from hub.certificates.verify import TrustedIssuer, TrustStore, verify_text
from hub.db import certificates as certs_db
from hub.db.connect import connect
from hub.db.scoped import Scope, scoped
from hub.errors import NotFoundError
from hub.ingest.apply import apply_group
from hub.ingest.verify import KeyCache, check_batch
from protocol.records import JST, Record, japan_today
from tests.hub.stations import MUNI_A, MUNI_B, Station

ISS = "https://vc.vrs.example.jp/issuer"
MIN_DAYS = {"pfizer": 18, "moderna": 24, "astrazeneca": 28, "novavax": 21}
VOUCHER = "0000012345"
ATENA = "A-100"
T0 = datetime.datetime(2021, 7, 1, 9, 0, tzinfo=JST)
VRS_HUB = str(Path(sys.executable).with_name("vrs-hub"))


@pytest.fixture
def keys(tmp_path: Path) -> issuer_keys.IssuerKeys:
    issuer_keys.ensure(tmp_path / "issuer")
    return issuer_keys.load(tmp_path / "issuer")


@pytest.fixture
def station(hub_db: str) -> Station:
    st = Station()
    st.enroll(hub_db, venue_name="千代田区役所 集団接種会場")
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO residents (municipality_code, atena_no, voucher_no, name, name_kana, birth_date, sex)"
            " VALUES (%s, %s, %s, '千代田 花子', 'チヨダ ハナコ', '1960-05-05', 2),"
            " (%s, 'A-200', '0000099999', '九段 一郎', 'クダン イチロウ', '1970-01-01', 1)",
            (MUNI_A, ATENA, VOUCHER, MUNI_A),
        )
    return st


@pytest.fixture
def ingest_conn(hub_db: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(hub_db, "vrs_ingest") as conn:
        yield conn


@pytest.fixture
def api_conn(hub_db: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(hub_db, "vrs_api") as conn:
        yield conn


def send(conn: psycopg.Connection[Any], station: Station, *records: Record) -> None:
    from hub.db.devices import device_keys

    with scoped(conn, Scope.ingest()):
        known = device_keys(conn, [station.device_id])
    today = japan_today(datetime.datetime.now(JST))
    checked = check_batch(station.topic, station.batch(list(records)), known, KeyCache(), today)
    apply_group(conn, [checked], MIN_DAYS)


def records_for(station: Station) -> list[Record]:
    return [
        station.record(VOUCHER, 1, administered_on=datetime.date(2021, 6, 1), scanned_at=T0, lot="EY0583"),
        station.record(VOUCHER, 2, administered_on=datetime.date(2021, 6, 22), scanned_at=T0, lot="FA7338"),
        station.record(VOUCHER, 3, administered_on=datetime.date(2021, 12, 20), scanned_at=T0, maker="moderna",
                       lot="3003", status="screened_only"),
    ]


def issue_for(api_conn: psycopg.Connection[Any], keys: issuer_keys.IssuerKeys, atena: str = ATENA,
              municipality: str = MUNI_A) -> IssuedCertificate:
    with scoped(api_conn, Scope.municipality(municipality)):
        return issue(api_conn, keys, ISS, municipality, atena, actor="clerk", now=datetime.datetime.now(datetime.UTC))


def trust(api_conn: psycopg.Connection[Any], keys: issuer_keys.IssuerKeys) -> TrustStore:
    """What a verifier has after fetching the hub's JWKS and revocation lists."""
    crls = {k.kid: certs_db.crl(api_conn, k.kid) for k in keys.published}
    return TrustStore.of(TrustedIssuer(ISS, "hub", keys.jwks().keys, crls))


def verify(card: IssuedCertificate, store: TrustStore) -> Any:
    return verify_text(card.card.qr_text, store, datetime.datetime.now(datetime.UTC))


def test_issued_card_lists_vaccinated_doses_and_is_recorded_and_audited(
        station: Station, ingest_conn: psycopg.Connection[Any], api_conn: psycopg.Connection[Any],
        keys: issuer_keys.IssuerKeys) -> None:
    send(ingest_conn, station, *records_for(station))
    done = issue_for(api_conn, keys)
    verified = verify(done, trust(api_conn, keys))
    assert verified.summary.name == "千代田 花子" and verified.summary.birth_date == "1960-05-05"
    assert [(d.date, d.maker, d.lot, d.performer) for d in verified.summary.doses] == [
        ("2021-06-01", "pfizer", "EY0583", "千代田区役所 集団接種会場"),
        ("2021-06-22", "pfizer", "FA7338", "千代田区役所 集団接種会場"),
    ]  # the screened-only third visit is not a dose
    with scoped(api_conn, Scope.municipality(MUNI_A)):
        (row,) = certs_db.issued_to(api_conn, MUNI_A, ATENA)
        audit_rows = api_conn.execute(
            "SELECT actor, action, target, details FROM audit_log WHERE action = 'certificate.issue'").fetchall()
    assert row.certificate_id == done.certificate_id and row.rid == done.card.rid and row.revoked_at is None
    assert sorted(row.doses) == [(VOUCHER, 1), (VOUCHER, 2)]
    assert [(a, t, d["certificate_id"]) for a, _, t, d in audit_rows] == [("clerk", ATENA, done.certificate_id)]


def test_other_municipality_cannot_issue_or_see_cards(
        station: Station, ingest_conn: psycopg.Connection[Any], api_conn: psycopg.Connection[Any],
        keys: issuer_keys.IssuerKeys) -> None:
    send(ingest_conn, station, *records_for(station))
    issue_for(api_conn, keys)
    with pytest.raises(NotFoundError), scoped(api_conn, Scope.municipality(MUNI_B)):
        issue(api_conn, keys, ISS, MUNI_A, ATENA, actor="x", now=datetime.datetime.now(datetime.UTC))
    with scoped(api_conn, Scope.municipality(MUNI_B)):
        assert api_conn.execute("SELECT count(*) FROM issued_certificates").fetchone() == (0,)
        assert certs_db.issued_to(api_conn, MUNI_A, ATENA) == []
    with scoped(api_conn, Scope.operator()):
        assert api_conn.execute("SELECT count(*) FROM issued_certificate_doses").fetchone() == (0,)


def test_resident_with_nothing_vaccinated_gets_no_card(
        station: Station, ingest_conn: psycopg.Connection[Any], api_conn: psycopg.Connection[Any],
        keys: issuer_keys.IssuerKeys) -> None:
    send(ingest_conn, station, station.record("0000099999", 1, status="screened_only", scanned_at=T0,
                                              administered_on=datetime.date(2021, 6, 1)))
    with pytest.raises(NothingToCertify):
        issue_for(api_conn, keys, atena="A-200")
    with scoped(api_conn, Scope.municipality(MUNI_A)):
        assert api_conn.execute("SELECT count(*) FROM issued_certificates").fetchone() == (0,)


def reason_of(card: IssuedCertificate, store: TrustStore) -> str:
    with pytest.raises(CardRejected) as info:
        verify(card, store)
    return info.value.reason


def test_station_overwrite_revokes_the_earlier_card_and_a_new_one_is_valid(
        station: Station, ingest_conn: psycopg.Connection[Any], api_conn: psycopg.Connection[Any],
        keys: issuer_keys.IssuerKeys) -> None:
    send(ingest_conn, station, *records_for(station))
    before = issue_for(api_conn, keys)
    # Staff scan dose 2 again with the right lot (Q33: registering again overwrites).
    send(ingest_conn, station, station.record(VOUCHER, 2, administered_on=datetime.date(2021, 6, 22),
                                              scanned_at=T0 + datetime.timedelta(hours=1), lot="FA7339"))
    assert reason_of(before, trust(api_conn, keys)) == "revoked"
    after = issue_for(api_conn, keys)
    assert [d.lot for d in verify(after, trust(api_conn, keys)).summary.doses] == ["EY0583", "FA7339"]
    crl = certs_db.crl(api_conn, keys.kid)
    assert crl.rids == [before.card.rid] and crl.ctr == 1


def test_replayed_batch_revokes_nothing(
        station: Station, ingest_conn: psycopg.Connection[Any], api_conn: psycopg.Connection[Any],
        keys: issuer_keys.IssuerKeys) -> None:
    recs = records_for(station)
    send(ingest_conn, station, *recs)
    card = issue_for(api_conn, keys)
    send(ingest_conn, station, *recs)  # a retry after a lost ack: same record ids
    assert verify(card, trust(api_conn, keys)).rid == card.card.rid


def test_station_void_revokes_the_card(
        station: Station, ingest_conn: psycopg.Connection[Any], api_conn: psycopg.Connection[Any],
        keys: issuer_keys.IssuerKeys) -> None:
    recs = records_for(station)
    send(ingest_conn, station, *recs)
    card = issue_for(api_conn, keys)
    send(ingest_conn, station, station.void(recs[1], scanned_at=T0 + datetime.timedelta(minutes=5)))
    assert reason_of(card, trust(api_conn, keys)) == "revoked"


def test_admin_correction_and_deletion_revoke_the_cards_that_listed_the_record(
        station: Station, ingest_conn: psycopg.Connection[Any], api_conn: psycopg.Connection[Any],
        keys: issuer_keys.IssuerKeys) -> None:
    send(ingest_conn, station, *records_for(station))
    first = issue_for(api_conn, keys)
    now = datetime.datetime.now(datetime.UTC)
    with scoped(api_conn, Scope.municipality(MUNI_A)):
        correct_record(api_conn, (MUNI_A, VOUCHER, 1), CorrectionInput(reason="ロット番号の誤り", lot="EY0584"),
                       actor="admin", today=now.date(), now=now)
    assert reason_of(first, trust(api_conn, keys)) == "revoked"
    second = issue_for(api_conn, keys)
    assert verify(second, trust(api_conn, keys)).summary.doses[0].lot == "EY0584"
    with scoped(api_conn, Scope.municipality(MUNI_A)):
        delete_record(api_conn, (MUNI_A, VOUCHER, 2), "誤登録", actor="admin", now=now)
        (newest, oldest) = certs_db.issued_to(api_conn, MUNI_A, ATENA)
    assert reason_of(second, trust(api_conn, keys)) == "revoked"
    assert oldest.revoked_reason == newest.revoked_reason == certs_db.CORRECTED


def test_rotation_keeps_old_cards_valid_and_revocable(
        station: Station, ingest_conn: psycopg.Connection[Any], api_conn: psycopg.Connection[Any],
        tmp_path: Path) -> None:
    keydir = tmp_path / "rot"
    issuer_keys.ensure(keydir)
    old_keys = issuer_keys.load(keydir)
    send(ingest_conn, station, *records_for(station))
    old_card = issue_for(api_conn, old_keys)
    issuer_keys.rotate(keydir)
    new_keys = issuer_keys.load(keydir)
    assert verify(old_card, trust(api_conn, new_keys)).kid == old_keys.kid
    with scoped(api_conn, Scope.municipality(MUNI_A)):
        correct_record(api_conn, (MUNI_A, VOUCHER, 2), CorrectionInput(reason="日付の誤り",
                                                                       administered_on=datetime.date(2021, 6, 23)),
                       actor="admin", today=datetime.date.today(), now=datetime.datetime.now(datetime.UTC))
    assert reason_of(old_card, trust(api_conn, new_keys)) == "revoked"
    assert certs_db.crl_versions(api_conn) == {old_keys.kid: 1}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VRS_HUB, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_cli_issues_files_that_verify_and_stop_verifying_once_revoked(
        station: Station, ingest_conn: psycopg.Connection[Any], hub_env: dict[str, str], tmp_path: Path) -> None:
    send(ingest_conn, station, *records_for(station))
    env = {**hub_env, "VRS_CERTIFICATE_ISSUER": ISS, "VRS_CERTIFICATE_KEY_DIR": str(tmp_path / "issuer")}
    out = tmp_path / "out"
    r = run(env, "certificate", "issue", "--municipality", MUNI_A, "--atena", ATENA, "--out", str(out))
    assert r.returncode == 0, r.stderr
    files = sorted(Path(line) for line in r.stdout.split())
    assert sorted(p.suffix for p in files) == [".png", ".smart-health-card", ".svg", ".txt"]
    png = next(p for p in files if p.suffix == ".png")
    shc = next(p for p in files if p.suffix == ".smart-health-card")
    ok = run(env, "certificate", "verify", str(png), str(shc))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("VALID") == 2 and "千代田 花子" in ok.stdout and "FA7338" in ok.stdout
    jwks = json.loads(run(env, "certificate", "jwks").stdout)
    assert [k["kty"] + k["crv"] for k in jwks["keys"]] == ["ECP-256"]
    rotated = run(env, "certificate", "rotate-key")
    assert rotated.returncode == 0 and rotated.stdout.startswith("new issuer key "), rotated.stderr
    new_kid = rotated.stdout.split()[-1]
    kids = [k["kid"] for k in json.loads(run(env, "certificate", "jwks").stdout)["keys"]]
    assert kids == [new_kid, jwks["keys"][0]["kid"]]  # the old key stays published
    assert run(env, "certificate", "verify", str(png)).returncode == 0  # cards of the old key still verify
    missing = run(env, "certificate", "issue", "--municipality", MUNI_A, "--atena", "nobody", "--out", str(out))
    assert missing.returncode == 1 and "no resident" in missing.stderr
    with connect(hub_env["VRS_DATABASE_URL"], "vrs_api") as conn, scoped(conn, Scope.municipality(MUNI_A)):
        (row,) = certs_db.issued_to(conn, MUNI_A, ATENA)
    assert row.kid == jwks["keys"][0]["kid"] != new_kid
    rv = run(env, "certificate", "revoke", "--municipality", MUNI_A, "--id", row.certificate_id, "--reason", "紛失")
    assert rv.returncode == 0, rv.stderr
    bad = run(env, "certificate", "verify", str(png))
    assert bad.returncode == 1 and "INVALID" in bad.stdout and "revoked" in bad.stdout


def test_certificate_tables_hold_personal_data_under_forced_row_level_security(hub_db: str) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
            " WHERE relname IN ('issued_certificates', 'issued_certificate_doses') ORDER BY relname").fetchall()
        pk = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = i.indkey[0] WHERE i.indrelid = 'issued_certificates'::regclass AND i.indisprimary"
        ).fetchone()
    assert rows == [("issued_certificate_doses", True, True), ("issued_certificates", True, True)]
    assert pk == ("municipality_code",)
    with connect(hub_db, "vrs_ingest") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege), \
            scoped(conn, Scope.ingest()):
        conn.execute("INSERT INTO issued_certificates (municipality_code, certificate_id, atena_no, kid, rid,"
                     " issuer, issued_at, issued_by) VALUES (%s, gen_random_uuid(), 'x', 'k', 'r', %s, now(), 'x')",
                     (MUNI_A, ISS))
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(MUNI_A)), \
            pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM revoked_rids")  # revocation lists only grow
