"""Cards we issue: their content, form and QR code meet the specification, and the verifier refuses
tampered, wrongly signed, untrusted, revoked and premature cards with a clear reason."""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from hub.certificates import card, issuer_keys, jws, numeric, qr, sources
from hub.certificates.errors import CardRejected, CardTooLarge, IssuerKeyError, NothingToCertify
from hub.certificates.fhir import Dose, Person, build_bundle
from hub.certificates.qr_segments import read_layout
from hub.certificates.revocation import Crl, new_rid
from hub.certificates.verify import TrustedIssuer, TrustStore, verify_text

ISS = "https://vc.vrs.example.jp/issuer"
NOW = datetime.datetime(2021, 12, 20, 9, 0, tzinfo=datetime.UTC)
NBF = int(NOW.timestamp())
PERSON = Person(name="山田 太郎", birth_date=datetime.date(1950, 4, 1))
DOSES = [
    Dose(2, datetime.date(2021, 7, 1), "pfizer", "FA7338", "渋谷区集団接種会場"),
    Dose(1, datetime.date(2021, 6, 10), "pfizer", "EY0583", "渋谷区集団接種会場"),
    Dose(3, datetime.date(2021, 12, 15), "moderna", "000123A", "渋谷区集団接種会場"),
    Dose(4, datetime.date(2021, 12, 16), "novavax", "X1", "渋谷区集団接種会場", status="screened_only"),
]


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def issue(key: ec.EllipticCurvePrivateKey, rid: str | None = None, doses: list[Dose] = DOSES,
          nbf: int = NBF) -> card.IssuedCard:
    return card.sign_card(key, ISS, nbf, build_bundle(PERSON, doses), rid)


def trust_for(key: ec.EllipticCurvePrivateKey, crl: Crl | None = None) -> TrustStore:
    pub = jws.public_jwk(key.public_key())
    return TrustStore.of(TrustedIssuer(ISS, "VRS test hub", [pub], {pub.kid: crl} if crl else {}))


def test_bundle_lists_vaccinated_doses_in_order_with_cvx_codes_and_never_screened_only() -> None:
    bundle = build_bundle(PERSON, DOSES)
    patient = bundle["entry"][0]["resource"]
    assert patient == {"resourceType": "Patient", "name": [{"family": "山田", "given": ["太郎"]}],
                       "birthDate": "1950-04-01"}
    immunizations = [e["resource"] for e in bundle["entry"][1:]]
    assert [(i["occurrenceDateTime"], i["vaccineCode"]["coding"][0]["code"], i["lotNumber"]) for i in immunizations] \
        == [("2021-06-10", "208", "EY0583"), ("2021-07-01", "208", "FA7338"), ("2021-12-15", "207", "000123A")]
    assert all(i["patient"] == {"reference": "resource:0"} and i["status"] == "completed" for i in immunizations)
    assert [e["fullUrl"] for e in bundle["entry"]] == ["resource:0", "resource:1", "resource:2", "resource:3"]
    assert immunizations[0]["performer"] == [{"actor": {"display": "渋谷区集団接種会場"}}]


@pytest.mark.parametrize(("maker", "cvx"), [("pfizer", "208"), ("moderna", "207"), ("astrazeneca", "210"),
                                            ("novavax", "211")])
def test_each_maker_gets_its_cvx_code(maker: str, cvx: str) -> None:
    bundle = build_bundle(PERSON, [Dose(1, datetime.date(2021, 6, 1), maker, "L1", "会場")])
    assert bundle["entry"][1]["resource"]["vaccineCode"]["coding"] == [
        {"system": "http://hl7.org/fhir/sid/cvx", "code": cvx}]


def test_a_resident_with_only_screened_doses_gets_no_card() -> None:
    with pytest.raises(NothingToCertify):
        build_bundle(PERSON, [DOSES[3]])


def test_issued_card_has_the_header_payload_and_signature_the_spec_requires(key: ec.EllipticCurvePrivateKey) -> None:
    issued = issue(key, rid="abc")
    header_b64, payload_b64, sig_b64 = issued.jws.split(".")
    header = json.loads(b64d(header_b64))
    jwk = jc_jwk.JWK.from_pyca(key.public_key())
    assert header == {"zip": "DEF", "alg": "ES256", "kid": jwk.thumbprint()}  # RFC 7638, computed independently
    raw = zlib.decompress(b64d(payload_b64), -15)  # raw DEFLATE, no zlib header
    payload = json.loads(raw)
    assert raw == json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()  # minified
    assert payload["iss"] == ISS and payload["nbf"] == NBF
    assert payload["vc"]["type"] == ["https://smarthealth.cards#health-card"]
    assert payload["vc"]["credentialSubject"]["fhirVersion"] == "4.0.1"
    assert payload["vc"]["rid"] == "abc"
    sig = b64d(sig_b64)
    assert len(sig) == 64  # JOSE raw r||s, not DER
    # An independent JOSE library accepts the signature.
    token = jc_jws.JWS()
    token.deserialize(issued.jws)
    token.verify(jwk, alg="ES256")


