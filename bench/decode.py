"""Decoding benchmark: read rate, wrong reads and time per 1280x720 frame, per source (qr, nw7, ocr).

Generates a corpus of moderately degraded voucher frames (edge.capture.synthetic: any rotation, tilt, blur,
noise, uneven light, shadow, a thumb, JPEG, grey) and decodes each frame as a still (one read is enough;
every validity rule applies). Prints one JSON line. Run:

    .venv/bin/python bench/decode.py [--frames 100] [--backend zxing|zbar] [--seed 1]

`ms` is the whole pipeline per frame (grey conversion, barcodes, finding and reading the OCR line, checks);
`decoder_ms` is the barcode decoder alone. `cpu_ms` is the process's CPU time for the same work: on a
shared machine wall-clock times include waiting for a core, CPU time does not. A frame counts as read
when the right voucher is accepted through the source under test, as wrong when any other voucher is
accepted.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from edge.capture import synthetic
from edge.capture.barcodes import make_decoder
from edge.capture.pipeline import Pipeline, grey_of


def corpus(source: str, n: int, seed: int) -> list[tuple[np.ndarray, synthetic.TicketSpec]]:
    """`n` frames whose only readable voucher form is `source` (qr frames also carry the OCR line)."""
    frames = []
    for i in range(n):
        s = seed * 100_000 + {"qr": 0, "nw7": 30_000, "ocr": 60_000}[source] + i
        rng = np.random.default_rng(s)
        deg = synthetic.Degradation.moderate(rng)
        spec = synthetic.random_spec(rng, qr=source == "qr", nw7=source == "nw7", ocr=source != "nw7")
        frames.append((synthetic.voucher_frame(spec, s, deg), spec))
    return frames


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100, help="frames per source (default 100)")
    parser.add_argument("--backend", choices=("zxing", "zbar"), default="zxing")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    decoder = make_decoder(args.backend)
    out: dict[str, object] = {"bench": "decode", "backend": args.backend, "frames_per_source": args.frames}
    for source in ("qr", "nw7", "ocr"):
        frames = corpus(source, args.frames, args.seed)
        pipe = Pipeline(decoder, municipality=None)
        read = wrong = 0
        ms: list[float] = []
        cpu_ms: list[float] = []
        dec_ms: list[float] = []
        dec_cpu: list[float] = []
        reasons: dict[str, int] = {}
        for image, spec in frames:
            # NW-7 carries no municipality: the station's preset is the venue's, here the voucher's own.
            pipe.municipality = spec.municipality_code if source == "nw7" else None
            t0, c0 = time.perf_counter(), time.process_time()
            decoder.decode(grey_of(image))
            dec_ms.append((time.perf_counter() - t0) * 1000)
            dec_cpu.append((time.process_time() - c0) * 1000)
            c0 = time.process_time()
            timed = pipe.decode_still(image)
            cpu_ms.append((time.process_time() - c0) * 1000)
            ms.append(timed.ms)
            d = timed.decision
            if d.accepted and d.voucher is not None:
                v = d.voucher
                ok = v.voucher_no == spec.voucher_no and v.municipality_code == spec.municipality_code
                if source != "nw7":
                    ok = ok and v.dose == spec.dose and v.ticket_kind == spec.ticket_kind
                wrong += not ok
                # The same voucher through another form (OCR line when the QR was missed) is right, but
                # is not a read of this source.
                read += ok and d.source == source
            else:
                reasons[d.reason[:60]] = reasons.get(d.reason[:60], 0) + 1
        pipe.close()
        out[source] = {
            "read_rate": round(read / len(frames), 4),
            "wrong": wrong,
            "ms_p50": pct(ms, 50),
            "ms_p95": pct(ms, 95),
            "cpu_ms_p50": pct(cpu_ms, 50),
            "cpu_ms_p95": pct(cpu_ms, 95),
            "decoder_ms_p50": pct(dec_ms, 50),
            "decoder_ms_p95": pct(dec_ms, 95),
            "decoder_cpu_ms_p50": pct(dec_cpu, 50),
            "decoder_cpu_ms_p95": pct(dec_cpu, 95),
            "misses": reasons,
        }
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
