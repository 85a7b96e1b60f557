"""ResourceConditionTrigger and ResourcesReadyTrigger against the emulator: serialization, the
current state checked before any watch, one event then return, several objects, fail-fast."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from airflow_k8s_workflows.kube.cluster import resolve_cluster_config
from airflow_k8s_workflows.kube.watch import watch_metrics
from airflow_k8s_workflows.triggers.base import first_event
from airflow_k8s_workflows.triggers.condition import ResourceConditionTrigger
from airflow_k8s_workflows.triggers.ready import ResourcesReadyTrigger
from tests.triggers.watching import until_watching

CLUSTER = {"kubernetes_conn_id": "kubernetes_default"}


@pytest.fixture
def hook(emulator: KubeEmulator) -> ClusterHook:
    return ClusterHook(
        kubernetes_conn_id=None, cluster_config=resolve_cluster_config(kube_config_path=emulator.kubeconfig)
    )


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def ref(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "namespace": meta.get("namespace"),
            "name": meta["name"], "uid": meta["uid"]}  # fmt: skip


@pytest.mark.parametrize(
    "trigger",
    [
        ResourceConditionTrigger(kind="Deployment", name="web", condition="Available", namespace="prod",
                                 cluster=CLUSTER),
        ResourceConditionTrigger(kind="Pod", name="p", api_version="v1", jsonpath="{.status.phase}=Running",
                                 uid="u-1", cluster=CLUSTER),
        ResourceConditionTrigger(objects=[{"apiVersion": "v1", "kind": "ConfigMap", "namespace": "a", "name": "x",
                                           "uid": "u-2"}], deleted=True, cluster=CLUSTER),
        ResourcesReadyTrigger(objects=[{"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "a",
                                        "name": "web", "uid": "u-3"}], result=[{"name": "web"}], cluster=CLUSTER),
    ],
    ids=["condition", "jsonpath", "deleted-objects", "ready"],
)  # fmt: skip
def test_serialize_round_trips(trigger: Any) -> None:
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    import json

    json.dumps(kwargs)  # plain JSON: nothing Airflow's serde would trip over


def test_a_met_condition_is_reported_from_the_current_state_without_a_watch(
    airflow_conn: str, hook: ClusterHook
) -> None:
    live = hook.apply(cm("ready", state="done"))
    before = watch_metrics()
    trigger = ResourceConditionTrigger(kind="ConfigMap", name="ready", jsonpath="{.data.state}=done")

    async def all_events() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]  # the generator ends by itself

    events = asyncio.run(all_events())
    assert [e.payload["status"] for e in events] == ["success"]  # one event, then return
    assert events[0].payload["result"] == ref(live)
    assert events[0].payload["message"] == "ConfigMap default/ready: jsonpath {.data.state}=done met"
    after = watch_metrics()
    assert (after.list_requests, after.watch_requests) == (before.list_requests, before.watch_requests)


def test_several_objects_are_waited_for_together(airflow_conn: str, hook: ClusterHook) -> None:
    refs = [ref(hook.apply(cm(name))) for name in ("a", "b", "c")]
    trigger = ResourceConditionTrigger(objects=refs, deleted=True)
    started = watch_metrics().streams_started

    async def scenario() -> dict[str, Any]:
        baseline = watch_metrics().watch_requests
        waiting = asyncio.ensure_future(first_event(trigger, timeout=20))
        await until_watching(baseline)
        for name in ("c", "a"):
            await asyncio.to_thread(hook.delete, "v1", "ConfigMap", name)
        assert not waiting.done()  # "b" is still there
        await asyncio.to_thread(hook.delete, "v1", "ConfigMap", "b")
        return await waiting

    event = asyncio.run(scenario())
    assert event == {"status": "success", "message": "3 object(s): deleted", "result": refs}
    assert watch_metrics().streams_started - started == 1  # one shared stream for the namespace


def test_a_failure_of_one_object_ends_the_wait_at_once(airflow_conn: str, hook: ClusterHook) -> None:
    refs = [ref(hook.apply(cm(name, phase="starting"))) for name in ("x", "y")]
    trigger = ResourceConditionTrigger(objects=refs, jsonpath="{.data.phase}=up")

    async def scenario() -> dict[str, Any]:
        baseline = watch_metrics().watch_requests
        waiting = asyncio.ensure_future(first_event(trigger, timeout=20))
        await until_watching(baseline)
        await asyncio.to_thread(hook.delete, "v1", "ConfigMap", "y")
        return await waiting

    event = asyncio.run(scenario())
    assert event["status"] == "failed"
    assert event["message"] == "ConfigMap default/y was deleted while waiting for jsonpath {.data.phase}=up"


def test_a_replaced_object_counts_as_deleted(airflow_conn: str, hook: ClusterHook) -> None:
    old = ref(hook.apply(cm("swap")))
    hook.delete("v1", "ConfigMap", "swap")
    hook.apply(cm("swap"))
    deleted = ResourceConditionTrigger(kind="ConfigMap", name="swap", deleted=True, uid=old["uid"])
    assert asyncio.run(first_event(deleted, timeout=10))["status"] == "success"
    waiting = ResourceConditionTrigger(kind="ConfigMap", name="swap", jsonpath="{.data.x}", uid=old["uid"])
    event = asyncio.run(first_event(waiting, timeout=10))
    assert event["status"] == "failed" and "was deleted and re-created" in event["message"]


def test_errors_are_reported_as_error_events(airflow_conn: str) -> None:
    unknown = ResourceConditionTrigger(kind="Gizmo", name="g", condition="Ready")
    event = asyncio.run(first_event(unknown, timeout=10))
    assert event["status"] == "error" and 'kind "Gizmo" is not served by the cluster' in event["message"]


def test_ready_trigger_fails_fast_on_a_failed_job(airflow_conn: str, hook: ClusterHook) -> None:
    job = hook.apply({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bad"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}},
    })  # fmt: skip
    deployment = hook.apply({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "never"},
        "spec": {"selector": {"matchLabels": {"app": "never"}}, "template": {
            "metadata": {"labels": {"app": "never"},
                         "annotations": {"emulator.airflow-k8s-workflows.io/never-ready": "true"}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}},
    })  # fmt: skip
    trigger = ResourcesReadyTrigger(objects=[ref(deployment), ref(job)])
    event = asyncio.run(first_event(trigger, timeout=30))
    assert event["status"] == "failed"
    assert event["message"].startswith("Job default/bad: Job default/bad failed: BackoffLimitExceeded")
    assert "Deployment default/never" in trigger.pending  # still waiting when the Job failed


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="kind and name: both are required"):
        ResourceConditionTrigger(kind="Pod", condition="Ready")
    with pytest.raises(ValueError, match="either kind and name or objects"):
        ResourceConditionTrigger(kind="Pod", name="p", objects=[{"kind": "Pod", "name": "q"}], deleted=True)
    with pytest.raises(ValueError, match="exactly one of condition, jsonpath or deleted"):
        ResourceConditionTrigger(kind="Pod", name="p")
