"""KubernetesEventTrigger against the emulator over HTTP: one TriggerEvent per new matching Event,
nothing for old or non-matching ones, no duplicate or loss across watch drops, 410 relists and
restarts, repeats only with fire_on_repeat.

Events are written through the official client. "Nothing fired" is checked without sleeping:
a matching marker Event is written afterwards, and it must be the next thing the trigger sends
(a watch delivers in resourceVersion order).
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.kube import watch
from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger
from airflow_k8s_workflows.triggers.state_store import MemoryStateStore
from tests.triggers.watch_support import Cluster, cluster, emu, fast_watch, start, until

__all__ = ["cluster", "emu", "fast_watch"]  # fixtures


def backoff_trigger(**kw: Any) -> KubernetesEventTrigger:
    return KubernetesEventTrigger(
        **{"reasons": ["BackOff"], "event_type": "Warning", "involved_kind": "Pod", **kw}
    )


async def marker(cluster: Cluster, name: str = "marker") -> None:
    await cluster.event(name, object_name=f"{name}-pod")


async def test_one_trigger_event_per_new_matching_event_with_its_payload(
    emu: KubeEmulator, cluster: Cluster
) -> None:
    async with start(backoff_trigger(namespace="default")) as fired:
        await fired.ready()
        created = await cluster.event(
            "web-1.1", object_name="web-1", message="Back-off restarting failed container"
        )
        payload = await fired.next()
        assert payload == {
            "uid": created["metadata"]["uid"],
            "name": "web-1.1",
            "namespace": "default",
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
            "type": "Warning",
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "uid": "uid-web-1",
                               "apiVersion": "v1", "fieldPath": None},
            "count": 1,
            "firstTimestamp": created["firstTimestamp"].replace("+00:00", "Z"),
            "lastTimestamp": created["lastTimestamp"].replace("+00:00", "Z"),
            "eventTime": None,
            "reportingComponent": "kubelet",
            "cluster": "kubernetes_default",
        }  # fmt: skip
        await marker(cluster)
        assert (await fired.next())["name"] == "marker"
        assert fired.pending() == 0


async def test_non_matching_and_pre_existing_events_fire_nothing(emu: KubeEmulator, cluster: Cluster) -> None:
    await cluster.event("old.1", object_name="web-old")  # matches, but existed before the start
    async with start(backoff_trigger(namespace="default")) as fired:
        await fired.ready()
        await cluster.event("n.1", reason="Pulled", event_type="Normal")
        await cluster.event("n.2", event_type="Normal")  # BackOff but Normal
        await cluster.event("n.3", kind="Node")  # BackOff Warning but not a Pod
        await cluster.event("n.4", namespace="kube-system")  # another namespace
        await marker(cluster)
        assert (await fired.next())["name"] == "marker"
        assert fired.pending() == 0


async def test_name_patterns_reasons_and_min_count(emu: KubeEmulator, cluster: Cluster) -> None:
    trigger = KubernetesEventTrigger(
        reasons=["BackOff", "Failed"], involved_name="re:web-[0-9]+", min_count=3, namespace="default"
    )
    async with start(trigger) as fired:
        await fired.ready()
        await cluster.event("a.1", object_name="web-x", count=5)  # name does not match the regex
        await cluster.event("b.1", object_name="web-2", reason="Failed")  # count 1 < 3
        assert await cluster.bump("b.1") == 2
        assert await cluster.bump("b.1") == 3  # reaches min_count: its first matching occurrence
        got = await fired.next()
        assert (got["name"], got["count"]) == ("b.1", 3)
        await cluster.bump("b.1")  # a repeat: no second event without fire_on_repeat
        await cluster.event("c.1", object_name="web-3", count=7)
        assert (await fired.next())["name"] == "c.1"
        assert fired.pending() == 0

    prefix = KubernetesEventTrigger(involved_name="api-*", namespace="default")
    async with start(prefix) as fired:
        await fired.ready()
        await cluster.event("d.1", object_name="web-9")
        await cluster.event("e.1", object_name="api-7", reason="Scheduled", event_type="Normal")
        assert (await fired.next())["name"] == "e.1"


async def test_repeat_fires_again_only_with_fire_on_repeat(emu: KubeEmulator, cluster: Cluster) -> None:
    once = backoff_trigger(namespace="default")
    every = backoff_trigger(namespace="default", fire_on_repeat=True)
    async with start(once) as fired_once, start(every) as fired_every:
        await fired_once.ready()
        await fired_every.ready()
        await cluster.event("r.1")
        assert (await fired_once.next())["count"] == 1
        assert (await fired_every.next())["count"] == 1
        await cluster.bump("r.1")
        await cluster.bump("r.1")
        assert [(await fired_every.next())["count"] for _ in range(2)] == [2, 3]
        await marker(cluster)
        assert (await fired_once.next())["name"] == "marker"
        assert (await fired_every.next())["name"] == "marker"
        assert fired_once.pending() == fired_every.pending() == 0


async def test_a_dropped_watch_loses_nothing_and_repeats_nothing(emu: KubeEmulator, cluster: Cluster) -> None:
    before = watch.watch_metrics()
    async with start(backoff_trigger(namespace="default")) as fired:
        await fired.ready()
        await cluster.event("before-drop.1")
        assert (await fired.next())["name"] == "before-drop.1"

        def drop_then_write() -> None:
            for w in list(emu.http.active_watchers):
                w.close()
            body = cluster.event_body("while-dropped.1")
            emu.api.create(emu.api.rt("", "events"), "default", body, CONTROLLER)

        emu.call(drop_then_write)
        assert (await fired.next())["name"] == "while-dropped.1"
        await marker(cluster)
        assert (await fired.next())["name"] == "marker"
        assert fired.pending() == 0
        after = watch.watch_metrics()
        assert (after.watch_requests - before.watch_requests, after.list_requests - before.list_requests) == (
            2,
            1,
        )


async def test_a_410_relist_loses_nothing_and_repeats_nothing(emu: KubeEmulator, cluster: Cluster) -> None:
    await cluster.event("old.1")
    before = watch.watch_metrics()
    async with start(backoff_trigger(namespace="default")) as fired:
        await fired.ready()
        await cluster.event("seen.1")
        assert (await fired.next())["name"] == "seen.1"

        def missed_then_compacted() -> None:
            for w in list(emu.http.active_watchers):
                w.close()
            rt = emu.api.rt("", "events")
            emu.api.create(rt, "default", cluster.event_body("missed.1", object_name="web-7"), CONTROLLER)
            emu.store.compact()

        emu.call(missed_then_compacted)
        assert (await fired.next())["name"] == "missed.1"  # from the relist, once
        await marker(cluster)
        assert (await fired.next())["name"] == "marker"  # neither old.1 nor seen.1 again
        assert fired.pending() == 0
        assert watch.watch_metrics().relists - before.relists == 1


async def test_restart_resumes_from_the_saved_position(emu: KubeEmulator, cluster: Cluster) -> None:
    store = MemoryStateStore()
    await cluster.event("pre.1")

    first = backoff_trigger(namespace="default")
    first.asset_state_store = store
    async with start(first) as fired:
        await fired.ready()
        await cluster.event("a.1")
        assert (await fired.next())["name"] == "a.1"
    assert store.writes >= 2 and list(store.data) == [first.state_key()]

    # while no trigger runs: a new Event, a repeat of a fired one and of a pre-existing one
    await cluster.event("b.1", object_name="web-2")
    await cluster.bump("a.1")
    await cluster.bump("pre.1")

    second = backoff_trigger(namespace="default")  # a fresh instance, as after a triggerer restart
    second.asset_state_store = store
    assert second.state_key() == first.state_key()
    async with start(second) as fired:
        assert (await fired.next())["name"] == "b.1"
        await fired.ready()
        await marker(cluster)
        assert (await fired.next())["name"] == "marker"
        assert fired.pending() == 0

    third = backoff_trigger(namespace="default")
    third.asset_state_store = store
    async with start(third) as fired:
        await fired.ready()
        await marker(cluster, "marker-2")
        assert (await fired.next())["name"] == "marker-2"  # nothing from before again


async def test_look_back_reports_recent_events_once(emu: KubeEmulator, cluster: Cluster) -> None:
    await cluster.event("recent.1")
    store = MemoryStateStore()
    trigger = backoff_trigger(namespace="default", look_back_seconds=600)
    trigger.asset_state_store = store
    async with start(trigger) as fired:
        assert (await fired.next())["name"] == "recent.1"
    again = backoff_trigger(namespace="default", look_back_seconds=600)
    again.asset_state_store = store
    async with start(again) as fired:
        await fired.ready()
        await marker(cluster)
        assert (await fired.next())["name"] == "marker"


async def test_all_namespaces_and_server_side_field_selector(emu: KubeEmulator, cluster: Cluster) -> None:
    selectors: list[str] = []

    async def record(request: web.Request) -> web.StreamResponse | None:
        if request.query.get("watch") == "true" and request.path.endswith("/events"):
            selectors.append(f"{request.path}?{request.query.get('fieldSelector', '')}")
        return None

    emu.http.before.append(record)
    trigger = KubernetesEventTrigger(reasons="FailedScheduling", involved_kind="Pod", all_namespaces=True)
    async with start(trigger) as fired:
        await fired.ready()
        await cluster.event("x.1", namespace="kube-system", reason="FailedScheduling")
        got = await fired.next()
        assert (got["namespace"], got["reason"]) == ("kube-system", "FailedScheduling")
    assert selectors == ["/api/v1/events?involvedObject.kind=Pod,reason=FailedScheduling"]


async def test_once_returns_after_the_first_event(emu: KubeEmulator, cluster: Cluster) -> None:
    trigger = backoff_trigger(namespace="default", once=True)
    async with start(trigger) as fired:
        await fired.ready()
        await cluster.event("only.1")
        assert (await fired.next())["name"] == "only.1"
        assert fired.task is not None
        await until(fired.task.done, what="the trigger to return")
        assert fired.error is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event_type": "Critical"}, "event_type must be one of Normal, Warning"),
        ({"min_count": 0}, "min_count must be an integer of at least 1"),
        ({"involved_name": "re:("}, "involved_name: invalid regular expression"),
        ({"look_back_seconds": -1}, "look_back_seconds: must be a number >= 0"),
        ({"since": "yesterday"}, "since: not an ISO 8601"),
        ({"namespace": "a", "all_namespaces": True}, "namespace: give a namespace or all_namespaces"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KubernetesEventTrigger(**kwargs)
