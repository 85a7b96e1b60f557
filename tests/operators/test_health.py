"""ClusterHealthOperator against the emulator (scheduler, kubelet, controllers at speed 20): a
broken namespace — image pull failure, crash loop, failed Job, unavailable Deployment — is
reported problem by problem and fails the task; a healthy namespace passes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException
from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.operators.health import ClusterHealthOperator
from tests.helpers import wait_for

FAULT = "emulator.airflow-k8s-workflows.io/"


def pod(
    name: str, command: str, *, labels: dict[str, str] | None = None, **annotations: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name},
                     "annotations": {FAULT + k.replace("_", "-"): v for k, v in annotations.items()}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", command]}]},
    }  # fmt: skip


def deployment(name: str, **annotations: str) -> dict[str, Any]:
    labels = {"app": name}
    template = {"metadata": {"labels": labels,
                             "annotations": {FAULT + k.replace("_", "-"): v for k, v in annotations.items()}},
                "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeEmulator, client.ApiClient]]:
    """One emulator for the module: namespace ``broken`` with four faults, ``healthy`` without."""
    emu = KubeEmulator(speed=20, workdir=tmp_path_factory.mktemp("emu")).start()
    api = client.ApiClient(_config(emu))
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    for ns in ("broken", "healthy"):
        core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_pod("broken", pod("pull-fail", "sleep 3600", image_pull="fail"))
    core.create_namespaced_pod("broken", pod("crasher", "echo boom; exit 3"))
    batch.create_namespaced_job("broken", {
        "metadata": {"name": "nightly"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "exit 1"]}]}}},
    })  # fmt: skip
    apps.create_namespaced_deployment("broken", deployment("stuck", unschedulable="true"))
    core.create_namespaced_pod("healthy", pod("worker", "sleep 3600"))
    apps.create_namespaced_deployment("healthy", deployment("web"))

    def waiting(name: str) -> str | None:
        statuses = core.read_namespaced_pod(name, "broken").status.container_statuses or []
        return statuses[0].state.waiting.reason if statuses and statuses[0].state.waiting else None

    wait_for(lambda: waiting("pull-fail") == "ImagePullBackOff", message="ImagePullBackOff")
    wait_for(lambda: waiting("crasher") == "CrashLoopBackOff", message="CrashLoopBackOff")
    wait_for(lambda: any(c.type == "Failed" and c.status == "True"
                         for c in batch.read_namespaced_job("nightly", "broken").status.conditions or []),
             message="the Job to fail")  # fmt: skip
    wait_for(lambda: (apps.read_namespaced_deployment("web", "healthy").status.available_replicas or 0) == 1,
             message="web available")  # fmt: skip
    wait_for(
        lambda: core.read_namespaced_pod("worker", "healthy").status.phase == "Running", message="worker"
    )
    yield emu, api
    api.close()
    emu.stop()


def _config(emu: KubeEmulator) -> client.Configuration:
    from kubernetes import config

    cfg = client.Configuration()
    config.load_kube_config(emu.kubeconfig, client_configuration=cfg)
    return cfg


@pytest.fixture
def conn(cluster: tuple[KubeEmulator, client.ApiClient], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", cluster[0].airflow_connection(inline=True))


def test_every_problem_is_reported_and_the_task_fails(conn: None) -> None:
    op = ClusterHealthOperator(task_id="health", namespaces=["broken"])
    with pytest.raises(KubernetesTaskFailed) as failed:
        op.execute({})  # type: ignore[arg-type]
    message = str(failed.value)
    assert message.startswith("cluster health check failed: ")
    for expected in ("Pod broken/pull-fail: ImagePullBackOff", "Pod broken/crasher: CrashLoopBackOff",
                     "Job broken/nightly: BackoffLimitExceeded", "Deployment broken/stuck: ReplicasUnavailable"):  # fmt: skip
        assert expected in message, message

    report = ClusterHealthOperator(task_id="h", namespaces="broken", fail_on_problems=False).execute({})  # type: ignore[arg-type]
    json.dumps(report)
    assert report["healthy"] is False
    found = {(p["kind"], p["name"], p["reason"], p["severity"]) for p in report["problems"]}
    assert {
        ("Pod", "pull-fail", "ImagePullBackOff", "critical"),
        ("Pod", "crasher", "CrashLoopBackOff", "critical"),
        ("Job", "nightly", "BackoffLimitExceeded", "critical"),
        ("Deployment", "stuck", "ReplicasUnavailable", "critical"),
    } <= found
    crasher = next(p for p in report["problems"] if p["name"] == "crasher")
    assert crasher["namespace"] == "broken" and "exit code 3" in crasher["message"]
    # the pods' own Warning events (BackOff, Failed) are folded into their problems
    assert not any(p["kind"] == "Pod" and p["reason"] in ("BackOff", "Failed") for p in report["problems"])
    assert report["counts"]["pods"] >= 3 and report["counts"]["jobs"] == 1 and report["counts"]["nodes"] == 1


def test_a_healthy_namespace_passes(conn: None) -> None:
    report = ClusterHealthOperator(task_id="health", namespaces=["healthy"]).execute({})  # type: ignore[arg-type]
    assert report["healthy"] is True and report["problems"] == []
    assert report["counts"]["deployments"] == 1 and report["counts"]["pods"] == 2


def test_labels_narrow_the_check_and_soft_fail_skips(conn: None) -> None:
    op = ClusterHealthOperator(
        task_id="h", namespaces=["broken"], label_selector="app=crasher", soft_fail=True
    )
    with pytest.raises(AirflowSkipException) as skipped:
        op.execute({})  # type: ignore[arg-type]
    assert "crasher" in str(skipped.value) and "pull-fail" not in str(skipped.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pending_minutes": 0}, "pending_minutes: must be a positive number"),
        ({"warning_event_minutes": "x"}, "warning_event_minutes: must be a number"),
        ({"restart_threshold": 0}, "restart_threshold: must be an integer >= 1"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClusterHealthOperator(task_id="h", **kwargs)
