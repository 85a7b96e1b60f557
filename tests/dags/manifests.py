"""DAGs for ApplyManifestsOperator, DeleteResourcesOperator and ResourceConditionSensor.

Run with ``dag.test(run_conf=...)`` against the test's emulator (``kubernetes_default``).
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator, DeleteResourcesOperator
from airflow_k8s_workflows.sensors.condition import ResourceConditionSensor

APP_PARAMS = {"replicas": 1, "mode": "fast", "password": "s3cr3t-db-password"}

with DAG("k8s_apply_app", schedule=None, catchup=False, params=APP_PARAMS) as apply_app:
    ApplyManifestsOperator(
        task_id="apply", manifests="k8s_manifests/app.yaml", wait_for_ready=True, deferrable=False, timeout=60
    )

with DAG("k8s_apply_app_deferred", schedule=None, catchup=False, params=APP_PARAMS) as apply_app_deferred:
    ApplyManifestsOperator(
        task_id="apply", manifests="k8s_manifests/app.yaml", wait_for_ready=True, deferrable=True, timeout=60
    )

with DAG("k8s_apply_dry_run", schedule=None, catchup=False, params=APP_PARAMS) as apply_dry_run:
    ApplyManifestsOperator(task_id="apply", manifests="k8s_manifests/app.yaml", dry_run=True)

with DAG("k8s_apply_servicemonitor", schedule=None, catchup=False) as apply_servicemonitor:
    ApplyManifestsOperator(
        task_id="apply", manifests="k8s_manifests/servicemonitor.yaml", wait_for_ready=True, deferrable=True
    )

with DAG(
    "k8s_delete", schedule=None, catchup=False, params={"kind": "Deployment", "name": "web"}
) as delete_resources:
    DeleteResourcesOperator(
        task_id="delete",
        kind="{{ params.kind }}",
        name="{{ params.name }}",
        propagation_policy="Foreground",
        deferrable=True,
        timeout=60,
    )

with DAG(
    "k8s_condition",
    schedule=None,
    catchup=False,
    params={"kind": "Deployment", "name": "web", "condition": "Available"},
) as condition_sensors:
    ResourceConditionSensor(
        task_id="poke",
        kind="{{ params.kind }}",
        name="{{ params.name }}",
        condition="{{ params.condition }}",
        poke_interval=0.2,
        timeout=30,
    )
    ResourceConditionSensor(
        task_id="deferred",
        kind="{{ params.kind }}",
        name="{{ params.name }}",
        condition="{{ params.condition }}",
        deferrable=True,
        timeout=30,
    )
