"""Helpers for the workload-controller tests: an emulator without its kubelet, and a pod driver
that plays the kubelet through the API (as envtest tests do), so controller logic is tested on
its own with pod readiness under the test's control."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator import KubeEmulator

NEVER_READY = "test.airflow-k8s-workflows.io/never-ready"


def template(labels: dict[str, str], image: str = "busybox:1", **pod_spec: Any) -> dict[str, Any]:
    """A pod template with one container."""
    return {
        "metadata": {"labels": dict(labels)},
        "spec": {"containers": [{"name": "main", "image": image}], **pod_spec},
    }


class PodDriver:
    """Marks pods Running and Ready through ``pods/status`` and finishes graceful deletions.

    Pods labelled ``NEVER_READY`` (or refused by ``hold``) are left Running but not ready.
    """

    def __init__(self, api: client.ApiClient, namespace: str = "default") -> None:
        self.v1 = client.CoreV1Api(api)
        self.namespace = namespace
        self.hold: set[str] = set()
        self.paused = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pod-driver", daemon=True)

    def start(self) -> PodDriver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.paused:
                try:
                    for pod in self.v1.list_namespaced_pod(self.namespace).items:
                        self._drive(pod)
                except ApiException:
                    pass
                except Exception:  # the emulator is stopping
                    if self._stop.is_set():
                        return
            self._stop.wait(0.03)

    def _drive(self, pod: client.V1Pod) -> None:
        meta = pod.metadata
        if meta.deletion_timestamp is not None:
            try:
                self.v1.delete_namespaced_pod(meta.name, self.namespace, grace_period_seconds=0)
            except ApiException:
                pass
            return
        wants_ready = NEVER_READY not in (meta.labels or {}) and meta.name not in self.hold
        status = pod.status or client.V1PodStatus()
        ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
        if status.phase == "Running" and ready == wants_ready:
            return
        now = datetime.now(timezone.utc)
        flag = "True" if wants_ready else "False"
        pod.status = client.V1PodStatus(
            phase="Running",
            start_time=status.start_time or now,
            pod_ip="10.244.0.10",
            host_ip="172.18.0.2",
            qos_class=status.qos_class,
            conditions=[
                client.V1PodCondition(type="PodScheduled", status="True", last_transition_time=now),
                client.V1PodCondition(type="Initialized", status="True", last_transition_time=now),
                client.V1PodCondition(type="ContainersReady", status=flag, last_transition_time=now),
                client.V1PodCondition(type="Ready", status=flag, last_transition_time=now),
            ],
            container_statuses=[
                client.V1ContainerStatus(
                    name=c.name, image=c.image, image_id="", ready=wants_ready, restart_count=0,
                    started=True, state=client.V1ContainerState(running=client.V1ContainerStateRunning(started_at=now)),
                )
                for c in pod.spec.containers
            ],
        )  # fmt: skip
        try:
            self.v1.replace_namespaced_pod_status(meta.name, self.namespace, pod)
        except ApiException:
            pass  # changed meanwhile: the next round sees it again


@dataclass
class Cluster:
    emu: KubeEmulator
    api: client.ApiClient
    driver: PodDriver
    apps: client.AppsV1Api = field(init=False)
    v1: client.CoreV1Api = field(init=False)
    autoscaling: client.AutoscalingV2Api = field(init=False)

    def __post_init__(self) -> None:
        self.apps = client.AppsV1Api(self.api)
        self.v1 = client.CoreV1Api(self.api)
        self.autoscaling = client.AutoscalingV2Api(self.api)

    def pods(self, selector: str = "", *, live: bool = True) -> list[client.V1Pod]:
        items = self.v1.list_namespaced_pod("default", label_selector=selector).items
        return [p for p in items if not live or p.metadata.deletion_timestamp is None]

    def events(self, name: str, reason: str | None = None) -> list[client.CoreV1Event]:
        selector = f"involvedObject.name={name}" + (f",reason={reason}" if reason else "")
        return self.v1.list_namespaced_event("default", field_selector=selector).items


@contextmanager
def cluster_without_kubelet(tmp_path: Path, speed: float = 20, nodes: int = 1) -> Iterator[Cluster]:
    with KubeEmulator(speed=speed, workdir=tmp_path / "emulator", kubelet=False, nodes=nodes) as emu:
        api = config.new_client_from_config(emu.kubeconfig)
        driver = PodDriver(api).start()
        try:
            yield Cluster(emu, api, driver)
        finally:
            driver.stop()
            api.close()


def condition(obj: Any, kind: str) -> Any:
    for c in (obj.status.conditions or []) if obj.status else []:
        if c.type == kind:
            return c
    return None
