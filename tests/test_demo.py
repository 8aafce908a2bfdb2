"""`make demo` end to end: the simulated station's scans reach the hub and show in the clerk's export,
and Ctrl-C leaves nothing running."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _export(env: dict[str, str]) -> set[str]:
    done = subprocess.run([str(BIN / "vrs-hub"), "export-records", "--municipality", "131016", "--layout", "long"],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return {row["接種券番号"] for row in csv.DictReader(io.StringIO(done.stdout.lstrip("\ufeff")))}


def _port_open(url: str) -> bool:
    host_port = url.split("//", 1)[1].rstrip("/")
    host, port = host_port.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_demo_scans_reach_the_export_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    demo = subprocess.Popen([sys.executable, "-m", "provisioning.demo", "--residents", "200", "--vouchers", "3",
                             "--state-dir", str(state)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not (state / "demo.json").exists():
            assert demo.poll() is None, demo.stdout.read().decode() if demo.stdout else ""
            assert time.monotonic() < deadline, "the demo did not come up"
            time.sleep(0.5)
        info = json.loads((state / "demo.json").read_text())
        expected = set(info["vouchers"])
        seen: set[str] = set()
        while not expected <= seen:
            assert demo.poll() is None, "the demo stopped by itself"
            assert time.monotonic() < deadline, f"scanned {sorted(expected)}, exported only {sorted(seen)}"
            time.sleep(2)
            seen = _export(info["env"])
        assert seen == expected, "the export holds exactly the scanned vouchers"
        assert _port_open(info["admin_url"]) and _port_open(info["kiosk_url"])
    finally:
        demo.send_signal(signal.SIGINT)
        out = demo.communicate(timeout=90)[0].decode()
    assert demo.returncode == 0, out
    assert "login demo-clerk" in out
    database = "http://" + info["env"]["VRS_DATABASE_URL"].split("@", 1)[1].split("/", 1)[0]
    for url in (info["admin_url"], info["kiosk_url"], info["env"]["VRS_MQTT_URL"], database):
        assert not _port_open(url), f"{url} still answers after Ctrl-C"
