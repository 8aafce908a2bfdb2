"""The station's configuration: one TOML file, read and checked once at start, then passed down.

Every problem is reported as a ConfigError naming the file and the setting (``station.device_id``), what is
wrong and what is expected, because the person reading it is a field engineer at a venue::

    [station]
    device_id = "st-0001"                 # also the MQTT username and the JWS kid
    venue_id = "v-131016-001"
    key_file = "/etc/vrs-edge/station.pem"        # this station's Ed25519 private key (PEM)
    hub_public_key = "/etc/vrs-edge/hub.jwk"      # the hub's ack key: `vrs-hub keys show` output (a JWK,
                                                  # or a JSON list / {"keys": [...]} during a key rollover)
    data_dir = "/var/lib/vrs-edge"                # outbox.sqlite lives here
    municipality = "131016"               # optional: the venue's municipality, for NW-7-only vouchers

    [broker]                              # VRS_MQTT_URL in the environment overrides url
    url = "mqtts://st-0001:secret@hub.example.jp:8883"   # username defaults to device_id
    ca_file = "/etc/vrs-edge/ca.pem"      # optional, for mqtts:// with a private CA

    [camera]
    source = "picamera"                   # or "folder" (path = a folder of images), "files" (files = [...]),
                                          # or "video" (path = a video file)

    [kiosk]
    host = "127.0.0.1"                    # loopback: the page is for the station's own touchscreen
    port = 8080
    buzzer_pin = 17                       # optional GPIO pin of a buzzer (gpiozero)

    [preset]                              # the start-of-day preset; staff change it on the kiosk
    maker = "pfizer"                      # pfizer | moderna | astrazeneca | novavax | other
    lot = "FA1234"
    doctor = "山田 太郎"
    status = "vaccinated"                 # or "screened_only" (予診のみ)
    administered_on = 2021-06-01          # optional; by default the day of each scan (Asia/Tokyo)
    unstated_dose = 1                     # optional; dose for vouchers that do not state one
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge import EdgeError
from edge.queue.publisher import BrokerAddress, parse_broker_url
from edge.queue.records import Preset, PresetError, check_preset
from protocol import ProtocolError, is_municipality
from protocol.records import JST, Maker, Status, japan_today
from protocol.signing import load_private_key_pem, public_key_from_jwk
from protocol.topics import is_valid_device_id

CameraSource = Literal["picamera", "folder", "files", "video"]


class ConfigError(EdgeError):
    """The config file is missing, is not TOML, or a setting in it is wrong (``.field`` names it)."""

    def __init__(self, path: Path | str, field: str, message: str) -> None:
        super().__init__(f"{path}: {field}: {message}" if field else f"{path}: {message}")
        self.path = str(path)
        self.field = field
        self.message = message


class _Station(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    device_id: str
    venue_id: str
    key_file: str
    hub_public_key: str
    data_dir: str = "/var/lib/vrs-edge"
    municipality: str | None = None


class _Broker(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: str | None = None
    ca_file: str | None = None


class CameraConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Where frames come from."""

    source: CameraSource
    path: str | None = None
    files: list[str] = msgspec.field(default_factory=list)


class KioskConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Where the kiosk page is served, and the optional buzzer."""

    host: str = "127.0.0.1"
    port: int = 8080
    buzzer_pin: int | None = None


class _Preset(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    maker: Maker
    lot: str
    doctor: str
    status: Status = "vaccinated"
    administered_on: datetime.date | None = None
    unstated_dose: int | None = None


class _File(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    station: _Station
    camera: CameraConfig
    preset: _Preset
    broker: _Broker = msgspec.field(default_factory=_Broker)
    kiosk: KioskConfig = msgspec.field(default_factory=KioskConfig)


@dataclasses.dataclass(frozen=True)
class EdgeConfig:
    """The checked configuration, with the keys loaded."""

    path: Path
    device_id: str
    venue_id: str
    municipality: str | None
    data_dir: Path
    private_key: Ed25519PrivateKey
    hub_keys: tuple[Ed25519PublicKey, ...]
    broker: BrokerAddress
    camera: CameraConfig
    kiosk: KioskConfig
    preset: Preset

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite"


_CHOICES = {
    "camera.source": get_args(CameraSource),
    "preset.maker": get_args(Maker),
    "preset.status": get_args(Status),
}
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$\.?(?P<field>[^`]*)`)?$", re.DOTALL)


def load_config(path: Path | str, *, env: Mapping[str, str] | None = None,
                now: datetime.datetime | None = None) -> EdgeConfig:
    """Read and check the config file; ConfigError says which setting is wrong and how.

    ``env`` is the process environment as the entry point passes it: ``VRS_MQTT_URL``, when set, takes the
    place of ``broker.url`` (the same variable the hub's commands read).
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "", "the config file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"cannot read the config file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML: {exc}") from exc
    try:
        raw = msgspec.convert(data, type=_File)
    except msgspec.ValidationError as exc:
        match = _AT.match(str(exc))
        assert match is not None  # the pattern matches any text
        field = (match.group("field") or "").replace("[", ".").replace("]", "")
        message = match.group("message")
        if field in _CHOICES:
            message += f" (expected one of: {', '.join(_CHOICES[field])})"
        raise ConfigError(path, field, message) from exc
    return _check(path, raw, dict(env or {}), now or datetime.datetime.now(JST))


def _check(path: Path, raw: _File, env: dict[str, str], now: datetime.datetime) -> EdgeConfig:
    base = path.parent
    st = raw.station
    if not is_valid_device_id(st.device_id):
        raise ConfigError(path, "station.device_id", "must be 1-64 characters of A-Z a-z 0-9 . _ -")
    if not is_valid_device_id(st.venue_id):
        raise ConfigError(path, "station.venue_id", "must be 1-64 characters of A-Z a-z 0-9 . _ -")
    if st.municipality is not None and not is_municipality(st.municipality):
        raise ConfigError(path, "station.municipality",
                          f"{st.municipality!r} is not a municipality code (6 digits with a valid check digit, "
                          "a municipality on the national list, not a ward)")
    private_key = _load_private_key(path, _resolve(base, st.key_file))
    hub_keys = _load_hub_keys(path, _resolve(base, st.hub_public_key))
    data_dir = _resolve(base, st.data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(path, "station.data_dir", f"cannot create {data_dir}: {exc}") from exc
    if not os.access(data_dir, os.W_OK):
        raise ConfigError(path, "station.data_dir", f"{data_dir} is not writable")

    ca_file = str(_resolve(base, raw.broker.ca_file)) if raw.broker.ca_file else None
    if ca_file is not None and not Path(ca_file).is_file():
        raise ConfigError(path, "broker.ca_file", f"{ca_file} does not exist")
    url_field, url = ("VRS_MQTT_URL", env["VRS_MQTT_URL"]) if env.get("VRS_MQTT_URL") else ("broker.url",
                                                                                           raw.broker.url)
    if not url:
        raise ConfigError(path, "broker.url", "missing: set broker.url in [broker] or VRS_MQTT_URL")
    try:
        broker = parse_broker_url(url, ca_file)
    except ValueError as exc:
        raise ConfigError(path, url_field, f"{exc} (expected mqtt://[user[:password]@]host:port)") from exc
    if broker.username is not None and broker.username != st.device_id:
        raise ConfigError(path, url_field,
                          f"the username {broker.username!r} must be the device id {st.device_id!r}")

    camera = _check_camera(path, base, raw.camera)
    if not 1 <= raw.kiosk.port <= 65535:
        raise ConfigError(path, "kiosk.port", "must be a port number from 1 to 65535")

    p = raw.preset
    preset = Preset(venue_id=st.venue_id, maker=p.maker, lot=p.lot, doctor=p.doctor, status=p.status,
                    administered_on=p.administered_on, unstated_dose=p.unstated_dose)
    try:
        check_preset(preset, japan_today(now))
    except PresetError as exc:
        field = "station.venue_id" if exc.field == "venue_id" else f"preset.{exc.field}"
        raise ConfigError(path, field, exc.message) from exc

    return EdgeConfig(
        path=path, device_id=st.device_id, venue_id=st.venue_id, municipality=st.municipality,
        data_dir=data_dir, private_key=private_key, hub_keys=hub_keys, broker=broker, camera=camera,
        kiosk=raw.kiosk, preset=preset,
    )


def _resolve(base: Path, value: str) -> Path:
    """Relative paths are relative to the config file, so a config directory can be moved as a whole."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _load_private_key(path: Path, key_file: Path) -> Ed25519PrivateKey:
    try:
        return load_private_key_pem(key_file.read_bytes())
    except OSError as exc:
        raise ConfigError(path, "station.key_file", f"cannot read {key_file}: {exc.strerror}") from exc
    except (ValueError, TypeError, ProtocolError) as exc:
        raise ConfigError(path, "station.key_file",
                          f"{key_file} is not an Ed25519 private key in PEM form: {exc}") from exc


def _load_hub_keys(path: Path, key_file: Path) -> tuple[Ed25519PublicKey, ...]:
    field = "station.hub_public_key"
    try:
        doc: Any = json.loads(key_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, field, f"cannot read {key_file}: {exc.strerror}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(path, field, f"{key_file} is not JSON (expected the output of `vrs-hub keys show`)"
                          ) from exc
    jwks = doc.get("keys") if isinstance(doc, dict) and "keys" in doc else doc
    jwks = jwks if isinstance(jwks, list) else [jwks]
    keys: list[Ed25519PublicKey] = []
    for jwk in jwks:
        try:
            if not isinstance(jwk, dict):
                raise ValueError("not a JSON object")
            keys.append(public_key_from_jwk(jwk))
        except (ValueError, TypeError, KeyError, ProtocolError) as exc:
            raise ConfigError(path, field, f"{key_file} does not hold an Ed25519 public JWK: {exc}") from exc
    if not keys:
        raise ConfigError(path, field, f"{key_file} holds no key")
    return tuple(keys)


def _check_camera(path: Path, base: Path, camera: CameraConfig) -> CameraConfig:
    if camera.source == "picamera":
        return camera
    if camera.source == "files":
        if not camera.files:
            raise ConfigError(path, "camera.files", 'source = "files" needs files = ["a.jpg", ...]')
        files = [str(_resolve(base, f)) for f in camera.files]
        for f in files:
            if not Path(f).is_file():
                raise ConfigError(path, "camera.files", f"{f} does not exist")
        return msgspec.structs.replace(camera, files=files)
    if not camera.path:
        raise ConfigError(path, "camera.path", f'source = "{camera.source}" needs path = "..."')
    resolved = _resolve(base, camera.path)
    if camera.source == "folder" and not resolved.is_dir():
        raise ConfigError(path, "camera.path", f"{resolved} is not a folder")
    if camera.source == "video" and not resolved.is_file():
        raise ConfigError(path, "camera.path", f"{resolved} is not a file")
    return msgspec.structs.replace(camera, path=str(resolved))
