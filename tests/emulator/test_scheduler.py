"""The default scheduler: binding, least-requested placement, node selectors, affinity, taints,
resources, and the real ``FailedScheduling`` messages, observed through the official client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.emulator.pod_helpers import NS, condition, events, phase_is, pod, raw, wait_event, wait_pod

PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"


@pytest.fixture
def core(k8s: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(k8s)


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[client.CoreV1Api]:
    with KubeEmulator(speed=20, nodes=2, workdir=tmp_path / "emu") as emu:
        api_client = config.new_client_from_config(emu.kubeconfig)
        yield client.CoreV1Api(api_client)
        api_client.close()


def _requesting(name: str, cpu: str = "", memory: str = "", **extra: object) -> dict[str, object]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return pod(name, restart="Always", resources={"requests": requests}, **extra)


def _unschedulable(core: client.CoreV1Api, name: str) -> str:
    p = wait_pod(core, name, lambda p: condition(p, "PodScheduled").get("status") == "False")
    cond = condition(p, "PodScheduled")
    assert cond["reason"] == "Unschedulable"
    assert p["status"]["phase"] == "Pending" and not p["spec"].get("nodeName")
    return str(cond["message"])


def _node_of(core: client.CoreV1Api, name: str) -> str:
    return str(wait_pod(core, name, lambda p: p["spec"].get("nodeName"))["spec"]["nodeName"])


def test_binds_and_records_scheduled(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, pod("p", restart="Always"))
    p = wait_pod(core, "p", lambda p: p["spec"].get("nodeName"))
    assert p["spec"]["nodeName"] == "emulator-node-0"
    assert condition(p, "PodScheduled")["status"] == "True"
    event = wait_event(core, "p", "Scheduled")
    assert (event.type, event.message, event.source.component) == (
        "Normal", "Successfully assigned default/p to emulator-node-0", "default-scheduler")  # fmt: skip


def test_requests_beyond_capacity(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, _requesting("p", cpu="100"))
    message = _unschedulable(core, "p")
    assert message == (
        "0/1 nodes are available: 1 Insufficient cpu. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )
    event = wait_event(core, "p", "FailedScheduling")
    assert (event.type, event.message, event.source.component) == ("Warning", message, "default-scheduler")
    assert event.count == 1  # its own status write is no reason to try again


def test_every_insufficient_resource_is_listed(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, _requesting("p", cpu="5", memory="9Gi"))
    assert _unschedulable(core, "p") == (
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )


def test_retried_when_resources_are_released(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, _requesting("big", cpu="3"))
    wait_pod(core, "big", phase_is("Running"))
    core.create_namespaced_pod(NS, _requesting("waits", cpu="2"))
    _unschedulable(core, "waits")
    core.delete_namespaced_pod("big", NS, grace_period_seconds=0)
    assert _node_of(core, "waits") == "emulator-node-0"
    assert condition(raw(core, "waits") or {}, "PodScheduled")["status"] == "True"


def test_terminated_pods_hold_no_resources(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, pod("done", "true", resources={"requests": {"cpu": "3"}}))
    wait_pod(core, "done", phase_is("Succeeded"))
    core.create_namespaced_pod(NS, _requesting("next", cpu="3"))
    assert _node_of(core, "next") == "emulator-node-0"


def test_least_requested_node_wins(two_nodes: client.CoreV1Api) -> None:
    core = two_nodes
    core.create_namespaced_pod(NS, _requesting("a", cpu="2"))
    first = _node_of(core, "a")
    core.create_namespaced_pod(NS, _requesting("b", cpu="1"))
    assert _node_of(core, "b") != first


def test_node_selector_and_node_changes(two_nodes: client.CoreV1Api) -> None:
    core = two_nodes
    body = pod("gpu", restart="Always")
    body["spec"]["nodeSelector"] = {"accelerator": "gpu"}
    core.create_namespaced_pod(NS, body)
    assert _unschedulable(core, "gpu") == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
        f"preemption: 0/2 nodes are available: 2 {PREEMPTION_NOT_HELPFUL}."
    )
    core.patch_node("emulator-node-1", {"metadata": {"labels": {"accelerator": "gpu"}}})
    assert _node_of(core, "gpu") == "emulator-node-1"


def test_required_node_affinity(two_nodes: client.CoreV1Api) -> None:
    core = two_nodes
    term = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["emulator-node-1"]},
                                 {"key": "kubernetes.io/os", "operator": "Exists"}]}  # fmt: skip
    body = pod("p", restart="Always")
    body["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [term]}}}  # fmt: skip
    core.create_namespaced_pod(NS, body)
    assert _node_of(core, "p") == "emulator-node-1"


def test_taints_and_tolerations(core: client.CoreV1Api) -> None:
    core.patch_node(
        "emulator-node-0",
        {"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}},
    )
    core.create_namespaced_pod(NS, pod("plain", restart="Always"))
    assert _unschedulable(core, "plain") == (
        "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}. "
        f"preemption: 0/1 nodes are available: 1 {PREEMPTION_NOT_HELPFUL}."
    )
    tolerant = pod("tolerant", restart="Always")
    tolerant["spec"]["tolerations"] = [
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    ]
    core.create_namespaced_pod(NS, tolerant)
    assert _node_of(core, "tolerant") == "emulator-node-0"


def test_unschedulable_annotation_forces_failure_until_removed(core: client.CoreV1Api) -> None:
    key = "emulator.airflow-k8s-workflows.io/unschedulable"
    core.create_namespaced_pod(NS, pod("p", restart="Always", annotations={key: "true"}))
    assert _unschedulable(core, "p") == (
        "0/1 nodes are available: 1 node(s) were unschedulable. "
        f"preemption: 0/1 nodes are available: 1 {PREEMPTION_NOT_HELPFUL}."
    )
    assert [e.reason for e in events(core, "p")] == ["FailedScheduling"]
    core.patch_namespaced_pod("p", NS, {"metadata": {"annotations": {key: None}}})
    assert _node_of(core, "p") == "emulator-node-0"


def test_other_schedulers_pods_are_left_alone(core: client.CoreV1Api) -> None:
    body = pod("mine", restart="Always")
    body["spec"]["schedulerName"] = "my-scheduler"
    core.create_namespaced_pod(NS, body)
    core.create_namespaced_pod(NS, pod("marker", restart="Always"))
    _node_of(core, "marker")  # the scheduler has worked through its queue
    p = raw(core, "mine") or {}
    assert not p["spec"].get("nodeName") and not condition(p, "PodScheduled")


def test_scheduling_gates_hold_the_pod_until_removed(core: client.CoreV1Api) -> None:
    body = pod("p", restart="Always")
    body["spec"]["schedulingGates"] = [{"name": "example.com/quota"}]
    core.create_namespaced_pod(NS, body)
    p = wait_pod(core, "p", lambda p: condition(p, "PodScheduled").get("reason") == "SchedulingGated")
    assert (
        condition(p, "PodScheduled")["message"] == "Scheduling is blocked due to non-empty scheduling gates"
    )
    core.patch_namespaced_pod("p", NS, [{"op": "remove", "path": "/spec/schedulingGates"}])
    assert _node_of(core, "p") == "emulator-node-0"
