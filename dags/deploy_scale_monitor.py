"""
### Deploy, smoke-test, scale and watch an application — the flagship example

One run walks an application through its life on the cluster:

1. **apply_config** — `ApplyManifestsOperator` server-side applies the Namespace, a ConfigMap
   (the page the app serves), a Secret (an API token; its value is masked everywhere Airflow
   shows it) and the Service. Re-running changes nothing.
2. **deploy** — `DeployOperator` applies the Deployment and follows the rollout like
   `kubectl rollout status` ("1 of 2 updated replicas are available..." in the task log),
   waiting in the triggerer. A failed rollout is rolled back before the task fails.
3. **smoke_test** — `RunJobOperator` runs a Job that mounts the same ConfigMap and Secret as the
   app and checks them; with `smoke_url` set (a DAG param, or the Airflow Variable
   `deploy_scale_monitor_smoke_url`, which the repo's docker-compose sets for k3s) it also
   fetches the page through the Service. Its JSON result lands in XCom; a retry adopts the Job
   it already started.
4. **scale_up** — `ScaleOperator` scales to `scale_to` replicas and waits until they are ready;
   its XCom keeps the previous count.
5. **health** — `ClusterHealthOperator` checks the app's namespace (and the nodes): crash loops,
   image pulls, unavailable replicas, Warning events.
6. **scale_back** — a *teardown*: scales back to the count `scale_up` found, even when the
   health check failed (the run still fails then).

Any failure records a Warning Event on the Deployment (`kubectl describe deploy web` shows it)
and fires an Alertmanager alert when the connection `alertmanager_default` exists.

Connections: `kubernetes_default` (type `kubernetes`), optionally `alertmanager_default`.
Run it with `make demo` against the local emulator, or against any cluster.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_k8s_workflows.notifiers.alertmanager import AlertmanagerNotifier
from airflow_k8s_workflows.notifiers.kubernetes_event import KubernetesEventNotifier
from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator
from airflow_k8s_workflows.operators.deployment import DeployOperator
from airflow_k8s_workflows.operators.health import ClusterHealthOperator
from airflow_k8s_workflows.operators.job import RunJobOperator
from airflow_k8s_workflows.operators.scale import ScaleOperator

NS = "{{ params.namespace }}"
APP = "{{ params.app }}"

CONFIG = f"""
apiVersion: v1
kind: Namespace
metadata:
  name: {NS}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {APP}-content
  namespace: {NS}
  labels: {{app: {APP}}}
data:
  index.html: "<h1>{{{{ params.greeting }}}}</h1>"
---
apiVersion: v1
kind: Secret
metadata:
  name: {APP}-api
  namespace: {NS}
  labels: {{app: {APP}}}
type: Opaque
stringData:
  token: "{{{{ var.value.get('deploy_scale_monitor_api_token', 's3cr3t-demo-token') }}}}"
---
apiVersion: v1
kind: Service
metadata:
  name: {APP}
  namespace: {NS}
  labels: {{app: {APP}}}
spec:
  selector: {{app: {APP}}}
  ports:
  - {{name: http, port: 80, targetPort: http}}
"""

DEPLOYMENT = f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {APP}
  namespace: {NS}
  labels: {{app: {APP}}}
spec:
  replicas: {{{{ params.replicas }}}}
  progressDeadlineSeconds: 120
  selector:
    matchLabels: {{app: {APP}}}
  template:
    metadata:
      labels: {{app: {APP}}}
    spec:
      containers:
      - name: web
        image: "{{{{ params.image }}}}"
        ports:
        - {{name: http, containerPort: 80}}
        env:
        - name: API_TOKEN
          valueFrom: {{secretKeyRef: {{name: {APP}-api, key: token}}}}
        volumeMounts:
        - {{name: content, mountPath: /usr/share/nginx/html}}
        readinessProbe:
          httpGet: {{path: /, port: http}}
          periodSeconds: 2
        resources:
          requests: {{cpu: 50m, memory: 32Mi}}
      volumes:
      - name: content
        configMap: {{name: {APP}-content}}
"""

