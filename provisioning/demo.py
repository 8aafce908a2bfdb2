"""`make demo`: a whole deployment on loopback, for trying the project out.

It starts a throwaway PostgreSQL and Mosquitto, migrates the hub and gives it a demo municipality (千代田区),
a venue, a station, two logins and a few thousand generated residents, then runs `vrs-hub ingest`,
`vrs-hub serve` and `vrs-edge run` fed by generated voucher images through the real decoding pipeline.
Everything runs as separate processes, as in the field; Ctrl-C stops them all and removes the temp files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from types import FrameType

import msgspec

from protocol.check_digits import my_number_check_digit
from protocol.signing import public_key_to_pem
from provisioning import ProvisioningError
from provisioning.station import StationPlan, ensure_station_key, write_station_files
from provisioning.throwaway import Broker, PgCluster, free_port

MUNICIPALITY = "131016"  # 千代田区
VENUE_ID = "v-131016-demo"
DEVICE_ID = "st-demo-01"
CLERK = ("demo-clerk", "demo-clerk-password")
CLINIC = ("demo-clinic", "demo-clinic-password")
RESIDENT_HEADER = "自治体コード,宛名番号,接種券番号,個人番号,氏名,氏名カナ,生年月日,性別,住所,異動区分,異動日"
FAMILY = [("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
          ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("中村", "ナカムラ")]
GIVEN = [("太郎", "タロウ", 1), ("一郎", "イチロウ", 1), ("健", "ケン", 1), ("花子", "ハナコ", 2),
         ("陽子", "ヨウコ", 2), ("美咲", "ミサキ", 2)]
FRAMES_PER_VOUCHER = 3
EMPTY_FRAMES_BETWEEN = 15  # 1.5 s at the folder source's 10 frames a second: the sheet leaves the camera


class DemoInfo(msgspec.Struct):
    """What the running demo tells a person (and the demo's test) about itself."""

    admin_url: str
    kiosk_url: str
    clerk_login: str
    clerk_password: str
    clinic_login: str
    clinic_password: str
    municipality: str
    vouchers: list[str]
    env: dict[str, str]


def residents_csv(count: int, rng: random.Random) -> tuple[str, list[str]]:
    """A resident file as a municipality would upload it, and the voucher numbers in it."""
    lines = [RESIDENT_HEADER]
    vouchers: list[str] = []
    for i in range(count):
        family, family_kana = rng.choice(FAMILY)
        given, given_kana, sex = rng.choice(GIVEN)
        voucher = f"{rng.randrange(10**9, 10**10):010d}"
        while voucher in vouchers:
            voucher = f"{rng.randrange(10**9, 10**10):010d}"
        vouchers.append(voucher)
        first_eleven = f"{rng.randrange(10**10, 10**11):011d}"
        my_number = first_eleven + my_number_check_digit(first_eleven)
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 75))
        lines.append(f"{MUNICIPALITY},{100000 + i},{voucher},{my_number},{family} {given},{family_kana} {given_kana},"
                     f"{born:%Y%m%d},{sex},千代田区千代田1-{i % 50 + 1},,")
    return "\n".join(lines) + "\n", vouchers


def write_frames(folder: Path, vouchers: Sequence[str], seed: int) -> None:
    """Camera frames: each voucher held under the camera for a few frames, then an empty desk."""
    import cv2
    import numpy as np

    from edge.capture.synthetic import Degradation, TicketSpec, voucher_frame

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    empty = np.full((720, 1280, 3), 96, dtype=np.uint8)
    n = 0
    for k, voucher in enumerate(vouchers):
        # Alternate the three ways a voucher is read, as at a real desk.
        spec = TicketSpec(municipality_code=MUNICIPALITY, voucher_no=voucher, dose=1 + k % 2,
                          qr=k % 3 == 0, nw7=False, ocr=True)
        for f in range(FRAMES_PER_VOUCHER):
            view = Degradation(rotation=float(rng.uniform(-8, 8)), blur=0.4, noise=2.0, jpeg=90)
            cv2.imwrite(str(folder / f"{n:06d}.jpg"), voucher_frame(spec, seed * 1000 + k * 10 + f, view))
            n += 1
        for _ in range(EMPTY_FRAMES_BETWEEN):
            cv2.imwrite(str(folder / f"{n:06d}.jpg"), empty)
            n += 1


