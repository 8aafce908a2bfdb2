"""Vaccination certificates, pure core only (no database): sign a 3-dose card, make its QR PNG, verify it
from the shc:/ text and from the PNG; prints one JSON line. Run from the repository root:

    .venv/bin/python bench/certificates.py [--n 200]

Figures are per card (mean of n), in milliseconds, plus the sizes of one card: JWS characters, QR version.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import ec

from hub.certificates import card, jws, qr, sources
from hub.certificates.fhir import Dose, Person, build_bundle
from hub.certificates.revocation import new_rid
from hub.certificates.verify import TrustedIssuer, TrustStore, verify_text

ISS = "https://vc.vrs.example.jp/issuer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="cards to sign and verify")
    n = parser.parse_args().n
    key = ec.generate_private_key(ec.SECP256R1())
    trust = TrustStore.of(TrustedIssuer(ISS, "bench", [jws.public_jwk(key.public_key())]))
    person = Person("千代田 花子", datetime.date(1960, 5, 5))
    doses = [Dose(1, datetime.date(2021, 6, 1), "pfizer", "EY0583", "千代田区役所 集団接種会場"),
             Dose(2, datetime.date(2021, 6, 22), "pfizer", "FA7338", "千代田区役所 集団接種会場"),
             Dose(3, datetime.date(2021, 12, 20), "moderna", "3003005", "千代田区役所 集団接種会場")]
    now = datetime.datetime.now(datetime.UTC)
    t0 = time.perf_counter()
    cards = [card.sign_card(key, ISS, int(now.timestamp()), build_bundle(person, doses), new_rid()) for _ in range(n)]
    t1 = time.perf_counter()
    pngs = [qr.png(c.qr_text) for c in cards]
    t2 = time.perf_counter()
    for c in cards:
        verify_text(c.qr_text, trust, now)
    t3 = time.perf_counter()
    for i, png in enumerate(pngs):
        sources.verify_source(sources.from_bytes(f"{i}.png", png)[0], trust, now)
    t4 = time.perf_counter()
    print(json.dumps({
        "bench": "certificates", "cards": n, "sign_ms": round((t1 - t0) * 1000 / n, 3),
        "qr_png_ms": round((t2 - t1) * 1000 / n, 3), "verify_text_ms": round((t3 - t2) * 1000 / n, 3),
        "verify_png_ms": round((t4 - t3) * 1000 / n, 3), "jws_chars": len(cards[0].jws),
        "qr_version": int(qr.make(cards[0].qr_text).version or 0), "png_bytes": len(pngs[0]),
    }))


if __name__ == "__main__":
    main()
