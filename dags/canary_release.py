"""
### Canary release: roll a new image to a canary, gate on Prometheus and health, promote or roll back

Run it after `deploy_scale_monitor` (which creates the stable Deployment `web` and its Service in
namespace `demo`), with the new image as a param:

1. **deploy_canary** — `DeployOperator` applies `web-canary`: the same pod labels `app: web` (so
   the Service sends it a share of the traffic) plus `track: canary`, running `canary_image`,
   and waits for its rollout.
2. Gates, all of which must pass:
   * **canary_available** — `PrometheusQuerySensor`: Prometheus sees the canary's replicas
     available (`kube_deployment_status_replicas_available`, from kube-state-metrics);
   * **canary_restarts** — `PrometheusQuerySensor`: no canary container restarted
     (`kube_pod_container_status_restarts_total`);
   * **canary_health** — `ClusterHealthOperator` on the canary's pods (`track=canary`):
     crash loops, image pulls, readiness, OOM kills, Warning events.
3. **decide** — a branch that runs whatever the gates said (trigger rule `all_done`):
   * all passed → **promote**: `DeployOperator` sets the stable Deployment's image to the canary's
     and waits for that rollout (rolled back automatically if it fails), then
     **remove_canary** deletes the canary;
   * anything failed → **roll_back**: deletes the canary (the stable Deployment was never
     touched), records a Warning Event on the stable Deployment and fails the run
     (**canary_rejected**), which fires the Alertmanager alert.

Connections: `kubernetes_default`, `prometheus_default` (a Prometheus scraping kube-state-metrics;
with the emulator, one scraping the emulator's `/metrics`), optionally `alertmanager_default`.
Try a broken canary against the emulator: `canary_image = "nginx:does-not-exist"` fails to pull.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException

from airflow_k8s_workflows.notifiers.alertmanager import AlertmanagerNotifier
from airflow_k8s_workflows.notifiers.kubernetes_event import KubernetesEventNotifier
from airflow_k8s_workflows.operators.apply import DeleteResourcesOperator
from airflow_k8s_workflows.operators.deployment import DeployOperator
from airflow_k8s_workflows.operators.health import ClusterHealthOperator
from airflow_k8s_workflows.sensors.prometheus import PrometheusQuerySensor

NS = "{{ params.namespace }}"
APP = "{{ params.app }}"
CANARY = "{{ params.app }}-canary"
GATES = ["canary_available", "canary_restarts", "canary_health"]

CANARY_DEPLOYMENT = f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {CANARY}
  namespace: {NS}
  labels: {{app: {APP}, track: canary}}
spec:
  replicas: {{{{ params.canary_replicas }}}}
  progressDeadlineSeconds: {{{{ params.progress_deadline_seconds }}}}
  selector:
    matchLabels: {{app: {APP}, track: canary}}
  template:
    metadata:
      labels: {{app: {APP}, track: canary}}
    spec:
      containers:
      - name: web
        image: "{{{{ params.canary_image }}}}"
        ports:
        - {{name: http, containerPort: 80}}
        readinessProbe:
          httpGet: {{path: /, port: http}}
          periodSeconds: 2
"""

with DAG(
    dag_id="canary_release",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kubernetes", "deploy", "canary", "prometheus"],
    params={
        "namespace": Param("demo", type="string", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        "app": Param("web", type="string", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        "canary_image": Param("nginx:1.27.2-alpine", type="string", minLength=1),
        "canary_replicas": Param(1, type="integer", minimum=1, maximum=10),
        "progress_deadline_seconds": Param(120, type="integer", minimum=10),
        "max_restarts": Param(0, type="integer", minimum=0),
    },
) as dag:
    deploy_canary = DeployOperator(
        task_id="deploy_canary",
        manifest=CANARY_DEPLOYMENT,
        rollback_on_failure=False,
        deferrable=True,
        timeout=300,
    )
    canary_available = PrometheusQuerySensor(
        task_id="canary_available",
        query=f'kube_deployment_status_replicas_available{{namespace="{NS}", deployment="{CANARY}"}}',
        comparison=">=",
        threshold="{{ params.canary_replicas }}",
        empty_result="false",
        poke_interval=5,
        timeout=180,
        deferrable=True,
    )
    canary_restarts = PrometheusQuerySensor(
        task_id="canary_restarts",
        query=f'sum(kube_pod_container_status_restarts_total{{namespace="{NS}", pod=~"{CANARY}-.*"}})',
        comparison="<=",
        threshold="{{ params.max_restarts }}",
        empty_result="true",
        poke_interval=5,
        timeout=60,
        deferrable=True,
    )
    canary_health = ClusterHealthOperator(
        task_id="canary_health",
        namespaces=NS,
        label_selector="track=canary",
        restart_threshold=1,
        warning_event_minutes=5,
    )

    @task.branch(trigger_rule="all_done")
    def decide(**context: Any) -> str:
        """Promote when every gate passed, else roll back."""
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=GATES, run_ids=[ti.run_id])[ti.run_id]
        failed = [f"{t} ({states.get(t)})" for t in GATES if states.get(t) != "success"]
        if failed:
            print(f"canary rejected by: {', '.join(failed)}")
            return "roll_back"
        print("every gate passed: promoting")
        return "promote"

    promote = DeployOperator(
        task_id="promote",
        deployment=APP,
        image="{{ params.canary_image }}",
        container="web",
        namespace=NS,
        deferrable=True,
        timeout=600,
    )
    remove_canary = DeleteResourcesOperator(
        task_id="remove_canary", kind="Deployment", name=CANARY, namespace=NS, api_version="apps/v1"
    )
    roll_back = DeleteResourcesOperator(
        task_id="roll_back",
        kind="Deployment",
        name=CANARY,
        namespace=NS,
        api_version="apps/v1",
        on_success_callback=KubernetesEventNotifier(
            kind="Deployment",
            name=APP,
            namespace=NS,
            reason="CanaryRejected",
            message="canary {{ params.canary_image }} rejected in {{ run_id }}; canary removed, stable unchanged",
        ),
    )

    @task(
        on_failure_callback=AlertmanagerNotifier(
            alertmanager_conn_id="alertmanager_default",
            severity="warning",
            labels={"alertname": "CanaryRejected", "namespace": NS, "app": APP},
            annotations={"summary": "canary {{ params.canary_image }} rejected"},
        )
    )
    def canary_rejected(**context: Any) -> None:
        """Fail the run: the release did not go out."""
        raise AirflowFailException(f"canary {context['params']['canary_image']} rejected; stable unchanged")

    deploy_canary >> [canary_available, canary_restarts] >> canary_health
    branch = decide()
    [canary_available, canary_restarts, canary_health] >> branch
    branch >> promote >> remove_canary
    branch >> roll_back >> canary_rejected()
