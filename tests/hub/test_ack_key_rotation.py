"""Rotating the hub's ack key in two steps: a station given `vrs-hub keys show --all` after step 1 verifies the
acks of the old and the new key, so at no moment does it ignore the hub; the old key stays published."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from edge.config import _load_hub_keys
from hub.cli import main
from hub.keys import load_hub_key
from protocol.errors import SignatureError
from protocol.records import Ack
from protocol.signing import sign_ack, verify_ack


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def station_keys(tmp_path: Path, text: str) -> list[object]:
    path = tmp_path / "hub.jwk"
    path.write_text(text)
    return list(_load_hub_keys(tmp_path / "station.toml", path))


def test_two_step_rotation_never_leaves_a_station_unable_to_verify_acks(
        hub_key_files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    key_file, _ = hub_key_files
    monkeypatch.setenv("VRS_HUB_KEY_FILE", str(key_file))
    ack = Ack(batch_seq=7, accepted=[], rejected=[], warnings=[])
    old_key = load_hub_key(key_file)

    code, out, err = run(capsys, "keys", "rotate")
    assert code == 1 and "--prepare" in err  # step 2 before step 1 changes nothing
    assert load_hub_key(key_file).public_key() == old_key.public_key()

    code, out, _ = run(capsys, "keys", "rotate", "--prepare")
    assert code == 0 and "created the next key" in out
    next_file = key_file.with_name(key_file.name + ".next")
    assert stat.S_IMODE(next_file.stat().st_mode) == 0o600
    _, shown_one, _ = run(capsys, "keys", "show")
    assert json.loads(shown_one)["x"]  # still the current key alone, as DESIGN.md fixes it
    _, during, _ = run(capsys, "keys", "show", "--all")
    assert len(json.loads(during)["keys"]) == 2
    station = station_keys(tmp_path, during)
    verify_ack(sign_ack(ack, old_key), station)  # acks of today still verify
    verify_ack(sign_ack(ack, load_hub_key(next_file)), station)  # and those after step 2 already do

    code, out, _ = run(capsys, "keys", "rotate")
    assert code == 0 and "within seconds" in out and not next_file.exists()
    new_key = load_hub_key(key_file)
    assert new_key.public_key() != old_key.public_key()
    verify_ack(sign_ack(ack, new_key), station)
    _, after, _ = run(capsys, "keys", "show", "--all")
    published = json.loads(after)["keys"]
    assert published[0] == json.loads(run(capsys, "keys", "show")[1])
    assert len(published) == 2 and published[1] == json.loads(shown_one)  # the old key is still published
    # A station that only ever had the old key does not accept the new key's acks: why step 1 comes first.
    with pytest.raises(SignatureError):
        verify_ack(sign_ack(ack, new_key), station_keys(tmp_path, shown_one))


def test_a_second_prepare_keeps_the_waiting_key(hub_key_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    key_file, _ = hub_key_files
    monkeypatch.setenv("VRS_HUB_KEY_FILE", str(key_file))
    run(capsys, "keys", "rotate", "--prepare")
    next_file = key_file.with_name(key_file.name + ".next")
    first = next_file.read_bytes()
    code, out, _ = run(capsys, "keys", "rotate", "--prepare")
    assert code == 0 and "kept the next key" in out and next_file.read_bytes() == first