class Demo:
    """The processes of one demo deployment; `stop` ends them in reverse order of start."""

    def __init__(self, state: Path, *, residents: int, vouchers: int, seed: int, api_port: int,
                 kiosk_port: int) -> None:
        self.state = state
        self.residents = residents
        self.voucher_count = vouchers
        self.seed = seed
        self.api_port = api_port
        self.kiosk_port = kiosk_port
        self.pg: PgCluster | None = None
        self.broker: Broker | None = None
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.env: dict[str, str] = {}
        self.bin = Path(sys.executable).parent

    def _hub(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([str(self.bin / "vrs-hub"), *args], env={**os.environ, **self.env},
                              input=stdin, capture_output=True, text=True)
        if done.returncode != 0:
            raise ProvisioningError(f"vrs-hub {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.state / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((name, proc))

    def start(self) -> DemoInfo:
        self.state.mkdir(parents=True, exist_ok=True)
        say("starting PostgreSQL and Mosquitto on loopback")
        # A folder of its own under /tmp: run as root, the cluster belongs to the postgres user, who may
        # not be able to reach into the state folder.
        self.pg = PgCluster(Path(tempfile.mkdtemp(prefix="vrs-demo-pg-", dir="/tmp")))
        self.pg.init()
        self.pg.start()
        database = self.pg.create_database("vrs")
        (self.state / "mosquitto").mkdir()
        self.broker = Broker(self.state / "mosquitto")
        self.broker.start()
        keys = self.state / "hub-keys"
        self.env = {"VRS_DATABASE_URL": database, "VRS_MQTT_URL": self.broker.url,
                    "VRS_HUB_KEY_FILE": str(keys / "hub.pem"), "VRS_SECRET_FILE": str(keys / "secret"),
                    "VRS_API_HOST": "127.0.0.1", "VRS_API_PORT": str(self.api_port)}

        say("migrating the hub; venue, station and logins for 千代田区")
        self._hub("migrate")
        self._hub("venue", "add", "--id", VENUE_ID, "--municipality", MUNICIPALITY, "--name", "千代田区 集団接種会場")
        station_dir = self.state / "station"
        station_key, _ = ensure_station_key(station_dir)
        (station_dir / "station.pub.pem").write_bytes(public_key_to_pem(station_key.public_key()))
        self._hub("device", "add", "--id", DEVICE_ID, "--venue", VENUE_ID,
                  "--public-key-file", str(station_dir / "station.pub.pem"))
        hub_jwk = json.loads(self._hub("keys", "show"))
        self._hub("create-user", "--username", CLERK[0], "--role", "municipal_admin", "--municipality", MUNICIPALITY,
                  "--display-name", "千代田区 予防接種担当", "--password-stdin", stdin=CLERK[1] + "\n")
        self._hub("create-user", "--username", CLINIC[0], "--role", "venue_staff", "--venue", VENUE_ID,
                  "--display-name", "集団接種会場 受付", "--password-stdin", stdin=CLINIC[1] + "\n")

        rng = random.Random(self.seed)
        say(f"generating {self.residents} residents and {self.voucher_count} voucher images")
        csv_text, all_vouchers = residents_csv(self.residents, rng)
        residents_file = self.state / "residents.csv"
        residents_file.write_bytes(csv_text.encode("cp932"))  # as old municipal systems write them
        self._hub("import-residents", str(residents_file), "--municipality", MUNICIPALITY, "--mode", "full")
        scanned = rng.sample(all_vouchers, self.voucher_count)
        write_frames(station_dir / "frames", scanned, self.seed)
        write_station_files(StationPlan(
            directory=station_dir, device_id=DEVICE_ID, venue_id=VENUE_ID, broker_url=self.broker.url,
            municipality=MUNICIPALITY, camera={"source": "folder", "path": "frames"}, data_dir="data",
            kiosk_port=self.kiosk_port,
            preset={"maker": "pfizer", "lot": "FA1234", "doctor": "山田 太郎", "status": "vaccinated"},
        ), hub_jwk)

        say("starting the hub's ingest and API, and the station")
        self._spawn("ingest", [str(self.bin / "vrs-hub"), "ingest"])
        self._spawn("api", [str(self.bin / "vrs-hub"), "serve", "--port", str(self.api_port)])
        self._spawn("station", [str(self.bin / "vrs-edge"), "run", "--config", str(station_dir / "station.toml")])
        info = DemoInfo(
            admin_url=f"http://127.0.0.1:{self.api_port}/", kiosk_url=f"http://127.0.0.1:{self.kiosk_port}/",
            clerk_login=CLERK[0], clerk_password=CLERK[1], clinic_login=CLINIC[0], clinic_password=CLINIC[1],
            municipality=MUNICIPALITY, vouchers=scanned, env=self.env,
        )
        (self.state / "demo.json").write_bytes(msgspec.json.encode(info))
        return info

    def check(self) -> str | None:
        """The name of a process that has died, if any."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                return name
        return None

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.broker is not None:
            self.broker.stop()
        if self.pg is not None:
            self.pg.stop("fast")
            shutil.rmtree(self.pg.base, ignore_errors=True)


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--residents", type=int, default=3000, help="generated residents (default 3000)")
    parser.add_argument("--vouchers", type=int, default=30, help="vouchers the station scans (default 30)")
    parser.add_argument("--seed", type=int, default=2021, help="seed for the generated data")
    parser.add_argument("--api-port", type=int, default=0, help="admin port (default: a free one)")
    parser.add_argument("--kiosk-port", type=int, default=0, help="kiosk port (default: a free one)")
    parser.add_argument("--state-dir", type=Path, help="keep files here instead of a temp folder")
    args = parser.parse_args(argv)
    if not 1 <= args.vouchers <= args.residents:
        parser.error("--vouchers must be between 1 and --residents")

    state = args.state_dir or Path(tempfile.mkdtemp(prefix="vrs-demo-", dir="/tmp"))
    demo = Demo(state, residents=args.residents, vouchers=args.vouchers, seed=args.seed,
                api_port=args.api_port or free_port(), kiosk_port=args.kiosk_port or free_port())
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        info = demo.start()
        print(f"""
  Admin (municipal clerk):  {info.admin_url}   login {info.clerk_login} / {info.clerk_password}
  Clinic view (venue):      {info.admin_url}   login {info.clinic_login} / {info.clinic_password}
  Station kiosk:            {info.kiosk_url}
  The station is scanning {len(info.vouchers)} generated vouchers; they appear in 千代田区's records.
  Logs and files: {state}
  Ctrl-C stops everything.
""", flush=True)
        while not stopping:
            dead = demo.check()
            if dead is not None:
                say(f"{dead} stopped unexpectedly; see {state / (dead + '.log')}")
                return 1
            time.sleep(0.5)
        say("stopping")
        return 0
    except ProvisioningError as e:
        say(str(e))
        return 1
    finally:
        demo.stop()
        if args.state_dir is None:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
