"""DAGs for the monitoring tests: a deferrable Prometheus sensor, and tasks whose callbacks
notify Alertmanager and record Kubernetes Events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, get_current_context, task

from airflow_k8s_workflows.notifiers.alertmanager import AlertmanagerNotifier
from airflow_k8s_workflows.notifiers.kubernetes_event import KubernetesEventNotifier
from airflow_k8s_workflows.sensors.prometheus import PrometheusQuerySensor

with DAG(
    "monitoring_prometheus_sensor", schedule=None, params={"query": "vector(1)", "threshold": 0}
) as prometheus_sensor_dag:
    PrometheusQuerySensor(
        task_id="wait_for_replicas",
        query="{{ params.query }}",
        comparison=">=",
        threshold="{{ params.threshold }}",
        empty_result="false",
        deferrable=True,
        poke_interval=0.3,
        timeout=60,
    )

alert = AlertmanagerNotifier(
    labels={"team": "data"},
    annotations={"runbook": "https://runbooks.example/{{ ti.task_id }}"},
    cluster_object={"kind": "Deployment", "name": "web", "namespace": "default"},
)
event = KubernetesEventNotifier(
    kind="Deployment",
    name="web",
    reason="NightlyLoadFailed",
    message="{{ ti.dag_id }}.{{ ti.task_id }} failed in {{ run_id }}: {{ exception }}",
)

with DAG("monitoring_task_fails", schedule=None) as task_fails_dag:

    @task(on_failure_callback=[event, alert], on_success_callback=alert)
    def load() -> None:
        raise RuntimeError("disk full on /data")

    load()

with DAG("monitoring_retry_then_succeed", schedule=None) as retry_then_succeed_dag:

    @task(retries=1, retry_delay=timedelta(0), on_retry_callback=alert, on_failure_callback=alert,
          on_success_callback=alert)  # fmt: skip
    def flaky() -> list[dict[str, Any]]:
        """Try 1 fails; try 2 returns the alerts Alertmanager holds for this run, then succeeds."""
        from airflow_k8s_workflows.hooks.alertmanager import AlertmanagerHook

        ti = get_current_context()["ti"]
        if ti.try_number == 1:
            raise RuntimeError("upstream not ready")
        return AlertmanagerHook().get_alerts(filters=[f'dag_id="{ti.dag_id}"', f'run_id="{ti.run_id}"'])

    flaky()
