"""Workload controllers with the emulator's scheduler and kubelet running real pods: a rolling
update observed by a watch, ``kubectl rollout undo`` and ``rollout status``, a rollout that
never becomes ready, scaling through the scale subresource and an HPA scaling both ways."""

from __future__ import annotations

import json
import threading
from typing import Any

from kubernetes import client, watch

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.controllers.hpa import METRIC_VALUES
from tests.conftest import Kubectl
from tests.helpers import wait_for

SLEEP = {"name": "main", "image": "busybox:1", "command": ["sleep", "3600"]}


def _deployment(replicas: int = 4, image: str = "busybox:1", **spec: Any) -> dict[str, Any]:
    labels = {"app": "web"}
    container = {**SLEEP, "image": image, **spec.pop("container", {})}
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, **spec.pop("pod_meta", {})},
                "spec": {"containers": [container]},
            },
            **spec,
        },
    }


def _complete(apps: client.AppsV1Api, generation: int) -> client.V1Deployment | None:
    d = apps.read_namespaced_deployment("web", "default")
    st, want = d.status, d.spec.replicas
    done = (
        d.metadata.generation == generation
        and (st.observed_generation or 0) >= generation
        and (st.updated_replicas or 0) == want == (st.replicas or 0) == (st.available_replicas or 0)
    )
    return d if done else None


def _ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def test_rolling_update_with_real_pods_respects_surge_and_unavailability(
    emulator: KubeEmulator, k8s: client.ApiClient, kubectl: Kubectl
) -> None:
    apps, v1 = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    apps.create_namespaced_deployment("default", _deployment(strategy=strategy))
    wait_for(lambda: _complete(apps, 1), timeout=30)
    initial = v1.list_namespaced_pod("default")
    start_rv = initial.metadata.resource_version
    samples: list[tuple[int, int]] = []
    stop = threading.Event()

    def observe() -> None:
        # the state at start_rv, then every change after it: no change is missed or seen twice
        pods: dict[str, client.V1Pod] = {p.metadata.name: p for p in initial.items}
        w = watch.Watch()
        for event in w.stream(
            v1.list_namespaced_pod, "default", resource_version=start_rv, timeout_seconds=60
        ):
            pod = event["object"]
            if event["type"] == "DELETED":
                pods.pop(pod.metadata.name, None)
            else:
                pods[pod.metadata.name] = pod
            live = [p for p in pods.values() if p.metadata.deletion_timestamp is None]
            samples.append((len(live), sum(1 for p in live if _ready(p))))
            if stop.is_set():
                w.stop()

    watcher = threading.Thread(target=observe, daemon=True)
    watcher.start()
    apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}}}},
    )
    wait_for(lambda: _complete(apps, 2), timeout=40)
    stop.set()
    v1.create_namespaced_config_map("default", {"metadata": {"name": "wake-the-watch"}})
    watcher.join(10)
    assert samples, "the watch saw the rollout"
    # both budgets are used, never exceeded: replicas + maxSurge pods, replicas - maxUnavailable ready
    assert max(live for live, _ in samples) == 5, samples
    assert min(ready for _, ready in samples) == 3, samples
    live = [p for p in v1.list_namespaced_pod("default").items if p.metadata.deletion_timestamp is None]
    assert {p.spec.containers[0].image for p in live} == {"busybox:2"}  # old pods may still be terminating

    out = kubectl("rollout", "undo", "deployment/web")
    assert out.stdout.strip() == "deployment.apps/web rolled back"
    wait_for(lambda: _complete(apps, 3), timeout=40)
    rss = apps.list_namespaced_replica_set("default").items
    revisions = {rs.spec.template.spec.containers[0].image: rs.metadata.annotations for rs in rss}
    assert revisions["busybox:1"]["deployment.kubernetes.io/revision"] == "3"
    assert revisions["busybox:1"]["deployment.kubernetes.io/revision-history"] == "1"
    d = apps.read_namespaced_deployment("web", "default")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    pods = v1.list_namespaced_pod("default", label_selector="app=web").items
    wait_for(
        lambda: {p.spec.containers[0].image for p in v1.list_namespaced_pod("default").items} == {"busybox:1"}
    )
    assert len(pods) >= 4
    status = kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert 'deployment "web" successfully rolled out' in status.stdout


def test_pods_that_never_become_ready_exceed_the_progress_deadline(
    emulator: KubeEmulator, k8s: client.ApiClient, kubectl: Kubectl
) -> None:
    apps = client.AppsV1Api(k8s)
    probe = {"exec": {"command": ["false"]}, "periodSeconds": 1}
    apps.create_namespaced_deployment(
        "default", _deployment(replicas=2, progressDeadlineSeconds=30, container={"readinessProbe": probe})
    )

    def timed_out() -> Any:
        d = apps.read_namespaced_deployment("web", "default")
        cond = next((c for c in d.status.conditions or [] if c.type == "Progressing"), None)
        return cond if cond is not None and cond.reason == "ProgressDeadlineExceeded" else None

    cond = wait_for(timed_out, timeout=30)
    [rs] = apps.list_namespaced_replica_set("default").items
    assert cond.status == "False"
    assert cond.message == f'ReplicaSet "{rs.metadata.name}" has timed out progressing.'
    out = kubectl("rollout", "status", "deployment/web", "--timeout=20s", check=False)
    assert out.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in out.stderr


