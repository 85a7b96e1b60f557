"""DaemonSets through the official client on a three-node emulator: one pod per eligible node,
node selectors and taints, rolling updates one node at a time, OnDelete, status and
``kubectl rollout status``. Pod readiness is driven through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from tests.conftest import Kubectl
from tests.emulator.workloads import Cluster, cluster_without_kubelet, template
from tests.helpers import wait_for

NODES = ["emulator-node-0", "emulator-node-1", "emulator-node-2"]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with cluster_without_kubelet(tmp_path, nodes=3) as c:
        yield c


def daemonset(image: str = "fluentd:1", **spec: Any) -> dict[str, Any]:
    labels = {"app": "agent"}
    tpl = template(labels, image=image)
    tpl["spec"].update(spec.pop("pod_spec", {}))
    return {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": labels}, "template": tpl, **spec},
    }


def raw_status(c: Cluster) -> dict[str, Any]:
    resp = c.apps.read_namespaced_daemon_set_status("agent", "default", _preload_content=False)
    return json.loads(resp.data).get("status") or {}  # type: ignore[no-any-return]


def rolled_out(c: Cluster, desired: int, generation: int = 1) -> dict[str, Any] | None:
    st = raw_status(c)
    done = (
        st.get("observedGeneration") == generation
        and st.get("desiredNumberScheduled") == desired
        and st.get("updatedNumberScheduled") == desired
        and st.get("numberAvailable") == desired
        and len(c.pods("app=agent")) == desired
    )
    return st if done else None


def pinned_nodes(c: Cluster) -> dict[str, str]:
    out = {}
    for pod in c.pods("app=agent"):
        [term] = (
            pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
        )
        [field] = term.match_fields
        out[pod.metadata.name] = field.values[0]
    return out


def set_image(c: Cluster, image: str) -> None:
    c.apps.patch_namespaced_daemon_set(
        "agent",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}},
    )


def test_one_pod_per_node(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_daemon_set("default", daemonset())
    status = wait_for(lambda: rolled_out(cluster, 3))
    assert status == {
        "currentNumberScheduled": 3,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 3,
        "numberReady": 3,
        "observedGeneration": 1,
        "updatedNumberScheduled": 3,
        "numberAvailable": 3,
    }
    assert sorted(pinned_nodes(cluster).values()) == NODES
    ds = cluster.apps.read_namespaced_daemon_set("agent", "default")
    assert ds.metadata.annotations == {"deprecated.daemonset.template.generation": "1"}
    [revision] = cluster.apps.list_namespaced_controller_revision("default").items
    pod_hash = revision.metadata.labels["controller-revision-hash"]
    assert (revision.revision, revision.metadata.name) == (1, f"agent-{pod_hash}")
    for pod in cluster.pods("app=agent"):
        assert pod.metadata.generate_name == "agent-"
        assert pod.metadata.labels == {
            "app": "agent",
            "controller-revision-hash": pod_hash,
            "pod-template-generation": "1",
        }
        keys = {(t.key, t.effect) for t in pod.spec.tolerations}
        assert {
            ("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unschedulable", "NoSchedule"),
        } <= keys
        assert pod.metadata.owner_references[0].kind == "DaemonSet"
    created = cluster.events("agent", "SuccessfulCreate")
    assert len(created) == 3 and all(e.message.startswith("Created pod: agent-") for e in created)


def test_node_selector_and_taints_choose_the_nodes(cluster: Cluster) -> None:
    cluster.v1.patch_node("emulator-node-1", {"metadata": {"labels": {"disk": "ssd"}}})
    cluster.v1.patch_node("emulator-node-2", {"metadata": {"labels": {"disk": "ssd"}}})
    cluster.v1.patch_node(
        "emulator-node-2", {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}
    )
    cluster.apps.create_namespaced_daemon_set(
        "default", daemonset(pod_spec={"nodeSelector": {"disk": "ssd"}})
    )
    wait_for(lambda: rolled_out(cluster, 1))
    assert list(pinned_nodes(cluster).values()) == ["emulator-node-1"]
    cluster.v1.patch_node("emulator-node-0", {"metadata": {"labels": {"disk": "ssd"}}})
    wait_for(lambda: rolled_out(cluster, 2))
    assert sorted(pinned_nodes(cluster).values()) == ["emulator-node-0", "emulator-node-1"]
    cluster.v1.patch_node("emulator-node-1", {"metadata": {"labels": {"disk": None}}})
    wait_for(lambda: rolled_out(cluster, 1))
    assert list(pinned_nodes(cluster).values()) == ["emulator-node-0"]


def test_rolling_update_replaces_one_node_at_a_time(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_daemon_set("default", daemonset())
    wait_for(lambda: rolled_out(cluster, 3))
    cluster.driver.paused = True  # deletions stay Terminating: what is down at once is visible
    set_image(cluster, "fluentd:2")

    def terminating() -> int:
        return sum(1 for p in cluster.pods("app=agent", live=False) if p.metadata.deletion_timestamp)

    wait_for(lambda: terminating() == 1)
    st = raw_status(cluster)
    assert st["observedGeneration"] == 2 and "updatedNumberScheduled" not in st
    assert terminating() == 1
    cluster.driver.paused = False
    status = wait_for(lambda: rolled_out(cluster, 3, generation=2))
    assert status["numberReady"] == 3
    assert {p.spec.containers[0].image for p in cluster.pods("app=agent")} == {"fluentd:2"}
    assert {p.metadata.labels["pod-template-generation"] for p in cluster.pods("app=agent")} == {"2"}
    revisions = sorted(r.revision for r in cluster.apps.list_namespaced_controller_revision("default").items)
    assert revisions == [1, 2]
    assert len(cluster.events("agent", "SuccessfulDelete")) == 3


def test_on_delete_waits_for_manual_deletion(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_daemon_set("default", daemonset(updateStrategy={"type": "OnDelete"}))
    wait_for(lambda: rolled_out(cluster, 3))
    set_image(cluster, "fluentd:2")
    wait_for(lambda: raw_status(cluster)["observedGeneration"] == 2)
    assert "updatedNumberScheduled" not in raw_status(cluster)
    victim = cluster.pods("app=agent")[0].metadata.name
    cluster.v1.delete_namespaced_pod(victim, "default")
    wait_for(
        lambda: (
            raw_status(cluster).get("updatedNumberScheduled") == 1 and raw_status(cluster)["numberReady"] == 3
        )
    )
    assert sorted(p.spec.containers[0].image for p in cluster.pods("app=agent")) == [
        "fluentd:1",
        "fluentd:1",
        "fluentd:2",
    ]


def test_kubectl_rollout_status(cluster: Cluster, tmp_path: Path) -> None:
    cluster.apps.create_namespaced_daemon_set("default", daemonset())
    cache = tmp_path / "kubectl-cache"
    cache.mkdir()
    out = Kubectl(cluster.emu.kubeconfig, cache)("rollout", "status", "daemonset/agent", "--timeout=30s")
    assert 'daemon set "agent" successfully rolled out' in out.stdout


def test_validation_messages(cluster: Cluster) -> None:
    body = daemonset()
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as err:
        cluster.apps.create_namespaced_daemon_set("default", body)
    assert json.loads(err.value.body)["message"] == (
        'DaemonSet.apps "agent" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"other"}: `selector` does not match template `labels`'
    )
    zero = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}
    with pytest.raises(ApiException) as err:
        cluster.apps.create_namespaced_daemon_set("default", daemonset(updateStrategy=zero))
    assert json.loads(err.value.body)["message"].endswith(
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
    )
    ds = cluster.apps.create_namespaced_daemon_set("default", daemonset())
    rolling = ds.spec.update_strategy.rolling_update
    assert (ds.spec.update_strategy.type, rolling.max_unavailable, rolling.max_surge) == (
        "RollingUpdate",
        1,
        0,
    )
    assert ds.spec.revision_history_limit == 10
