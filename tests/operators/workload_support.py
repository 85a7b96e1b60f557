"""Shared by the deploy, scale, rollout-sensor and rollout-trigger tests: workload manifests,
dag.test() runs and reading their results."""

from __future__ import annotations

import json
import re
from typing import Any

SLEEP = ["sleep", "3600"]
NEVER_READY = "emulator.airflow-k8s-workflows.io/never-ready"


def container(name: str = "main", image: str = "busybox:1") -> dict[str, Any]:
    return {"name": name, "image": image, "command": SLEEP}


def pod_template(labels: dict[str, str], containers: list[dict[str, Any]],
                 annotations: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"containers": containers, "terminationGracePeriodSeconds": 1}}


def deployment(name: str = "web", image: str = "busybox:1", replicas: int = 2, *, never_ready: bool = False,
               containers: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:  # fmt: skip
    labels = {"app": name}
    annotations = {NEVER_READY: "true"} if never_ready else None
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": pod_template(labels, containers or [container(image=image)], annotations),
            **spec,
        },
    }


def statefulset(name: str = "db", replicas: int = 2, image: str = "busybox:1") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": labels},
                 "podManagementPolicy": "Parallel",
                 "template": pod_template(labels, [container(image=image)])},
    }  # fmt: skip


def daemonset(name: str = "agent", image: str = "busybox:1") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": pod_template(labels, [container(image=image)]),
        },
    }


def replicaset(name: str = "rs", replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": pod_template(labels, [container()])},
    }  # fmt: skip


_PROGRESS = re.compile(
    r"^(Waiting for .*\.\.\.|(deployment|daemon set) \S+ successfully rolled out|statefulset rolling update complete .*"
    r"|partitioned roll out complete: .*|\S+ \S+ scaled to \d+ ready replicas)$"
)


class DagRunLogs:
    """A dag.test() run and what it logged (structlog entries; stdout capture misses some)."""

    def __init__(self, run: Any, entries: list[dict[str, Any]]) -> None:
        self.run = run
        self.entries = entries

    def text(self) -> str:
        """Every message and exception text, one per line."""
        parts = []
        for entry in self.entries:
            parts.append(str(entry.get("event", "")))
            exc = entry.get("exc_info")
            if isinstance(exc, tuple) and len(exc) == 3:
                exc = exc[1]
            if isinstance(exc, BaseException):
                parts.append(str(exc))
            if entry.get("exception"):
                parts.append(str(entry["exception"]))
        return "\n".join(parts)

    def rollout_lines(self) -> list[str]:
        """The progress lines of the rollout/scale triggers, in order."""
        return [str(e["event"]) for e in self.entries if _PROGRESS.match(str(e.get("event", "")))]


def run_dag(dag_id: str, **conf: Any) -> DagRunLogs:
    import structlog

    from tests.dags.deploy import DAGS

    with structlog.testing.capture_logs() as entries:
        run = DAGS[dag_id].test(run_conf=conf)
    return DagRunLogs(run, entries)


def task_instance(run: Any, task_id: str) -> Any:
    return next(ti for ti in run.get_task_instances() if ti.task_id == task_id)


def xcom_result(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key="return_value")
            .one_or_none()
        )
        if row is None:
            return None
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


_TRIGGER_LINE = re.compile(r"\]\s(.*?)\s+\[airflow_k8s_workflows\.triggers\.\w+\.(?:Rollout|Scale)Trigger\]")


def trigger_lines(output: str) -> list[str]:
    """The progress lines our rollout/scale triggers logged, from captured task/test output."""
    return [m.group(1) for m in map(_TRIGGER_LINE.search, output.splitlines()) if m]
