"""`vrs-provision`: the field engineer's commands for setting up stations and the hub."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

STEPS = {
    "station": "create a station's Ed25519 key pair and TOML config, enroll it with the hub",
    "broker": "write Mosquitto password and ACL entries for stations and the hub",
    "systemd": "write systemd units for the station daemon, the kiosk browser, the hub's ingest and API",
    "grafana": "write Grafana provisioning files (datasource and dashboards)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vrs-provision",
        description="Set up vaccination record stations and the hub in the field.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(STEPS) + "}")
    for name, text in STEPS.items():
        sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    print(f"vrs-provision {args.command}: not available in this version yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