SMOKE_SCRIPT = r"""
set -eu
page=$(cat /etc/app/index.html)
case "$page" in *"$EXPECT"*) ;; *) echo "index.html does not contain '$EXPECT': $page" >&2; exit 1;; esac
[ -n "$API_TOKEN" ] || { echo "API_TOKEN is empty" >&2; exit 1; }
http=skipped
if [ -n "$SMOKE_URL" ]; then
  wget -q -T 10 -O - "$SMOKE_URL" | grep -q "$EXPECT" || { echo "$SMOKE_URL did not serve '$EXPECT'" >&2; exit 1; }
  http=ok
fi
size=$(printf %s "$page" | wc -c)
echo "config ok, http $http"
printf '{"config": "ok", "http": "%s", "page_bytes": %d}' "$http" $((size + 0)) > /dev/termination-log
"""

SMOKE_JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"namespace": NS, "labels": {"app": APP, "role": "smoke-test"}},
    "spec": {
        "backoffLimit": 1,
        "activeDeadlineSeconds": 300,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "smoke",
                        "image": "busybox:1.36",
                        "command": ["sh", "-c", SMOKE_SCRIPT],
                        "env": [
                            {"name": "EXPECT", "value": "{{ params.greeting }}"},
                            {
                                "name": "SMOKE_URL",
                                "value": "{{ params.smoke_url or "
                                "var.value.get('deploy_scale_monitor_smoke_url', '') }}",
                            },
                            {
                                "name": "API_TOKEN",
                                "valueFrom": {"secretKeyRef": {"name": f"{APP}-api", "key": "token"}},
                            },
                        ],
                        "volumeMounts": [{"name": "content", "mountPath": "/etc/app"}],
                    }
                ],
                "volumes": [{"name": "content", "configMap": {"name": f"{APP}-content"}}],
            }
        },
    },
}

on_failure = [
    KubernetesEventNotifier(
        kind="Deployment",
        name=APP,
        namespace=NS,
        reason="AirflowTaskFailed",
        message="{{ ti.dag_id }}.{{ ti.task_id }} failed in {{ run_id }}: {{ exception }}",
    ),
    AlertmanagerNotifier(
        alertmanager_conn_id="alertmanager_default",
        severity="warning",
        labels={"alertname": "DeployScaleMonitorFailed", "namespace": NS, "app": APP},
        annotations={"summary": "{{ ti.dag_id }}.{{ ti.task_id }} failed: {{ exception }}"},
    ),
]

with DAG(
    dag_id="deploy_scale_monitor",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kubernetes", "deploy", "scale", "health", "flagship"],
    params={
        "namespace": Param("demo", type="string", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        "app": Param("web", type="string", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        "image": Param("nginx:1.27-alpine", type="string", minLength=1),
        "greeting": Param("Hello from Airflow", type="string", minLength=1),
        "replicas": Param(2, type="integer", minimum=1, maximum=20),
        "scale_to": Param(4, type="integer", minimum=1, maximum=50),
        # nullable: the UI's trigger form treats a non-null "string" param as required and an
        # empty value as missing, so with type="string" the Trigger button stays disabled
        "smoke_url": Param(
            None, type=["null", "string"], description="fetch this URL in the smoke test (real clusters)"
        ),
    },
    default_args={
        "retries": 1,
        "retry_delay": pendulum.duration(seconds=5),
        "on_failure_callback": on_failure,
    },
    render_template_as_native_obj=False,
) as dag:
    apply_config = ApplyManifestsOperator(task_id="apply_config", manifests=CONFIG)
    deploy = DeployOperator(task_id="deploy", manifest=DEPLOYMENT, deferrable=True, timeout=300)
    smoke_test = RunJobOperator(
        task_id="smoke_test", job_manifest=SMOKE_JOB, namespace=NS, deferrable=True, timeout=300
    )
    scale_up = ScaleOperator(
        task_id="scale_up",
        name=APP,
        namespace=NS,
        replicas="{{ params.scale_to }}",
        deferrable=True,
        timeout=300,
    )
    health = ClusterHealthOperator(task_id="health", namespaces=NS, warning_event_minutes=5)
    scale_back = ScaleOperator(
        task_id="scale_back",
        name=APP,
        namespace=NS,
        replicas="{{ ti.xcom_pull(task_ids='scale_up')['previous'] }}",
        deferrable=True,
        timeout=300,
    )

    apply_config >> deploy >> smoke_test >> scale_up >> health >> scale_back.as_teardown(setups=scale_up)
