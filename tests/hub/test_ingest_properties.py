"""Property: whatever the order of registrations, overwrites, voids and replays, the incremental
aggregates equal a full recount and the current state is the last non-voided version in the history."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.db import aggregates
from hub.db.connect import connect
from hub.db.devices import device_keys
from hub.db.scoped import Scope, scoped
from hub.ingest.apply import apply_group
from hub.ingest.verify import KeyCache, check_batch
from protocol.records import JST, Record, japan_today
from tests.hub.stations import MUNI_A, MUNI_B, Station

T0 = datetime.datetime(2021, 7, 1, 9, 0, tzinfo=JST)
MIN_DAYS = {"pfizer": 18}
_round = itertools.count()

step = st.one_of(
    st.tuples(st.just("register"), st.integers(0, 5), st.integers(0, 30), st.sampled_from(["pfizer", "moderna"]),
              st.sampled_from(["vaccinated", "screened_only"])),
    st.tuples(st.just("void"), st.integers(0, 100)),
    st.tuples(st.just("replay"), st.integers(0, 100)),
)


def _expected_current(conn: psycopg.Connection[Any], prefix: str) -> dict[tuple[str, str, int], str]:
    rows = conn.execute(
        "SELECT record_id::text, op, municipality_code, voucher_no, dose, scanned_at, voids_record_id::text"
        " FROM vaccination_history WHERE voucher_no LIKE %s", (prefix + "%",)).fetchall()
    voided = {r[6] for r in rows if r[1] == "void"}
    best: dict[tuple[str, str, int], tuple[datetime.datetime, str]] = {}
    for rid, op, muni, voucher, dose, scanned, _ in rows:
        key = (muni, voucher, dose)
        if op == "register" and rid not in voided and (key not in best or (scanned, rid) > best[key]):
            best[key] = (scanned, rid)
    return {k: v[1] for k, v in best.items()}


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=25), cuts=st.lists(st.integers(1, 6), min_size=1, max_size=25),
       group=st.integers(1, 3), rnd=st.randoms(use_true_random=False), shuffle=st.booleans())
def test_aggregates_equal_recount_and_current_is_last_unvoided(
    hub_db: str, steps: list[tuple[Any, ...]], cuts: list[int], group: int, rnd: Any, shuffle: bool
) -> None:
    prefix = f"{next(_round) % 10000:04d}"
    station = Station(f"st-{prefix}", f"v-{prefix}")
    station.enroll(hub_db)
    sent: list[Record] = []
    registers: list[Record] = []
    for s in steps:
        if s[0] == "register":
            _, slot, minute, maker, status = s
            muni = MUNI_A if slot % 2 else MUNI_B
            rec = station.record(f"{prefix}{slot // 2:06d}", dose=1 + slot % 2, municipality_code=muni,
                                 scanned_at=T0 + datetime.timedelta(minutes=minute), maker=maker, status=status)
            registers.append(rec)
            sent.append(rec)
        elif s[0] == "void" and registers:
            sent.append(station.void(registers[s[1] % len(registers)],
                                     scanned_at=T0 + datetime.timedelta(minutes=40)))
        elif s[0] == "replay" and sent:
            sent.append(sent[s[1] % len(sent)])
    batches: list[list[Record]] = []
    i = 0
    for n in itertools.cycle(cuts):
        if i >= len(sent):
            break
        batches.append(sent[i:i + n])
        i += n
    if shuffle:  # batches delivered out of order: a void may come before its record
        rnd.shuffle(batches)
    today = japan_today(datetime.datetime.now(JST))
    with connect(hub_db, "vrs_ingest") as conn:
        with scoped(conn, Scope.ingest()):
            keys = device_keys(conn, [station.device_id])
        checked = [check_batch(station.topic, station.batch(b), keys, KeyCache(), today) for b in batches]
        for j in range(0, len(checked), group):
            result = apply_group(conn, checked[j:j + group], MIN_DAYS)
            assert all(not a.rejected for a in result.acks)
        with scoped(conn, Scope.ingest()):
            assert aggregates.stored(conn) == aggregates.recounted(conn)
            expected = _expected_current(conn, prefix)
            actual = {(r[0], r[1], r[2]): r[3] for r in conn.execute(
                "SELECT municipality_code, voucher_no, dose, record_id::text FROM vaccinations"
                " WHERE voucher_no LIKE %s", (prefix + "%",))}
            history = conn.execute("SELECT count(*) FROM vaccination_history WHERE voucher_no LIKE %s",
                                   (prefix + "%",)).fetchone()
    assert actual == expected
    assert history == (len({r.record_id for r in sent}),)  # every record once, never duplicated
