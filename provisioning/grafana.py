"""Grafana provisioning: the aggregates datasource, the dashboard provider, and the rendered dashboards.

Grafana reads a provisioning folder with `datasources/` and `dashboards/` at start. The datasource logs
in as a role that is a member of vrs_reader (it can read only the agg_* views); its password comes from
Grafana's environment, never from these files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from provisioning import ProvisioningError

DASHBOARD_SUFFIX = ".dashboard.py"
DATASOURCE_UID = "vrs-aggregates"
SSL_MODES = ("disable", "require", "verify-ca", "verify-full")


class GrafanaPlan(msgspec.Struct, frozen=True):
    """Where the files go and how Grafana reaches the hub's database."""

    out: Path
    sources: Path
    dashboards_path: str = "/etc/grafana/provisioning/dashboards"
    db_host: str = "127.0.0.1:5432"
    db_name: str = "vrs"
    db_user: str = "vrs_grafana"
    sslmode: str = "disable"
    timescaledb: bool = False


def datasource_yaml(plan: GrafanaPlan) -> str:
    if plan.sslmode not in SSL_MODES:
        raise ProvisioningError(f"sslmode {plan.sslmode!r} is not one of {', '.join(SSL_MODES)}")
    timescale = "true" if plan.timescaledb else "false"
    return (
        "# Written by vrs-provision grafana. The role must be a member of vrs_reader:\n"
        f"#   CREATE ROLE {plan.db_user} LOGIN PASSWORD '...' IN ROLE vrs_reader;\n"
        "apiVersion: 1\n"
        "datasources:\n"
        "  - name: VRS aggregates\n"
        f"    uid: {DATASOURCE_UID}\n"
        "    type: grafana-postgresql-datasource\n"
        "    access: proxy\n"
        f"    url: {json.dumps(plan.db_host)}\n"
        f"    user: {json.dumps(plan.db_user)}\n"
        "    isDefault: true\n"
        "    editable: false\n"
        "    jsonData:\n"
        f"      database: {json.dumps(plan.db_name)}\n"
        f"      sslmode: {plan.sslmode}\n"
        "      postgresVersion: 1500\n"
        f"      timescaledb: {timescale}\n"
        "    secureJsonData:\n"
        "      password: $VRS_GRAFANA_DB_PASSWORD\n"
    )


def provider_yaml(plan: GrafanaPlan) -> str:
    return (
        "# Written by vrs-provision grafana.\n"
        "apiVersion: 1\n"
        "providers:\n"
        "  - name: vrs\n"
        "    orgId: 1\n"
        "    folder: VRS\n"
        "    type: file\n"
        "    disableDeletion: true\n"
        "    allowUiUpdates: false\n"
        "    options:\n"
        f"      path: {json.dumps(plan.dashboards_path)}\n"
    )


def dashboard_sources(sources: Path) -> list[Path]:
    found = sorted(sources.glob("*" + DASHBOARD_SUFFIX))
    if not found:
        raise ProvisioningError(f"no *{DASHBOARD_SUFFIX} files in {sources}")
    return found


def render_dashboard(path: Path) -> str:
    """The dashboard defined in `path` as Grafana JSON (stable key order, so renders are reproducible)."""
    from grafanalib._gen import DashboardEncoder, loader

    dashboard: Any = loader(str(path))
    return json.dumps(dashboard.to_json_data(), sort_keys=True, indent=2, cls=DashboardEncoder,
                      ensure_ascii=False) + "\n"


def _write(path: Path, text: str, done: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        done.append(f"kept {path}")
    else:
        path.write_text(text)
        done.append(f"wrote {path}")


def provision_grafana(plan: GrafanaPlan, *, dashboards_only: bool = False) -> list[str]:
    done: list[str] = []
    for source in dashboard_sources(plan.sources):
        name = source.name.removesuffix(DASHBOARD_SUFFIX)
        _write(plan.out / "dashboards" / f"{name}.json", render_dashboard(source), done)
    if not dashboards_only:
        _write(plan.out / "dashboards" / "vrs.yaml", provider_yaml(plan), done)
        _write(plan.out / "datasources" / "vrs.yaml", datasource_yaml(plan), done)
    return done