def test_qr_is_a_single_code_of_version_22_at_most_with_byte_then_numeric_segments(
        key: ec.EllipticCurvePrivateKey) -> None:
    issued = issue(key, rid=new_rid())
    assert issued.qr_text.startswith("shc:/") and issued.qr_text[5:].isdigit()
    assert numeric.decode(issued.qr_text) == issued.jws
    code = qr.make(issued.qr_text)
    layout = read_layout([list(row) for row in code.matrix])
    assert layout.version <= 22
    assert [(s.mode, s.text) for s in layout.segments] == [("byte", "shc:/"), ("numeric", issued.qr_text[5:])]


def test_png_and_svg_read_back_as_the_same_card(key: ec.EllipticCurvePrivateKey) -> None:
    issued = issue(key)
    read = qr.read_image(qr.png(issued.qr_text))
    assert read.text == issued.qr_text
    assert read.layout is not None and [s.mode for s in read.layout.segments] == ["byte", "numeric"]
    assert read.version <= 22
    svg = qr.svg(issued.qr_text).decode()
    assert svg.startswith("<?xml") and "<svg" in svg and "<path" in svg


def test_card_verifies_from_every_form_it_is_handed_out_in(key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    issued = issue(key)
    trust = trust_for(key)
    (tmp_path / "card.smart-health-card").write_bytes(card.file_content([issued.jws]))
    (tmp_path / "card.png").write_bytes(qr.png(issued.qr_text))
    (tmp_path / "card.txt").write_text(issued.qr_text + "\n")
    for arg in (issued.qr_text, issued.jws, *(str(tmp_path / n) for n in ("card.smart-health-card", "card.png",
                                                                          "card.txt"))):
        (source,) = sources.from_argument(arg)
        verified = sources.verify_source(source, trust, NOW)
        assert verified.summary.name == "山田 太郎"
        assert verified.summary.birth_date == "1950-04-01"
        assert [(d.date, d.maker, d.lot) for d in verified.summary.doses] == [
            ("2021-06-10", "pfizer", "EY0583"), ("2021-07-01", "pfizer", "FA7338"),
            ("2021-12-15", "moderna", "000123A")]


def test_a_card_too_big_for_one_qr_code_is_refused_not_chunked(key: ec.EllipticCurvePrivateKey) -> None:
    # Random lots and venue names: DEFLATE cannot shrink them, as it would repeated text.
    many = [Dose(n, datetime.date(2021, 6, n), "pfizer", secrets.token_hex(24), secrets.token_urlsafe(60))
            for n in range(1, 10)]
    with pytest.raises(CardTooLarge, match="version 22"):
        issue(key, doses=many)


def reason(text: str, trust: TrustStore) -> str:
    with pytest.raises(CardRejected) as info:
        verify_text(text, trust, NOW)
    return info.value.reason


def test_tampered_card_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    issued = issue(key)
    h, p, s = issued.jws.split(".")
    body = json.loads(zlib.decompress(b64d(p), -15))
    body["vc"]["credentialSubject"]["fhirBundle"]["entry"][0]["resource"]["birthDate"] = "1990-04-01"
    forged = f"{h}.{jws.b64url(zlib.compress(json.dumps(body).encode(), 9)[2:-4])}.{s}"
    assert reason(forged, trust_for(key)) == "bad_signature"
    # One changed digit of the QR text breaks the signature too.
    digits = list(issued.qr_text)
    mid = len(digits) // 2 // 2 * 2  # the first digit of a pair, inside the payload
    digits[mid] = "1" if digits[mid] != "1" else "2"
    assert reason("".join(digits), trust_for(key)) in {"bad_signature", "bad_jws", "bad_deflate"}


def test_card_signed_by_someone_else_with_our_kid_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    forged = jws.sign(other, jws.public_jwk(key.public_key()).kid, card.payload(ISS, NBF, build_bundle(PERSON, DOSES),
                                                                                None))
    assert reason(forged, trust_for(key)) == "bad_signature"


def resign(key: ec.EllipticCurvePrivateKey, header: dict[str, str], payload: bytes) -> str:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    signing_input = (jws.b64url(json.dumps(header).encode()) + "." + jws.b64url(comp.compress(payload) + comp.flush()))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + jws.b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


@pytest.mark.parametrize("alg", ["ES384", "HS256", "none", "EdDSA"])
def test_wrong_alg_is_refused(key: ec.EllipticCurvePrivateKey, alg: str) -> None:
    kid = jws.public_jwk(key.public_key()).kid
    body = card.payload(ISS, NBF, build_bundle(PERSON, DOSES), None)
    token = resign(key, {"zip": "DEF", "alg": alg, "kid": kid}, body)
    assert reason(token, trust_for(key)) == "wrong_alg"


def test_unknown_issuer_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    issued = card.sign_card(key, "https://evil.example/issuer", NBF, build_bundle(PERSON, DOSES), None)
    assert reason(issued.qr_text, trust_for(key)) == "untrusted_issuer"


def test_revoked_rid_is_refused_and_other_cards_of_the_key_are_not(key: ec.EllipticCurvePrivateKey) -> None:
    revoked, kept = issue(key, rid=new_rid()), issue(key, rid=new_rid())
    kid = jws.public_jwk(key.public_key()).kid
    trust = trust_for(key, Crl(kid=kid, ctr=1, rids=[revoked.rid or ""]))
    assert reason(revoked.qr_text, trust) == "revoked"
    assert verify_text(kept.qr_text, trust, NOW).rid == kept.rid


def test_rid_with_timestamp_revokes_only_cards_issued_before_it(key: ec.EllipticCurvePrivateKey) -> None:
    kid = jws.public_jwk(key.public_key()).kid
    old, new = issue(key, rid="sameRid", nbf=NBF - 100), issue(key, rid="sameRid", nbf=NBF)
    trust = trust_for(key, Crl(kid=kid, ctr=2, rids=[f"sameRid.{NBF - 50}"]))
    assert reason(old.qr_text, trust) == "revoked"
    assert verify_text(new.qr_text, trust, NOW).rid == "sameRid"


def test_card_from_the_future_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    assert reason(issue(key, nbf=NBF + 3600).qr_text, trust_for(key)) == "not_yet_valid"


def test_payload_bomb_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    kid = jws.public_jwk(key.public_key()).kid
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = comp.compress(b" " * (50 << 20)) + comp.flush()
    token = f"{jws.b64url(json.dumps({'zip': 'DEF', 'alg': 'ES256', 'kid': kid}).encode())}.{jws.b64url(bomb)}.AA"
    assert reason(token, trust_for(key)) == "bad_deflate"


@pytest.mark.parametrize("text", ["", "shc:/", "shc:/1", "shc:/ab12", "eyJ", "a.b", "a.b.c.d", "shc:/9999",
                                  "\u0000shc:/00", "shc:/１２"])
def test_garbage_is_refused_with_a_reason(text: str, key: ec.EllipticCurvePrivateKey) -> None:
    assert reason(text, trust_for(key))


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=600))
def test_numeric_form_round_trips(text: str) -> None:
    assert numeric.decode(numeric.encode(text)) == text


