"""The station's TOML config: a good file loads; every wrong setting is named, with what is expected."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import ConfigError, load_config
from protocol.records import JST
from protocol.signing import generate_key, private_key_to_pem, public_jwk
from tests.edge.station_files import station_config, to_toml, write_config

NOW = datetime.datetime(2021, 6, 1, 9, 0, tzinfo=JST)
BIN = Path(sys.executable).parent


@pytest.fixture
def hub_key():
    return generate_key()


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "etc"


def good(base: Path, hub_key, **tables) -> dict:
    return station_config(base, broker_url="mqtt://127.0.0.1:1883", hub_key=hub_key, **tables)


def test_a_good_config_loads_with_keys_and_paths_resolved(base: Path, hub_key) -> None:
    config = load_config(write_config(base, good(base, hub_key)), now=NOW)
    assert config.device_id == "st-0001" and config.venue_id == "v-131016-001"
    assert config.municipality == "131016"
    assert config.broker.host == "127.0.0.1" and config.broker.port == 1883 and not config.broker.tls
    assert config.outbox_path == base / "data" / "outbox.sqlite" and (base / "data").is_dir()
    assert config.camera.path == str(base / "frames")
    assert config.preset.venue_id == "v-131016-001" and config.preset.maker == "pfizer"
    assert config.preset.administered_on is None
    assert len(config.hub_keys) == 1
    assert config.hub_keys[0].public_bytes_raw() == hub_key.public_key().public_bytes_raw()


def test_a_key_rollover_file_with_two_hub_keys_loads(base: Path, hub_key) -> None:
    cfg = good(base, hub_key)
    path = write_config(base, cfg)
    other = generate_key()
    (base / "hub.jwk").write_text(json.dumps({"keys": [public_jwk(hub_key.public_key(), "hub"),
                                                        public_jwk(other.public_key(), "hub")]}))
    assert len(load_config(path, now=NOW).hub_keys) == 2


def expect(base: Path, cfg: dict, field: str, words: str) -> ConfigError:
    with pytest.raises(ConfigError) as error:
        load_config(write_config(base, cfg), now=NOW)
    assert error.value.field == field, str(error.value)
    assert words in error.value.message, str(error.value)
    assert str(base / "station.toml") in str(error.value)
    return error.value


@pytest.mark.parametrize(
    ("table", "change", "field", "words"),
    [
        ("station", {"device_id": "st 0001"}, "station.device_id", "1-64 characters"),
        ("station", {"device_id": ".."}, "station.device_id", "1-64 characters"),
        ("station", {"venue_id": ""}, "station.venue_id", "1-64 characters"),
        ("station", {"municipality": "271276"}, "station.municipality", "not a municipality"),  # a ward
        ("station", {"municipality": "131017"}, "station.municipality", "check digit"),
        ("station", {"devce_id": "typo"}, "station", "devce_id"),
        ("station", {"key_file": "missing.pem"}, "station.key_file", "cannot read"),
        ("station", {"hub_public_key": "missing.jwk"}, "station.hub_public_key", "cannot read"),
        ("broker", {"url": "http://hub:1883"}, "broker.url", "scheme"),
        ("broker", {"url": "mqtt://hub:port"}, "broker.url", "port"),
        ("broker", {"url": "mqtt://someone-else:pw@hub:1883"}, "broker.url", "device id"),
        ("broker", {"ca_file": "nope.pem"}, "broker.ca_file", "does not exist"),
        ("camera", {"source": "webcam"}, "camera.source", "picamera, folder, files, video"),
        ("camera", {"path": "no-such-folder"}, "camera.path", "not a folder"),
        ("kiosk", {"port": "eighty"}, "kiosk.port", "Expected `int`"),
        ("kiosk", {"port": 70000}, "kiosk.port", "65535"),
        ("preset", {"maker": "sputnik"}, "preset.maker", "pfizer, moderna"),
        ("preset", {"lot": "X" * 40}, "preset.lot", "32"),
        ("preset", {"doctor": ""}, "preset.doctor", "医師名"),
        ("preset", {"status": "done"}, "preset.status", "vaccinated, screened_only"),
        ("preset", {"unstated_dose": 12}, "preset.unstated_dose", "1〜9"),
    ],
)
def test_each_wrong_setting_is_named(base: Path, hub_key, table: str, change: dict, field: str, words: str) -> None:
    cfg = good(base, hub_key)
    cfg[table] = {**cfg[table], **change}
    expect(base, cfg, field, words)


def test_a_future_preset_date_is_refused(base: Path, hub_key) -> None:
    cfg = good(base, hub_key)
    path = write_config(base, cfg)
    path.write_text(path.read_text().replace("[preset]\n", "[preset]\nadministered_on = 2021-06-02\n"))
    with pytest.raises(ConfigError) as error:
        load_config(path, now=NOW)
    assert error.value.field == "preset.administered_on"


def test_vrs_mqtt_url_in_the_environment_takes_the_place_of_broker_url(base: Path, hub_key) -> None:
    cfg = good(base, hub_key)
    del cfg["broker"]
    path = write_config(base, cfg)
    config = load_config(path, env={"VRS_MQTT_URL": "mqtts://st-0001:pw@hub.example:8883"}, now=NOW)
    assert (config.broker.host, config.broker.tls, config.broker.password) == ("hub.example", True, "pw")
    with pytest.raises(ConfigError) as error:
        load_config(path, env={"VRS_MQTT_URL": "tcp://hub"}, now=NOW)
    assert error.value.field == "VRS_MQTT_URL"
    with pytest.raises(ConfigError) as error:
        load_config(path, env={}, now=NOW)
    assert error.value.field == "broker.url" and "VRS_MQTT_URL" in error.value.message


def test_missing_tables_and_settings_are_named(base: Path, hub_key) -> None:
    cfg = good(base, hub_key)
    del cfg["preset"]
    expect(base, cfg, "", "preset")
    cfg = good(base, hub_key)
    del cfg["station"]["key_file"]
    expect(base, cfg, "station", "key_file")


def test_files_that_are_not_keys_are_refused(base: Path, hub_key) -> None:
    cfg = good(base, hub_key)
    path = write_config(base, cfg)
    (base / "station.pem").write_text("-----BEGIN NONSENSE-----\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, now=NOW)
    assert error.value.field == "station.key_file"

    cfg = good(base, hub_key)
    path = write_config(base, cfg)
    (base / "hub.jwk").write_text("not json")
    with pytest.raises(ConfigError, match="vrs-hub keys show"):
        load_config(path, now=NOW)
    # A JWK that carries the hub's private key must never be installed on a station.
    private = public_jwk(hub_key.public_key(), "hub") | {"d": "AAAA"}
    (base / "hub.jwk").write_text(json.dumps(private))
    with pytest.raises(ConfigError) as error:
        load_config(path, now=NOW)
    assert error.value.field == "station.hub_public_key"
    (base / "hub.jwk").write_text(json.dumps({"keys": []}))
    with pytest.raises(ConfigError, match="no key"):
        load_config(path, now=NOW)
    (base / "hub.jwk").write_bytes(private_key_to_pem(hub_key))  # PEM where a JWK belongs
    with pytest.raises(ConfigError):
        load_config(path, now=NOW)


def test_not_toml_and_no_file(base: Path) -> None:
    base.mkdir()
    (base / "station.toml").write_text("[station\ndevice_id = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(base / "station.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(base / "absent.toml")
    (base / "binary.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError):
        load_config(base / "binary.toml")


def test_the_camera_sources(base: Path, hub_key) -> None:
    cfg = good(base, hub_key, camera={"source": "picamera"})
    assert load_config(write_config(base, cfg), now=NOW).camera.source == "picamera"
    (base / "a.png").write_bytes(b"x")
    cfg = good(base, hub_key, camera={"source": "files", "files": ["a.png"]})
    assert load_config(write_config(base, cfg), now=NOW).camera.files == [str(base / "a.png")]
    cfg = good(base, hub_key, camera={"source": "files", "files": ["a.png", "b.png"]})
    expect(base, cfg, "camera.files", "b.png")
    cfg = good(base, hub_key, camera={"source": "video"})
    expect(base, cfg, "camera.path", "needs path")


def test_vrs_edge_run_names_the_bad_setting_and_exits_2(base: Path, hub_key) -> None:
    cfg = good(base, hub_key)
    cfg["broker"]["url"] = "ftp://hub"
    path = write_config(base, cfg)
    env = {k: v for k, v in os.environ.items() if k != "VRS_MQTT_URL"}
    done = subprocess.run([str(BIN / "vrs-edge"), "run", "--config", str(path)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 2
    assert "broker.url" in done.stderr and "mqtt://" in done.stderr


def test_to_toml_round_trips() -> None:
    import tomllib

    cfg = {"a": {"x": "山田", "n": 3, "flag": True, "files": ["p", "q"]}}
    assert tomllib.loads(to_toml(cfg)) == cfg
