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


def _choices(help_text: str) -> list[str]:
    # argparse lists a subparser group (or a positional with choices) as {a,b,c} under the positionals.
    positionals = help_text.split("positional arguments:", 1)[1] if "positional arguments:" in help_text else ""
    match = re.search(r"^\s+\{([a-z0-9_,-]+)\}", positionals, flags=re.MULTILINE)
    return match.group(1).split(",") if match else []


def _walk(argv: list[str]) -> list[list[str]]:
    found = [argv]
    for name in _choices(_help(argv)):
        child = [*argv, name]
        # A subcommand has a usage line of its own; a positional's choice just repeats the parent's help.
        if _help(child).startswith("usage: " + " ".join(child)):
            found.extend(_walk(child))
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
