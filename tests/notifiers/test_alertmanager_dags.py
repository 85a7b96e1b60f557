"""The notifiers as Airflow runs them: task callbacks in dag.test() DAGs (tests/dags/monitoring.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.helpers import wait_for

if TYPE_CHECKING:
    from tests.monitoring_servers import Alertmanager

pytest_plugins = ["tests.monitoring_servers"]


def return_value(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id,
                                          XComModel.task_id == task_id, XComModel.key == "return_value")
        )  # fmt: skip
    return json.loads(value) if isinstance(value, str) else value


def test_a_failing_task_alerts_and_records_an_event(
    airflow_db: str,
    alertmanager: Alertmanager,
    alertmanager_conn: str,
    emulator: KubeEmulator,
    k8s: client.ApiClient,
    airflow_conn: str,
) -> None:
    from tests.dags.monitoring import task_fails_dag

    labels = {"app": "web"}
    client.AppsV1Api(k8s).create_namespaced_deployment("default", {
        "metadata": {"name": "web"},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}},
    })  # fmt: skip

    run: Any = task_fails_dag.test()

    assert run.state == "failed"
    [alert] = alertmanager.alerts(dag_id="monitoring_task_fails", run_id=run.run_id)
    assert alert["labels"] == {"alertname": "AirflowTaskFailed", "severity": "critical",
                               "dag_id": "monitoring_task_fails", "task_id": "load", "run_id": run.run_id,
                               "kind": "Deployment", "deployment": "web", "namespace": "default",
                               "team": "data"}  # fmt: skip
    annotations = alert["annotations"]
    assert (
        annotations["summary"] == f"Airflow task monitoring_task_fails.load (run {run.run_id}, try 1) failed"
    )
    assert annotations["description"] == "RuntimeError: disk full on /data"
    assert annotations["runbook"] == "https://runbooks.example/load"
    assert (
        "/dags/monitoring_task_fails/runs/" in annotations["log_url"]
        and "/tasks/load" in annotations["log_url"]
    )

    events = [e for e in client.CoreV1Api(k8s).list_namespaced_event("default").items
              if e.reason == "NightlyLoadFailed"]  # fmt: skip
    assert [e.message for e in events] == [
        f"monitoring_task_fails.load failed in {run.run_id}: disk full on /data"
    ]


def test_a_retry_fires_and_the_successful_try_resolves(
    airflow_db: str, alertmanager: Alertmanager, alertmanager_conn: str
) -> None:
    from tests.dags.monitoring import retry_then_succeed_dag

    run: Any = retry_then_succeed_dag.test()

    assert run.state == "success"
    seen_by_try_2 = return_value(run, "flaky")
    assert [a["labels"]["task_id"] for a in seen_by_try_2] == ["flaky"], (
        "try 1's alert was active during try 2"
    )
    assert seen_by_try_2[0]["annotations"]["description"] == "RuntimeError: upstream not ready"
    assert seen_by_try_2[0]["annotations"]["summary"].endswith("failed and will be retried")
    assert alertmanager.alerts(dag_id="monitoring_retry_then_succeed", run_id=run.run_id) == []
    resolved = wait_for(
        lambda: [a for a in alertmanager.webhook.alerts(run_id=run.run_id) if a["status"] == "resolved"],
        message="the resolved notification",
    )
    assert resolved[0]["labels"]["task_id"] == "flaky"
    assert resolved[0]["annotations"]["summary"].endswith(", try 2) succeeded")
