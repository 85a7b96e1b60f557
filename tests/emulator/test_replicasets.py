"""ReplicaSets through the official client: pod creation and ownership, adoption and release,
which pods go first on scale-down, status counts and minReadySeconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from tests.emulator.workloads import Cluster, cluster_without_kubelet, template
from tests.helpers import wait_for


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with cluster_without_kubelet(tmp_path) as c:
        yield c


def replica_set(name: str = "front", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": template(labels),
            **spec,
        },
    }


def raw_status(c: Cluster, name: str = "front") -> dict[str, Any]:
    resp = c.apps.read_namespaced_replica_set_status(name, "default", _preload_content=False)
    return json.loads(resp.data)["status"]  # type: ignore[no-any-return]


def settled(c: Cluster, replicas: int, name: str = "front") -> dict[str, Any] | None:
    status = raw_status(c, name)
    return status if status.get("availableReplicas", 0) == replicas == status["replicas"] else None


def test_creates_owned_pods_and_reports_status(cluster: Cluster) -> None:
    rs = cluster.apps.create_namespaced_replica_set("default", replica_set())
    status = wait_for(lambda: settled(cluster, 3))
    assert status == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": 1,
        "terminatingReplicas": 0,
    }
    pods = cluster.pods("app=front")
    assert len(pods) == 3
    for pod in pods:
        assert pod.metadata.generate_name == "front-"
        assert pod.metadata.name.startswith("front-") and len(pod.metadata.name) == len("front-") + 5
        [ref] = pod.metadata.owner_references
        assert (ref.api_version, ref.kind, ref.name, ref.uid) == (
            "apps/v1",
            "ReplicaSet",
            "front",
            rs.metadata.uid,
        )
        assert ref.controller is True and ref.block_owner_deletion is True
    messages = sorted(e.message for e in cluster.events("front", "SuccessfulCreate"))
    assert messages == sorted(f"Created pod: {p.metadata.name}" for p in pods)
    assert {e.source.component for e in cluster.events("front")} == {"replicaset-controller"}


def test_zero_replicas_still_reports_replicas(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_replica_set("default", replica_set(replicas=0))
    assert wait_for(lambda: raw_status(cluster) or None) == {
        "replicas": 0,
        "observedGeneration": 1,
        "terminatingReplicas": 0,
    }


def test_adopts_matching_orphans_and_releases_relabelled_pods(cluster: Cluster) -> None:
    orphan = {"metadata": {"name": "orphan", "labels": {"app": "front"}}, "spec": template({})["spec"]}
    cluster.v1.create_namespaced_pod("default", orphan)
    cluster.apps.create_namespaced_replica_set("default", replica_set(replicas=2))
    wait_for(lambda: settled(cluster, 2))
    names = {p.metadata.name for p in cluster.pods("app=front")}
    assert "orphan" in names  # adopted instead of creating a second pod
    assert cluster.v1.read_namespaced_pod("orphan", "default").metadata.owner_references[0].name == "front"
    cluster.v1.patch_namespaced_pod("orphan", "default", {"metadata": {"labels": {"app": "elsewhere"}}})

    def released() -> bool:
        pod = cluster.v1.read_namespaced_pod("orphan", "default")
        return not pod.metadata.owner_references and len(cluster.pods("app=front")) == 2

    wait_for(released)
    wait_for(lambda: settled(cluster, 2))


def test_deleted_pod_is_replaced_while_it_terminates(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_replica_set("default", replica_set(replicas=2))
    wait_for(lambda: settled(cluster, 2))
    victim = cluster.pods("app=front")[0].metadata.name
    cluster.driver.paused = True  # the deleted pod stays Terminating
    cluster.v1.delete_namespaced_pod(victim, "default")
    status = wait_for(
        lambda: raw_status(cluster) if raw_status(cluster)["terminatingReplicas"] == 1 else None
    )
    assert status["replicas"] == 2  # a terminating pod is not a replica: its replacement is
    assert len(cluster.pods("app=front")) == 2
    cluster.driver.paused = False
    wait_for(lambda: raw_status(cluster)["terminatingReplicas"] == 0)
    wait_for(
        lambda: victim not in {p.metadata.name for p in cluster.pods("app=front")} and settled(cluster, 2)
    )
    assert len(cluster.pods("app=front")) == 2


def test_scale_down_removes_not_ready_pods_first(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_replica_set("default", replica_set(replicas=3))
    wait_for(lambda: settled(cluster, 3))
    laggard = sorted(p.metadata.name for p in cluster.pods("app=front"))[1]
    cluster.driver.hold.add(laggard)
    cluster.v1.patch_namespaced_pod_status(
        laggard, "default", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    )
    wait_for(lambda: raw_status(cluster).get("readyReplicas") == 2)
    cluster.apps.patch_namespaced_replica_set_scale("front", "default", {"spec": {"replicas": 2}})
    wait_for(lambda: len(cluster.pods("app=front")) == 2)
    assert laggard not in {p.metadata.name for p in cluster.pods("app=front")}
    [deleted] = cluster.events("front", "SuccessfulDelete")
    assert deleted.message == f"Deleted pod: {laggard}"


def test_min_ready_seconds_delays_availability(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_replica_set("default", replica_set(replicas=2, minReadySeconds=40))
    ready = wait_for(lambda: raw_status(cluster) if raw_status(cluster).get("readyReplicas") == 2 else None)
    assert "availableReplicas" not in ready  # 40 controller seconds = 2 s at speed 20
    wait_for(lambda: settled(cluster, 2), timeout=10)


def test_validation_messages(cluster: Cluster) -> None:
    body = replica_set()
    body["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "Has"}]}
    with pytest.raises(ApiException) as err:
        cluster.apps.create_namespaced_replica_set("default", body)
    assert json.loads(err.value.body)["message"] == (
        'ReplicaSet.apps "front" is invalid: spec.selector.matchExpressions[0].operator: '
        'Invalid value: "Has": not a valid selector operator'
    )
    body = replica_set()
    body["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    with pytest.raises(ApiException) as err:
        cluster.apps.create_namespaced_replica_set("default", body)
    assert json.loads(err.value.body)["message"] == (
        'ReplicaSet.apps "front" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Never": '
        'supported values: "Always"'
    )
