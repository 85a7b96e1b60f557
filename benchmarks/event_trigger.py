"""Throughput and memory of KubernetesEventTrigger's filtering and de-duplication.

    .venv/bin/python benchmarks/event_trigger.py [--events 1000000] [--e2e-events 20000]

Reported:

- **synthetic**: ``--events`` core/v1 Events (1 % of them matching the filter, each with a new
  uid and resourceVersion, every 20th one a repeat of an earlier Event) fed through the
  trigger's own loop (``WatcherTrigger._judge``: ``NewEventDetector`` + payloads), once with
  state in memory and once saving to a state store as in an AssetWatcher; events/s, and
  the same for generating the events alone (the harness's share);
- **memory**: RSS at checkpoints across the synthetic stream (goal: flat once the bounded
  match memory is full, 20,000 Events);
- **end to end**: ``--e2e-events`` Events written into the emulator in batches while the
  trigger watches over HTTP (``run()``: LIST + WATCH, JSON decoding, kube.watch fan-out);
  events/s from the first write to the last TriggerEvent (every Event matches here, so each
  one is a TriggerEvent).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger
from airflow_k8s_workflows.triggers.state_store import MemoryStateStore

INVOLVED = {"kind": "Pod", "name": "web-1", "namespace": "prod", "apiVersion": "v1", "uid": "pod-uid"}


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_event(i: int) -> tuple[str, dict[str, Any]]:
    repeat = i % 20 == 19
    uid = f"e-{i - 10 if repeat else i}"
    matching = i % 100 == 0
    return ("MODIFIED" if repeat else "ADDED"), {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"web-1.{uid}",
            "namespace": "prod",
            "uid": uid,
            "resourceVersion": str(1000 + i),
        },
        "involvedObject": INVOLVED,
        "reason": "BackOff" if matching else "Pulled",
        "message": "Back-off restarting failed container",
        "type": "Warning" if matching else "Normal",
        "count": 2 if repeat else 1,
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }


async def stream(
    n: int, checkpoints: dict[int, float] | None = None
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    every = max(1, n // 10)
    for i in range(n):
        if checkpoints is not None and i % every == 0:
            checkpoints[i] = rss_mib()
        yield synthetic_event(i)
    if checkpoints is not None:
        checkpoints[n] = rss_mib()


async def generate_only(n: int) -> float:
    start = time.perf_counter()
    async for _ in stream(n):
        pass
    return n / (time.perf_counter() - start)


async def through_trigger(
    n: int, *, store: bool, checkpoints: dict[int, float] | None = None
) -> tuple[float, int]:
    """Events/s through the trigger's loop and how many TriggerEvents it produced."""
    from airflow_k8s_workflows.kube.resources import ResourceRef

    trigger = KubernetesEventTrigger(
        reasons=["BackOff"], event_type="Warning", involved_kind="Pod", namespace="prod"
    )
    if store:
        trigger.asset_state_store = MemoryStateStore()
    ref = ResourceRef("v1", "events", kind="Event", namespace="prod")
    fired = 0
    start = time.perf_counter()
    try:
        async for _ in trigger._judge(ref, [], stream(n, checkpoints)):
            fired += 1
    except RuntimeError:  # the synthetic stream ended (a real watch never does)
        pass
    return n / (time.perf_counter() - start), fired


