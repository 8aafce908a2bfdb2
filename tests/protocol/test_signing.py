"""JWS signing of batches and acks: round trips, every forgery we know of, and a second JOSE library."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from protocol import BatchError, KeyFormatError, SignatureError
from protocol.records import (
    JST,
    MAX_TOKEN_BYTES,
    Ack,
    AckWarning,
    Rejection,
    encode_batch,
    new_record_id,
)
from protocol.signing import (
    ACK_TYP,
    RECORDS_TYP,
    generate_key,
    load_private_key_pem,
    load_public_key_pem,
    peek_kid,
    private_key_to_pem,
    public_jwk,
    public_key_from_jwk,
    public_key_to_pem,
    sign_ack,
    sign_batch,
    verify_ack,
    verify_batch,
)

DEVICE = "st-0001"
SENT_AT = datetime.datetime(2021, 6, 1, 9, 15, 2, tzinfo=JST)
KEY = generate_key()
OTHER_KEY = generate_key()


def record(**changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "record_id": new_record_id(),
        "op": "register",
        "municipality_code": "131016",
        "voucher_no": "0123456789",
        "ticket_kind": "1",
        "dose": 1,
        "status": "vaccinated",
        "administered_on": "2021-06-01",
        "venue_id": "v-131016-001",
        "vaccine": {"maker": "pfizer", "lot": "FA1234"},
        "doctor": "山田 太郎",
        "read": {"source": "ocr", "frames": 3},
        "scanned_at": "2021-06-01T09:14:58.120+09:00",
    }
    fields.update(changes)
    return msgspec.json.encode(fields)


def batch_payload(device_id: str = DEVICE, n: int = 2) -> bytes:
    return encode_batch(device_id=device_id, batch_seq=42, sent_at=SENT_AT, records=[record() for _ in range(n)])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hand_signed(header: dict[str, Any], payload: bytes, key: Ed25519PrivateKey | Ed448PrivateKey) -> str:
    """A JWS built without any JOSE library: RFC 7515 section 5.1, signed with cryptography directly."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


RECORDS_HEADER = {"alg": "Ed25519", "kid": DEVICE, "typ": RECORDS_TYP}


# --- round trips -----------------------------------------------------------------------------------


def test_a_signed_batch_verifies_and_parses() -> None:
    payload = batch_payload()
    token = sign_batch(payload, KEY, DEVICE)
    header = json.loads(unb64(token.split(".")[0]))
    assert header == {"alg": "Ed25519", "kid": DEVICE, "typ": "vrs-records+json"}
    assert peek_kid(token) == DEVICE
    batch = verify_batch(token, KEY.public_key(), expected_kid=DEVICE)
    assert (batch.device_id, batch.batch_seq, len(batch.records)) == (DEVICE, 42, 2)
    assert unb64(token.split(".")[1]) == payload


def test_a_full_batch_fits_under_the_token_limit() -> None:
    token = sign_batch(batch_payload(n=200), KEY, DEVICE)
    assert len(token) < MAX_TOKEN_BYTES
    assert len(verify_batch(token, KEY.public_key(), expected_kid=DEVICE).records) == 200


def test_a_signed_ack_verifies_with_any_current_hub_key() -> None:
    ack = Ack(
        batch_seq=42,
        accepted=["a"],
        rejected=[Rejection(record_id="b", reason="future_date")],
        warnings=[AckWarning(record_id="a", code="dose_order")],
    )
    token = sign_ack(ack, KEY)
    assert json.loads(unb64(token.split(".")[0])) == {"alg": "Ed25519", "kid": "hub", "typ": ACK_TYP}
    assert verify_ack(token, [KEY.public_key()]) == ack
    # During a key rotation the station knows the old and the new key.
    assert verify_ack(token, [OTHER_KEY.public_key(), KEY.public_key()]) == ack
    with pytest.raises(SignatureError):
        verify_ack(token, [OTHER_KEY.public_key()])
    with pytest.raises(SignatureError):
        verify_ack(token, [])


