"""systemd unit files for a station (daemon + kiosk browser) and for the hub (ingest + API).

Units restart on failure with a pause, so a crash never leaves a venue without its station for long; the
station daemon owns the outbox, so it is stopped with SIGTERM and given time to finish its current write.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from provisioning import ProvisioningError

KIOSK_FLAGS = (
    "--kiosk --noerrdialogs --disable-infobars --no-first-run --disable-background-networking "
    "--disable-component-update --disable-sync --autoplay-policy=no-user-gesture-required"
)


class UnitPlan(msgspec.Struct, frozen=True):
    """Where the units go and what they run."""

    directory: Path
    target: str  # "station" or "hub"
    venv: Path
    config: Path
    user: str
    kiosk_url: str = "http://127.0.0.1:8080/"
    api_port: int = 8000


def _unit(description: str, exec_start: str, user: str, *, after: str = "network-online.target",
          extra: str = "", environment: str = "") -> str:
    return (
        "# Written by vrs-provision systemd.\n"
        "[Unit]\n"
        f"Description={description}\n"
        f"After={after}\nWants={after}\n\n"
        "[Service]\n"
        f"User={user}\n"
        f"ExecStart={exec_start}\n"
        f"{environment}"
        "Restart=on-failure\nRestartSec=3\nKillSignal=SIGTERM\nTimeoutStopSec=20\n"
        f"{extra}\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def units(plan: UnitPlan) -> dict[str, str]:
    """File name -> contents for the asked target."""
    bin_dir = plan.venv / "bin"
    if plan.target == "station":
        return {
            "vrs-station.service": _unit(
                "Vaccination record station (capture, outbox, kiosk page)",
                f"{bin_dir / 'vrs-edge'} run --config {plan.config}", plan.user,
                extra="NoNewPrivileges=yes\n",
            ),
            "vrs-kiosk.service": _unit(
                "Kiosk browser showing the station page",
                f"/usr/bin/chromium {KIOSK_FLAGS} {plan.kiosk_url}", plan.user,
                after="vrs-station.service", environment="Environment=DISPLAY=:0\n",
            ),
        }
    if plan.target == "hub":
        env = f"EnvironmentFile=-{plan.config}\n"
        return {
            "vrs-hub-ingest.service": _unit(
                "Vaccination record hub: ingest of station batches",
                f"{bin_dir / 'vrs-hub'} ingest", plan.user, environment=env, extra="NoNewPrivileges=yes\n",
            ),
            "vrs-hub-api.service": _unit(
                "Vaccination record hub: admin pages and API",
                f"{bin_dir / 'vrs-hub'} serve --port {plan.api_port}", plan.user, environment=env,
                extra="NoNewPrivileges=yes\n",
            ),
        }
    raise ProvisioningError(f"unknown target {plan.target!r}: choose station or hub")


def write_units(plan: UnitPlan) -> list[str]:
    done: list[str] = []
    plan.directory.mkdir(parents=True, exist_ok=True)
    for name, text in units(plan).items():
        path = plan.directory / name
        if path.exists() and path.read_text() == text:
            done.append(f"kept {path}")
        else:
            path.write_text(text)
            done.append(f"wrote {path}")
    return done
