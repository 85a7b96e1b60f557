"""KubernetesEventTrigger fires exactly once per Event while the API server drops watches and
answers resumes with 410.

10,000 matching core/v1 Events (and 1,000 that do not match) are written into the emulator in
random batches through its in-process API while the trigger watches over HTTP (``run()``: LIST,
WATCH, kube.watch's shared stream, NewEventDetector). Between batches, seeded randomness turns
the emulator's faults on and off: every watch stream is closed after a random number of events
(``drop_watch_every=(low, high)``), all open watches are cut, and the next resumes are answered
with 410 Expired (``expire_watch_resumes``), which makes the client list again. Event names
are ``<pod>.<random hex>`` like the kubelet's, so a LIST (sorted by name, as etcd returns it)
shows them in another order than their resourceVersions.

Counted by Event uid: every matching Event fired once, none twice, no non-matching one. The
faults that actually happened are counted (server and client side) and must not be zero, so the
test fails if they silently stopped firing. Reproduce a run with ``RELIABILITY_SEED=<seed>``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.kube import watch
from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger
from tests.helpers import seed_from_env
from tests.triggers.watch_support import emu, fast_watch, until

__all__ = ["emu", "fast_watch"]  # fixtures

MATCHING = 10_000
NON_MATCHING = 1_000


def _event(name: str, *, matching: bool) -> dict[str, Any]:
    pod = name.split(".")[0]
    return {
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "default", "apiVersion": "v1",
                           "uid": f"uid-{pod}", "fieldPath": "spec.containers{main}"},
        "reason": "BackOff" if matching else "Pulled",
        "message": "Back-off restarting failed container" if matching else "Container image pulled",
        "type": "Warning" if matching else "Normal",
        "count": 1,
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
        "source": {"component": "kubelet", "host": "emulator-node-0"},
    }  # fmt: skip


async def test_every_event_fires_exactly_once_while_watches_drop_and_resumes_expire(
    emu: KubeEmulator,
) -> None:
    seed = seed_from_env()
    rng = random.Random(seed)
    print(f"RELIABILITY_SEED={seed}")
    rt = emu.api.rt("", "events")
    names: set[str] = set()

    def new_name() -> str:
        while True:
            name = f"web-{rng.randrange(40)}.{rng.getrandbits(64):016x}"
            if name not in names:
                names.add(name)
                return name

    # the whole plan is drawn up front from the seed: batches of Events and the faults between them
    kinds = [True] * MATCHING + [False] * NON_MATCHING
    rng.shuffle(kinds)
    batches: list[tuple[list[tuple[str, bool]], str, int]] = []
    i = 0
    while i < len(kinds):
        size = rng.randint(20, 200)
        batch = [(new_name(), matching) for matching in kinds[i : i + size]]
        i += size
        roll = rng.random()
        action = (
            "expire" if roll < 0.06 else "cut" if roll < 0.14 else "drops-on" if roll < 0.34
            else "drops-off" if roll < 0.40 else ""
        )  # fmt: skip
        # repeats of earlier Events (the kubelet bumps count): never a second TriggerEvent
        repeats = rng.randint(0, 5) if i > size else 0
        batches.append((batch, action, repeats))
    # every kind of fault happens at least once, early enough to land before the faults go off
    # (a plan of ~100 rolls has no "expire" about once in 600 seeds)
    for needed in ("expire", "cut", "drops-on"):
        if all(action != needed for _, action, _ in batches):
            at = rng.choice([n for n, (_, action, _) in enumerate(batches[:-5]) if not action])
            batches[at] = (batches[at][0], needed, batches[at][2])

    expected: set[str] = set()
    not_expected: set[str] = set()
    applied: Counter[str] = Counter()

    written_names: list[str] = []

    def bump(event: dict[str, Any]) -> None:
        event["count"] = event.get("count", 1) + 1
        event["lastTimestamp"] = "2026-01-01T00:01:00Z"

    def write(batch: list[tuple[str, bool]], action: str, repeats: int) -> None:  # on the emulator's loop
        for name, matching in batch:
            created = emu.api.create(rt, "default", _event(name, matching=matching), CONTROLLER)
            (expected if matching else not_expected).add(created["metadata"]["uid"])
            written_names.append(name)
        for _ in range(repeats):
            emu.api.mutate(rt, "default", rng.choice(written_names), bump)
            applied["repeat"] += 1
        if action == "expire":  # cut the watch and answer the next resumes with 410
            emu.faults.set(expire_watch_resumes=rng.randint(1, 2))
            applied["cut-watches"] += len(emu.http.active_watchers)
            for w in list(emu.http.active_watchers):
                w.close()
        elif action == "cut":  # connection lost: the client resumes from its resourceVersion
            applied["cut-watches"] += len(emu.http.active_watchers)
            for w in list(emu.http.active_watchers):
                w.close()
        elif action == "drops-on":
            low = rng.randint(5, 60)
            emu.faults.set(drop_watch_every=(low, low * rng.randint(2, 5)))
        elif action == "drops-off":
            emu.faults.set(drop_watch_every=0)
        if action:
            applied[action] += 1

    emu.faults.set(seed=seed, drop_watch_every=(20, 300))
    before = watch.watch_metrics()
    fired: list[str] = []
    trigger = KubernetesEventTrigger(
        reasons=["BackOff"], event_type="Warning", involved_kind="Pod", namespace="default"
    )

    async def consume() -> None:
        async for event in trigger.run():
            fired.append(event.payload["uid"])

    consumer = asyncio.create_task(consume())
    started = time.monotonic()
    try:
        await until(lambda: trigger.watching or consumer.done(), what="the trigger to watch")
        for batch, action, repeats in batches:
            if action in ("cut", "expire"):  # let the cut land on a live watch, not between two
                await until(
                    lambda: emu.http.active_watchers, 30, what="a live watch to cut"
                )  # a relist of 1000s
            await asyncio.to_thread(emu.call, lambda b=batch, a=action, r=repeats: write(b, a, r))
        written = time.monotonic()
        # faults off; a last matching Event marks the end: once it fired, everything before it has
        emu.faults.clear()
        marker = await asyncio.to_thread(
            emu.call, lambda: emu.api.create(rt, "default", _event("zz-marker.0", matching=True), CONTROLLER)
        )
        marker_uid = marker["metadata"]["uid"]
        await until(lambda: marker_uid in fired or consumer.done(), timeout=45, what="the marker Event")
        assert not consumer.done(), f"the trigger stopped: {consumer}"
        done = time.monotonic()
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)

    counts = Counter(uid for uid in fired if uid != marker_uid)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    missing = len(expected - counts.keys())
    wrong = len(counts.keys() & not_expected) + len(counts.keys() - expected - not_expected)
    after = watch.watch_metrics()
    injected = emu.faults.injected
    figures = {
        "seed": seed,
        "events": len(expected),
        "non_matching": len(not_expected),
        "distinct_fired": len(counts),
        "duplicates": duplicates,
        "missing": missing,
        "wrong": wrong,
        "server_watch_drops": injected["watch-drop"],
        "server_410_on_resume": injected["watch-410"],
        "repeats_written": applied["repeat"],
        "server_watch_cuts": applied["cut-watches"],
        "client_relists": after.relists - before.relists,
        "client_watch_requests": after.watch_requests - before.watch_requests,
        "client_list_requests": after.list_requests - before.list_requests,
        "client_synthetic_events": after.synthetic_events - before.synthetic_events,
        "write_seconds": round(written - started, 1),
        "total_seconds": round(done - started, 1),
    }
    print("exactly-once figures:", figures)
    assert (len(counts), duplicates, missing, wrong) == (MATCHING, 0, 0, 0), figures
    assert fired.count(marker_uid) == 1, figures
    # the faults really happened (the test must not pass because they silently stopped firing)
    assert injected["watch-drop"] > 0 and injected["watch-410"] > 0, figures
    assert figures["client_relists"] >= injected["watch-410"] > 0, figures
    assert figures["client_watch_requests"] > injected["watch-drop"], figures