def test_keys_round_trip_through_pem_and_jwk() -> None:
    assert raw_public(load_private_key_pem(private_key_to_pem(KEY))) == raw_public(KEY)
    pub = load_public_key_pem(public_key_to_pem(KEY.public_key()))
    token = sign_batch(batch_payload(), KEY, DEVICE)
    assert verify_batch(token, pub, expected_kid=DEVICE).device_id == DEVICE
    jwk = public_jwk(KEY.public_key(), DEVICE)
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["kid"] == DEVICE and "d" not in jwk
    assert unb64(jwk["x"]) == raw_public(KEY)
    assert verify_batch(token, public_key_from_jwk(jwk), expected_kid=DEVICE).batch_seq == 42


@pytest.mark.parametrize(
    "jwk",
    [
        {},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "X25519", "x": b64(bytes(32))},
        {"kty": "OKP", "crv": "Ed25519"},
        {"kty": "OKP", "crv": "Ed25519", "x": b64(bytes(31))},
        {"kty": "OKP", "crv": "Ed25519", "x": "not base64!"},
        {"kty": "OKP", "crv": "Ed25519", "x": 5},
        {"kty": "OKP", "crv": "Ed25519", "x": b64(bytes(32)), "alg": "EdDSA"},
        {"kty": "OKP", "crv": "Ed25519", "x": b64(raw_public(KEY)), "d": "secret"},
    ],
)
def test_bad_jwks_are_refused(jwk: dict[str, Any]) -> None:
    with pytest.raises(KeyFormatError):
        public_key_from_jwk(jwk)


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n",
        public_key_to_pem(KEY.public_key()),
        Ed448PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    ],
)
def test_bad_private_pems_are_refused(pem: bytes) -> None:
    with pytest.raises(KeyFormatError):
        load_private_key_pem(pem)


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        private_key_to_pem(KEY),
        Ed448PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    ],
)
def test_bad_public_pems_are_refused(pem: bytes) -> None:
    with pytest.raises(KeyFormatError):
        load_public_key_pem(pem)


# --- refusals --------------------------------------------------------------------------------------


def refused(token: str, expected_kid: str = DEVICE) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verify_batch(token, KEY.public_key(), expected_kid=expected_kid)
    assert caught.value.code == "bad_signature"
    return caught.value


def test_the_hand_signed_control_token_is_accepted() -> None:
    # Proves the forgeries below fail for the reason each one tests, not because hand signing is broken.
    token = hand_signed(RECORDS_HEADER, batch_payload(), KEY)
    assert verify_batch(token, KEY.public_key(), expected_kid=DEVICE).device_id == DEVICE


def test_alg_eddsa_is_refused_even_with_a_valid_ed25519_signature() -> None:
    token = hand_signed({**RECORDS_HEADER, "alg": "EdDSA"}, batch_payload(), KEY)
    assert "EdDSA" in str(refused(token))


def test_alg_ed448_is_refused() -> None:
    token = hand_signed({**RECORDS_HEADER, "alg": "Ed448"}, batch_payload(), Ed448PrivateKey.generate())
    refused(token)


@pytest.mark.parametrize("signature", ["", "AAAA"])
def test_alg_none_is_refused(signature: str) -> None:
    token = f"{b64(json.dumps({**RECORDS_HEADER, 'alg': 'none'}).encode())}.{b64(batch_payload())}.{signature}"
    refused(token)


@pytest.mark.parametrize(
    "secret", [raw_public(KEY), public_key_to_pem(KEY.public_key())], ids=["raw-public-key", "pem-public-key"]
)
def test_hs256_with_the_public_key_as_hmac_secret_is_refused(secret: bytes) -> None:
    # The classic alg-confusion forgery: anyone can compute it, since the public key is public.
    signing_input = f"{b64(json.dumps({**RECORDS_HEADER, 'alg': 'HS256'}).encode())}.{b64(batch_payload())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    refused(f"{signing_input}.{b64(mac)}")


def test_wrong_kid_is_refused() -> None:
    token = sign_batch(batch_payload(), KEY, DEVICE)
    refused(token, expected_kid="st-0002")


def test_a_batch_for_another_device_is_refused_even_when_validly_signed() -> None:
    token = sign_batch(batch_payload(device_id="st-0002"), KEY, DEVICE)
    assert "st-0002" in str(refused(token))


