"""DAGs for the monitoring tests: a deferrable Prometheus sensor."""

from __future__ import annotations

from airflow.sdk import DAG

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
