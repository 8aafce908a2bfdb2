"""The ingest's fair queue: a flooding station cannot delay another station's batch beyond one group."""

from __future__ import annotations

import threading
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hub.config import load_config
from hub.ingest.fair_queue import FairQueue
from hub.ingest.mqtt_wire import Publish
from hub.ingest.worker import IngestWorker
from protocol.topics import records_topic


def test_a_flood_does_not_delay_another_station_beyond_one_group() -> None:
    q: FairQueue[tuple[str, int]] = FairQueue()
    for i in range(10_000):
        q.put("flooder", ("flooder", i))
    q.put("quiet", ("quiet", 0))
    first = q.take_group(256, 1 << 30, timeout=0)
    assert ("quiet", 0) in first
    # The flooder's own batches still go in their order, and the rest of the group is its.
    flooded = [i for who, i in first if who == "flooder"]
    assert flooded == list(range(255))


def test_groups_take_turns_between_stations_in_arrival_order() -> None:
    q: FairQueue[str] = FairQueue()
    for item in ["a1", "a2", "a3", "b1", "c1", "c2"]:
        q.put(item[0], item)
    assert q.take_group(4, 1 << 30, timeout=0) == ["a1", "b1", "c1", "a2"]
    assert q.take_group(4, 1 << 30, timeout=0) == ["c2", "a3"]
    assert q.take_group(4, 1 << 30, timeout=0) == [] and len(q) == 0


def test_a_group_stops_at_its_byte_budget_but_never_comes_out_empty() -> None:
    q: FairQueue[bytes] = FairQueue(size_of=len)
    q.put("a", b"x" * 100)
    q.put("b", b"y" * 100)
    assert q.take_group(10, 50, timeout=0) == [b"x" * 100]
    assert q.take_group(10, 50, timeout=0) == [b"y" * 100]


def test_take_group_waits_for_a_message_from_another_thread() -> None:
    q: FairQueue[str] = FairQueue()
    threading.Timer(0.1, q.put, args=("a", "late")).start()
    assert q.take_group(10, 100, timeout=10) == ["late"]


@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers()), max_size=300), st.integers(1, 50))
def test_nothing_is_lost_or_reordered_within_a_station_and_no_station_waits_a_second_group(
        puts: list[tuple[str, int]], group_size: int) -> None:
    q: FairQueue[tuple[str, int]] = FairQueue()
    for n, (key, _) in enumerate(puts):
        q.put(key, (key, n))
    taken: list[list[tuple[str, int]]] = []
    while group := q.take_group(group_size, 1 << 30, timeout=0):
        taken.append(group)
    flat = [item for group in taken for item in group]
    assert sorted(flat, key=lambda it: it[1]) == [(k, n) for n, (k, _) in enumerate(puts)]
    for key in set(k for k, _ in puts):
        mine = [n for k, n in flat if k == key]
        assert mine == sorted(mine)
    # With room for one item per station (at most 6 here), every station still waiting when a group is
    # formed gets a place in that group.
    if group_size >= 6:
        for i, group in enumerate(taken):
            waiting = {k for later in taken[i:] for k, _ in later}
            assert waiting == {k for k, _ in group}


def test_the_worker_puts_a_quiet_stations_batch_in_the_next_group_during_a_flood(
        hub_key_files: tuple[Path, Path]) -> None:
    config = load_config({"VRS_MQTT_URL": "mqtt://127.0.0.1:1", "VRS_HUB_KEY_FILE": str(hub_key_files[0]),
                          "VRS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "VRS_INGEST_GROUP_BATCHES": "64"})
    worker = IngestWorker(config)

    def receive(device_id: str, mid: int) -> None:
        worker._on_message(Publish(records_topic(device_id), b"token", qos=1, packet_id=mid, retain=False))

    for mid in range(1, 1001):
        receive("st-flood", mid)
    receive("st-quiet", 5000)
    group = worker._take_group()
    assert len(group) == 64
    assert [m.mid for m in group if m.topic == records_topic("st-quiet")] == [5000]
    assert [m.mid for m in group if m.topic == records_topic("st-flood")] == list(range(1, 64))