def test_a_key_of_another_device_is_refused() -> None:
    token = sign_batch(batch_payload(), OTHER_KEY, DEVICE)
    refused(token)


def test_tampered_payload_is_refused() -> None:
    header, payload, signature = sign_batch(batch_payload(), KEY, DEVICE).split(".")
    changed = unb64(payload).replace(b'"dose":1', b'"dose":2', 1)
    assert changed != unb64(payload)
    refused(f"{header}.{b64(changed)}.{signature}")


@pytest.mark.parametrize("change", [{"typ": "JWT"}, {"kid": "st-0002"}, {"typ": RECORDS_TYP + " "}])
def test_tampered_header_is_refused(change: dict[str, str]) -> None:
    _, payload, signature = sign_batch(batch_payload(), KEY, DEVICE).split(".")
    header = b64(json.dumps({**RECORDS_HEADER, **change}).encode())
    refused(f"{header}.{payload}.{signature}", expected_kid=change.get("kid", DEVICE))


def test_tampered_signature_is_refused() -> None:
    header, payload, signature = sign_batch(batch_payload(), KEY, DEVICE).split(".")
    sig = bytearray(unb64(signature))
    sig[0] ^= 1
    refused(f"{header}.{payload}.{b64(bytes(sig))}")
    refused(f"{header}.{payload}.{b64(bytes(sig[:-1]))}")


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"], "exp": 1},
        {"b64": False, "crit": ["b64"]},
        {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(raw_public(OTHER_KEY))}},
        {"jku": "https://attacker.example/keys"},
        {"x5u": "https://attacker.example/cert"},
        {"cty": "json"},
    ],
)
def test_any_header_member_beyond_alg_kid_typ_is_refused_even_when_signed(extra: dict[str, Any]) -> None:
    refused(hand_signed({**RECORDS_HEADER, **extra}, batch_payload(), KEY))


def test_an_ack_token_is_not_accepted_as_a_batch_and_vice_versa() -> None:
    # Same key on both sides (a test shortcut) so that only typ and kid tell them apart.
    ack_token = sign_ack(Ack(batch_seq=1, accepted=[], rejected=[], warnings=[]), KEY)
    with pytest.raises(SignatureError):
        verify_batch(ack_token, KEY.public_key(), expected_kid="hub")
    batch_as_hub = hand_signed({**RECORDS_HEADER, "kid": "hub"}, batch_payload(device_id="hub"), KEY)
    with pytest.raises(SignatureError):
        verify_ack(batch_as_hub, [KEY.public_key()])


def test_an_oversized_token_is_refused_before_parsing() -> None:
    token = sign_batch(batch_payload(), KEY, DEVICE)
    header, payload, signature = token.split(".")
    padded = f"{header}.{payload}{'A' * (MAX_TOKEN_BYTES - len(token) + 4)}.{signature}"
    assert len(padded) > MAX_TOKEN_BYTES
    assert "limit" in str(refused(padded))
    with pytest.raises(SignatureError):
        peek_kid(padded)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "....",
        "eyJ.eyJ.eyJ",
        "!!!.???.***",
        "ZXhhbXBsZQ.ZXhhbXBsZQ.ZXhhbXBsZQ",
        f"{b64(b'[1,2]')}.{b64(b'{}')}.AAAA",
        f"{b64(json.dumps(RECORDS_HEADER).encode())}.!!!.AAAA",
        f"{b64(json.dumps(RECORDS_HEADER).encode())}==.{b64(b'{}')}.AAAA",  # padding is not base64url
        "\u3042.\u3044.\u3046",
    ],
)
def test_garbage_is_refused(token: str) -> None:
    refused(token)


@pytest.mark.parametrize(
    "header",
    [{"alg": "Ed25519", "typ": RECORDS_TYP}, {"alg": "Ed25519", "kid": 5, "typ": RECORDS_TYP}, {"kid": DEVICE}],
)
def test_peek_kid_refuses_headers_without_a_usable_kid(header: dict[str, Any]) -> None:
    token = f"{b64(json.dumps(header).encode())}.{b64(b'{}')}.AAAA"
    with pytest.raises(SignatureError):
        peek_kid(token)


