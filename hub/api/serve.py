"""Running the API under granian: settings from the hub configuration, and the app factory each granian
worker process calls (it rebuilds the configuration from the same environment the command checked)."""

from __future__ import annotations

import gc
import ipaddress
import os

from litestar import Litestar

from hub.api.app import create_app
from hub.api.settings import ApiSettings
from hub.config import HubConfig, load_config
from hub.errors import ConfigError
from hub.keys import hub_public_jwk, load_secret


def settings_from_config(config: HubConfig) -> ApiSettings:
    """The API's settings; ConfigError/KeyFileError when something it needs is missing."""
    return ApiSettings(
        database_url=config.database_url_for("api"),
        secret=load_secret(config.require("secret_file")),
        secure_cookies=config.api_tls_cert is not None,
        export_connections=config.export_connections,
        certificate_issuer=config.certificate_issuer,
        certificate_key_dir=config.certificate_key_dir,
        hub_ack_jwk=hub_public_jwk(config.hub_key_file) if config.hub_key_file is not None else None,
    )


def app_from_environment() -> Litestar:
    """Granian's factory target: the app for the configuration in this process's environment."""
    app = create_app(settings_from_config(load_config(os.environ)))
    # What exists now (modules, routes, the app) lives as long as the worker: out of the collector's sight,
    # a full collection walks only what requests made, a pause of about a millisecond instead of ~90 ms.
    gc.collect()
    gc.freeze()
    return app


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(config: HubConfig, *, host: str, port: int, workers: int) -> None:
    """Serve the admin pages and API until interrupted (checks the configuration first)."""
    from granian import Granian
    from granian.constants import Interfaces

    settings_from_config(config)
    if config.api_tls_cert is None and not _is_loopback(host):
        raise ConfigError(f"plain HTTP on {host} would carry passwords and residents' data in clear text: set "
                          "VRS_API_TLS_CERT and VRS_API_TLS_KEY, or listen on 127.0.0.1 behind a TLS proxy")
    Granian(
        "hub.api.serve:app_from_environment",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        ssl_cert=config.api_tls_cert,
        ssl_key=config.api_tls_key,
        log_access=False,
    ).serve()
