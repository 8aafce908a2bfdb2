"""Every console script and every subcommand answers --help with a description (the docs a field engineer reads)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SCRIPTS = ["vrs-edge", "vrs-hub", "vrs-provision"]


def _help(argv: list[str]) -> str:
    done = subprocess.run([str(BIN / argv[0]), *argv[1:], "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(argv)} --help failed: {done.stderr}"
    return done.stdout


def _subcommands(help_text: str) -> list[str]:
    # argparse prints the choices of a subparser group as {a,b,c} on the usage line.
    usage = help_text.split("\n\n", 1)[0]
    match = re.search(r"\{([a-z0-9_,-]+)\}", usage)
    return match.group(1).split(",") if match else []


def _walk(argv: list[str]) -> list[list[str]]:
    found = [argv]
    for name in _subcommands(_help(argv)):
        found.extend(_walk([*argv, name]))
    return found


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_command_has_help(script: str) -> None:
    commands = _walk([script])
    assert len(commands) > 1, f"{script} lists no subcommands"
    for argv in commands:
        text = _help(argv)
        assert text.startswith("usage:"), argv
        body = text.split("\n\n", 2)
        assert len(body) >= 2 and body[1].strip(), f"{' '.join(argv)} --help has no description"
