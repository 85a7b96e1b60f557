"""Deployments through the official client: ReplicaSets per template, rolling and recreate
rollouts, revisions and rollback, pausing, history, progress deadlines, scale and validation.

Pod readiness is driven through the API (``workloads.PodDriver``) so the controllers are tested
on their own; ``test_deployments_kubelet.py`` repeats the key scenarios with real pods.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator.controllers.podtemplate import compute_hash
from tests.conftest import Kubectl
from tests.emulator.workloads import NEVER_READY, Cluster, cluster_without_kubelet, condition, template
from tests.helpers import wait_for

HASH_NAME = re.compile(r"^web-[bcdfghjklmnpqrstvwxz2456789]{6,10}$")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with cluster_without_kubelet(tmp_path) as c:
        yield c


@pytest.fixture
def kubectl_local(cluster: Cluster, tmp_path: Path) -> Kubectl:
    cache = tmp_path / "kubectl-cache"
    cache.mkdir()
    return Kubectl(cluster.emu.kubeconfig, cache)


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1", **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    tpl = template(labels, image=image)
    if spec.pop("never_ready", False):
        tpl["metadata"]["labels"][NEVER_READY] = "yes"
    return {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": tpl, **spec},
    }


def replica_sets(c: Cluster, app: str = "web") -> list[client.V1ReplicaSet]:
    items = c.apps.list_namespaced_replica_set("default", label_selector=f"app={app}").items
    return sorted(items, key=lambda rs: int(rs.metadata.annotations["deployment.kubernetes.io/revision"]))


def rolled_out(c: Cluster, generation: int | None = None, name: str = "web") -> client.V1Deployment | None:
    """The Deployment once its rollout is complete (at ``generation`` if given)."""
    d = c.apps.read_namespaced_deployment(name, "default")
    if generation is not None and d.metadata.generation != generation:
        return None
    st = d.status
    want = d.spec.replicas
    done = (
        (st.observed_generation or 0) >= d.metadata.generation
        and (st.updated_replicas or 0) == want
        and (st.replicas or 0) == want
        and (st.available_replicas or 0) == want
    )
    return d if done else None


def set_image(c: Cluster, image: str, name: str = "web") -> None:
    c.apps.patch_namespaced_deployment(
        name, "default", {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}}
    )


def test_creates_a_hashed_replica_set_and_reports_a_complete_rollout(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("default", deployment())
    d = wait_for(lambda: rolled_out(cluster), message="rollout")
    [rs] = replica_sets(cluster)
    name = rs.metadata.name
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert HASH_NAME.match(name), name
    assert name == f"web-{pod_hash}"
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": pod_hash}
    assert rs.spec.template.metadata.labels == {"app": "web", "pod-template-hash": pod_hash}
    assert rs.metadata.annotations == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
    }
    [ref] = rs.metadata.owner_references
    assert (ref.kind, ref.name, ref.controller, ref.block_owner_deletion) == ("Deployment", "web", True, True)
    pods = cluster.pods("app=web")
    assert len(pods) == 3
    assert all(p.metadata.labels["pod-template-hash"] == pod_hash for p in pods)
    assert all(p.metadata.generate_name == f"{name}-" for p in pods)
    assert d.metadata.annotations == {"deployment.kubernetes.io/revision": "1"}
    assert d.metadata.generation == 1  # revision bookkeeping goes through /status
    st = d.status
    assert (st.observed_generation, st.replicas, st.updated_replicas, st.ready_replicas) == (1, 3, 3, 3)
    assert (st.available_replicas, st.unavailable_replicas, st.terminating_replicas) == (3, None, 0)
    available, progressing = condition(d, "Available"), condition(d, "Progressing")
    assert (available.status, available.reason, available.message) == (
        "True",
        "MinimumReplicasAvailable",
        "Deployment has minimum availability.",
    )
    assert (progressing.status, progressing.reason, progressing.message) == (
        "True",
        "NewReplicaSetAvailable",
        f'ReplicaSet "{name}" has successfully progressed.',
    )
    [scaled] = cluster.events("web", "ScalingReplicaSet")
    assert (scaled.message, scaled.source.component) == (
        f"Scaled up replica set {name} from 0 to 3",
        "deployment-controller",
    )
    created = cluster.events(name, "SuccessfulCreate")
    assert sorted(e.message for e in created) == sorted(f"Created pod: {p.metadata.name}" for p in pods)


def _watch_pods(c: Cluster, seen: list[tuple[int, int]], stop: threading.Event) -> None:
    """Record (live pods, ready pods) after every pod event."""
    state: dict[str, client.V1Pod] = {}
    w = watch.Watch()
    for event in w.stream(c.v1.list_namespaced_pod, "default", label_selector="app=web", timeout_seconds=30):
        pod = event["object"]
        if event["type"] == "DELETED":
            state.pop(pod.metadata.name, None)
        else:
            state[pod.metadata.name] = pod
        live = [p for p in state.values() if p.metadata.deletion_timestamp is None]
        ready = [
            p for p in live if condition(p, "Ready") is not None and condition(p, "Ready").status == "True"
        ]
        seen.append((len(live), len(ready)))
        if stop.is_set():
            w.stop()


@pytest.mark.parametrize(
    ("surge", "unavailable", "max_live", "min_ready"), [(1, 0, 5, 4), ("50%", "25%", 6, 3)]
)
def test_rolling_update_stays_within_surge_and_unavailability(
    cluster: Cluster, surge: Any, unavailable: Any, max_live: int, min_ready: int
) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    cluster.apps.create_namespaced_deployment("default", deployment(replicas=4, strategy=strategy))
    wait_for(lambda: rolled_out(cluster))
    seen: list[tuple[int, int]] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_pods, args=(cluster, seen, stop), daemon=True)
    watcher.start()
    wait_for(lambda: seen)
    set_image(cluster, "nginx:2")
    d = wait_for(lambda: rolled_out(cluster, generation=2))
    stop.set()
    cluster.v1.create_namespaced_config_map("default", {"metadata": {"name": "nudge"}})
    pods = cluster.pods("app=web")
    assert {p.spec.containers[0].image for p in pods} == {"nginx:2"}
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert max(live for live, _ in seen) <= max_live, seen
    # once the first pod was ready, availability never dropped below replicas - maxUnavailable
    steady = seen[next(i for i, (_, ready) in enumerate(seen) if ready >= 4) :]
    assert min(ready for _, ready in steady) >= min_ready, seen
    old, new = replica_sets(cluster)
    assert (old.spec.replicas, new.spec.replicas) == (0, 4)
    messages = [e.message for e in cluster.events("web", "ScalingReplicaSet")]
    assert any(m.startswith(f"Scaled down replica set {old.metadata.name} from 4 to ") for m in messages)
    assert any(m == f"Scaled up replica set {new.metadata.name} from 0 to 1" for m in messages) or surge != 1


def test_recreate_stops_every_old_pod_before_starting_new_ones(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment(
        "default", deployment(replicas=3, strategy={"type": "Recreate"})
    )
    wait_for(lambda: rolled_out(cluster))
    [old] = replica_sets(cluster)
    old_pods = {p.metadata.name for p in cluster.pods("app=web")}
    cluster.driver.paused = True  # old pods stay terminating until the "kubelet" finishes them
    set_image(cluster, "nginx:2")
    wait_for(
        lambda: cluster.apps.read_namespaced_replica_set(old.metadata.name, "default").spec.replicas == 0
    )
    assert len(replica_sets(cluster)) == 1  # no new ReplicaSet while old pods exist
    cluster.driver.paused = False
    wait_for(lambda: rolled_out(cluster) if len(replica_sets(cluster)) == 2 else None)
    assert not old_pods & {p.metadata.name for p in cluster.pods("app=web")}
    new = replica_sets(cluster)[1]
    assert new.spec.replicas == 3


def test_rollback_readopts_the_old_replica_set_with_a_new_revision(
    cluster: Cluster, kubectl_local: Kubectl
) -> None:
    cluster.apps.create_namespaced_deployment("default", deployment(replicas=2))
    wait_for(lambda: rolled_out(cluster))
    set_image(cluster, "nginx:2")
    wait_for(lambda: rolled_out(cluster) if len(replica_sets(cluster)) == 2 else None)
    v1_rs = replica_sets(cluster)[0]
    out = kubectl_local("rollout", "undo", "deployment/web")
    assert "rolled back" in out.stdout
    wait_for(lambda: rolled_out(cluster, generation=3))
    rss = {rs.metadata.name: rs for rs in replica_sets(cluster)}
    assert len(rss) == 2  # no third ReplicaSet: the v1 one is re-adopted
    readopted = rss[v1_rs.metadata.name]
    assert readopted.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert readopted.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert readopted.spec.replicas == 2
    d = cluster.apps.read_namespaced_deployment("web", "default")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert d.spec.template.spec.containers[0].image == "nginx:1"
    assert "pod-template-hash" not in d.spec.template.metadata.labels
    history = kubectl_local("rollout", "history", "deployment/web").stdout
    assert re.search(r"^2\s", history, re.M) and re.search(r"^3\s", history, re.M), history


def test_progress_deadline_exceeded_when_pods_never_become_ready(cluster: Cluster) -> None:
    body = deployment(replicas=2, progressDeadlineSeconds=30, never_ready=True)
    cluster.apps.create_namespaced_deployment("default", body)

    def timed_out() -> Any:
        cond = condition(cluster.apps.read_namespaced_deployment("web", "default"), "Progressing")
        return cond if cond is not None and cond.reason == "ProgressDeadlineExceeded" else None

    cond = wait_for(timed_out, timeout=15)
    [rs] = replica_sets(cluster)
    assert cond.status == "False"
    assert cond.message == f'ReplicaSet "{rs.metadata.name}" has timed out progressing.'
    d = cluster.apps.read_namespaced_deployment("web", "default")
    available = condition(d, "Available")
    assert (available.status, available.reason) == ("False", "MinimumReplicasUnavailable")
    assert d.status.unavailable_replicas == 2


def test_paused_deployment_keeps_its_replica_set_until_resumed(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("default", deployment(replicas=2))
    wait_for(lambda: rolled_out(cluster))
    cluster.apps.patch_namespaced_deployment("web", "default", {"spec": {"paused": True}})

    def paused() -> Any:
        cond = condition(cluster.apps.read_namespaced_deployment("web", "default"), "Progressing")
        return cond if cond.reason == "DeploymentPaused" else None

    cond = wait_for(paused)
    assert (cond.status, cond.message) == ("Unknown", "Deployment is paused")
    set_image(cluster, "nginx:2")
    cluster.apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    wait_for(lambda: len(cluster.pods("app=web")) == 3)
    assert len(replica_sets(cluster)) == 1  # scaling works, rolling out does not
    cluster.apps.patch_namespaced_deployment("web", "default", {"spec": {"paused": False}})
    wait_for(lambda: rolled_out(cluster) if len(replica_sets(cluster)) == 2 else None)
    reasons = {e.reason for e in cluster.events("web")}
    assert "ScalingReplicaSet" in reasons


def test_revision_history_limit_deletes_the_oldest_empty_replica_sets(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("default", deployment(replicas=1, revisionHistoryLimit=1))
    wait_for(lambda: rolled_out(cluster))
    for image in ("nginx:2", "nginx:3", "nginx:4"):
        set_image(cluster, image)
        wait_for(lambda image=image: {p.spec.containers[0].image for p in cluster.pods("app=web")} == {image})
    wait_for(lambda: len(replica_sets(cluster)) == 2)
    revisions = [rs.metadata.annotations["deployment.kubernetes.io/revision"] for rs in replica_sets(cluster)]
    assert revisions == ["3", "4"]


def test_scale_subresource_and_proportional_scaling_mid_rollout(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("default", deployment(replicas=4))
    wait_for(lambda: rolled_out(cluster))
    scale = cluster.apps.read_namespaced_deployment_scale("web", "default")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (4, 4, "app=web")
    scale.spec.replicas = 6
    cluster.apps.replace_namespaced_deployment_scale("web", "default", scale)
    wait_for(lambda: rolled_out(cluster) if len(cluster.pods("app=web")) == 6 else None)
    [rs] = replica_sets(cluster)
    assert rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "6"
    assert rs.metadata.annotations["deployment.kubernetes.io/max-replicas"] == "8"
    # a rollout that cannot progress (new pods never ready), then a scaling event
    tpl = template({"app": "web", NEVER_READY: "yes"}, image="nginx:2")
    cluster.apps.patch_namespaced_deployment("web", "default", {"spec": {"template": tpl}})
    wait_for(lambda: len(replica_sets(cluster)) == 2 and replica_sets(cluster)[1].status.replicas == 3)
    old, new = replica_sets(cluster)
    assert (old.spec.replicas, new.spec.replicas) == (5, 3)  # 6 + 2 surge, 1 unavailable
    cluster.apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 12}})

    def proportions() -> tuple[int, int] | None:
        o, n = replica_sets(cluster)
        return (o.spec.replicas, n.spec.replicas) if o.spec.replicas + n.spec.replicas == 15 else None

    # 12 + 3 surge: each gets round(size * 15 / 8), its max-replicas annotation being 8
    assert wait_for(proportions) == (9, 6)


def test_hash_collision_bumps_collision_count(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("default", deployment(replicas=1, paused=True))
    raw = cluster.apps.read_namespaced_deployment("web", "default", _preload_content=False)
    taken = f"web-{compute_hash(json.loads(raw.data)['spec']['template'], None)}"
    squat = {
        "metadata": {"name": taken},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"squat": "y"}},
            "template": template({"squat": "y"}),
        },
    }
    cluster.apps.create_namespaced_replica_set("default", squat)
    cluster.apps.patch_namespaced_deployment("web", "default", {"spec": {"paused": False}})
    d = wait_for(lambda: rolled_out(cluster))
    assert d.status.collision_count == 1
    [rs] = replica_sets(cluster)
    assert rs.metadata.name != taken
    assert HASH_NAME.match(rs.metadata.name)
    assert cluster.apps.read_namespaced_replica_set(taken, "default").metadata.owner_references is None


def test_validation_messages(cluster: Cluster) -> None:
    def invalid(body: dict[str, Any]) -> dict[str, Any]:
        with pytest.raises(ApiException) as err:
            cluster.apps.create_namespaced_deployment("default", body)
        assert err.value.status == 422
        return json.loads(err.value.body)

    assert invalid(deployment(replicas=-1))["message"] == (
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    )
    body = deployment()
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    assert invalid(body)["message"] == (
        'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"other"}: `selector` does not match template `labels`'
    )
    body = deployment()
    del body["spec"]["selector"]
    status = invalid(body)
    assert status["details"]["causes"][0] == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.selector",
    }
    zero = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}
    assert invalid(deployment(strategy=zero))["message"] == (
        'Deployment.apps "web" is invalid: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0%: '
        "may not be 0 when `maxSurge` is 0"
    )
    recreate = {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}
    assert invalid(deployment(strategy=recreate))["message"].endswith(
        "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
    )
    assert invalid(deployment(progressDeadlineSeconds=5, minReadySeconds=5))["message"].endswith(
        "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds"
    )
    cluster.apps.create_namespaced_deployment("default", deployment())
    with pytest.raises(ApiException) as err:
        cluster.apps.patch_namespaced_deployment(
            "web", "default", {"spec": {"selector": {"matchLabels": {"app": "web", "x": "y"}}}}
        )
    assert json.loads(err.value.body)["message"] == (
        'Deployment.apps "web" is invalid: [spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"web"}: `selector` does not match template `labels`, spec.selector: '
        'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "x":"y"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable]"
    )


def test_defaults(cluster: Cluster) -> None:
    body = deployment()
    del body["spec"]["replicas"]
    d = cluster.apps.create_namespaced_deployment("default", body)
    assert d.spec.replicas == 1
    assert d.spec.strategy.type == "RollingUpdate"
    assert (d.spec.strategy.rolling_update.max_surge, d.spec.strategy.rolling_update.max_unavailable) == (
        "25%",
        "25%",
    )
    assert (d.spec.revision_history_limit, d.spec.progress_deadline_seconds) == (10, 600)
    assert d.spec.template.spec.restart_policy == "Always"
    assert d.spec.template.spec.containers[0].termination_message_path == "/dev/termination-log"
