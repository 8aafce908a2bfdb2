"""Unit files written by `vrs-provision systemd` start the right commands and are rewritten only on change."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

VRS_PROVISION = str(Path(sys.executable).parent / "vrs-provision")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VRS_PROVISION, "systemd", *args], capture_output=True, text=True)


def _service(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(path.read_text())
    return parser["Service"]


def test_station_units_run_the_station_and_the_kiosk(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    done = _run("station", "--dir", str(tmp_path / "units"), "--config", str(config), "--venv", "/opt/vrs")
    assert done.returncode == 0, done.stderr
    station = _service(tmp_path / "units" / "vrs-station.service")
    assert station["ExecStart"] == f"/opt/vrs/bin/vrs-edge run --config {config}"
    assert station["Restart"] == "on-failure"
    kiosk = _service(tmp_path / "units" / "vrs-kiosk.service")
    assert kiosk["ExecStart"].startswith("/usr/bin/chromium --kiosk")
    assert kiosk["ExecStart"].endswith("http://127.0.0.1:8080/")


def test_hub_units_and_idempotent_rerun(tmp_path: Path) -> None:
    args = ("hub", "--dir", str(tmp_path), "--config", "/etc/vrs/hub.env", "--venv", "/opt/vrs", "--api-port", "9000")
    first = _run(*args)
    assert first.returncode == 0
    assert first.stdout.count("wrote") == 2
    assert _service(tmp_path / "vrs-hub-api.service")["ExecStart"] == "/opt/vrs/bin/vrs-hub serve --port 9000"
    assert _service(tmp_path / "vrs-hub-ingest.service")["EnvironmentFile"] == "-/etc/vrs/hub.env"
    second = _run(*args)
    assert second.stdout.count("kept") == 2 and "wrote" not in second.stdout


def test_unknown_target_is_refused(tmp_path: Path) -> None:
    done = _run("printer", "--dir", str(tmp_path), "--config", "x")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
