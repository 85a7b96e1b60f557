"""``dags/canary_release.py`` in real Airflow (``dag.test()``) against the emulator, gated by a
real Prometheus scraping the emulator's kube-state-metrics style ``/metrics``: a good canary is
promoted, a canary that cannot pull its image is removed and the run fails, stable untouched."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from tests.dags.examples import DAGS

if TYPE_CHECKING:
    from airflow_k8s_workflows.emulator import KubeEmulator

pytest_plugins = ["tests.monitoring_servers"]

STABLE = "nginx:1.27-alpine"


def stable_web(hook: ClusterHook, namespace: str) -> None:
    hook.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    hook.apply({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": STABLE}]}}},
    })  # fmt: skip


def run(namespace: str, image: str) -> Any:
    conf = {"namespace": namespace, "canary_image": image, "progress_deadline_seconds": 20}
    return DAGS["canary_release"].test(run_conf=conf)


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


@pytest.fixture
def hook(
    monitored_emulator: KubeEmulator, prometheus_conn: str, airflow_db: str, monkeypatch: pytest.MonkeyPatch
) -> ClusterHook:
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", monitored_emulator.airflow_connection(inline=True))
    return ClusterHook()


def test_a_healthy_canary_is_promoted_and_removed(hook: ClusterHook) -> None:
    stable_web(hook, "canary-good")
    dag_run = run("canary-good", "nginx:1.27.2-alpine")
    got = states(dag_run)
    assert dag_run.state == "success", got
    assert got["promote"] == got["remove_canary"] == "success" and got["roll_back"] == "skipped", got
    live = hook.get("apps/v1", "Deployment", "web", "canary-good")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27.2-alpine"
    assert hook.get_or_none("apps/v1", "Deployment", "web-canary", "canary-good") is None


def test_a_canary_that_cannot_start_is_rolled_back_and_the_run_fails(hook: ClusterHook) -> None:
    stable_web(hook, "canary-bad")
    dag_run = run("canary-bad", "nginx:does-not-exist")
    got = states(dag_run)
    assert dag_run.state == "failed", got
    assert got["deploy_canary"] == "failed" and got["promote"] == "skipped", got
    assert got["roll_back"] == "success" and got["canary_rejected"] == "failed", got
    live = hook.get("apps/v1", "Deployment", "web", "canary-bad")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == STABLE
    assert live["metadata"]["generation"] == 1
    assert hook.get_or_none("apps/v1", "Deployment", "web-canary", "canary-bad") is None
    reasons = [
        e["reason"] for e in hook.list("v1", "Event", "canary-bad") if e["involvedObject"]["name"] == "web"
    ]
    assert "CanaryRejected" in reasons
