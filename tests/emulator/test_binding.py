"""pods/binding: the scheduler's write, which is not a pod update (pod specs are immutable)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator import KubeEmulator


@pytest.fixture
def core(tmp_path: Path) -> Iterator[client.CoreV1Api]:
    # no scheduler and no kubelet: the test is the only one binding
    with KubeEmulator(speed=20, workdir=tmp_path / "emu", controllers=False, kubelet=False) as emu:
        api_client = config.new_client_from_config(emu.kubeconfig)
        yield client.CoreV1Api(api_client)
        api_client.close()


def _pod(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def _bind(core: client.CoreV1Api, name: str, node: str) -> dict[str, object]:
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}  # fmt: skip
    resp = core.create_namespaced_pod_binding(name, "default", body, _preload_content=False)
    assert resp.status == 201
    return json.loads(resp.data)


def test_binding_sets_node_and_pod_scheduled(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", _pod("p"))
    assert _bind(core, "p", "emulator-node-0")["status"] == "Success"
    pod = core.read_namespaced_pod("p", "default")
    assert pod.spec.node_name == "emulator-node-0"
    assert [(c.type, c.status) for c in pod.status.conditions] == [("PodScheduled", "True")]


def test_second_binding_conflicts(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", _pod("p"))
    _bind(core, "p", "emulator-node-0")
    with pytest.raises(ApiException) as err:
        _bind(core, "p", "emulator-node-1")
    assert err.value.status == 409
    assert json.loads(err.value.body)["message"] == (
        'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "emulator-node-0"'
    )


def test_node_name_cannot_be_set_by_an_update(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", _pod("p"))
    pod = core.read_namespaced_pod("p", "default")
    pod.spec.node_name = "emulator-node-0"
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_pod("p", "default", pod)
    assert err.value.status == 422
    assert "pod updates may not change fields other than" in json.loads(err.value.body)["message"]
