"""DeleteResourcesOperator against the emulator: foreground deletion waited for in real Airflow,
missing objects both ways, manifests deleted in reverse order, argument checks."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from airflow_k8s_workflows.kube.cluster import resolve_cluster_config
from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator, DeleteResourcesOperator
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}},
}  # fmt: skip
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "b"}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}  # fmt: skip


@pytest.fixture
def hook(emulator: KubeEmulator) -> ClusterHook:
    return ClusterHook(
        kubernetes_conn_id=None, cluster_config=resolve_cluster_config(kube_config_path=emulator.kubeconfig)
    )


def test_foreground_delete_waits_until_the_deployment_and_its_dependents_are_gone(
    airflow_db: str, airflow_conn: str, hook: ClusterHook, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.dags.manifests import delete_resources

    ApplyManifestsOperator(task_id="seed", manifests=DEPLOYMENT, wait_for_ready=True).execute({})
    uid = hook.get("apps/v1", "Deployment", "web")["metadata"]["uid"]
    assert len(hook.list("v1", "Pod", label_selector="app=web")) == 2

    run = delete_resources.test(run_conf={"kind": "deploy", "name": "web"})  # a short name, no api_version
    assert run.state == "success"
    # Foreground: the Deployment is removed only after its ReplicaSet (which waits for its pods)
    assert hook.get_or_none("apps/v1", "Deployment", "web") is None
    assert hook.list("apps/v1", "ReplicaSet", label_selector="app=web") == []
    ti = run.get_task_instances()[0]
    refs = ti.xcom_pull(task_ids="delete", dag_id=ti.dag_id, run_id=ti.run_id)
    assert refs == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web", "uid": uid}
    ]
    assert "Deployment default/web deleted (propagation Foreground)" in capfd.readouterr().out


def test_missing_objects_are_skipped_or_fail_before_anything_is_deleted(
    airflow_conn: str, hook: ClusterHook
) -> None:
    hook.apply(CM)
    missing = {**CM, "metadata": {"name": "nope"}}

    with pytest.raises(
        KubernetesTaskFailed, match=r"not found \(nothing was deleted.*\): ConfigMap default/nope"
    ):
        DeleteResourcesOperator(task_id="d", manifests=[CM, missing], ignore_missing=False).execute({})
    assert hook.get_or_none("v1", "ConfigMap", "settings") is not None

    with pytest.raises(KubernetesTaskFailed, match=r"ConfigMap default/ghost"):
        DeleteResourcesOperator(task_id="d", kind="ConfigMap", name="ghost", ignore_missing=False).execute({})
    with pytest.raises(
        KubernetesTaskFailed, match=r"Widget default/w1"
    ):  # a kind nobody serves is missing too
        DeleteResourcesOperator(task_id="d", kind="Widget", name="w1", ignore_missing=False).execute({})

    refs = DeleteResourcesOperator(task_id="d", manifests=[CM, missing], deferrable=False).execute({})
    assert [r["name"] for r in refs] == ["settings"]
    assert hook.get_or_none("v1", "ConfigMap", "settings") is None
    assert DeleteResourcesOperator(task_id="d", kind="ConfigMap", name="ghost").execute({}) == []


def test_manifests_are_deleted_in_reverse_apply_order_and_waited_for(
    airflow_conn: str, hook: ClusterHook, capfd: pytest.CaptureFixture[str]
) -> None:
    docs = [CM, DEPLOYMENT, SERVICE]
    ApplyManifestsOperator(task_id="seed", manifests=docs).execute({})
    capfd.readouterr()

    refs = DeleteResourcesOperator(task_id="d", manifests=docs, deferrable=False, timeout=30).execute({})
    assert {r["kind"] for r in refs} == {"ConfigMap", "Deployment", "Service"}
    for api_version, kind, name in (("v1", "ConfigMap", "settings"), ("apps/v1", "Deployment", "web"),
                                    ("v1", "Service", "web")):  # fmt: skip
        assert hook.get_or_none(api_version, kind, name) is None
    out = capfd.readouterr().out
    assert out.index("Deployment default/web deleted") < out.index("Service default/web deleted")
    assert out.index("Service default/web deleted") < out.index("ConfigMap default/settings deleted")


def test_deferred_delete_resumes_with_the_refs(airflow_conn: str, hook: ClusterHook) -> None:
    import asyncio

    from airflow.sdk.exceptions import TaskDeferred

    from airflow_k8s_workflows.triggers.base import first_event
    from airflow_k8s_workflows.triggers.condition import ResourceConditionTrigger

    hook.apply(CM)
    op = DeleteResourcesOperator(
        task_id="d", kind="ConfigMap", name="settings", api_version="v1", deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    path, kwargs = deferred.value.trigger.serialize()
    assert path == "airflow_k8s_workflows.triggers.condition.ResourceConditionTrigger"
    assert kwargs["deleted"] is True and kwargs["objects"][0]["name"] == "settings"
    event = asyncio.run(first_event(ResourceConditionTrigger(**kwargs), timeout=20))
    assert event["status"] == "success"
    assert [r["name"] for r in op.execute_complete({}, event)] == ["settings"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"manifests": [CM], "kind": "ConfigMap", "name": "x"}, "either manifests or kind and name"),
        ({}, "kind and name: both required"),
        ({"kind": "ConfigMap"}, "kind and name: both required"),
        (
            {"kind": "ConfigMap", "name": "x", "propagation_policy": "Cascade"},
            "propagation_policy: must be one of",
        ),
    ],
)
def test_arguments_are_checked_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeleteResourcesOperator(task_id="d", **kwargs)
