"""Namespace lifecycle: Terminating, emptied by the namespace controller, then finalized."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.emulator.batch_support import Cluster, cluster, install_widgets, job_body
from tests.helpers import wait_for

__all__ = ["cluster"]


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


# -- with controllers -------------------------------------------------------------------------
def _exists(read: Any, *args: str) -> bool:
    try:
        read(*args)
    except ApiException as e:
        if e.status != 404:
            raise
        return False
    return True


def test_new_namespace_is_active_with_default_service_account_and_root_ca(cluster: Cluster) -> None:
    v1 = cluster.core
    created = v1.create_namespace({"metadata": {"name": "team-a"}})
    assert created.status.phase == "Active"
    assert created.spec.finalizers == ["kubernetes"]
    assert created.metadata.labels == {"kubernetes.io/metadata.name": "team-a"}
    wait_for(lambda: _exists(v1.read_namespaced_service_account, "default", "team-a"), message="default SA")
    cm = wait_for(
        lambda: (
            _exists(v1.read_namespaced_config_map, "kube-root-ca.crt", "team-a")
            and v1.read_namespaced_config_map("kube-root-ca.crt", "team-a")
        )
    )
    assert cm.data["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    assert "kubernetes.io/description" in cm.metadata.annotations

    v1.delete_namespaced_service_account("default", "team-a")
    wait_for(lambda: _exists(v1.read_namespaced_service_account, "default", "team-a"), message="re-created")


def test_deleted_namespace_is_emptied_then_removed(cluster: Cluster) -> None:
    v1 = cluster.core
    v1.create_namespace({"metadata": {"name": "doomed"}})
    v1.create_namespaced_config_map("doomed", {"metadata": {"name": "plain"}})
    v1.create_namespaced_config_map(
        "doomed", {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    )
    cluster.batch.create_namespaced_job("doomed", job_body("work", parallelism=2, completions=2))
    custom = install_widgets(cluster)
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    custom.create_namespaced_custom_object("example.com", "v1", "doomed", "widgets", widget)
    wait_for(lambda: len(cluster.pods("work", ns="doomed")) == 2)

    v1.delete_namespace("doomed")
    ns = v1.read_namespace("doomed")
    assert ns.status.phase == "Terminating"
    with pytest.raises(ApiException) as exc:
        v1.create_namespaced_config_map("doomed", {"metadata": {"name": "late"}})
    assert exc.value.status == 403
    assert "unable to create new content in namespace doomed because it is being terminated" in exc.value.body

    def conditions() -> dict[str, Any] | None:
        found = {c.type: c for c in v1.read_namespace("doomed").status.conditions or []}
        held = found.get("NamespaceFinalizersRemaining")
        return (
            found
            if held is not None and held.status == "True" and not cluster.pods("work", ns="doomed")
            else None
        )

    found = wait_for(conditions, message="only the held config map left")
    assert found["NamespaceFinalizersRemaining"].message == (
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    )
    assert found["NamespaceContentRemaining"].reason == "SomeResourcesRemain"
    assert "configmaps has 1 resource instances" in found["NamespaceContentRemaining"].message
    assert not _exists(cluster.batch.read_namespaced_job, "work", "doomed")
    assert custom.list_namespaced_custom_object("example.com", "v1", "doomed", "widgets")["items"] == []

    v1.patch_namespaced_config_map("held", "doomed", {"metadata": {"finalizers": None}})
    wait_for(lambda: not _exists(v1.read_namespace, "doomed"), message="the namespace removed")


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_cannot_be_deleted(bare: KubeEmulator, name: str) -> None:
    v1 = _core(bare)
    with pytest.raises(ApiException) as exc:
        v1.delete_namespace(name)
    assert exc.value.status == 403
    assert f'namespaces \\"{name}\\" is forbidden: this namespace may not be deleted' in exc.value.body
    assert v1.read_namespace(name).metadata.deletion_timestamp is None
