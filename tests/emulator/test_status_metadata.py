"""Writes through ``/status`` keep the metadata the real status strategies keep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from airflow_k8s_workflows.emulator import KubeEmulator


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[client.AppsV1Api]:
    with KubeEmulator(workdir=tmp_path / "emu", controllers=False, kubelet=False) as emu:
        api_client = config.new_client_from_config(emu.kubeconfig)
        yield client.AppsV1Api(api_client)
        api_client.close()


def _deployment() -> dict[str, object]:
    labels = {"app": "web"}
    return {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }


def test_deployment_status_write_keeps_annotations_without_generation_bump(apps: client.AppsV1Api) -> None:
    # the deployment controller records deployment.kubernetes.io/revision through UpdateStatus
    created = apps.create_namespaced_deployment("default", _deployment())
    created.metadata.annotations = {"deployment.kubernetes.io/revision": "1"}
    created.metadata.labels = {"changed": "no"}
    created.status = client.V1DeploymentStatus(observed_generation=1)
    written = apps.replace_namespaced_deployment_status("web", "default", created)
    assert written.metadata.annotations == {"deployment.kubernetes.io/revision": "1"}
    assert written.metadata.labels is None
    assert written.metadata.generation == 1
    assert written.status.observed_generation == 1


def test_other_kinds_status_write_ignores_annotations(apps: client.AppsV1Api) -> None:
    body = _deployment()
    body["spec"]["replicas"] = 0  # type: ignore[index]
    rs = apps.create_namespaced_replica_set("default", body)
    rs.metadata.annotations = {"x": "y"}
    rs.status = client.V1ReplicaSetStatus(replicas=0, observed_generation=1)
    written = apps.replace_namespaced_replica_set_status("web", "default", rs)
    assert written.metadata.annotations is None
    assert written.status.observed_generation == 1
