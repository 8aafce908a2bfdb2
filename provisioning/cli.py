"""`vrs-provision`: the field engineer's commands for setting up stations and the hub."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from provisioning import ProvisioningError

STEPS = {
    "station": "create a station's Ed25519 key pair and TOML config, enroll it with the hub",
    "broker": "write Mosquitto password and ACL entries for stations and the hub, and its TLS CA and certificate",
    "systemd": "write systemd units for the station daemon, the kiosk browser, the hub's ingest and API",
    "grafana": "write Grafana provisioning files (datasource and dashboards)",
}


def _broker(args: argparse.Namespace) -> list[str]:
    from provisioning.broker import BrokerPlan, provision_broker

    port = args.port if args.port is not None else (8883 if args.tls else 1883)
    plan = BrokerPlan(directory=args.dir, stations=tuple(args.station), hub_user=args.hub_user,
                      port=port, bind=args.bind, tls=args.tls, tls_hosts=tuple(args.tls_host),
                      ca_cert=args.ca_cert, ca_key=args.ca_key, plain_loopback_port=args.plain_port)
    return provision_broker(plan)


def _add_broker_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, required=True, help="folder for passwd, acl, vrs.conf and secrets/")
    p.add_argument("--station", action="append", default=[], metavar="DEVICE_ID",
                   help="a station's device id (its MQTT user name); repeat for several")
    p.add_argument("--hub-user", default="vrs-hub", help="the hub ingest's MQTT user name (default vrs-hub)")
    p.add_argument("--port", type=int, help="listener port (default 1883, or 8883 with --tls)")
    p.add_argument("--bind", default="127.0.0.1",
                   help="listener address (default 127.0.0.1; anything but loopback needs --tls)")
    p.add_argument("--tls", action="store_true",
                   help="listen with TLS only; create a CA (or use --ca-cert/--ca-key) and the broker's certificate"
                   " under DIR/tls")
    p.add_argument("--tls-host", action="append", default=[], metavar="NAME",
                   help="host name or address stations use to reach the broker (repeat; default: --bind)")
    p.add_argument("--ca-cert", type=Path, help="an existing CA certificate (PEM) to sign the broker's certificate")
    p.add_argument("--ca-key", type=Path, help="the private key of --ca-cert (PEM, unencrypted, EC)")
    p.add_argument("--plain-port", type=int, metavar="PORT",
                   help="with --tls: also a plain listener on 127.0.0.1:PORT (for an ingest on the same machine)")


def _systemd(args: argparse.Namespace) -> list[str]:
    from provisioning.systemd import UnitPlan, write_units

    plan = UnitPlan(directory=args.dir, target=args.target, venv=args.venv.resolve(), config=args.config.resolve(),
                    user=args.user, kiosk_url=args.kiosk_url, api_port=args.api_port)
    return write_units(plan)


def _add_systemd_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=["station", "hub"], help="which machine the units are for")
    p.add_argument("--dir", type=Path, default=Path("/etc/systemd/system"), help="where to write the units")
    p.add_argument("--venv", type=Path, default=Path(sys.prefix), help="the virtualenv holding vrs-edge/vrs-hub")
    p.add_argument("--config", type=Path, required=True,
                   help="station: its TOML config; hub: an environment file with the VRS_* settings")
    p.add_argument("--user", default="vrs", help="the system user the services run as (default vrs)")
    p.add_argument("--kiosk-url", default="http://127.0.0.1:8080/", help="station: the kiosk page's address")
    p.add_argument("--api-port", type=int, default=8000, help="hub: the API's port (default 8000)")


def _grafana(args: argparse.Namespace) -> list[str]:
    from provisioning.grafana import GrafanaPlan, provision_grafana

    plan = GrafanaPlan(out=args.out, sources=args.sources, dashboards_path=args.dashboards_path,
                       db_host=args.db_host, db_name=args.db_name, db_user=args.db_user, sslmode=args.sslmode,
                       timescaledb=args.timescaledb)
    return provision_grafana(plan, dashboards_only=args.dashboards_only)


def _add_grafana_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("provisioning/grafana"),
                   help="Grafana provisioning folder to write (datasources/, dashboards/)")
    p.add_argument("--sources", type=Path, default=Path("dashboards"),
                   help="folder of *.dashboard.py files (default ./dashboards)")
    p.add_argument("--dashboards-path", default="/etc/grafana/provisioning/dashboards",
                   help="where Grafana will find the dashboard JSON files")
    p.add_argument("--db-host", default="127.0.0.1:5432", help="the hub database as host:port")
    p.add_argument("--db-name", default="vrs", help="the hub database's name")
    p.add_argument("--db-user", default="vrs_grafana", help="a login role that is a member of vrs_reader")
    p.add_argument("--sslmode", default="disable", help="disable, require, verify-ca or verify-full")
    p.add_argument("--timescaledb", action="store_true", help="the database has the timescaledb extension")
    p.add_argument("--dashboards-only", action="store_true", help="render the dashboards, nothing else")


def _station(args: argparse.Namespace) -> list[str]:
    from provisioning.station import HubClient, StationPlan, enroll_station

    camera: dict[str, str] = {"source": "picamera"}
    if args.camera != "picamera":
        kind, _, path = args.camera.partition(":")
        if kind not in ("folder", "video") or not path:
            raise ProvisioningError(f"--camera {args.camera!r}: use picamera, folder:PATH or video:PATH")
        camera = {"source": kind, "path": path}
    plan = StationPlan(directory=args.dir, device_id=args.device_id, venue_id="pending", broker_url=args.broker_url,
                       municipality=args.municipality, camera=camera, data_dir=args.data_dir,
                       kiosk_port=args.kiosk_port,
                       preset={"maker": args.maker, "lot": args.lot, "doctor": args.doctor, "status": "vaccinated"})
    return enroll_station(HubClient(args.hub_url, ca_file=args.hub_ca_file), args.token, plan)


def _add_station_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, required=True, help="folder for the key, hub key and station.toml")
    p.add_argument("--device-id", required=True, help="the station's id (its MQTT user name and JWS kid)")
    p.add_argument("--hub-url", required=True, help="the hub's web address, e.g. https://hub.example.jp")
    p.add_argument("--token", help="one-time enrollment token from the municipality's stations page")
    p.add_argument("--broker-url", required=True, help="mqtts://DEVICE:PASSWORD@host:8883 (see vrs-provision broker)")
    p.add_argument("--municipality", help="municipality for NW-7-only vouchers (default: the venue's)")
    p.add_argument("--camera", default="picamera", help="picamera (default), folder:PATH or video:PATH")
    p.add_argument("--data-dir", default="/var/lib/vrs-edge", help="where the outbox lives")
    p.add_argument("--kiosk-port", type=int, default=8080, help="the kiosk page's loopback port (default 8080)")
    p.add_argument("--hub-ca-file", type=Path, help="CA certificate to pin for the hub's HTTPS")
    p.add_argument("--maker", default="pfizer",
                   help="start-of-day preset: pfizer, moderna, astrazeneca, novavax, other")
    p.add_argument("--lot", required=True, help="start-of-day preset: vaccine lot (staff change it on the kiosk)")
    p.add_argument("--doctor", required=True, help="start-of-day preset: the doctor's name")


Step = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], list[str]]]
IMPLEMENTED: dict[str, Step] = {
    "station": (_add_station_arguments, _station),
    "broker": (_add_broker_arguments, _broker),
    "systemd": (_add_systemd_arguments, _systemd),
    "grafana": (_add_grafana_arguments, _grafana),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vrs-provision",
        description="Set up vaccination record stations and the hub in the field.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(STEPS) + "}")
    for name, text in STEPS.items():
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        if name in IMPLEMENTED:
            IMPLEMENTED[name][0](p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command not in IMPLEMENTED:
        print(f"vrs-provision {args.command}: not available in this version yet", file=sys.stderr)
        return 2
    try:
        for line in IMPLEMENTED[args.command][1](args):
            print(line)
    except ProvisioningError as e:
        print(f"vrs-provision {args.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
