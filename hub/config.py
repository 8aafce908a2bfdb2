"""The hub's configuration: one typed object built once at the entry point from a TOML file and the
VRS_* environment (the environment wins), checked with messages that name the variable to fix.

Every field ``x`` is read from the environment variable ``VRS_X`` or the top-level TOML key ``x``; adding a
setting is adding a field to :class:`HubConfig`. Fields that only some commands need stay optional here and
are demanded with :meth:`HubConfig.require`, so ``vrs-hub keys show`` works without a database.
"""

from __future__ import annotations

import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from hub.errors import ConfigError

ENV_PREFIX = "VRS_"
CONFIG_FILE_ENV = "VRS_CONFIG_FILE"
MAKERS = ("pfizer", "moderna", "astrazeneca", "novavax", "other")
DEFAULT_MIN_INTERVAL_DAYS: dict[str, int] = {"pfizer": 18, "moderna": 24, "astrazeneca": 28, "novavax": 21}


class MqttSettings(msgspec.Struct, frozen=True):
    """Where the broker is, parsed from ``mqtt://[user[:password]@]host:port`` (``mqtts://`` for TLS)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None  # the CA the broker's certificate must chain to (else the system's CAs)


class HubConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything the hub's commands read from outside; see the module docstring for the sources."""

    database_url: str | None = None
    ingest_database_url: str | None = None
    api_database_url: str | None = None
    mqtt_url: str | None = None
    # For mqtts://: the deployment's own broker CA (`vrs-provision broker --tls` writes it as tls/ca.pem).
    mqtt_ca_file: Path | None = None
    hub_key_file: Path | None = None
    secret_file: Path | None = None
    # Minimum days between dose n and dose n+1 per maker; closer gets a dose_interval_short warning.
    min_interval_days: dict[str, int] = msgspec.field(default_factory=lambda: dict(DEFAULT_MIN_INTERVAL_DAYS))
    # MQTT client id of an ingest worker; give each worker its own (the broker drops one of two twins).
    ingest_client_id: str = "vrs-ingest"
    # How many queued batches one database transaction may take at most (throughput during a backlog).
    ingest_group_batches: int = 256
    # Messages one station may send a second on average, and at once, before the ingest drops the rest
    # unanswered (its outbox sends them again later); 0 turns the limit off. See hub.ingest.station_rate.
    ingest_station_rate: float = 50.0
    ingest_station_burst: int = 500
    log_level: str = "INFO"
    # `vrs-hub backup`/`restore` with a passphrase (else asked on the terminal); prefer the environment.
    backup_passphrase: str | None = None
    # The admin API (`vrs-hub serve`): where it listens, how many worker processes, and TLS when both
    # certificate and key are given (session cookies then get the Secure flag).
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = 1
    api_tls_cert: Path | None = None
    api_tls_key: Path | None = None
    # Database connections one ledger download reads over at once (hub.api.services.exports). More than one
    # lets PostgreSQL build the ledger on more cores; on a 2-core machine, where the hub's own processes
    # already take the second core, one was measured faster.
    export_connections: int = 1
    # Vaccination certificates (SMART Health Cards): the issuer URL every card names as `iss` (the hub serves
    # its public keys under it, at /.well-known/jwks.json) and the directory of the ES256 issuer keys.
    certificate_issuer: str | None = None
    certificate_key_dir: Path | None = None

    def require(self, name: str) -> Any:
        """The value of a setting a command cannot run without, or a ConfigError saying how to set it."""
        value = getattr(self, name)
        if value is None:
            raise ConfigError(f"{_env_name(name)} is not set (or `{name}` in the TOML config file)")
        return value

    @property
    def mqtt(self) -> MqttSettings:
        """The broker settings; requires VRS_MQTT_URL."""
        settings = parse_mqtt_url(self.require("mqtt_url"))
        return msgspec.structs.replace(settings, ca_file=self.mqtt_ca_file) if self.mqtt_ca_file else settings

    def database_url_for(self, role: str) -> str:
        """The URL a process of `role` ('ingest', 'api' or other) connects with."""
        own = {"ingest": self.ingest_database_url, "api": self.api_database_url}.get(role)
        return own if own is not None else str(self.require("database_url"))


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def parse_mqtt_url(url: str) -> MqttSettings:
    """Parse ``mqtt[s]://[user[:password]@]host:port``; ConfigError says what is wrong."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(f"VRS_MQTT_URL must start with mqtt:// or mqtts://, got {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"VRS_MQTT_URL has a malformed port: {url!r}") from None
    if not parts.hostname:
        raise ConfigError(f"VRS_MQTT_URL has no host: {url!r}")
    tls = parts.scheme == "mqtts"
    return MqttSettings(
        host=parts.hostname,
        port=port if port is not None else (8883 if tls else 1883),
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password is not None else None,
        tls=tls,
    )


def _parse_interval_env(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        maker, sep, days = item.partition("=")
        if not sep:
            raise ConfigError(f"VRS_MIN_INTERVAL_DAYS: expected maker=days pairs like 'pfizer=18', got {item!r}")
        out[maker.strip()] = days.strip()  # type: ignore[assignment]  # converted to int by msgspec below
    return out


def load_config(env: Mapping[str, str], config_file: Path | None = None) -> HubConfig:
    """Build the configuration from a TOML file (if given, or named by VRS_CONFIG_FILE) and `env`."""
    raw: dict[str, Any] = {}
    path = config_file or (Path(env[CONFIG_FILE_ENV]) if env.get(CONFIG_FILE_ENV) else None)
    if path is not None:
        try:
            raw.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for field in HubConfig.__struct_fields__:
        value = env.get(_env_name(field))
        if value is None or value == "":
            continue
        raw[field] = _parse_interval_env(value) if field == "min_interval_days" else value
    if "min_interval_days" in raw and isinstance(raw["min_interval_days"], dict):
        raw["min_interval_days"] = {**DEFAULT_MIN_INTERVAL_DAYS, **raw["min_interval_days"]}
    try:
        config = msgspec.convert(raw, HubConfig, strict=False, dec_hook=_decode_path)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from None
    _check(config)
    return config


def _decode_path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str) and value:
        return Path(value).expanduser()
    raise NotImplementedError


def _explain(exc: msgspec.ValidationError, path: Path | None) -> str:
    text = str(exc)
    where = text.rsplit("at `$.", 1)
    if len(where) == 2:
        field = where[1].split("`", 1)[0].split(".", 1)[0].split("[", 1)[0]
        return f"{_env_name(field)} (or `{field}` in the config file): {where[0].rstrip(' -')}"
    if "unknown field" in text and path is not None:
        return f"config file {path}: {text}"
    return text


def _check(config: HubConfig) -> None:
    for field in ("database_url", "ingest_database_url", "api_database_url"):
        url = getattr(config, field)
        if url is not None and urllib.parse.urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise ConfigError(f"{_env_name(field)} must be a postgresql:// URL")
    if config.mqtt_url is not None:
        parse_mqtt_url(config.mqtt_url)
    if config.mqtt_ca_file is not None and not config.mqtt_ca_file.is_file():
        raise ConfigError(f"VRS_MQTT_CA_FILE: {config.mqtt_ca_file} does not exist")
    for maker, days in config.min_interval_days.items():
        if maker not in MAKERS:
            raise ConfigError(f"VRS_MIN_INTERVAL_DAYS: unknown maker {maker!r} (one of {', '.join(MAKERS)})")
        if not 0 <= days <= 365:
            raise ConfigError(f"VRS_MIN_INTERVAL_DAYS: {maker}={days} is not between 0 and 365 days")
    if (config.api_tls_cert is None) != (config.api_tls_key is None):
        raise ConfigError("VRS_API_TLS_CERT and VRS_API_TLS_KEY must be given together")
    if not 0 < config.api_port < 65536:
        raise ConfigError(f"VRS_API_PORT must be a TCP port (1-65535), not {config.api_port}")
    if config.certificate_issuer is not None:
        parts = urllib.parse.urlsplit(config.certificate_issuer)
        if parts.scheme != "https" or not parts.netloc or config.certificate_issuer.endswith("/"):
            raise ConfigError("VRS_CERTIFICATE_ISSUER must be an https:// URL without a trailing '/'")
    if config.ingest_group_batches < 1:
        raise ConfigError("VRS_INGEST_GROUP_BATCHES must be at least 1")
    if not 1 <= config.export_connections <= 8:
        raise ConfigError(f"VRS_EXPORT_CONNECTIONS must be 1 to 8, not {config.export_connections}")
    if config.ingest_station_rate < 0:
        raise ConfigError("VRS_INGEST_STATION_RATE must be 0 (no limit) or more messages a second")
    if config.ingest_station_burst < 1:
        raise ConfigError("VRS_INGEST_STATION_BURST must be at least 1")
