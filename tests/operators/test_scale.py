"""ScaleOperator and AutoscaleOperator against the emulator (its scale subresource, controllers,
kubelet and HPA controller), in real Airflow for the main paths."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.controllers.hpa import METRIC_VALUES
from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.operators.scale import AutoscaleOperator, ScaleOperator
from tests.helpers import wait_for
from tests.operators.workload_support import (
    container,
    deployment,
    replicaset,
    run_dag,
    statefulset,
    task_instance,
    xcom_result,
)


@pytest.fixture
def hook(emulator: KubeEmulator, airflow_conn: str) -> ClusterHook:
    return ClusterHook()


def ready_pods(hook: ClusterHook, app: str) -> int:
    pods = hook.list("v1", "Pod", "default", label_selector=f"app={app}")
    return sum(
        1
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    )


def spec_replicas(hook: ClusterHook, kind: str, name: str) -> int:
    return int(hook.get("apps/v1", kind, name, subresource="scale")["spec"]["replicas"])


@pytest.mark.parametrize(
    ("mode", "manifest"),
    [("sync", deployment(replicas=2)), ("deferrable", statefulset(replicas=2))],
    ids=["sync-deployment", "deferrable-statefulset"],
)
def test_scale_up_then_back_to_previous_through_xcom(
    hook: ClusterHook, airflow_db: str, mode: str, manifest: dict[str, Any]
) -> None:
    hook.apply(manifest)
    kind, name = manifest["kind"], manifest["metadata"]["name"]
    test = run_dag(f"scale_roundtrip_{mode}", kind=kind, name=name)
    assert [task_instance(test.run, t).state for t in ("scale_up", "scale_back")] == ["success", "success"]
    assert xcom_result(test.run, "scale_up") == {"previous": 2, "current": 4}
    assert xcom_result(test.run, "scale_back") == {"previous": 4, "current": 2}
    back = next(ti for ti in test.run.get_task_instances() if ti.task_id == "scale_back")
    assert back.state == "success"
    text = test.text()
    assert (
        f'{kind} "{name}" scaled from 2 to 4 replicas' in text
        and f'{kind} "{name}" scaled from 4 to 2 replicas' in text
    )
    # the scale-up waited for 4 ready pods before the scale-back ran: the log shows it in order
    up_done = (
        'deployment "web" successfully rolled out'
        if kind == "Deployment"
        else 'statefulset "db" scaled to 4 ready replicas'
    )
    lines = test.rollout_lines()
    assert up_done in lines, lines
    assert spec_replicas(hook, kind, name) == 2
    assert wait_for(lambda: ready_pods(hook, manifest["spec"]["selector"]["matchLabels"]["app"]) == 2)


def test_a_retry_applies_a_relative_change_once_and_keeps_the_first_previous(
    hook: ClusterHook, airflow_db: str
) -> None:
    hook.apply(deployment(replicas=2))
    test = run_dag("scale_retry", name="web")
    ti = task_instance(test.run, "scale_up")
    assert (ti.state, ti.try_number) == ("success", 2)
    assert spec_replicas(hook, "Deployment", "web") == 4  # not 6: "+2" once
    assert xcom_result(test.run, "scale_up") == {"previous": 2, "current": 4}


def test_relative_changes_are_clamped_and_replicasets_scale(hook: ClusterHook) -> None:
    hook.apply(deployment(replicas=2))
    up = ScaleOperator(task_id="u", name="web", replicas="+5", max_replicas=3, deferrable=False)
    assert up.execute({}) == {"previous": 2, "current": 3}
    assert ready_pods(hook, "web") == 3, "waited until the rollout was complete"
    down = ScaleOperator(task_id="d", name="web", replicas=" -5 ", min_replicas=1, wait=False)
    assert down.execute({}) == {"previous": 3, "current": 1}
    floor = ScaleOperator(task_id="f", name="web", replicas="-4", wait=False)
    assert floor.execute({}) == {"previous": 1, "current": 0}
    same = ScaleOperator(task_id="s", name="web", replicas=0, deferrable=False)
    assert same.execute({}) == {"previous": 0, "current": 0}

    hook.apply(replicaset(replicas=1))
    rs = ScaleOperator(task_id="r", kind="ReplicaSet", name="rs", replicas="3", deferrable=False, timeout=30)
    assert rs.execute({}) == {"previous": 1, "current": 3}
    live = hook.get("apps/v1", "ReplicaSet", "rs")
    assert live["status"]["readyReplicas"] == 3 and ready_pods(hook, "rs") == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"replicas": -1}, "replicas: must be >= 0, got -1"),
        ({"replicas": "three"}, 'replicas: must be a whole number or "\\+N" / "-N", got \'three\''),
        ({"replicas": "2.5"}, "replicas: must be a whole number"),
        ({"replicas": True}, "replicas: must be a whole number, got True"),
        ({"replicas": 12, "max_replicas": 10}, r"replicas: 12 is above max_replicas \(10\)"),
        ({"replicas": 10_001}, "replicas: 10001 is above 10000"),
        ({"replicas": "+10001"}, r"replicas: a change of \+10001 is above 10000; set max_replicas"),
        (
            {"replicas": 2, "min_replicas": 3, "max_replicas": 2},
            r"max_replicas: must be >= min_replicas \(3\), got 2",
        ),
        ({"replicas": 2, "min_replicas": -1}, "min_replicas: must be >= 0, got -1"),
        (
            {"kind": "DaemonSet", "replicas": 2},
            r"kind: must be one of \['Deployment', 'StatefulSet', 'ReplicaSet'\]",
        ),
        ({"name": "", "replicas": 2}, "name: the Deployment to scale is required"),
    ],
)
def test_bad_replicas_kind_or_name_are_refused_up_front(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScaleOperator(task_id="s", **{"name": "web", **kwargs})


def test_rendered_values_are_checked_before_anything_changes(hook: ClusterHook) -> None:
    hook.apply(deployment(replicas=2))
    before = hook.get("apps/v1", "Deployment", "web")
    op = ScaleOperator(task_id="s", name="web", replicas="{{ params.n }}", max_replicas="{{ params.max }}")
    for rendered, message in [
        ((-3, "5"), "replicas: must be >= 0"),
        (("9", "5"), r"above max_replicas \(5\)"),
        (("2", "x"), "max_replicas: must be a whole number"),
    ]:
        op.replicas, op.max_replicas = rendered
        with pytest.raises(ValueError, match=message):
            op.execute({})
    op.replicas, op.max_replicas = "+1", "2"  # clamped: already at the bound
    assert op.execute({}) == {"previous": 2, "current": 2}
    after = hook.get("apps/v1", "Deployment", "web")
    assert (after["metadata"]["generation"], after["spec"]) == (
        before["metadata"]["generation"],
        before["spec"],
    )
    with pytest.raises(
        KubernetesTaskFailed, match='name: StatefulSet "nope" not found in namespace "default"'
    ):
        ScaleOperator(task_id="s", kind="StatefulSet", name="nope", replicas=1).execute({})


def test_autoscale_creates_then_updates_the_hpa_and_the_hpa_scales(
    hook: ClusterHook, airflow_db: str
) -> None:
    hook.apply(
        deployment(replicas=1, containers=[{**container(), "resources": {"requests": {"cpu": "100m"}}}])
    )
    test = run_dag("autoscale", name="web", min=1, max=4, cpu=50)
    assert task_instance(test.run, "autoscale").state == "success"
    ref = xcom_result(test.run, "autoscale")
    assert {k: ref[k] for k in ("apiVersion", "kind", "name", "namespace", "created")} == {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "web", "namespace": "default",
        "created": True,
    }  # fmt: skip
    hpa = hook.get("autoscaling/v2", "HorizontalPodAutoscaler", "web")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]  # fmt: skip

    # 150 % of one pod's request against a 50 % target: three pods, 50 % each, stable
    hook.patch("autoscaling/v2", "HorizontalPodAutoscaler", "web",
               {"metadata": {"annotations": {METRIC_VALUES: json.dumps({"cpu": {"total": 150}})}}})  # fmt: skip
    wait_for(lambda: spec_replicas(hook, "Deployment", "web") == 3, timeout=30, message="the HPA scales to 3")

    memory = [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                            "averageValue": "200Mi"}}}]  # fmt: skip
    update = AutoscaleOperator(task_id="a", name="web", min_replicas=2, max_replicas=6, metrics=memory)
    again = update.execute({})
    assert (again["created"], again["uid"]) == (False, ref["uid"])
    hpa = hook.get("autoscaling/v2", "HorizontalPodAutoscaler", "web")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"], hpa["spec"]["metrics"]) == (2, 6, memory)
    assert hpa["metadata"]["annotations"][METRIC_VALUES], "fields of other managers are kept"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_replicas": 0}, "min_replicas: must be >= 1, got 0"),
        ({"max_replicas": 0}, r"max_replicas: must be >= min_replicas \(1\), got 0"),
        ({"metrics": [], "target_cpu_utilization": None}, "metrics: must be a non-empty list"),
        (
            {"metrics": [{"type": "Resource", "resource": {"name": "cpu"}}]},
            "metrics / target_cpu_utilization: give exactly one",
        ),
        ({"target_cpu_utilization": None}, "metrics / target_cpu_utilization: give exactly one"),
        ({"target_cpu_utilization": 0}, "target_cpu_utilization: must be a positive percentage"),
        ({"kind": "Job"}, "kind: must be one of"),
        ({"name": ""}, "name: the Deployment to autoscale is required"),
        (
            {"target_cpu_utilization": None, "metrics": [{"type": "Cpu"}]},
            r"metrics\[0\].type: Unsupported value: 'Cpu'",
        ),
        (
            {"target_cpu_utilization": None, "metrics": [{"type": "Resource", "resource": {"name": "cpu"}}]},
            r"metrics\[0\].resource.target: Required value",
        ),
        (
            {
                "target_cpu_utilization": None,
                "metrics": [
                    {
                        "type": "Pods",
                        "pods": {
                            "metric": {"name": "rps"},
                            "target": {"type": "Utilization", "averageUtilization": 5},
                        },
                    }
                ],
            },
            r"metrics\[0\].pods.target.type: Unsupported value: 'Utilization': supported values: \['AverageValue'\]",
        ),
        (
            {
                "target_cpu_utilization": None,
                "metrics": [
                    {
                        "type": "External",
                        "external": {
                            "metric": {"name": "queue"},
                            "target": {"type": "Value", "value": "many"},
                        },
                    }
                ],
            },
            r"metrics\[0\].external.target.value: Invalid value: 'many'",
        ),
    ],
)
def test_autoscale_validation_names_the_field(kwargs: dict[str, Any], message: str) -> None:
    args = {"name": "web", "min_replicas": 1, "max_replicas": 3, "target_cpu_utilization": 60, **kwargs}
    with pytest.raises(ValueError, match=message):
        AutoscaleOperator(task_id="a", **args)


def test_autoscale_of_a_missing_target_creates_nothing(hook: ClusterHook) -> None:
    op = AutoscaleOperator(
        task_id="a", name="ghost", min_replicas=1, max_replicas=2, target_cpu_utilization=80
    )
    with pytest.raises(
        KubernetesTaskFailed, match='name: Deployment "ghost" not found in namespace "default"'
    ):
        op.execute({})
    assert hook.list("autoscaling/v2", "HorizontalPodAutoscaler", "default") == []


def test_a_concurrent_scale_is_not_overwritten(hook: ClusterHook, monkeypatch: pytest.MonkeyPatch) -> None:
    hook.apply(deployment(replicas=2))
    op = ScaleOperator(task_id="s", name="web", replicas="+1", wait=False)
    real_get = op.hook.get
    raced: list[bool] = []

    def get_then_someone_else_scales(*args: Any, **kwargs: Any) -> dict[str, Any]:
        scale = real_get(*args, **kwargs)
        if not raced:  # between our read and our write, another client scales to 5
            raced.append(True)
            hook.patch("apps/v1", "Deployment", "web", {"spec": {"replicas": 5}}, subresource="scale")
        return scale

    monkeypatch.setattr(op.hook, "get", get_then_someone_else_scales)
    assert op.execute({}) == {"previous": 5, "current": 6}
    assert spec_replicas(hook, "Deployment", "web") == 6
