"""
### Cluster health every 5 minutes, with an alert when something is wrong

`ClusterHealthOperator` looks at the whole cluster (or the namespaces you list) and reports:

* nodes that are not Ready or under memory / disk / PID pressure;
* pods in CrashLoopBackOff, ImagePullBackOff, OOMKilled, Pending for more than 10 minutes, or
  restarting over and over;
* Deployments and StatefulSets below their desired availability, failed Jobs;
* Warning Events of the last 15 minutes (folded into the problem of their object when it has one).

The task log shows a table of every problem; the full report (`healthy`, `problems`, `counts`)
is in XCom. When there is a problem the task fails listing each one, and the
`AlertmanagerNotifier` fires one alert (`ClusterUnhealthy`) — the same alert across runs, since
`run_id` is dropped from its labels — which the next healthy run resolves.

Set up connections `kubernetes_default` (type `kubernetes`) and `alertmanager_default`
(type `alertmanager`). Narrow the check with `namespaces=[...]` and `label_selector="team=data"`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_k8s_workflows.notifiers.alertmanager import AlertmanagerNotifier
from airflow_k8s_workflows.operators.health import ClusterHealthOperator

alert = AlertmanagerNotifier(
    alertmanager_conn_id="alertmanager_default",
    severity="warning",
    labels={"alertname": "ClusterUnhealthy", "run_id": None},
    annotations={"summary": "Kubernetes cluster health check found problems"},
)

with DAG(
    dag_id="cluster_health",
    schedule=timedelta(minutes=5),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kubernetes", "health", "alerting"],
) as dag:
    ClusterHealthOperator(
        task_id="check_cluster",
        namespaces=None,
        pending_minutes=10,
        warning_event_minutes=15,
        fail_on_problems=True,
        kubernetes_conn_id="kubernetes_default",
        execution_timeout=timedelta(minutes=4),
        on_failure_callback=alert,
        on_success_callback=alert,
    )
