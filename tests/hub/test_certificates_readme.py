"""The README's example of verifying another issuer's card runs as written (from the repository root)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHC = ROOT / ".." / "shared" / "shc"


@pytest.mark.skipif(not SHC.is_dir(), reason=f"the shared SHC test data is missing ({SHC})")
def test_readme_verify_example_runs() -> None:
    lines = [ln for ln in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
             if ln.startswith("vrs-hub certificate verify --trust")]
    assert len(lines) == 1
    argv = shlex.split(lines[0])
    argv[0] = str(Path(sys.executable).with_name("vrs-hub"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VRS_")}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VALID") and "Anyperson John B." in done.stdout and "1951-01-20" in done.stdout