def test_key_rotation_keeps_old_public_keys_published(tmp_path: Path) -> None:
    keydir = tmp_path / "issuer"
    assert issuer_keys.ensure(keydir) is True
    assert issuer_keys.ensure(keydir) is False
    first = issuer_keys.load(keydir)
    old_card = card.sign_card(first.signing, ISS, NBF, build_bundle(PERSON, DOSES), None)
    new_kid = issuer_keys.rotate(keydir)
    second = issuer_keys.load(keydir)
    assert second.kid == new_kid != first.kid
    assert [k.kid for k in second.jwks().keys] == [new_kid, first.kid]
    trust = TrustStore.of(TrustedIssuer(ISS, "hub", second.jwks().keys))
    assert verify_text(old_card.qr_text, trust, NOW).kid == first.kid
    new_card = card.sign_card(second.signing, ISS, NBF, build_bundle(PERSON, DOSES), None)
    assert verify_text(new_card.qr_text, trust, NOW).kid == new_kid
    assert not list(keydir.glob(f"{first.kid}.pem"))  # the retired private key is gone


def test_issuer_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    keydir = tmp_path / "issuer"
    issuer_keys.ensure(keydir)
    (pem,) = keydir.glob("*.pem")
    pem.chmod(0o644)
    with pytest.raises(IssuerKeyError, match="chmod 600"):
        issuer_keys.load(keydir)


def test_issuer_key_is_not_the_ed25519_ack_key(tmp_path: Path) -> None:
    from hub.keys import ensure_hub_key

    ensure_hub_key(tmp_path / "issuer" / "hub.pem")
    with pytest.raises(IssuerKeyError, match="P-256"):
        issuer_keys.load(tmp_path / "issuer")


def test_key_published_under_a_kid_that_is_not_its_thumbprint_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    import msgspec

    pub = jws.public_jwk(key.public_key())
    other = jws.public_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())
    lying = msgspec.structs.replace(other, kid=pub.kid)  # someone else's key under our kid
    trust = TrustStore.of(TrustedIssuer(ISS, "hub", [lying]))
    assert reason(issue(key).qr_text, trust) == "bad_kid"


def test_hostile_images_are_refused_without_decoding_them() -> None:
    import io

    from PIL import Image

    big = io.BytesIO()
    Image.new("1", (12000, 12000)).save(big, format="PNG")
    for data in (big.getvalue(), b"\x89PNG\r\n\x1a\nnot really", b""):
        with pytest.raises(CardRejected) as info:
            qr.read_image(data)
        assert info.value.reason == "not_an_image"


def test_issuer_url_in_the_configuration_is_checked() -> None:
    from hub.config import load_config
    from hub.errors import ConfigError

    assert load_config({"VRS_CERTIFICATE_ISSUER": ISS}).certificate_issuer == ISS
    for bad in ("http://vc.example.jp/issuer", "https://vc.example.jp/issuer/", "vc.example.jp"):
        with pytest.raises(ConfigError, match="VRS_CERTIFICATE_ISSUER"):
            load_config({"VRS_CERTIFICATE_ISSUER": bad})
