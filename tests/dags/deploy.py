"""DAGs for the deploy, rollback, scale, autoscale and rollout-sensor tests (run with dag.test()).

Each exists in a sync and a deferrable flavour (``<dag_id>_sync`` / ``<dag_id>_deferrable``);
what they act on comes from ``run_conf``.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_k8s_workflows.operators.deployment import DeployOperator, RollbackDeploymentOperator
from airflow_k8s_workflows.operators.scale import AutoscaleOperator, ScaleOperator
from airflow_k8s_workflows.sensors.rollout import RolloutSensor

DAGS: dict[str, DAG] = {}

for mode in ("sync", "deferrable"):
    deferrable = mode == "deferrable"

    with DAG(
        f"deploy_image_{mode}", schedule=None, params={"deployment": "web", "image": "busybox:2"}
    ) as dag:
        DAGS[dag.dag_id] = dag
        DeployOperator(task_id="deploy", deployment="{{ params.deployment }}", image="{{ params.image }}",
                       deferrable=deferrable, timeout=60)  # fmt: skip

    with DAG(f"deploy_manifest_{mode}", schedule=None, params={"manifest": {}},
             render_template_as_native_obj=True) as dag:  # fmt: skip
        DAGS[dag.dag_id] = dag
        DeployOperator(task_id="deploy", manifest="{{ params.manifest }}", deferrable=deferrable, timeout=60)

    with DAG(f"rollback_{mode}", schedule=None, params={"deployment": "web", "to_revision": 0}) as dag:
        DAGS[dag.dag_id] = dag
        RollbackDeploymentOperator(task_id="rollback", deployment="{{ params.deployment }}",
                                   to_revision="{{ params.to_revision }}", deferrable=deferrable, timeout=60)  # fmt: skip

    with DAG(f"scale_roundtrip_{mode}", schedule=None, params={"kind": "Deployment", "name": "web"}) as dag:
        DAGS[dag.dag_id] = dag
        up = ScaleOperator(task_id="scale_up", kind="{{ params.kind }}", name="{{ params.name }}", replicas="+2",
                           max_replicas=10, deferrable=deferrable, timeout=60)  # fmt: skip
        back = ScaleOperator(task_id="scale_back", kind="{{ params.kind }}", name="{{ params.name }}",
                             replicas="{{ ti.xcom_pull('scale_up')['previous'] }}", deferrable=deferrable,
                             timeout=60)  # fmt: skip
        up >> back

    with DAG(f"rollout_sensor_{mode}", schedule=None, params={"kind": "Deployment", "name": "web"}) as dag:
        DAGS[dag.dag_id] = dag
        RolloutSensor(task_id="rolled_out", kind="{{ params.kind }}", name="{{ params.name }}",
                      deferrable=deferrable, poke_interval=0.2, timeout=60)  # fmt: skip


class _ScaleThenFailFirstTry(ScaleOperator):
    """Scales, then loses its first try (as a worker dying after the patch would)."""

    def execute(self, context):  # type: ignore[no-untyped-def]
        result = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError("first try lost after scaling")
        return result


with DAG("scale_retry", schedule=None, params={"name": "web"}) as dag:
    DAGS[dag.dag_id] = dag
    _ScaleThenFailFirstTry(task_id="scale_up", name="{{ params.name }}", replicas="+2", max_replicas=10,
                           retries=1, retry_delay=0, timeout=60)  # fmt: skip

with DAG("autoscale", schedule=None, params={"name": "web", "min": 1, "max": 4, "cpu": 50}) as dag:
    DAGS[dag.dag_id] = dag
    AutoscaleOperator(task_id="autoscale", name="{{ params.name }}", min_replicas="{{ params.min }}",
                      max_replicas="{{ params.max }}", target_cpu_utilization="{{ params.cpu }}")  # fmt: skip