def end_to_end(n: int, batch: int = 500) -> dict[str, float]:
    """Two measurements against the emulator over HTTP (every Event matches, so each is a
    TriggerEvent):

    * live: Events written in batches while the trigger watches; events/s from the first write
      to the last TriggerEvent (bounded by how fast the emulator writes), and the lag of the
      last TriggerEvent behind the last write;
    * burst: the trigger's watch is held back while ``n`` Events are written, then released:
      the server replays them on one watch; events/s from the release to the last TriggerEvent
      (HTTP streaming, JSON decoding, kube.watch, filter and dedup).
    """
    from aiohttp import web

    from airflow_k8s_workflows.emulator import KubeEmulator
    from airflow_k8s_workflows.emulator.api import CONTROLLER

    with (
        tempfile.TemporaryDirectory() as tmp,
        KubeEmulator(controllers=False, kubelet=False, workdir=tmp, history_size=4 * n + 1000) as emu,
    ):
        os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = emu.airflow_connection(inline=True)
        rt = emu.api.rt("", "events")
        gate: list[asyncio.Event] = []

        async def hold_watches(request: web.Request) -> web.StreamResponse | None:
            if gate and request.query.get("watch") == "true" and request.path.endswith("/events"):
                await gate[0].wait()
            return None

        emu.http.before.append(hold_watches)

        def write(first: int, count: int) -> None:
            for i in range(first, first + count):
                body = {
                    "metadata": {"name": f"web-1.{i:08d}", "namespace": "default"},
                    "involvedObject": {**INVOLVED, "namespace": "default"},
                    "reason": "BackOff", "message": "Back-off restarting failed container", "type": "Warning",
                    "count": 1, "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
                }  # fmt: skip
                emu.api.create(rt, "default", body, CONTROLLER)

        def close_gate() -> None:
            gate[:] = [asyncio.Event()]
            for watcher in list(emu.http.active_watchers):
                watcher.close()

        async def main() -> dict[str, float]:
            trigger = KubernetesEventTrigger(reasons=["BackOff"], involved_kind="Pod", namespace="default")
            received = 0
            goals: list[tuple[int, asyncio.Event]] = []

            async def consume() -> None:
                nonlocal received
                async for _ in trigger.run():
                    received += 1
                    for goal, reached in goals:
                        if received >= goal:
                            reached.set()

            async def until_received(goal: int) -> None:
                reached = asyncio.Event()
                goals.append((goal, reached))
                if received >= goal:
                    reached.set()
                await asyncio.wait_for(reached.wait(), 600)

            task = asyncio.create_task(consume())
            while not trigger.watching:  # noqa: ASYNC110 - a plain flag on the trigger
                await asyncio.sleep(0.01)
            loop = asyncio.get_running_loop()

            start = time.perf_counter()
            for first in range(0, n, batch):
                await loop.run_in_executor(None, emu.call, lambda f=first: write(f, min(batch, n - f)))
            last_written = time.perf_counter()
            await until_received(n)
            live_end = time.perf_counter()

            await loop.run_in_executor(None, emu.call, close_gate)
            started = time.perf_counter()
            for first in range(n, 2 * n, batch):
                await loop.run_in_executor(None, emu.call, lambda f=first: write(f, min(batch, 2 * n - f)))
            write_rate = n / (time.perf_counter() - started)
            released = time.perf_counter()
            await loop.run_in_executor(None, emu.call, lambda: emu.loop.call_soon(gate[0].set))
            await until_received(2 * n)
            burst_end = time.perf_counter()
            task.cancel()
            return {
                "live": n / (live_end - start),
                "lag": live_end - last_written,
                "writes": write_rate,
                "burst": n / (burst_end - released),
            }

        return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--e2e-events", type=int, default=20_000)
    args = parser.parse_args()

    gen = asyncio.run(generate_only(min(args.events, 200_000)))
    print(f"generating synthetic events alone: {gen:,.0f} events/s")
    for store in (False, True):
        checkpoints: dict[int, float] = {}
        rate, fired = asyncio.run(through_trigger(args.events, store=store, checkpoints=checkpoints))
        where = "saved to a state store" if store else "state in memory"
        print(f"synthetic, {where}: {rate:,.0f} events/s through the trigger ({fired:,} TriggerEvents "
              f"for {args.events:,} Events)")  # fmt: skip
        print("  RSS MiB at events: " + ", ".join(f"{k:,}: {v:.1f}" for k, v in sorted(checkpoints.items())))
    if args.e2e_events:
        e2e = end_to_end(args.e2e_events)
        print(f"end to end, live: {e2e['live']:,.0f} events/s for {args.e2e_events:,} Events written while "
              f"watching (the emulator writes {e2e['writes']:,.0f}/s; last TriggerEvent "
              f"{e2e['lag'] * 1000:.0f} ms after the last write)")  # fmt: skip
        print(
            f"end to end, burst: {e2e['burst']:,.0f} events/s for {args.e2e_events:,} Events replayed "
            "on one watch after a held reconnect"
        )


if __name__ == "__main__":
    main()
