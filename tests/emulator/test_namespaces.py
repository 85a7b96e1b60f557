"""Namespace lifecycle: Terminating, emptied by the namespace controller, then finalized."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.helpers import wait_for


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[KubeEmulator]:
    """The API alone: no controllers, no kubelet (the API's own namespace semantics)."""
    with KubeEmulator(speed=20, workdir=tmp_path / "bare", controllers=False, kubelet=False) as emu:
        yield emu


def _core(emu: KubeEmulator) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(emu.kubeconfig))


def test_finalize_subresource_clears_spec_finalizers_and_removes_terminating_namespace(
    bare: KubeEmulator,
) -> None:
    v1 = _core(bare)
    v1.create_namespace({"metadata": {"name": "fin"}, "spec": {"finalizers": ["kubernetes"]}})
    v1.delete_namespace("fin")
    ns = v1.read_namespace("fin")
    assert ns.status.phase == "Terminating"
    assert ns.metadata.deletion_timestamp is not None

    ns.spec.finalizers = []
    v1.replace_namespace_finalize("fin", ns)

    with pytest.raises(ApiException) as exc:
        v1.read_namespace("fin")
    assert exc.value.status == 404


def test_plain_update_cannot_change_namespace_spec_finalizers(bare: KubeEmulator) -> None:
    v1 = _core(bare)
    v1.create_namespace({"metadata": {"name": "keep"}, "spec": {"finalizers": ["kubernetes"]}})
    ns = v1.read_namespace("keep")
    ns.spec.finalizers = []
    ns.metadata.labels = {"team": "a"}
    updated = v1.replace_namespace("keep", ns)
    assert updated.spec.finalizers == ["kubernetes"]
    assert updated.metadata.labels["team"] == "a"
    v1.delete_namespace("keep")
    wait_for(lambda: v1.read_namespace("keep").status.phase == "Terminating", 5)
