"""
### Roll back a crash-looping Deployment as soon as Kubernetes reports it

An **event-driven** DAG: no schedule, no polling task. The asset `k8s-pod-backoff` has an
`AssetWatcher` running `KubernetesEventTrigger` in the triggerer, which follows the Events of
the namespace and fires once per **new** Warning `BackOff` Event of a Pod that has backed off
at least 3 times (pre-existing Events, repeats and triggerer restarts never fire twice). Each
firing becomes an asset event carrying the Event's summary, and a run of this DAG:

1. **diagnose** reads the payloads from `triggering_asset_events`, and for each pod gathers its
   problems (`kube.pods.diagnose_pod`: CrashLoopBackOff with the last exit code, OOMKilled,
   image pulls...), its last log lines (previous container), its recent Warning Events, and the
   Deployment that owns it (Pod → ReplicaSet → Deployment). Everything goes to the task log.
2. **roll_back** runs `RollbackDeploymentOperator` (like `kubectl rollout undo`) once per
   affected Deployment and waits for the rollout; no Deployment (a bare pod, a Job's pod): skipped.

Change `NAMESPACE` (or use `all_namespaces=True` in the trigger) and the connection id for
your cluster. Try it against the emulator: deploy something that crashes, e.g. a Deployment
whose command is `sh -c "exit 1"` after a good revision, and watch a run appear.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_k8s_workflows.operators.deployment import RollbackDeploymentOperator
from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger

NAMESPACE = "default"
CONN_ID = "kubernetes_default"
LOG_LINES = 20

pod_backoff = Asset(
    "k8s-pod-backoff",
    watchers=[
        AssetWatcher(
            name="pod-backoff-watcher",
            trigger=KubernetesEventTrigger(
                namespace=NAMESPACE,
                reasons=["BackOff"],
                event_type="Warning",
                involved_kind="Pod",
                min_count=3,
                kubernetes_conn_id=CONN_ID,
            ),
        )
    ],
)


def _owner(obj: dict[str, Any], kind: str) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == kind and ref.get("controller"):
            return str(ref["name"])
    return None


with DAG(
    dag_id="event_remediation",
    schedule=[pod_backoff],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kubernetes", "events", "remediation"],
) as dag:

    @task
    def diagnose(**context: Any) -> list[dict[str, str]]:
        """What is wrong with each backing-off pod, and which Deployments to roll back."""
        from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
        from airflow_k8s_workflows.kube.pods import diagnose_pod
        from airflow_k8s_workflows.kube.rest import Call

        hook = ClusterHook(kubernetes_conn_id=CONN_ID)
        payloads = [event.extra["payload"] for event in context["triggering_asset_events"][pod_backoff]]
        pods = {
            (p["involvedObject"]["namespace"] or p["namespace"], p["involvedObject"]["name"])
            for p in payloads
        }
        targets: dict[tuple[str, str], dict[str, str]] = {}
        for namespace, name in sorted(pods):
            pod = hook.get_or_none("v1", "Pod", name, namespace)
            if pod is None:
                print(f"pod {namespace}/{name} is gone; nothing to do for it")
                continue
            for problem in diagnose_pod(pod):
                print(problem.describe())
            for container in (pod.get("spec") or {}).get("containers") or []:
                path = f"/api/v1/namespaces/{namespace}/pods/{name}/log"
                query = [
                    ("container", container["name"]),
                    ("previous", "true"),
                    ("tailLines", str(LOG_LINES)),
                ]
                try:
                    text = hook.request(Call("GET", path, query, verb="get", resource="pods/log",
                                             namespace=namespace, name=name, accept="*/*"))  # fmt: skip
                except Exception as e:  # no previous instance yet, or logs gone with the node
                    text = f"(no previous logs: {e})"
                print(
                    f"--- last {LOG_LINES} log lines of {name}/{container['name']} (previous run) ---\n{text}"
                )
            field = f"involvedObject.name={name},type=Warning"
            for event in hook.list("v1", "Event", namespace, field_selector=field)[-10:]:
                print(f"event {event.get('reason')} x{event.get('count', 1)}: {event.get('message')}")
            replica_set = _owner(pod, "ReplicaSet")
            rs = hook.get_or_none("apps/v1", "ReplicaSet", replica_set, namespace) if replica_set else None
            deployment = _owner(rs, "Deployment") if rs else None
            if deployment is None:
                print(f"pod {namespace}/{name} is not managed by a Deployment; not rolling anything back")
                continue
            targets[(namespace, deployment)] = {"deployment": deployment, "namespace": namespace}
        return list(targets.values())

    RollbackDeploymentOperator.partial(
        task_id="roll_back", kubernetes_conn_id=CONN_ID, timeout=600
    ).expand_kwargs(diagnose())
