"""The admin commands of `vrs-hub`: create-user, import-residents, import-records, audit verify, serve."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hub.db.connect import connect
from tests.fixtures_postgres import free_port
from tests.hub.api.conftest import MUNI_A, PASSWORD, VENUE_A, csrf_of
from tests.hub.api.files import record_csv, resident_csv, resident_line

VRS_HUB = str(Path(sys.executable).with_name("vrs-hub"))


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([VRS_HUB, *args], env={**os.environ, **env}, input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_create_user_then_log_in_over_served_http(hub_env: dict[str, str]) -> None:
    r = run(hub_env, "create-user", "--username", "clerk", "--role", "municipal_staff", "--municipality", MUNI_A,
            "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    bad = run(hub_env, "create-user", "--username", "x", "--role", "municipal_staff", "--password-stdin",
              stdin=PASSWORD + "\n")
    assert bad.returncode == 1 and "needs --municipality" in bad.stderr
    port = free_port()
    proc = subprocess.Popen([VRS_HUB, "serve", "--port", str(port)], env={**os.environ, **hub_env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        with httpx.Client(base_url=base) as client:
            page = client.get("/login")
            assert "default-src 'self'" in page.headers["content-security-policy"]
            r2 = client.post("/login", data={"username": "clerk", "password": PASSWORD, "_csrf": csrf_of(page.text)})
            assert r2.status_code == 303
            assert client.get("/api/v1/me").json()["username"] == "clerk"
            schema = client.get("/schema/openapi.json")
            assert schema.status_code == 200 and "/api/v1/me" in schema.json()["paths"]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_import_residents_cli_reports_lines_and_shows_progress(hub_env: dict[str, str], tmp_path: Path) -> None:
    good = [resident_line(MUNI_A, f"A{i:04d}", f"{i:010d}") for i in range(1, 51)]
    bad_file = tmp_path / "bad.csv"
    bad_file.write_bytes(resident_csv([*good, resident_line(MUNI_A, "B1", "0000000999", birth="昭和64年2月1日")],
                                      "cp932"))
    r = run(hub_env, "import-residents", str(bad_file), "--municipality", MUNI_A, "--mode", "diff")
    assert r.returncode == 1
    assert "line 52, 生年月日" in r.stderr and "nothing was imported" in r.stderr
    good_file = tmp_path / "good.csv"
    good_file.write_bytes(resident_csv(good, "cp932"))
    dry = run(hub_env, "import-residents", str(good_file), "--municipality", MUNI_A, "--dry-run")
    assert dry.returncode == 0 and "would import 50" in dry.stdout
    r = run(hub_env, "import-residents", str(good_file), "--municipality", MUNI_A, "--mode", "full")
    assert r.returncode == 0, r.stderr
    assert "50 new" in r.stdout and "100.0%" in r.stderr
    with connect(hub_env["VRS_DATABASE_URL"], None) as conn:
        row = conn.execute("SELECT count(*) FROM residents").fetchone()
        assert row is not None and row[0] == 50
    records = tmp_path / "records.csv"
    records.write_bytes(record_csv([f"{MUNI_A},0000000001,1,接種済,20210601,{VENUE_A},ファイザー,FA1,医師"]))
    r = run(hub_env, "import-records", str(records), "--municipality", MUNI_A)
    assert r.returncode == 0 and "registered 1 record" in r.stdout, r.stderr
    wrong = run(hub_env, "import-residents", str(good_file), "--municipality", "999999")
    assert wrong.returncode == 1 and "not a municipality" in wrong.stderr


def test_audit_verify_finds_a_broken_chain(hub_env: dict[str, str], tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes(resident_csv([resident_line(MUNI_A, "A1", "0000000001")]))
    for _ in range(3):
        assert run(hub_env, "import-residents", str(f), "--municipality", MUNI_A).returncode == 0
    ok = run(hub_env, "audit", "verify")
    assert ok.returncode == 0 and "intact: 3 row(s)" in ok.stdout, ok.stdout + ok.stderr
    # Someone with the owner's rights edits a row behind the triggers' back.
    with connect(hub_env["VRS_DATABASE_URL"], None) as conn, conn.transaction():
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE municipality_code = %s AND seq = 2", (MUNI_A,))
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    broken = run(hub_env, "audit", "verify")
    assert broken.returncode == 1
    assert f"chain {MUNI_A}, row 2: row content does not match its hash" in broken.stdout
    with connect(hub_env["VRS_DATABASE_URL"], None) as conn, conn.transaction():
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        conn.execute("DELETE FROM audit_log WHERE municipality_code = %s AND seq = 2", (MUNI_A,))
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    removed = run(hub_env, "audit", "verify")
    assert removed.returncode == 1 and f"chain {MUNI_A}, row 3: row 2 is missing" in removed.stdout


@pytest.mark.parametrize("command", [["serve"], ["create-user"], ["import-residents"], ["import-records"],
                                     ["audit", "verify"]])
def test_admin_commands_have_help(command: list[str]) -> None:
    r = subprocess.run([VRS_HUB, *command, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and len(r.stdout) > 80
