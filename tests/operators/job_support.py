"""Helpers for the RunJobOperator / JobSensor / JobTrigger tests: a task context with a task
state store, the Jobs and pods a task instance owns, structlog capture with timestamps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import structlog
from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.kube.naming import TaskIdentity
from airflow_k8s_workflows.triggers.base import first_event

NS = "default"
JOB_IMAGE = "busybox:1.36"


class StateStore:
    """Airflow 3.3's ``TaskStateStoreAccessor`` surface (get/set/delete): one per task instance."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        if value is None:
            raise ValueError("value None")
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def context(
    task_id: str,
    *,
    dag_id: str = "jobs_direct",
    run_id: str = "manual__r1",
    map_index: int = -1,
    try_number: int = 1,
    store: StateStore | None = None,
) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index,
                         try_number=try_number, start_date=None)  # fmt: skip
    ctx: dict[str, Any] = {"ti": ti, "task_instance": ti, "run_id": run_id}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx


def identity(ctx: dict[str, Any]) -> TaskIdentity:
    ti = ctx["ti"]
    return TaskIdentity(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)


def jobs_of(api: client.ApiClient, ctx: dict[str, Any], namespace: str = NS) -> list[dict[str, Any]]:
    found = client.BatchV1Api(api).list_namespaced_job(namespace, label_selector=identity(ctx).selector())
    return [api.sanitize_for_serialization(j) for j in found.items]


def all_jobs(api: client.ApiClient, namespace: str = NS) -> list[str]:
    return [j.metadata.name for j in client.BatchV1Api(api).list_namespaced_job(namespace).items]


def pods_of(api: client.ApiClient, job_uid: str, namespace: str = NS) -> list[Any]:
    return (
        client.CoreV1Api(api)
        .list_namespaced_pod(namespace, label_selector=f"batch.kubernetes.io/controller-uid={job_uid}")
        .items
    )


def job_or_none(api: client.ApiClient, name: str, namespace: str = NS) -> dict[str, Any] | None:
    from kubernetes.client.rest import ApiException

    try:
        return api.sanitize_for_serialization(client.BatchV1Api(api).read_namespaced_job(name, namespace))
    except ApiException as e:
        if e.status == 404:
            return None
        raise


async def until(predicate: Any, timeout: float = 20.0, what: str = "") -> Any:
    """Async tests: poll ``predicate`` until truthy (fails the test after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def run_trigger(trigger: Any, timeout: float = 60) -> dict[str, Any]:
    """What the triggerer does with a deferred task's trigger: rebuild it from its
    serialized kwargs, run it to its first event."""
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    return asyncio.run(first_event(cls(**kwargs), timeout))


@dataclass
class Captured:
    entries: list[tuple[float, str]] = field(default_factory=list)

    def messages(self, prefix: str = "") -> list[str]:
        return [m for _, m in self.entries if m.startswith(prefix)]

    def first_time(self, text: str) -> float:
        return next(t for t, m in self.entries if text in m)


@contextmanager
def captured_task_log() -> Iterator[Captured]:
    """Every structlog event (the task log in Airflow 3) with the time it was logged."""
    cap = Captured()

    def processor(_logger: Any, _method: str, event: dict[str, Any]) -> Any:
        cap.entries.append((time.monotonic(), str(event.get("event"))))
        raise structlog.DropEvent

    old = structlog.get_config()
    structlog.configure(processors=[processor])
    try:
        yield cap
    finally:
        structlog.configure(**old)


def completion_times(emu: KubeEmulator) -> dict[str, float]:
    """Job name -> monotonic time its Complete condition was written (recorded in the emulator)."""
    times: dict[str, float] = {}

    def listener(change: Any) -> None:
        conditions = (change.obj.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions):
            times.setdefault(change.key[1], time.monotonic())

    emu.call(lambda: emu.store.subscribe(("batch", "jobs"), listener))
    return times


def create_job(batch: client.BatchV1Api, name: str, script: str, **spec: Any) -> str:
    body = {
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": JOB_IMAGE, "command": ["sh", "-c", script]}],
                }
            },
            **spec,
        },
    }
    return str(batch.create_namespaced_job(NS, body).metadata.uid)


def finished(batch: client.BatchV1Api, name: str) -> bool:
    job = batch.read_namespaced_job(name, NS)
    return any(c.type in ("Complete", "Failed") and c.status == "True" for c in job.status.conditions or [])
