"""StatefulSets through the official client: ordered identities, OrderedReady and Parallel,
ControllerRevisions, rolling updates (reverse order, partition, maxUnavailable), OnDelete,
scale-down order, claims and validation. Pod readiness is driven through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.conftest import Kubectl
from tests.emulator.workloads import Cluster, cluster_without_kubelet, template
from tests.helpers import wait_for


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with cluster_without_kubelet(tmp_path) as c:
        yield c


def statefulset(replicas: int = 3, image: str = "nginx:1", **spec: Any) -> dict[str, Any]:
    labels = {"app": "db"}
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": labels},
            "template": template(labels, image=image),
            **spec,
        },
    }


def raw_status(c: Cluster) -> dict[str, Any]:
    resp = c.apps.read_namespaced_stateful_set_status("web", "default", _preload_content=False)
    return json.loads(resp.data).get("status") or {}  # type: ignore[no-any-return]


def rolled_out(c: Cluster, replicas: int) -> dict[str, Any] | None:
    st = raw_status(c)
    done = (
        st.get("readyReplicas") == replicas
        and st.get("updatedReplicas") == replicas
        and st.get("currentRevision") == st.get("updateRevision")
    )
    return st if done else None


def pod_names(c: Cluster) -> list[str]:
    return sorted(p.metadata.name for p in c.pods("app=db"))


def revisions(c: Cluster) -> dict[str, int]:
    items = c.apps.list_namespaced_controller_revision("default", label_selector="app=db").items
    return {r.metadata.name: r.revision for r in items}


def set_image(c: Cluster, image: str) -> None:
    c.apps.patch_namespaced_stateful_set(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}}
    )


def deletions(c: Cluster) -> list[str]:
    # event names end in the hex nanoseconds of their creation: sorting them sorts by time
    events = sorted(c.events("web", "SuccessfulDelete"), key=lambda e: e.metadata.name)
    return [e.message.split()[2] for e in events]


def test_ordered_ready_creates_one_pod_at_a_time_with_stable_identity(cluster: Cluster) -> None:
    cluster.driver.hold.add("web-0")
    sts = cluster.apps.create_namespaced_stateful_set("default", statefulset())
    wait_for(lambda: pod_names(cluster) == ["web-0"])
    wait_for(lambda: raw_status(cluster).get("replicas") == 1)
    assert pod_names(cluster) == ["web-0"]  # web-1 waits for web-0 to be Running and Ready
    cluster.driver.hold.clear()
    status = wait_for(lambda: rolled_out(cluster, 3))
    [(rev_name, rev_number)] = revisions(cluster).items()
    assert rev_number == 1
    assert status == {
        "observedGeneration": 1,
        "replicas": 3,
        "readyReplicas": 3,
        "currentReplicas": 3,
        "updatedReplicas": 3,
        "currentRevision": rev_name,
        "updateRevision": rev_name,
        "collisionCount": 0,
        "availableReplicas": 3,
    }
    assert rev_name.startswith("web-")
    for pod in cluster.pods("app=db"):
        name = pod.metadata.name
        assert pod.metadata.labels == {
            "app": "db",
            "statefulset.kubernetes.io/pod-name": name,
            "apps.kubernetes.io/pod-index": name.split("-")[1],
            "controller-revision-hash": rev_name,
        }
        assert (pod.spec.hostname, pod.spec.subdomain) == (name, "web")
        [ref] = pod.metadata.owner_references
        assert (ref.kind, ref.uid, ref.controller) == ("StatefulSet", sts.metadata.uid, True)
    created = sorted(cluster.events("web", "SuccessfulCreate"), key=lambda e: e.metadata.name)
    assert [e.message for e in created] == [
        f"create Pod web-{i} in StatefulSet web successful" for i in range(3)
    ]
    cr = cluster.apps.read_namespaced_controller_revision(rev_name, "default")
    assert cr.metadata.owner_references[0].name == "web"
    assert cr.metadata.labels["controller.kubernetes.io/hash"] == rev_name.removeprefix("web-")


def test_parallel_creates_every_pod_at_once(cluster: Cluster) -> None:
    cluster.driver.paused = True
    cluster.apps.create_namespaced_stateful_set("default", statefulset(podManagementPolicy="Parallel"))
    wait_for(lambda: pod_names(cluster) == ["web-0", "web-1", "web-2"])
    cluster.driver.paused = False
    wait_for(lambda: rolled_out(cluster, 3))


def test_rolling_update_goes_from_the_highest_ordinal_down(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_stateful_set("default", statefulset())
    first = wait_for(lambda: rolled_out(cluster, 3))["currentRevision"]
    set_image(cluster, "nginx:2")
    st = wait_for(lambda: rolled_out(cluster, 3) if raw_status(cluster)["updateRevision"] != first else None)
    assert st["currentRevision"] == st["updateRevision"] != first
    assert deletions(cluster) == ["web-2", "web-1", "web-0"]
    images = {p.metadata.name: p.spec.containers[0].image for p in cluster.pods("app=db")}
    assert images == {"web-0": "nginx:2", "web-1": "nginx:2", "web-2": "nginx:2"}
    assert sorted(revisions(cluster).values()) == [1, 2]


def test_partition_only_updates_ordinals_at_or_above_it(cluster: Cluster, tmp_path: Path) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    cluster.apps.create_namespaced_stateful_set("default", statefulset(updateStrategy=strategy))
    first = wait_for(lambda: rolled_out(cluster, 3))["currentRevision"]
    set_image(cluster, "nginx:2")

    def partial() -> dict[str, Any] | None:
        st = raw_status(cluster)
        return st if st.get("updatedReplicas") == 1 and st.get("readyReplicas") == 3 else None

    st = wait_for(partial)
    assert st["currentRevision"] == first and st["currentReplicas"] == 2
    images = {p.metadata.name: p.spec.containers[0].image for p in cluster.pods("app=db")}
    assert images == {"web-0": "nginx:1", "web-1": "nginx:1", "web-2": "nginx:2"}
    cache = tmp_path / "kubectl-cache"
    cache.mkdir()
    out = Kubectl(cluster.emu.kubeconfig, cache)("rollout", "status", "statefulset/web", "--timeout=20s")
    assert "partitioned roll out complete: 1 new pods have been updated..." in out.stdout


def test_max_unavailable_takes_several_pods_down_at_once(cluster: Cluster) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}
    cluster.apps.create_namespaced_stateful_set("default", statefulset(replicas=4, updateStrategy=strategy))
    wait_for(lambda: rolled_out(cluster, 4))
    cluster.driver.paused = True  # deleted pods stay Terminating: what is down at once is visible
    set_image(cluster, "nginx:2")

    def terminating() -> list[str]:
        pods = cluster.pods("app=db", live=False)
        return sorted(p.metadata.name for p in pods if p.metadata.deletion_timestamp)

    wait_for(lambda: terminating() == ["web-2", "web-3"])
    cluster.driver.paused = False
    wait_for(lambda: rolled_out(cluster, 4) if deletions(cluster)[-1:] == ["web-0"] else None)


def test_on_delete_waits_for_manual_deletion(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_stateful_set("default", statefulset(updateStrategy={"type": "OnDelete"}))
    first = wait_for(lambda: rolled_out(cluster, 3))["currentRevision"]
    set_image(cluster, "nginx:2")
    st = wait_for(lambda: raw_status(cluster) if raw_status(cluster)["updateRevision"] != first else None)
    assert st["currentRevision"] == first and "updatedReplicas" not in st
    cluster.v1.delete_namespaced_pod("web-1", "default")

    def recreated() -> client.V1Pod | None:
        pods = {p.metadata.name: p for p in cluster.pods("app=db")}
        pod = pods.get("web-1")
        return pod if pod is not None and pod.spec.containers[0].image == "nginx:2" else None

    pod = wait_for(recreated)
    assert pod.metadata.labels["controller-revision-hash"] == st["updateRevision"]
    assert wait_for(lambda: raw_status(cluster).get("updatedReplicas") == 1)
    assert {p.spec.containers[0].image for p in cluster.pods("app=db") if p.metadata.name != "web-1"} == {
        "nginx:1"
    }


def test_scale_down_removes_the_highest_ordinals_first(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_stateful_set("default", statefulset(replicas=4))
    wait_for(lambda: rolled_out(cluster, 4))
    cluster.apps.patch_namespaced_stateful_set_scale("web", "default", {"spec": {"replicas": 1}})
    wait_for(lambda: pod_names(cluster) == ["web-0"] and raw_status(cluster)["replicas"] == 1)
    assert deletions(cluster) == ["web-3", "web-2", "web-1"]
    scale = cluster.apps.read_namespaced_stateful_set_scale("web", "default")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (1, 1, "app=db")


def test_volume_claim_templates_give_each_pod_its_claim(cluster: Cluster) -> None:
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    cluster.apps.create_namespaced_stateful_set(
        "default", statefulset(replicas=2, volumeClaimTemplates=[claim])
    )
    wait_for(lambda: rolled_out(cluster, 2))
    pvcs = {p.metadata.name: p for p in cluster.v1.list_namespaced_persistent_volume_claim("default").items}
    assert sorted(pvcs) == ["data-web-0", "data-web-1"]
    assert pvcs["data-web-0"].status.phase == "Bound"
    assert pvcs["data-web-0"].status.capacity == {"storage": "1Gi"}
    assert pvcs["data-web-0"].metadata.labels == {"app": "db"}
    volume = next(
        v for v in cluster.v1.read_namespaced_pod("web-1", "default").spec.volumes if v.name == "data"
    )
    assert volume.persistent_volume_claim.claim_name == "data-web-1"


def test_rollout_undo_renumbers_the_previous_revision(cluster: Cluster, tmp_path: Path) -> None:
    cluster.apps.create_namespaced_stateful_set("default", statefulset(replicas=2))
    first = wait_for(lambda: rolled_out(cluster, 2))["currentRevision"]
    set_image(cluster, "nginx:2")
    wait_for(lambda: rolled_out(cluster, 2) if raw_status(cluster)["updateRevision"] != first else None)
    cache = tmp_path / "kubectl-cache"
    cache.mkdir()
    Kubectl(cluster.emu.kubeconfig, cache)("rollout", "undo", "statefulset/web")
    st = wait_for(lambda: rolled_out(cluster, 2) if raw_status(cluster)["updateRevision"] == first else None)
    assert revisions(cluster)[first] == 3
    assert st["currentRevision"] == first
    assert {p.spec.containers[0].image for p in cluster.pods("app=db")} == {"nginx:1"}


def test_validation_messages(cluster: Cluster) -> None:
    with pytest.raises(ApiException) as err:
        cluster.apps.create_namespaced_stateful_set("default", statefulset(podManagementPolicy="Random"))
    assert json.loads(err.value.body)["message"] == (
        'StatefulSet.apps "web" is invalid: spec.podManagementPolicy: Invalid value: "Random": '
        "must be 'OrderedReady' or 'Parallel'"
    )
    cluster.apps.create_namespaced_stateful_set("default", statefulset(replicas=0))
    with pytest.raises(ApiException) as err:
        cluster.apps.patch_namespaced_stateful_set("web", "default", {"spec": {"serviceName": "other"}})
    assert json.loads(err.value.body)["message"] == (
        'StatefulSet.apps "web" is invalid: spec: Forbidden: updates to statefulset spec for fields other than '
        "'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    )
    sts = cluster.apps.read_namespaced_stateful_set("web", "default")
    assert sts.spec.pod_management_policy == "OrderedReady"
    assert (
        sts.spec.update_strategy.rolling_update.partition,
        sts.spec.update_strategy.rolling_update.max_unavailable,
    ) == (0, 1)
    assert sts.spec.revision_history_limit == 10
    assert sts.spec.persistent_volume_claim_retention_policy.when_deleted == "Retain"
