"""The `vrs-edge` command. Each subcommand is a thin shell over a library function.

Subcommands register themselves in SUBCOMMANDS: a function that adds its parser to the subparsers and sets
`handler` (a function taking the parsed arguments and returning the exit status).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

Subparsers = Any  # argparse's _SubParsersAction is private; its public surface is add_parser()


def add_decode(subparsers: Subparsers) -> None:
    """`vrs-edge decode`: read vouchers from image files or folders of frames, one JSON line each."""
    p = subparsers.add_parser(
        "decode",
        help="read vouchers from image files, folders of frames or videos; print one JSON line per path",
        description=(
            "Read the voucher on each PATH and print one JSON line per PATH: "
            '{"path", "voucher" (or null), "source" (qr|nw7|ocr or null), "ms", "reason"}. '
            "An image file is one still: one read is enough. A folder (frames in name order) or a video "
            "file is one camera sequence: OCR and NW-7 reads then need 2 agreeing frames, as on a station."
        ),
    )
    p.add_argument("paths", metavar="PATH", nargs="+", help="an image file, a folder of frames or a video file")
    p.add_argument(
        "--backend",
        choices=("zxing", "zbar"),
        default="zxing",
        metavar="zxing|zbar",
        help="barcode decoder for QR and NW-7 (default: zxing)",
    )
    p.add_argument(
        "--municipality",
        metavar="CODE",
        help="6-digit municipality code for vouchers that show only the NW-7 barcode (the venue's municipality)",
    )
    p.add_argument("--no-ocr", action="store_true", help="read barcodes only, skip the OCR line")
    p.set_defaults(handler=run_decode)


def run_decode(args: argparse.Namespace) -> int:
    """Decode every PATH; exit 1 if any PATH could not be read at all, else 0."""
    from edge.capture import CaptureError
    from edge.capture.barcodes import make_decoder
    from edge.capture.pipeline import Pipeline, decode_path
    from protocol import is_municipality

    if args.municipality is not None and not is_municipality(args.municipality):
        print(
            f"vrs-edge decode: --municipality {args.municipality}: not a municipality code "
            "(6 digits with a valid check digit, on the list of municipalities; wards are not municipalities)",
            file=sys.stderr,
        )
        return 2
    try:
        pipeline = Pipeline(make_decoder(args.backend), municipality=args.municipality, use_ocr=not args.no_ocr)
    except CaptureError as exc:
        print(f"vrs-edge decode: {exc}", file=sys.stderr)
        return 2
    status = 0
    encoder = msgspec.json.Encoder()
    try:
        for path in args.paths:
            result = decode_path(pipeline, path)
            if result.reason.startswith("cannot read"):
                status = 1
            sys.stdout.write(encoder.encode(result).decode() + "\n")
            sys.stdout.flush()
    finally:
        pipeline.close()
    return status


def add_run(subparsers: Subparsers) -> None:
    """`vrs-edge run`: the station itself (capture, outbox, publisher, kiosk) until SIGTERM."""
    p = subparsers.add_parser(
        "run",
        help="run the station: camera, outbox, publisher and kiosk page, until SIGTERM",
        description=(
            "Run the scan station described by the TOML config FILE: read vouchers from the camera (or a folder "
            "of frames, image files or a video file), commit each record to the SQLite outbox before the beep, "
            "send them to the hub and serve the kiosk page on loopback. The config is checked first; a wrong "
            "setting is named on stderr with exit status 2. SIGTERM or Ctrl-C stops the station cleanly."
        ),
    )
    p.add_argument("--config", required=True, metavar="FILE", help="the station's TOML config file")
    p.set_defaults(handler=run_station)


def run_station(args: argparse.Namespace) -> int:
    """Run the station until a signal; see edge.station.run."""
    import logging

    from edge.station import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args.config)


# The station runtime registers `run` here (edge/station.py); each entry adds one subcommand.
SUBCOMMANDS: list[Callable[[Subparsers], None]] = [add_decode, add_run]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="vrs-edge", description="Vaccination record scan station.")
    subparsers = parser.add_subparsers(dest="command")
    subparsers.required = True
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `vrs-edge` console script."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
