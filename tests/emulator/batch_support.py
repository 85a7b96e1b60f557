"""Shared by the Job, CronJob, GC and namespace tests: an emulator without a kubelet (like
envtest: the tests play the kubelet by writing pod status through the API) and small helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.helpers import wait_for

NS = "default"
# pods asking for a scheduler that does not exist stay unscheduled: nothing but the test changes them
UNSCHEDULED = "test-no-scheduler"


@dataclass
class Cluster:
    emu: KubeEmulator
    api: client.ApiClient

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    def job(self, name: str, ns: str = NS) -> dict[str, Any]:
        return self.api.sanitize_for_serialization(self.batch.read_namespaced_job(name, ns))

    def job_status(self, name: str, ns: str = NS) -> dict[str, Any]:
        return dict(self.job(name, ns).get("status") or {})

    def conditions(self, name: str, ns: str = NS) -> list[tuple[str, str, str]]:
        return [
            (c["type"], c["status"], c.get("reason", ""))
            for c in self.job_status(name, ns).get("conditions") or []
        ]

    def wait_condition(self, name: str, kind: str, timeout: float = 15, ns: str = NS) -> dict[str, Any]:
        """The Job's status once it has a ``kind`` condition that is True."""

        def reached() -> dict[str, Any] | None:
            status = self.job_status(name, ns)
            found = [c for c in status.get("conditions") or [] if c["type"] == kind and c["status"] == "True"]
            return status if found else None

        return wait_for(reached, timeout=timeout, message=f"job {name} condition {kind}")

    def pods(self, job: str, ns: str = NS) -> list[dict[str, Any]]:
        found = self.core.list_namespaced_pod(ns, label_selector=f"batch.kubernetes.io/job-name={job}").items
        pods = [self.api.sanitize_for_serialization(p) for p in found]
        return sorted(pods, key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]))

    def wait_pods(self, job: str, count: int, timeout: float = 15, ns: str = NS) -> list[dict[str, Any]]:
        """The Job's pods once there are exactly ``count``."""
        return wait_for(
            lambda: p if len(p := self.pods(job, ns)) == count else None,
            timeout=timeout,
            message=f"{count} pods of job {job}",
        )

    def events(self, name: str, ns: str = NS) -> list[tuple[str, str, str]]:
        found = self.core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items
        return [(e.type, e.reason, e.message) for e in found]

    def finish_pod(
        self,
        pod: dict[str, Any] | str,
        phase: str,
        exit_code: int | None = None,
        container: str = "main",
        ns: str = NS,
        conditions: list[dict[str, Any]] | None = None,
    ) -> None:
        """Play the kubelet: the pod's container terminated with ``exit_code``."""
        name = pod if isinstance(pod, str) else pod["metadata"]["name"]
        current = self.api.sanitize_for_serialization(self.core.read_namespaced_pod(name, ns))
        code = exit_code if exit_code is not None else (0 if phase == "Succeeded" else 1)
        terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:00:01Z",
        }
        current["status"] = {
            "phase": phase,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "PodCompleted"},
                *(conditions or []),
            ],
            "containerStatuses": [
                {
                    "name": container,
                    "image": "busybox",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": terminated},
                }
            ],
        }
        self.core.replace_namespaced_pod_status(name, ns, current)

    def run_pod(self, pod: dict[str, Any] | str, ready: bool = True, ns: str = NS) -> None:
        name = pod if isinstance(pod, str) else pod["metadata"]["name"]
        current = self.api.sanitize_for_serialization(self.core.read_namespaced_pod(name, ns))
        current["status"] = {
            "phase": "Running",
            "podIP": "10.244.0.10",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
        self.core.replace_namespaced_pod_status(name, ns, current)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Controllers and the API, no kubelet; speed 20 (a 10 s back-off takes 0.5 s)."""
    with KubeEmulator(speed=20, workdir=tmp_path / "emulator", kubelet=False) as emu:
        api = config.new_client_from_config(emu.kubeconfig)
        try:
            yield Cluster(emu, api)
        finally:
            api.close()


def pod_spec(command: list[str] | None = None, restart: str = "Never", **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox"}
    if command:
        container["command"] = command
    return {"schedulerName": UNSCHEDULED, "restartPolicy": restart, "containers": [container], **extra}


def job_body(name: str, *, pod: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"spec": pod or pod_spec()}, **spec},
    }


def install_widgets(cluster: Cluster) -> client.CustomObjectsApi:
    """A namespaced custom resource, ``widgets.example.com/v1`` (kind Widget), once it is served."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    client.ApiextensionsV1Api(cluster.api).create_custom_resource_definition(crd)
    custom = client.CustomObjectsApi(cluster.api)

    def served() -> bool:
        try:
            custom.list_namespaced_custom_object("example.com", "v1", NS, "widgets")
        except ApiException:
            return False
        return True

    wait_for(served, message="the CRD served")
    return custom
