"""An Event storm leaves KubernetesEventTrigger's memory flat: 100,000 Events, no per-Event state.

The Events are synthetic watch events fed to the trigger's own loop (``WatcherTrigger._judge``:
``NewEventDetector``, payloads, and a state store saved on every TriggerEvent as in an
``AssetWatcher``) — the layer ``benchmarks/event_trigger.py`` measures — because 100,000 Events
through the emulator in this process would measure the emulator's own store, and take minutes.
(kube.watch's cache below it mirrors the live objects on the server, which Event TTLs bound;
its per-subscriber queue is coalesced, tests/kube/test_watch.py.)

The stream is a mix a storm produces: one Event in 20 matches the trigger's filter (Warning
BackOff of Pods; the rest are Normal), one in 20 is a repeat of an earlier Event (its ``count``
bumped), one in 10 deletes an older Event (TTL expiry). The detector's bounded memories are
full after 20,000 Events; from there on nothing may grow:

* RSS after 100,000 Events is within 20 MiB of RSS after 10,000;
* the number of memory blocks Python has allocated (``sys.getallocatedblocks()``, after a full
  collection: every live object, strings included) grows by fewer than 1,000 from 30,000 to
  100,000 Events — a leak of as little as one short string per Event (+70,000 blocks) fails
  it, which the control test below demonstrates. (Counted without ``tracemalloc``, whose
  bookkeeping made the run six times slower.)
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from airflow_k8s_workflows.kube.new_events import NewEventDetector
from airflow_k8s_workflows.kube.resources import ResourceRef
from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger
from airflow_k8s_workflows.triggers.state_store import MemoryStateStore

TOTAL = 100_000
MIB = 1024 * 1024


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def storm_event(i: int) -> tuple[str, dict[str, Any]]:
    """The i-th watch event of the storm (a fresh dict each time, as a watch decodes them)."""
    event_type, n, count = "ADDED", i, 1
    if i % 20 == 19:
        event_type, n, count = "MODIFIED", i - 10, 2  # a repeat of an earlier Event
    elif i % 10 == 5 and i > 1000:
        event_type, n = "DELETED", i - 1000  # the TTL removed an older one
    pod = f"web-{n % 500}-7d4b9c8f5d-{n % 97:05x}"
    matching = n % 20 == 0
    return event_type, {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.{n:016x}", "namespace": "prod", "uid": f"7c1e{n:012x}-uid",
                     "resourceVersion": str(1000 + i), "creationTimestamp": "2026-01-01T00:00:00Z"},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "prod", "uid": f"pod-{n % 500}",
                           "apiVersion": "v1", "fieldPath": "spec.containers{main}"},
        "reason": "BackOff" if matching else "Pulled",
        "message": "Back-off restarting failed container main in pod " + pod,
        "type": "Warning" if matching else "Normal",
        "count": count,
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
        "source": {"component": "kubelet", "host": f"node-{n % 7}"},
        "reportingComponent": "kubelet",
        "reportingInstance": f"node-{n % 7}",
    }  # fmt: skip


Probe = Callable[[], dict[str, int]]


async def run_storm(checkpoints: dict[int, Probe]) -> tuple[dict[int, dict[str, int]], int, float]:
    """Feed TOTAL Events through the trigger: measurements at the checkpoints (after a full
    collection), the number of TriggerEvents, seconds."""
    trigger = KubernetesEventTrigger(
        reasons=["BackOff"], event_type="Warning", involved_kind="Pod", namespace="prod"
    )
    trigger.asset_state_store = MemoryStateStore()  # type: ignore[assignment]
    ref = ResourceRef("v1", "events", kind="Event", namespace="prod")
    measured: dict[int, dict[str, int]] = {}
    ended: list[BaseException] = []

    async def stream() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        for i in range(TOTAL):
            yield storm_event(i)
            if i + 1 in checkpoints:
                gc.collect()
                measured[i + 1] = checkpoints[i + 1]()

    fired = 0
    started = time.perf_counter()
    try:
        async for _ in trigger._judge(ref, [], stream()):
            fired += 1
    except RuntimeError as e:  # a real watch never ends; this stream does
        ended.append(e)
    assert ended and "ended" in str(ended[0])
    return measured, fired, time.perf_counter() - started


def probe() -> dict[str, int]:
    return {"rss": rss_bytes(), "blocks": sys.getallocatedblocks()}


async def test_100k_events_leave_rss_and_python_memory_flat() -> None:
    measured, fired, seconds = await run_storm({n: probe for n in (10_000, 30_000, 100_000)})
    rss_growth = measured[100_000]["rss"] - measured[10_000]["rss"]
    block_growth = measured[100_000]["blocks"] - measured[30_000]["blocks"]
    print(f"{TOTAL:,} Events through KubernetesEventTrigger in {seconds:.1f}s ({TOTAL / seconds:,.0f}/s), "
          f"{fired:,} TriggerEvents; RSS {measured[10_000]['rss'] / MIB:.1f} MiB after 10,000, "
          f"{measured[100_000]['rss'] / MIB:.1f} MiB after 100,000 (+{rss_growth / MIB:.2f} MiB); "
          f"allocated blocks {measured[30_000]['blocks']:,} after 30,000, {measured[100_000]['blocks']:,} "
          f"after 100,000 ({block_growth:+,})")  # fmt: skip
    # each new matching Event fires once; repeats, deletions and the 95 % that do not match never
    new_matching = sum(
        1 for t, e in map(storm_event, range(TOTAL)) if t == "ADDED" and e["type"] == "Warning"
    )
    assert fired == new_matching == 5_000
    assert rss_growth < 20 * MIB, f"RSS grew {rss_growth / MIB:.1f} MiB from 10,000 to 100,000 Events"
    assert block_growth < 1_000, (
        f"{block_growth:,} more live memory blocks after 100,000 Events than after 30,000"
    )


async def test_control_a_leak_of_one_short_string_per_event_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the measurement above is sensitive enough: keep just each Event's uid, and it fails
    leaked: list[str] = []
    feed = NewEventDetector.feed

    def leaky_feed(self: NewEventDetector, event_type: str, event: Any) -> bool:
        leaked.append(f"{event['metadata']['uid']}")
        return feed(self, event_type, event)

    monkeypatch.setattr(NewEventDetector, "feed", leaky_feed)
    measured, _, _ = await run_storm({n: probe for n in (30_000, 100_000)})
    growth = measured[100_000]["blocks"] - measured[30_000]["blocks"]
    assert len(leaked) == TOTAL
    assert growth >= 1_000, f"a {len(leaked):,}-string leak grew the allocated blocks only by {growth:,}"
    assert growth >= 0.9 * (TOTAL - 30_000), growth


def test_the_storm_is_the_mix_it_claims() -> None:
    types = [storm_event(i)[0] for i in range(TOTAL)]
    assert (types.count("ADDED"), types.count("MODIFIED"), types.count("DELETED")) == (85_100, 5_000, 9_900)
