"""Checks of incoming messages before anything is written (pure: no broker, no database)."""

from __future__ import annotations

import datetime
import json

import msgspec
import pytest
from jwcrypto import jwk, jws

from hub.db.devices import DeviceKey
from hub.errors import BatchRefused
from hub.ingest.verify import KeyCache, check_batch
from protocol.records import JST, MAX_TOKEN_BYTES, japan_today
from protocol.signing import private_key_to_pem
from protocol.topics import records_topic, status_topic
from tests.hub.stations import Station

TODAY = japan_today(datetime.datetime.now(JST))


def _devices(*stations: Station, status: str = "active") -> dict[str, DeviceKey]:
    return {s.device_id: DeviceKey(s.device_id, s.venue_id, status, s.public_pem) for s in stations}


def _refusal(topic: str, payload: bytes, devices: dict[str, DeviceKey]) -> str:
    with pytest.raises(BatchRefused) as info:
        check_batch(topic, payload, devices, KeyCache(), TODAY)
    return info.value.reason


def test_a_valid_batch_passes() -> None:
    st = Station()
    recs = [st.record(), st.record()]
    checked = check_batch(st.topic, st.batch(recs, seq=7), _devices(st), KeyCache(), TODAY)
    assert checked.batch_seq == 7 and checked.records == recs and checked.rejected == []


def test_forged_signature_is_refused_whole() -> None:
    st, forger = Station(), Station()  # same device id, another key
    assert _refusal(st.topic, forger.batch([forger.record()]), _devices(st)) == "bad_signature"
    token = st.batch([st.record()]).decode()
    head, body, sig = token.split(".")
    tampered = ".".join([head, body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB"), sig]).encode()
    assert _refusal(st.topic, tampered, _devices(st)) == "bad_signature"


def test_unknown_device_is_refused() -> None:
    st = Station()
    assert _refusal(st.topic, st.batch([st.record()]), {}) == "unknown_device"


def test_publishing_on_another_stations_topic_is_refused() -> None:
    st, other = Station("st-1"), Station("st-2")
    assert _refusal(other.topic, st.batch([st.record()]), _devices(st, other)) == "topic_mismatch"
    assert _refusal(status_topic(st.device_id), st.batch([st.record()]), _devices(st)) == "wrong_topic"


@pytest.mark.parametrize("payload", [b"", b"not json", b"{}", b"\xff\xfe\x00garbage", b"a.b.c", "é.b.c".encode()])
def test_garbage_is_refused(payload: bytes) -> None:
    st = Station()
    assert _refusal(st.topic, payload, _devices(st)) == "bad_signature"


def test_oversized_payload_is_refused_before_parsing() -> None:
    st = Station()
    assert _refusal(st.topic, b"x" * (MAX_TOKEN_BYTES + 1), _devices(st)) == "oversized"


def test_a_revoked_station_gets_every_record_rejected() -> None:
    st = Station()
    recs = [st.record(), st.record()]
    checked = check_batch(st.topic, st.batch(recs), _devices(st, status="revoked"), KeyCache(), TODAY)
    assert checked.records == []
    assert [(r.record_id, r.reason) for r in checked.rejected] == [(r.record_id, "revoked_device") for r in recs]


def test_records_for_another_venue_and_invalid_records_are_rejected_one_by_one() -> None:
    st = Station()
    good, elsewhere = st.record(), st.record(venue_id="v-other")
    future = st.record(administered_on=TODAY + datetime.timedelta(days=2))
    bad_muni = msgspec.json.decode(msgspec.json.encode(st.record()))
    bad_muni["municipality_code"] = "271276"  # a ward of Osaka, not a municipality
    raw = [msgspec.json.encode(r) for r in (good, elsewhere, future)] + [msgspec.json.encode(bad_muni)]
    checked = check_batch(st.topic, st.batch(raw), _devices(st), KeyCache(), TODAY)  # type: ignore[arg-type]
    assert checked.records == [good]
    assert [(r.record_id, r.reason) for r in checked.rejected] == [
        (elsewhere.record_id, "venue_mismatch"), (future.record_id, "future_date"),
        (bad_muni["record_id"], "unknown_municipality")]


def test_a_batch_signed_by_an_independent_jose_library_passes() -> None:
    st = Station()
    key = jwk.JWK.from_pem(private_key_to_pem(st.key))
    signer = jws.JWS(st.payload([st.record()], seq=3))
    signer.add_signature(key, alg="Ed25519",
                         protected=json.dumps({"alg": "Ed25519", "kid": st.device_id, "typ": "vrs-records+json"}))
    token = signer.serialize(compact=True)
    checked = check_batch(records_topic(st.device_id), token.encode(), _devices(st), KeyCache(), TODAY)
    assert checked.batch_seq == 3 and len(checked.records) == 1


def test_the_deprecated_eddsa_alg_is_refused() -> None:
    st = Station()
    key = jwk.JWK.from_pem(private_key_to_pem(st.key))
    signer = jws.JWS(st.payload([st.record()]))
    signer.allowed_algs = ["EdDSA"]
    signer.add_signature(key, alg="EdDSA",
                         protected=json.dumps({"alg": "EdDSA", "kid": st.device_id, "typ": "vrs-records+json"}))
    assert _refusal(st.topic, signer.serialize(compact=True).encode(), _devices(st)) == "bad_signature"