def test_never_ready_annotation_also_times_out(emulator: KubeEmulator, k8s: client.ApiClient) -> None:
    apps = client.AppsV1Api(k8s)
    body = _deployment(
        replicas=1,
        progressDeadlineSeconds=20,
        pod_meta={"annotations": {"emulator.airflow-k8s-workflows.io/never-ready": "true"}},
    )
    apps.create_namespaced_deployment("default", body)

    def reason() -> str | None:
        d = apps.read_namespaced_deployment("web", "default")
        return next((c.reason for c in d.status.conditions or [] if c.type == "Progressing"), None)

    wait_for(lambda: reason() == "ProgressDeadlineExceeded", timeout=30)


def test_kubectl_rollout_status_for_statefulsets_and_daemonsets(
    emulator: KubeEmulator, k8s: client.ApiClient, kubectl: Kubectl
) -> None:
    apps = client.AppsV1Api(k8s)
    labels = {"app": "db"}
    tpl = {"metadata": {"labels": labels}, "spec": {"containers": [SLEEP]}}
    sts = {"metadata": {"name": "db"}, "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": labels},
                                                 "template": tpl}}  # fmt: skip
    apps.create_namespaced_stateful_set("default", sts)
    out = kubectl("rollout", "status", "statefulset/db", "--timeout=40s")
    assert "partitioned roll out complete: 3 new pods have been updated..." in out.stdout
    v1 = client.CoreV1Api(k8s)
    assert sorted(p.metadata.name for p in v1.list_namespaced_pod("default").items) == [
        "db-0",
        "db-1",
        "db-2",
    ]
    ds_labels = {"app": "agent"}
    ds_tpl = {"metadata": {"labels": ds_labels}, "spec": {"containers": [SLEEP]}}
    ds = {"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": ds_labels}, "template": ds_tpl}}
    apps.create_namespaced_daemon_set("default", ds)
    out = kubectl("rollout", "status", "daemonset/agent", "--timeout=30s")
    assert 'daemon set "agent" successfully rolled out' in out.stdout
    kubectl("set", "image", "statefulset/db", "main=busybox:2")
    out = kubectl("rollout", "status", "statefulset/db", "--timeout=60s")
    assert "partitioned roll out complete: 3 new pods have been updated..." in out.stdout
    images = {
        p.metadata.name: p.spec.containers[0].image
        for p in v1.list_namespaced_pod("default", label_selector="app=db").items
    }
    assert images == {"db-0": "busybox:2", "db-1": "busybox:2", "db-2": "busybox:2"}


def test_scale_subresource_and_hpa_with_real_pods(
    emulator: KubeEmulator, k8s: client.ApiClient, kubectl: Kubectl
) -> None:
    apps, v1 = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    body = _deployment(replicas=1, container={"resources": {"requests": {"cpu": "100m"}}})
    apps.create_namespaced_deployment("default", body)
    wait_for(lambda: _complete(apps, 1), timeout=30)
    out = kubectl("scale", "deployment/web", "--replicas=3")
    assert out.stdout.strip() == "deployment.apps/web scaled"

    def running() -> int:
        pods = v1.list_namespaced_pod("default", label_selector="app=web").items
        return sum(1 for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None)

    wait_for(lambda: running() == 3, timeout=30)
    hpa = {
        "metadata": {"name": "web", "annotations": {METRIC_VALUES: json.dumps({"cpu": {"total": 300}})}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
        },
    }
    autoscaling = client.AutoscalingV2Api(k8s)
    autoscaling.create_namespaced_horizontal_pod_autoscaler("default", hpa)
    wait_for(lambda: running() == 6, timeout=40)  # 300% over 3 pods: 100% each, twice the target
    autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "web", "default", {"metadata": {"annotations": {METRIC_VALUES: json.dumps({"cpu": {"total": 60}})}}}
    )
    wait_for(lambda: apps.read_namespaced_deployment_scale("web", "default").spec.replicas == 2, timeout=40)
    wait_for(lambda: running() == 2, timeout=40)
    messages = [
        e.message
        for e in v1.list_namespaced_event("default", field_selector="reason=SuccessfulRescale").items
    ]
    assert "New size: 6; reason: cpu resource utilization (percentage of request) above target" in messages
    assert "New size: 2; reason: All metrics below target" in messages
