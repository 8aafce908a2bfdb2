"""Ingest benchmark: simulated stations publish signed batches through Mosquitto to `vrs-hub ingest`
on PostgreSQL, all on this machine; prints one JSON line. Run from the repository root:

    .venv/bin/python bench/ingest.py [--records 100000] [--live-records 40000] [--stations 20]

Modes, each against a freshly migrated database and fresh ingest process(es):
- drain: every station publishes its backlog at once in full batches of 200 records;
- live: one record per batch, each station keeping `--window` batches unanswered at most (closed loop);
- drain2, live2: the same with two ingest workers sharing the subscription (`split`: records each stored).
records_per_s counts records committed and acked (first publish to last ack); latency is publish to
ack per batch (every ack verified in the drain modes, one in 20 in live mode, where checking them
all would take a third of the CPU the hub needs); lost = sent but not stored, duplicated = stored
rows beyond distinct record ids.
copy_records_per_s is COPY of the same rows into a table with the history's indexes (the physical
limit); ratio = records_per_s / copy_records_per_s. Stations sign before the clock starts.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import io
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from hub.config import MqttSettings
from hub.db.connect import connect
from hub.db.migrate import migrate
from hub.ingest.mqtt_link import MqttLink
from hub.keys import ensure_hub_key, ensure_secret, load_hub_key
from protocol.records import JST, Record, decode_ack, encode_batch
from protocol.signing import sign_batch, verify_ack
from tests.fixtures_mosquitto import Broker
from tests.fixtures_postgres import PgCluster
from tests.hub.stations import MUNI_A, MUNI_B, MUNI_C, Station

BIN = Path(sys.executable).parent
GROUP_BATCHES = 256
MUNIS = (MUNI_A, MUNI_B, MUNI_C)


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Sim:
    """The stations of one run: pre-signed batches, one MQTT connection each, acks timed and checked.

    One thread drives every station's connection over a selector, sending a station's next batch when an
    ack frees a slot of its window. The connections use the hub's own lean MQTT client rather than paho
    (which the real stations run): simulating twenty stations must not cost the two cores the hub is being
    measured on more than the stations' own work.
    """

    def __init__(self, broker: Broker, stations: list[Station], batches: dict[str, list[tuple[int, bytes, int]]],
                 hub_key: Any, window: int | None):
        self.batches = batches
        self.window = window
        self.received = 0
        self.verify_every = 1 if window is None else 20
        self.hub_key = hub_key
        self.sent_at: dict[tuple[str, int], float] = {}
        self.acked_at: dict[tuple[str, int], float] = {}
        self.accepted = 0
        self.rejected = 0
        self.bad = 0
        self.total = sum(len(b) for b in batches.values())
        self.links: dict[str, MqttLink] = {}
        self._next = dict.fromkeys(batches, 0)
        self._selector = selectors.DefaultSelector()
        for st in stations:
            link = MqttLink(MqttSettings(broker.host, broker.port), f"bench-{st.device_id}",
                            subscriptions=[(f"vrs/v1/devices/{st.device_id}/acks", 1)], receive_maximum=1000,
                            keepalive=60)
            link.connect()
            self.links[st.device_id] = link
            self._selector.register(link, selectors.EVENT_READ, st.device_id)

    def _read(self, device: str) -> None:
        """Take in what the station's connection received (also sending a keepalive ping when due)."""
        link = self.links[device]
        for msg in link.poll(0):
            self._on_ack(device, msg.payload)
            link.ack(msg.packet_id)

    def _pump(self, until: Any, timeout: float) -> None:
        """Drive every connection until `until()` holds or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        last_misc = time.monotonic()
        while not until() and time.monotonic() < deadline:
            for link in self.links.values():
                link.flush()
            for key, _ in self._selector.select(timeout=0.05):
                self._read(key.data)
            now = time.monotonic()
            if now - last_misc > 1:  # keepalive pings for quiet stations
                last_misc = now
                for device in self.links:
                    self._read(device)

    def _publish_next(self, device: str) -> None:
        i = self._next[device]
        if i < len(self.batches[device]):
            self._next[device] = i + 1
            seq, token, _n = self.batches[device][i]
            self.sent_at[(device, seq)] = time.perf_counter()
            self.links[device].publish(f"vrs/v1/devices/{device}/records", token)

    def _on_ack(self, device: str, payload: bytes) -> None:
        now = time.perf_counter()
        self.received += 1
        try:
            token = payload.decode()
            if self.received % self.verify_every == 0:
                ack = verify_ack(token, [self.hub_key])
            else:  # verifying costs as much as the hub's own check: on a shared 2-core box, sample it
                ack = decode_ack(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        except Exception:  # a bad ack is counted, never fatal to the benchmark
            self.bad += 1
            return
        key = (device, ack.batch_seq)
        if key in self.acked_at:
            return
        self.acked_at[key] = now
        self.accepted += len(ack.accepted)
        self.rejected += len(ack.rejected)
        if self.window is not None:
            self._publish_next(device)

    def run(self, timeout: float) -> float:
        """Publish everything (at once, or `window` a station at a time); seconds from first publish to last ack."""
        start = time.perf_counter()
        for device, batches in self.batches.items():
            for _ in range(len(batches) if self.window is None else self.window):
                self._publish_next(device)
        self._pump(until=lambda: len(self.acked_at) == self.total, timeout=timeout)
        end = max(self.acked_at.values(), default=time.perf_counter())
        return end - start

    def latencies_ms(self) -> list[float]:
        return [(self.acked_at[k] - self.sent_at[k]) * 1000 for k in self.acked_at if k in self.sent_at]

    def close(self) -> None:
        self._selector.close()
        for link in self.links.values():
            link.close()


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU time (user + system) a process used so far; with `children`, also that of its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _cluster_cpu_seconds(cluster: PgCluster) -> float:
    """CPU time of the PostgreSQL server: the postmaster, its live backends and those that ended."""
    postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
    total = _cpu_seconds(postmaster, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            continue  # a backend that ended meanwhile is in the postmaster's children time
    return total


def make_batches(stations: list[Station], records: int, per_batch: int) -> dict[str, list[tuple[int, bytes, int]]]:
    """Pre-signed batches spread over the stations, vouchers of three municipalities."""
    out: dict[str, list[tuple[int, bytes, int]]] = {s.device_id: [] for s in stations}
    now = datetime.datetime.now(JST)
    per_station = records // len(stations)
    for si, st in enumerate(stations):
        made = 0
        while made < per_station:
            n = min(per_batch, per_station - made)
            recs: list[Record] = [
                st.record(f"{si:03d}{made + i:07d}", municipality_code=MUNIS[(made + i) % 3], scanned_at=now)
                for i in range(n)]
            seq = st.next_seq()
            payload = encode_batch(device_id=st.device_id, batch_seq=seq, sent_at=now, records=recs)
            out[st.device_id].append((seq, sign_batch(payload, st.key, st.device_id).encode(), n))
            made += n
    return out


def copy_rate(dsn: str, rows: int) -> float:
    """Records per second of COPY into a table shaped and indexed like the history."""
    now = datetime.datetime.now(JST)
    buf = io.StringIO()
    for i in range(rows):
        rid = f"00000000-0000-7000-8000-{i:012d}"
        buf.write(f"{MUNIS[i % 3]}\t{rid}\tregister\t{i:010d}\t1\t1\tvaccinated\t{now.date()}\tv-1\tpfizer\tFA1234"
                  f"\t山田 太郎\tqr\t1\t{now.isoformat()}\t\\N\tst-1\t1\n")
    data = buf.getvalue().encode()
    cols = ("municipality_code, record_id, op, voucher_no, dose, ticket_kind, status, administered_on, venue_id,"
            " maker, lot, doctor, read_source, read_frames, scanned_at, voids_record_id, device_id, batch_seq")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_copy (LIKE vaccination_history INCLUDING ALL)")
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(f"COPY bench_copy ({cols}) FROM STDIN") as copy:
            for off in range(0, len(data), 1 << 20):
                copy.write(data[off:off + (1 << 20)])
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_copy")
    return rows / elapsed


def run_mode(cluster: PgCluster, broker: Broker, work: Path, name: str, *, records: int, per_batch: int,
             stations_n: int, workers: int, window: int | None, group: int = GROUP_BATCHES) -> dict[str, Any]:
    dsn = cluster.create_database(f"bench_{name}")
    key, secret = work / "hub.pem", work / "secret.hex"
    ensure_hub_key(key)
    ensure_secret(secret)
    with connect(dsn, None) as conn:
        migrate(conn)
    stations = [Station(f"st-{name}-{i:03d}", f"v-{name}-{i:03d}", MUNIS[i % 3]) for i in range(stations_n)]
    for st in stations:
        st.enroll(dsn)
    batches = make_batches(stations, records, per_batch)
    env = {**os.environ, "VRS_DATABASE_URL": dsn, "VRS_MQTT_URL": broker.url, "VRS_HUB_KEY_FILE": str(key),
           "VRS_SECRET_FILE": str(secret), "VRS_LOG_LEVEL": "INFO",
           "VRS_INGEST_GROUP_BATCHES": str(group),
           # Twenty simulated stations send what hundreds would: the per-station rate limit is off here.
           "VRS_INGEST_STATION_RATE": "0"}
    logs = [work / f"{name}-ingest-{w}.log" for w in range(workers)]
    procs = []
    for w in range(workers):
        with logs[w].open("wb") as err:
            cmd = [str(BIN / "vrs-hub")]
            if os.environ.get("BENCH_PROFILE"):  # profile the ingest: BENCH_PROFILE=/tmp/prefix
                cmd = [sys.executable, "-m", "cProfile", "-o", f"{os.environ['BENCH_PROFILE']}-{name}-{w}.prof",
                       "-m", "hub.cli"]
            procs.append(subprocess.Popen([*cmd, "ingest", "--client-id", f"bench-ingest-{name}-{w}"],
                                          env=env, stdout=subprocess.DEVNULL, stderr=err))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all("connected" in p.read_text() for p in logs):
        time.sleep(0.1)
    time.sleep(0.5)
    sim = Sim(broker, stations, batches, load_hub_key(key).public_key(), window)
    own_cpu = time.process_time()
    assert broker.proc is not None
    broker_cpu, pg_cpu = _cpu_seconds(broker.proc.pid), _cluster_cpu_seconds(cluster)
    try:
        elapsed = sim.run(timeout=600)
    finally:
        own_cpu = time.process_time() - own_cpu
        ingest_cpu = [_cpu_seconds(p.pid) for p in procs]
        broker_cpu = _cpu_seconds(broker.proc.pid) - broker_cpu
        pg_cpu = _cluster_cpu_seconds(cluster) - pg_cpu
        sim.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    sent = sum(n for b in batches.values() for _, _, n in b)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT record_id) FROM vaccination_history").fetchone()
        assert row is not None
        stored, distinct = int(row[0]), int(row[1])
    split, transactions = [], []
    for log in logs:
        text = log.read_text()
        m = re.search(r"(\d+) new records", text)
        split.append(int(m.group(1)) if m else None)
        t = re.search(r"in (\d+) transactions", text)
        transactions.append(int(t.group(1)) if t else None)
    lat = sim.latencies_ms()
    result = {
        "records": sent, "batches": sim.total, "records_per_batch": per_batch, "stations": stations_n,
        "workers": workers, "seconds": round(elapsed, 2), "records_per_s": round(sim.accepted / elapsed),
        "latency_ms_p50": round(pct(lat, 0.5), 1), "latency_ms_p99": round(pct(lat, 0.99), 1),
        "acked_batches": len(sim.acked_at), "lost": sent - distinct, "duplicated": stored - distinct,
        "rejected": sim.rejected, "bad_acks": sim.bad,
    }
    result["transactions"] = transactions
    result["cpu_s"] = {"ingest": [round(c, 1) for c in ingest_cpu], "stations": round(own_cpu, 1),
                       "broker": round(broker_cpu, 1), "postgres": round(pg_cpu, 1)}
    if window:
        result["window"] = window
    if workers > 1:
        result["split"] = split
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000, help="records in the drain modes")
    ap.add_argument("--live-records", type=int, default=40_000,
                    help="records (= batches) in the live mode: long enough that its first second weighs little")
    ap.add_argument("--stations", type=int, default=20)
    ap.add_argument("--window", type=int, default=25, help="live mode: unanswered batches per station")
    ap.add_argument("--modes", default="drain,live,drain2,live2")
    ap.add_argument("--group", type=int, default=GROUP_BATCHES, help="VRS_INGEST_GROUP_BATCHES of the ingest")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vrs-bench-"))
    work.chmod(0o755)  # the server runs as the postgres user
    (work / "mqtt").mkdir()
    cluster = PgCluster(work / "pg")
    broker = Broker(work / "mqtt")
    try:
        cluster.init()
        cluster.start()
        broker.start()
        out: dict[str, Any] = {
            "bench": "ingest", "cpus": os.cpu_count(), "load_average_at_start": round(os.getloadavg()[0], 1),
            "note": "machine shared with other work while measured: times inflated, rates deflated",
        }
        modes = args.modes.split(",")
        if "drain" in modes:
            out["drain"] = run_mode(cluster, broker, work, "drain", records=args.records, per_batch=200,
                                    stations_n=args.stations, workers=1, window=None, group=args.group)
        if "live" in modes:
            out["live"] = run_mode(cluster, broker, work, "live", records=args.live_records, per_batch=1,
                                   stations_n=args.stations, workers=1, window=args.window, group=args.group)
        if "drain2" in modes:
            out["drain2"] = run_mode(cluster, broker, work, "drain2", records=args.records, per_batch=200,
                                     stations_n=args.stations, workers=2, window=None, group=args.group)
        if "live2" in modes:
            out["live2"] = run_mode(cluster, broker, work, "live2", records=args.live_records, per_batch=1,
                                    stations_n=args.stations, workers=2, window=args.window, group=args.group)
        copy_dsn = cluster.create_database("bench_copy")
        with connect(copy_dsn, None) as conn:
            migrate(conn)
        out["copy_records_per_s"] = round(copy_rate(copy_dsn, args.records))
        for m in ("drain", "live", "drain2", "live2"):
            if m in out:
                out[m]["ratio_to_copy"] = round(out[m]["records_per_s"] / out["copy_records_per_s"], 3)
        out["load_average_at_end"] = round(os.getloadavg()[0], 1)
        print(json.dumps(out, ensure_ascii=False))
    finally:
        broker.kill()
        cluster.stop("immediate")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
