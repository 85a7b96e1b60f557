"""ResourceConditionSensor against the emulator: kubectl-wait semantics in poke and deferrable
mode, compared with kubectl itself; custom kinds found through discovery."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from airflow_k8s_workflows.kube.cluster import resolve_cluster_config
from airflow_k8s_workflows.kube.kinds import AmbiguousKind, KindNotServed, resolve_api_version
from airflow_k8s_workflows.kube.watch import watch_metrics
from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.sensors.condition import ResourceConditionSensor
from airflow_k8s_workflows.triggers.base import first_event
from airflow_k8s_workflows.triggers.condition import ResourceConditionTrigger
from tests.conftest import Kubectl
from tests.triggers.watching import until_watching

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}},
}  # fmt: skip


def pod(name: str, **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = {f"emulator.airflow-k8s-workflows.io/{k}": v for k, v in annotations.items()}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}  # fmt: skip


def crd(group: str, kind: str = "Widget") -> dict[str, Any]:
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True}}}]},
    }  # fmt: skip


@pytest.fixture
def hook(emulator: KubeEmulator) -> ClusterHook:
    return ClusterHook(
        kubernetes_conn_id=None, cluster_config=resolve_cluster_config(kube_config_path=emulator.kubeconfig)
    )


def sensor(**kwargs: Any) -> ResourceConditionSensor:
    return ResourceConditionSensor(task_id="s", **kwargs)


def defer(op: ResourceConditionSensor) -> ResourceConditionTrigger:
    """execute() in deferrable mode: the trigger rebuilt from its serialized kwargs."""
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    path, kwargs = deferred.value.trigger.serialize()
    assert path == "airflow_k8s_workflows.triggers.condition.ResourceConditionTrigger"
    return ResourceConditionTrigger(**kwargs)


def test_poke_and_deferred_sensors_in_real_airflow(
    airflow_db: str, airflow_conn: str, hook: ClusterHook, kubectl: Kubectl
) -> None:
    from tests.dags.manifests import condition_sensors

    ApplyManifestsOperator(task_id="seed", manifests=DEPLOYMENT, wait_for_ready=True).execute({})
    run = condition_sensors.test(run_conf={"kind": "Deployment", "name": "web", "condition": "Available"})
    assert run.state == "success"
    uid = hook.get("apps/v1", "Deployment", "web")["metadata"]["uid"]
    for ti in run.get_task_instances():
        assert ti.state == "success", ti.task_id
        ref = ti.xcom_pull(task_ids=ti.task_id, dag_id=ti.dag_id, run_id=ti.run_id)
        assert ref == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": "default",
            "name": "web",
            "uid": uid,
        }
    assert (
        "condition met"
        in kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=0s").stdout
    )


def test_poke_agrees_with_kubectl_wait(airflow_conn: str, hook: ClusterHook, kubectl: Kubectl) -> None:
    ApplyManifestsOperator(task_id="seed", manifests=[DEPLOYMENT, pod("p")], wait_for_ready=True).execute({})
    cases = [
        ("pod/p", {"condition": "Ready"}),
        ("pod/p", {"condition": "ready=true"}),  # case-insensitive, like kubectl
        ("pod/p", {"condition": "Ready=False"}),
        ("pod/p", {"jsonpath": "{.status.phase}=Running"}),
        ("pod/p", {"jsonpath": "{.status.phase}=Succeeded"}),
        ("pod/p", {"jsonpath": "{.status.podIP}"}),
        ("deployment/web", {"condition": "Available"}),
        ("deployment/web", {"condition": "Progressing=False"}),
        ("deployment/web", {"jsonpath": "{.status.readyReplicas}=1"}),
    ]
    outcomes = []
    for target, spec in cases:
        kind, name = target.split("/")
        ours = bool(sensor(kind=kind, name=name, **spec).poke({}))
        flag = (
            f"--for=condition={spec['condition']}"
            if "condition" in spec
            else f"--for=jsonpath={spec['jsonpath']}"
        )
        theirs = kubectl("wait", flag, target, "--timeout=0s", check=False).returncode == 0
        outcomes.append((target, spec, ours, theirs))
    assert all(ours == theirs for _, _, ours, theirs in outcomes), outcomes
    assert [o[2] for o in outcomes] == [True, True, False, True, False, True, True, False, True]


def test_jsonpath_deferred_waits_until_the_pod_runs(airflow_conn: str, hook: ClusterHook) -> None:
    hook.apply(pod("slow", **{"start-delay-seconds": "60"}))  # 3 s at speed 20
    op = sensor(kind="Pod", name="slow", jsonpath="{.status.phase}=Running", deferrable=True, timeout=30)
    trigger = defer(op)
    assert trigger.uid == hook.get("v1", "Pod", "slow")["metadata"]["uid"]  # seen by the first poke
    event = asyncio.run(first_event(trigger, timeout=30))
    assert event["status"] == "success", event
    assert hook.get("v1", "Pod", "slow")["status"]["phase"] == "Running"
    assert op.execute_complete({}, event)["uid"] == trigger.uid


def test_deleted_waits_for_the_deletion(airflow_conn: str, hook: ClusterHook) -> None:
    hook.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "doomed"}, "data": {}})
    op = sensor(kind="ConfigMap", name="doomed", deleted=True, deferrable=True)
    assert not op.poke({})
    trigger = defer(op)

    async def scenario() -> dict[str, Any]:
        baseline = watch_metrics().watch_requests
        waiting = asyncio.ensure_future(first_event(trigger, timeout=20))
        await until_watching(baseline)  # the trigger is on the watch: the deletion is an event
        await asyncio.to_thread(hook.delete, "v1", "ConfigMap", "doomed")
        return await waiting

    event = asyncio.run(scenario())
    assert event["status"] == "success" and event["result"]["name"] == "doomed"
    assert op.poke({})


def test_object_deleted_while_waiting_for_a_condition_fails_fast(
    airflow_conn: str, hook: ClusterHook
) -> None:
    hook.apply(pod("stuck", **{"never-ready": "true"}))
    op = sensor(kind="Pod", name="stuck", condition="Ready", deferrable=True)
    trigger = defer(op)

    async def scenario() -> dict[str, Any]:
        baseline = watch_metrics().watch_requests
        waiting = asyncio.ensure_future(first_event(trigger, timeout=20))
        await until_watching(baseline)
        await asyncio.to_thread(hook.delete, "v1", "Pod", "stuck", grace_period_seconds=0)
        return await waiting

    event = asyncio.run(scenario())
    assert event["status"] == "failed"
    assert event["message"] == "Pod default/stuck was deleted while waiting for condition Ready=True"
    with pytest.raises(KubernetesTaskFailed, match="was deleted while waiting"):
        op.execute_complete({}, event)
    # poke mode: seen once, then gone, fails the same way
    hook.apply(pod("stuck", **{"never-ready": "true"}))
    poker = sensor(kind="Pod", name="stuck", condition="Ready")
    assert not poker.poke({})
    hook.delete("v1", "Pod", "stuck", grace_period_seconds=0)
    with pytest.raises(KubernetesTaskFailed, match="was deleted while waiting"):
        poker.poke({})


def test_an_object_that_does_not_exist_yet_is_waited_for(airflow_conn: str, hook: ClusterHook) -> None:
    op = sensor(kind="ConfigMap", name="late", jsonpath="{.data.ready}=yes", deferrable=True)
    trigger = defer(op)

    async def scenario() -> dict[str, Any]:
        baseline = watch_metrics().watch_requests
        waiting = asyncio.ensure_future(first_event(trigger, timeout=20))
        await until_watching(baseline)
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}, "data": {"ready": "no"}}
        await asyncio.to_thread(hook.apply, cm)
        await asyncio.to_thread(hook.apply, {**cm, "data": {"ready": "yes"}})
        return await waiting

    event = asyncio.run(scenario())
    assert event["status"] == "success"
    assert event["result"]["uid"] == hook.get("v1", "ConfigMap", "late")["metadata"]["uid"]


def test_custom_kinds_are_found_through_discovery(airflow_conn: str, hook: ClusterHook) -> None:
    ApplyManifestsOperator(task_id="crd", manifests=[crd("a.example.com"), {
        "apiVersion": "a.example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3},
    }]).execute({})  # fmt: skip
    for kind in ("Widget", "widgets", "Widget.a.example.com"):
        op = sensor(kind=kind, name="w", jsonpath="{.spec.size}=3")
        assert op.poke({})
        assert op.poke_result({})["apiVersion"] == "a.example.com/v1"

    ApplyManifestsOperator(task_id="crd", manifests=crd("b.example.com")).execute({})
    with pytest.raises(
        AmbiguousKind,
        match=r'"Widget" is served by several API groups \(a.example.com/v1, b.example.com/v1\)',
    ):
        sensor(kind="Widget", name="w", jsonpath="{.spec.size}=3").poke({})
    assert sensor(kind="Widget.a.example.com", name="w", jsonpath="{.spec.size}=3").poke({})
    with pytest.raises(KindNotServed, match='kind "Gadget" is not served by the cluster'):
        sensor(kind="Gadget", name="w", condition="Ready").poke({})
    # the core group wins, as in kubectl: Event is v1, not events.k8s.io/v1
    assert resolve_api_version(hook.request, hook.cluster_config.identity, "Event") == ("v1", "Event")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"exactly one of condition, jsonpath or deleted=True \(got none\)"),
        ({"condition": "Ready", "deleted": True}, r"\(got condition, deleted\)"),
        ({"condition": "Ready", "jsonpath": "{.a}"}, r"\(got condition, jsonpath\)"),
        ({"jsonpath": "{.status.phase}="}, "jsonpath: jsonpath wait has to have a value after equal sign"),
        ({"condition": "=True"}, "condition: no condition type"),
    ],
)
def test_exactly_one_valid_wait_is_required(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sensor(kind="Pod", name="p", **kwargs)
