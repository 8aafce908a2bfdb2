"""`vrs-edge decode` as a user runs it: one JSON line per PATH, exactly the documented fields."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edge.capture import synthetic

VRS_EDGE = Path(sys.executable).parent / "vrs-edge"
FIELDS = {"path", "voucher", "source", "ms", "reason"}
VOUCHER_FIELDS = {"municipality_code", "voucher_no", "dose", "ticket_kind"}
TILT = synthetic.Degradation(rotation=-8.0, tilt=0.03, blur=0.6, noise=3.0, light=0.3, jpeg=85)


def run(*args: str | Path) -> tuple[int, list[dict[str, object]], str]:
    done = subprocess.run([str(VRS_EDGE), "decode", *map(str, args)], capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    for line in lines:
        assert set(line) == FIELDS
        assert line["voucher"] is None or set(line["voucher"]) == VOUCHER_FIELDS  # type: ignore[arg-type]
    return done.returncode, lines, done.stderr


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("frames")
    made: dict[str, Path] = {}

    def save(name: str, spec: synthetic.TicketSpec, seed: int = 1) -> None:
        made[name] = d / f"{name}.jpg"
        cv2.imwrite(str(made[name]), synthetic.voucher_frame(spec, seed, TILT))

    save("qr", synthetic.TicketSpec(municipality_code="271004", voucher_no="1111111111", dose=2, qr=True))
    save("ocr", synthetic.TicketSpec(municipality_code="131016", voucher_no="0123456789", dose=1))
    save("nw7", synthetic.TicketSpec(voucher_no="9876543210", nw7=True, ocr=False))
    save("ward", synthetic.TicketSpec(municipality_code="271276"))
    save("blank", synthetic.TicketSpec(ocr=False))
    seq = d / "sequence"
    seq.mkdir()
    for i in range(3):
        cv2.imwrite(str(seq / f"{i:03d}.png"), synthetic.voucher_frame(synthetic.TicketSpec(), 10 + i, TILT))
    made["sequence"] = seq
    one = d / "one_frame"
    one.mkdir()
    cv2.imwrite(str(one / "000.png"), synthetic.voucher_frame(synthetic.TicketSpec(), 20, TILT))
    made["one_frame"] = one
    return made


def test_one_line_per_path_in_order(samples: dict[str, Path]) -> None:
    code, lines, _ = run(samples["qr"], samples["ocr"], samples["blank"])
    assert code == 0
    assert [line["path"] for line in lines] == [str(samples[k]) for k in ("qr", "ocr", "blank")]
    qr, ocr, blank = lines
    assert qr["voucher"] == {"municipality_code": "271004", "voucher_no": "1111111111", "dose": 2, "ticket_kind": "1"}
    assert qr["source"] == "qr" and qr["reason"] == "accepted"
    assert ocr["voucher"] == {"municipality_code": "131016", "voucher_no": "0123456789", "dose": 1, "ticket_kind": "1"}
    assert ocr["source"] == "ocr"
    assert blank["voucher"] is None and blank["source"] is None and blank["reason"] == "no voucher in view"
    assert all(isinstance(line["ms"], float) and line["ms"] >= 0 for line in lines)


def test_refusal_says_why(samples: dict[str, Path]) -> None:
    _, [ward], _ = run(samples["ward"])
    assert ward["voucher"] is None and "ward" in str(ward["reason"])


def test_nw7_needs_the_municipality(samples: dict[str, Path]) -> None:
    _, [without], _ = run(samples["nw7"])
    assert without["voucher"] is None and "municipality" in str(without["reason"])
    _, [with_code], _ = run("--municipality", "131016", samples["nw7"])
    assert with_code["voucher"] == {
        "municipality_code": "131016", "voucher_no": "9876543210", "dose": 0, "ticket_kind": None,
    }  # fmt: skip
    assert with_code["source"] == "nw7"


def test_folder_is_one_sequence_needing_two_agreeing_frames(samples: dict[str, Path]) -> None:
    _, [seq, one], _ = run(samples["sequence"], samples["one_frame"])
    assert seq["voucher"] is not None and seq["source"] == "ocr"
    # One OCR frame in a sequence is not enough: the second agreeing frame never came.
    assert one["voucher"] is None and "waiting" in str(one["reason"])


def test_zbar_backend(samples: dict[str, Path]) -> None:
    _, [qr], _ = run("--backend", "zbar", samples["qr"])
    assert qr["source"] == "qr" and qr["voucher"] is not None


def test_unreadable_path_still_gets_its_line_and_a_failing_status(samples: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    code, lines, _ = run(tmp_path / "missing.png", tmp_path / "notes.png", samples["qr"])
    assert code == 1
    assert len(lines) == 3
    assert "no such file" in str(lines[0]["reason"]) and "not an image" in str(lines[1]["reason"])
    assert lines[2]["voucher"] is not None


@pytest.mark.parametrize("bad", ["271276", "131017", "abc"])
def test_bad_municipality_option(samples: dict[str, Path], bad: str) -> None:
    code, lines, err = run("--municipality", bad, samples["qr"])
    assert code == 2 and lines == [] and "municipality" in err


def test_unknown_backend_is_a_usage_error(samples: dict[str, Path]) -> None:
    code, lines, err = run("--backend", "nope", samples["qr"])
    assert code == 2 and lines == [] and "zxing" in err


def test_readme_example_sample_frame_then_decode(tmp_path: Path) -> None:
    # The README's way to try it: write a sample frame, then decode it.
    out = tmp_path / "voucher.jpg"
    made = subprocess.run(
        [sys.executable, "-m", "edge.capture.synthetic", str(out), "--seed", "3", "--municipality", "271004"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    code, [line], _ = run(out)
    assert code == 0
    assert line["voucher"] == {"municipality_code": "271004", "voucher_no": "0123456789", "dose": 1, "ticket_kind": "1"}
    assert line["source"] == "ocr"
