"""`make fuzz`: coverage-guided fuzzing with atheris (libFuzzer) of one target of tests/fuzz/targets.py.

    python -m tests.fuzz.run_atheris TARGET [libFuzzer options] [CORPUS_DIR]

The corpus directory is seeded with valid inputs (a voucher, a signed batch, an ack, resident and record
files) so that mutations start past the parsers' first checks. A finding is written by libFuzzer as
crash-*/timeout-* in the current directory; replay it with the same command and the file as argument.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["protocol", "hub.files", "hub.certificates", "hub.ingest.mqtt_wire",
                                         "tests.fuzz"]):
    from tests.fuzz import targets
    from tests.fuzz.test_fuzz_parsers import ACK, RECORDS, RESIDENTS, SIGNED, VALID_BATCH


def seeds(name: str) -> list[bytes]:
    return {
        "voucher": [b"131016012345678912", b"A0123456789B", "１３１０１６－０１２３４５６７８９－１２".encode()],
        "batch": [VALID_BATCH],
        "jws": [SIGNED.encode(), targets.signed_ack_token(ACK).encode()],
        "ack": [ACK, b'{"state":"online","queue_depth":3}', b"vrs/v1/devices/st-0001/records"],
        "csv": [RESIDENTS.encode(), RECORDS.encode("cp932"), RESIDENTS.encode("utf-8-sig")],
        "date": [b"R1.5.1", "令和元年5月1日".encode(), b"2021/06/01", b"S23.4.1 0:00"],
        "mqtt": [b"\x20\x06\x00\x00\x03\x21\x00\x14" + targets.mqtt_wire.publish_packet("vrs/v1/devices/st-1/records",
                                                                             b"token", qos=1, packet_id=1)
                 + b"\x40\x02\x00\x01\xd0\x00"],
        "certificate": [b"shc:/5676290952432060346029243740446031222959532654603460292540772804336028702864716745"],
    }[name]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.run_atheris {{{','.join(targets.TARGETS)}}} [libFuzzer options]")
    name, options = sys.argv[1], sys.argv[2:]
    for option in options:
        if not option.startswith("-") and Path(option).is_dir():
            for seed in seeds(name):
                (Path(option) / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    targets.USE_ALARM = False
    atheris.Setup([sys.argv[0], *options], targets.TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