def test_a_validly_signed_payload_that_is_not_a_batch_is_a_batch_error() -> None:
    token = hand_signed(RECORDS_HEADER, b'{"device_id": "st-0001"}', KEY)
    with pytest.raises(BatchError):
        verify_batch(token, KEY.public_key(), expected_kid=DEVICE)


def test_sign_batch_refuses_to_sign_what_nobody_could_read() -> None:
    with pytest.raises(BatchError):
        sign_batch(b"not a batch", KEY, DEVICE)
    with pytest.raises(SignatureError):
        sign_batch(batch_payload(), KEY, "st/0001")


# --- interoperability with an independent JOSE library ----------------------------------------------


def jwcrypto_key(private: Ed25519PrivateKey | None = None, public: bool = False) -> jwcrypto_jwk.JWK:
    key = private or KEY
    pem = public_key_to_pem(key.public_key()) if public else private_key_to_pem(key)
    return jwcrypto_jwk.JWK.from_pem(pem)


def test_a_batch_signed_by_jwcrypto_verifies_with_ours() -> None:
    payload = batch_payload()
    signer = jwcrypto_jws.JWS(payload)
    signer.add_signature(jwcrypto_key(), alg="Ed25519", protected=json.dumps(RECORDS_HEADER))
    token = signer.serialize(compact=True)
    batch = verify_batch(token, KEY.public_key(), expected_kid=DEVICE)
    assert batch.batch_seq == 42 and len(batch.records) == 2


def test_a_batch_signed_by_ours_verifies_with_jwcrypto() -> None:
    payload = batch_payload()
    token = sign_batch(payload, KEY, DEVICE)
    verifier = jwcrypto_jws.JWS()
    verifier.deserialize(token)
    verifier.verify(jwcrypto_key(public=True), alg="Ed25519")
    assert verifier.payload == payload
    assert verifier.jose_header == RECORDS_HEADER


def test_jwcrypto_also_rejects_our_token_under_another_key() -> None:
    verifier = jwcrypto_jws.JWS()
    verifier.deserialize(sign_batch(batch_payload(), KEY, DEVICE))
    with pytest.raises(jwcrypto_jws.InvalidJWSSignature):
        verifier.verify(jwcrypto_key(OTHER_KEY, public=True), alg="Ed25519")


def test_our_public_jwk_is_usable_by_jwcrypto() -> None:
    token = sign_batch(batch_payload(), KEY, DEVICE)
    verifier = jwcrypto_jws.JWS()
    verifier.deserialize(token)
    verifier.verify(jwcrypto_jwk.JWK(**public_jwk(KEY.public_key(), DEVICE)), alg="Ed25519")
    assert verifier.payload == unb64(token.split(".")[1])


def test_a_batch_signed_by_ours_verifies_by_hand_per_rfc_7515() -> None:
    # No JOSE library at all: the signature is Ed25519 over ASCII(header "." payload), base64url encoded.
    token = sign_batch(batch_payload(), KEY, DEVICE)
    header, payload, signature = token.split(".")
    assert "=" not in token
    KEY.public_key().verify(unb64(signature), f"{header}.{payload}".encode("ascii"))


def test_a_signature_of_the_wrong_length_or_a_mangled_one_is_refused() -> None:
    token = sign_batch(batch_payload(), KEY, DEVICE)
    header, payload, signature = token.split(".")
    raw = unb64(signature)
    shortened = base64.urlsafe_b64encode(raw[:63]).rstrip(b"=").decode()
    # S + L (the group order) is the classic malleated signature; a strict verifier must refuse it.
    order = 2**252 + 27742317777372353535851937790883648493
    s_plus_l = (int.from_bytes(raw[32:], "little") + order).to_bytes(32, "little")
    malleated = base64.urlsafe_b64encode(raw[:32] + s_plus_l).rstrip(b"=").decode()
    for bad in (shortened, malleated, signature[:-2] + ("AA" if signature[-2:] != "AA" else "AQ"), ""):
        with pytest.raises(SignatureError):
            verify_batch(f"{header}.{payload}.{bad}", KEY.public_key(), expected_kid=DEVICE)

