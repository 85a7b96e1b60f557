"""Many KubernetesEventTriggers on one namespace share one watch through Airflow 3.3's own
SharedStreamManager (the triggerer's code path: subscribe, then filter_shared_stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.shared_stream import SharedStreamManager

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.kube import watch
from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger
from airflow_k8s_workflows.triggers.state_store import MemoryStateStore
from tests.triggers.watch_support import Cluster, Fired, cluster, emu, fast_watch, open_watches, until

__all__ = ["cluster", "emu", "fast_watch"]  # fixtures


class Triggerer:
    """What the triggerer's run_trigger does for a BaseEventTrigger with a shared_stream_key."""

    def __init__(self) -> None:
        self.manager = SharedStreamManager()
        self.next_id = 0

    def run(self, trigger: KubernetesEventTrigger) -> tuple[int, AsyncIterator[Any]]:
        self.next_id += 1
        key = trigger.shared_stream_key()
        stream = self.manager.subscribe(trigger_id=self.next_id, trigger=trigger, key=key)
        return self.next_id, trigger.filter_shared_stream(stream)

    async def stop(self, trigger_id: int, trigger: KubernetesEventTrigger) -> None:
        await self.manager.unsubscribe(trigger_id, trigger.shared_stream_key())


async def test_watchers_on_one_namespace_share_one_watch_and_each_gets_its_own(
    emu: KubeEmulator, cluster: Cluster
) -> None:
    triggerer = Triggerer()
    backoff = KubernetesEventTrigger(reasons=["BackOff"], involved_kind="Pod", namespace="default")
    scheduling = KubernetesEventTrigger(reasons=["FailedScheduling"], namespace="default")
    job_failed = KubernetesEventTrigger(
        reasons=["BackoffLimitExceeded"], involved_kind="Job", namespace="default"
    )
    assert backoff.shared_stream_key() == scheduling.shared_stream_key() == job_failed.shared_stream_key()

    await cluster.event("old.1")  # before the start: nobody fires for it
    before = watch.watch_metrics()
    ids: list[tuple[int, KubernetesEventTrigger]] = []
    fired: list[Fired] = []
    for trigger in (backoff, scheduling, job_failed):
        trigger_id, stream = triggerer.run(trigger)
        ids.append((trigger_id, trigger))
        fired.append(await Fired(stream).__aenter__())
    try:
        await until(lambda: open_watches(emu) == 1, what="the shared watch")
        await until(
            lambda: watch.watch_metrics().subscribers - before.subscribers == 1, what="only the poll left"
        )

        await cluster.event("a.1", reason="BackOff")
        await cluster.event("b.1", reason="FailedScheduling")
        await cluster.event("c.1", reason="BackoffLimitExceeded", kind="Job", object_name="etl")
        assert (await fired[0].next())["name"] == "a.1"
        assert (await fired[1].next())["name"] == "b.1"
        assert (await fired[2].next())["name"] == "c.1"

        # one LIST and one WATCH, without a field selector, for all three
        after = watch.watch_metrics()
        assert (after.list_requests - before.list_requests, after.watch_requests - before.watch_requests) == (
            1,
            1,
        )

        # a late subscriber: the snapshot it reads while the poll runs holds a.1..c.1 (not new)
        late = KubernetesEventTrigger(reasons=["BackOff"], namespace="default", fire_on_repeat=True)
        late.asset_state_store = MemoryStateStore()
        trigger_id, stream = triggerer.run(late)
        ids.append((trigger_id, late))
        fired.append(await Fired(stream).__aenter__())
        await until(lambda: late.asset_state_store.writes >= 1, what="the late subscriber's start")  # type: ignore[union-attr]
        await cluster.bump("a.1")
        assert (await fired[3].next())["count"] == 2
        await cluster.event("d.1", reason="BackOff", object_name="web-2")
        assert (await fired[0].next())["name"] == "d.1"
        assert (await fired[3].next())["name"] == "d.1"
        for f in fired:
            assert f.pending() == 0
        assert watch.watch_metrics().watch_requests - before.watch_requests == 1
    finally:
        for f in fired:
            await f.stop()
        for trigger_id, trigger in ids:
            await triggerer.stop(trigger_id, trigger)
