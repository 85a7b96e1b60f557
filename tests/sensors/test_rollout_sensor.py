"""RolloutSensor in poke and deferrable modes, for Deployments, StatefulSets and DaemonSets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.sensors.rollout import RolloutSensor
from airflow_k8s_workflows.triggers.base import first_event
from airflow_k8s_workflows.triggers.rollout import RolloutTrigger
from tests.operators.workload_support import (
    daemonset,
    deployment,
    run_dag,
    statefulset,
    task_instance,
    xcom_result,
)


@pytest.fixture
def hook(emulator: KubeEmulator, airflow_conn: str) -> ClusterHook:
    return ClusterHook()


DEPLOYMENT_DONE = 'deployment "web" successfully rolled out'
STATEFULSET_DONE = "partitioned roll out complete: 2 new pods have been updated..."
DAEMONSET_DONE = 'daemon set "agent" successfully rolled out'


@pytest.mark.parametrize(
    ("mode", "manifest", "message"),
    [
        ("sync", deployment(replicas=3), DEPLOYMENT_DONE),
        ("sync", statefulset(replicas=2), STATEFULSET_DONE),
        ("sync", daemonset(), DAEMONSET_DONE),
        ("deferrable", statefulset(replicas=2), STATEFULSET_DONE),
        ("deferrable", daemonset(), DAEMONSET_DONE),
    ],
    ids=[
        "poke-deployment",
        "poke-statefulset",
        "poke-daemonset",
        "deferred-statefulset",
        "deferred-daemonset",
    ],
)
def test_sensor_waits_for_the_rollout(hook: ClusterHook, airflow_db: str, mode: str, manifest: dict[str, Any],
                                      message: str) -> None:  # fmt: skip
    hook.apply(manifest)
    kind, name = manifest["kind"], manifest["metadata"]["name"]
    test = run_dag(f"rollout_sensor_{mode}", kind=kind, name=name)
    assert task_instance(test.run, "rolled_out").state == "success"
    result = xcom_result(test.run, "rolled_out")
    assert (result["kind"], result["name"], result["namespace"]) == (kind, name, "default")
    assert result["revision"] == (1 if kind == "Deployment" else None)
    assert test.rollout_lines()[-1] == message
    live = hook.get("apps/v1", kind, name)
    ready = live["status"].get("readyReplicas", live["status"].get("numberReady"))
    assert ready == result["ready_replicas"] and ready >= 1


def test_poke_fails_a_stuck_rollout_with_its_pods_problems(hook: ClusterHook) -> None:
    hook.apply(deployment(replicas=1, image="busybox:does-not-exist", progressDeadlineSeconds=10))
    sensor = RolloutSensor(task_id="s", name="web", deferrable=False, poke_interval=0.1, timeout=30)
    with pytest.raises(KubernetesTaskFailed, match=r'(?s)deployment "web" exceeded its progress deadline\n'
                                                  r"pod problems:\n  pod default/web-\S+ container main: "
                                                  r"(ImagePullBackOff|ErrImagePull).*recent Warning events:"):  # fmt: skip
        sensor.execute({})


def test_deferrable_sensor_hands_its_trigger_over_and_resumes(hook: ClusterHook) -> None:
    hook.apply(deployment(replicas=1, never_ready=True))
    sensor = RolloutSensor(task_id="s", name="web", deferrable=True, timeout=30)
    with pytest.raises(TaskDeferred) as deferred:  # never ready: cannot be done at the first look
        sensor.execute({})
    path, kwargs = deferred.value.trigger.serialize()
    assert path == "airflow_k8s_workflows.triggers.rollout.RolloutTrigger"
    assert (kwargs["kind"], kwargs["name"], kwargs["namespace"]) == ("Deployment", "web", "default")
    assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() == 30

    async def wait_while_a_fixed_template_rolls_out() -> dict[str, Any]:
        waiting = asyncio.ensure_future(first_event(RolloutTrigger(**kwargs), 30))
        await asyncio.to_thread(hook.apply, deployment(replicas=1))
        return await waiting

    result = sensor.execute_complete({}, asyncio.run(wait_while_a_fixed_template_rolls_out()))
    assert (result["revision"], result["ready_replicas"]) == (2, 1)
    wrong = RolloutSensor(task_id="w", name="web", revision="1", deferrable=True)
    with pytest.raises(
        KubernetesTaskFailed, match=r"desired revision \(1\) is different from the running revision \(2\)"
    ):
        wrong.execute({})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "Job", "name": "x"}, "kind: must be one of"),
        ({"name": ""}, "name: the Deployment to watch is required"),
        ({"kind": "StatefulSet", "name": "db", "revision": 2}, "revision: only Deployments have revisions"),
        ({"name": "web", "revision": "two"}, "revision: must be a whole number"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RolloutSensor(task_id="s", **kwargs)
