"""The SMART Health Cards specification's own example cards and its validator's test data: the good ones
verify with the example issuer's published keys, each bad one is refused with a reason naming its defect."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from hub.certificates import sources
from hub.certificates.errors import CardRejected
from hub.certificates.trust import issuer_names, load_issuer
from hub.certificates.verify import TrustStore

SHC = Path(__file__).resolve().parents[2] / ".." / "shared" / "shc"
TESTDATA = SHC / "testdata"
EXAMPLE_ISS = "https://spec.smarthealth.cards/examples/issuer"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

pytestmark = pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"the shared SHC test data is missing ({SHC})")


@pytest.fixture(scope="module")
def trust() -> TrustStore:
    names = issuer_names(TESTDATA / "test-issuers.json")
    return TrustStore.of(load_issuer(EXAMPLE_ISS, names[EXAMPLE_ISS], SHC / "issuer" / ".well-known"))


def outcomes(name: str, trust: TrustStore) -> list[str]:
    """'ok' or the rejection reason, per card the file holds (one entry when the file itself is refused)."""
    try:
        found = sources.from_file(TESTDATA / name)
    except CardRejected as exc:
        return [exc.reason]
    results = []
    for source in found:
        try:
            sources.verify_source(source, trust, NOW)
        except CardRejected as exc:
            results.append(exc.reason)
        else:
            results.append("ok")
    return results


GOOD = {
    "test-example-00-fhirhealthcard.json": 1,
    "test-example-00-fhirhealthcard-multi-jws.json": 2,
    "test-example-00-fhirhealthcard-with-resource-link.json": 2,
    "test-example-00-e-file-multi-jws.smart-health-card": 2,
    "test-example-00-g-qr-code-inflated-to-v22.png": 1,
    "test-example-00-g-qr-code-0-scaled-23.jpg": 1,
    "test-example-00-g-qr-code-0-scaled-85.jpg": 1,
    "test-example-1195-byte-qrnumeric.txt": 1,
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_example_cards_verify_with_the_example_issuers_keys(name: str, trust: TrustStore) -> None:
    assert outcomes(name, trust) == ["ok"] * GOOD[name]


def test_example_card_is_summarised_for_a_person(trust: TrustStore) -> None:
    (source,) = sources.from_file(TESTDATA / "test-example-00-fhirhealthcard.json")
    card = sources.verify_source(source, trust, NOW)
    assert card.issuer_name == "SMART Health Card specification example issuer"
    assert card.summary.name == "Anyperson John B."
    assert card.summary.birth_date == "1951-01-20"
    assert [(d.date, d.maker, d.lot, d.performer) for d in card.summary.doses] == [
        ("2021-01-01", "moderna", "0000001", "ABC General Hospital"),
        ("2021-01-29", "moderna", "0000007", "ABC General Hospital"),
    ]


def test_rotated_key_of_the_example_issuer_verifies_too(trust: TrustStore) -> None:
    # The second card of the multi-JWS file is signed with the issuer's second published key.
    found = sources.from_file(TESTDATA / "test-example-00-e-file-multi-jws.smart-health-card")
    kids = {sources.verify_source(s, trust, NOW).kid for s in found}
    assert kids == {"3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s", "EBKOr72QQDcTBUuVzAzkfBTGew0ZA16GuWty64nS-sw"}


BAD = {
    # compact JWS
    "test-example-00-d-jws-bad-fhir-metadata.txt": "bad_fhir_metadata",
    "test-example-00-d-jws-der-signature.txt": "der_signature",
    "test-example-00-d-jws-der-signature-r-neg.txt": "der_signature",
    "test-example-00-d-jws-der-signature-s-neg.txt": "der_signature",
    "test-example-00-d-jws-der-signature-rs-neg.txt": "der_signature",
    "test-example-00-d-jws-invalid-signature.txt": "bad_signature",
    "test-example-00-d-jws-issuer-kid-mismatch.txt": "unknown_kid",
    "test-example-00-d-jws-wrong_jws_header_kid.txt": "unknown_kid",
    "test-example-00-d-jws-issuer-not-valid-with-smart-key.txt": "untrusted_issuer",
    "test-example-00-d-jws-jws_too_long.txt": "jws_too_long",
    "test-example-00-d-jws-no_deflate.txt": "no_deflate",
    "test-example-00-d-jws-no_jws_header_alg.txt": "no_alg",
    "test-example-00-d-jws-no_jws_header_kid.txt": "no_kid",
    "test-example-00-d-jws-no_jws_header_zip.txt": "no_zip",
    "test-example-00-d-jws-trailing_chars.txt": "trailing_chars",
    "test-example-00-d-jws-utf8_bom_prefix.txt": "utf8_bom",
    # .smart-health-card files
    "test-example-00-e-file-bad_jwks.smart-health-card": "untrusted_issuer",
    "test-example-00-e-file-invalid_deflate.smart-health-card": "bad_deflate",
    "test-example-00-e-file-invalid_issuer_url.smart-health-card": "untrusted_issuer",
    "test-example-00-e-file-invalid_issuer_url_http.smart-health-card": "bad_issuer_url",
    "test-example-00-e-file-issuer_url_with_trailing_slash.smart-health-card": "bad_issuer_url",
    "test-example-00-e-file-jws_too_long.smart-health-card": "jws_too_long",
    "test-example-00-e-file-multi-jws-issues.smart-health-card": "trailing_chars",
    "test-example-00-e-file-no_deflate.smart-health-card": "no_deflate",
    "test-example-00-e-file-trailing_chars.smart-health-card": "trailing_chars",
    "test-example-00-e-file.wrong-extension": "wrong_extension",
    # numeric QR content
    "test-example-00-f-qr-code-numeric-value-0-index-out-of-range.txt": "multi_chunk_qr",
    "test-example-00-f-qr-code-numeric-value-0-wrong-multi-chunk.txt": "multi_chunk_qr",
    "test-example-00-f-qr-code-numeric-value-0-number-too-big.txt": "bad_numeric",
    "test-example-00-f-qr-code-numeric-value-0-odd-count.txt": "bad_numeric",
    "test-example-00-f-qr-code-numeric-value-0-trailing_chars.txt": "trailing_chars",
    "test-example-00-f-qr-code-numeric-value-0-wrong_qr_header.txt": "bad_qr_header",
    **{f"test-example-00-f-qr-code-numeric-value-{i}-qr_chunk_too_small.txt": "multi_chunk_qr" for i in range(17)},
    # QR images
    "test-example-00-g-qr-code-0-bad_qr_version.png": "qr_version_too_high",
    "test-example-00-g-qr-code-0-corrupted.png": "qr_unreadable",
    "test-example-00-g-qr-code-0-qr_chunk_too_small.png": "multi_chunk_qr",
    "test-example-00-g-qr-code-1-qr_chunk_too_small.png": "multi_chunk_qr",
    "test-example-00-g-qr-code-0-single_qr_segment.png": "single_qr_segment",
    "test-example-00-g-qr-code-0-too_many_qr_segment.png": "too_many_qr_segments",
    "test-invalid-jws-payload.png": "bad_payload",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_test_data_is_refused_with_a_reason_naming_the_defect(name: str, trust: TrustStore) -> None:
    assert set(outcomes(name, trust)) == {BAD[name]}


def test_every_test_data_file_is_covered() -> None:
    files = {p.name for p in TESTDATA.iterdir()} - {"test-issuers.json"}
    assert files == set(GOOD) | set(BAD)


def test_an_untrusted_verifier_refuses_even_the_good_example(trust: TrustStore) -> None:
    assert outcomes("test-example-00-fhirhealthcard.json", TrustStore.of()) == ["untrusted_issuer"]


def test_revocation_list_of_the_example_issuer_is_read(trust: TrustStore) -> None:
    crl = trust.issuers[EXAMPLE_ISS].crls["3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"]
    assert crl.ctr == 1 and "FKDIxsTCGlU" in crl.rids
