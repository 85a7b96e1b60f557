"""Is the cluster healthy? One pure judgement over a snapshot of nodes, pods, workloads, Jobs and
Events, into a list of problems a person acts on.

What counts as a problem:

* **Nodes** not ``Ready`` (critical), or with ``MemoryPressure`` / ``DiskPressure`` /
  ``PIDPressure`` / ``NetworkUnavailable`` (warning).
* **Pods** (``kube.pods.diagnose_pod``): image pulls and container-creation errors,
  ``CrashLoopBackOff``, ``OOMKilled``, failed containers (critical); Pending longer than
  ``pending`` — unschedulable or not (warning); restart storms: a container restarted at least
  ``restart_threshold`` times whose last restart is recent (warning). Pods owned by a Job are
  judged through their Job.
* **Deployments / StatefulSets** below desired availability (critical when none is available or
  the rollout exceeded its progress deadline as ``kube.rollout.rollout_status`` judges it; else
  warning).
* **Jobs** that failed (``kube.jobs``; critical), optionally only within ``failed_job_window``.
* **Warning Events** that last happened within ``warning_events`` (warning), one problem per
  (object, reason); Events about an object that already has a problem are folded into it.

Example::

    report = judge_cluster(nodes=nodes, pods=pods, deployments=deps, statefulsets=[], jobs=jobs,
                           events=events, now=datetime.now(timezone.utc))
    if not report.healthy:
        print(report.table())
    report.to_dict()   # {"healthy": False, "problems": [...], "counts": {...}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from .events import event_count
from .jobs import job_outcome
from .new_events import event_last_seen
from .pods import diagnose_pod, parse_time
from .rollout import TIMED_OUT_REASON, rollout_status

__all__ = ["HealthProblem", "HealthReport", "judge_cluster"]

Severity = Literal["critical", "warning"]

_NODE_PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
_POD_WARNINGS = {"PendingTooLong", "Unschedulable", "SchedulingGated", "RestartStorm"}


@dataclass(frozen=True)
class HealthProblem:
    """One thing wrong, with where it is and why."""

    severity: Severity
    kind: str
    namespace: str | None
    name: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "reason": self.reason,
            "message": self.message,
        }

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def describe(self) -> str:
        return f"[{self.severity}] {self.ref}: {self.reason}: {self.message}"


@dataclass(frozen=True)
class HealthReport:
    problems: tuple[HealthProblem, ...]
    counts: dict[str, int | None] = field(default_factory=dict)
    """Objects looked at per kind (None: could not be listed), and problems per severity."""

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable (XCom)."""
        return {
            "healthy": self.healthy,
            "problems": [p.to_dict() for p in self.problems],
            "counts": dict(self.counts),
        }

    def summary(self) -> str:
        checked = ", ".join(
            f"{n} {kind if n != 1 else kind[:-1]}"
            for kind in _CHECKED
            if (n := self.counts.get(kind)) is not None
        )
        if self.healthy:
            return f"cluster healthy ({checked})"
        critical = sum(1 for p in self.problems if p.severity == "critical")
        return (
            f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''} "
            f"({critical} critical, {len(self.problems) - critical} warning) in {checked}"
        )

    def table(self) -> str:
        """A fixed-width table of the problems for the task log."""
        if not self.problems:
            return self.summary()
        rows = [("SEVERITY", "KIND", "NAMESPACE", "NAME", "REASON", "MESSAGE")]
        rows += [(p.severity, p.kind, p.namespace or "-", p.name, p.reason, p.message) for p in self.problems]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5] for row in rows
        ]
        return self.summary() + "\n" + "\n".join(line.rstrip() for line in lines)


_CHECKED = ("nodes", "pods", "deployments", "statefulsets", "jobs")


def _meta(obj: Mapping[str, Any]) -> tuple[str | None, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or None, str(meta.get("name") or "")


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _condition(obj: Mapping[str, Any], condition_type: str) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == condition_type:
            return condition
    return None


def _node_problems(node: Mapping[str, Any]) -> list[HealthProblem]:
    _, name = _meta(node)
    problems: list[HealthProblem] = []
    ready = _condition(node, "Ready")
    if ready is None or ready.get("status") != "True":
        detail = (ready or {}).get("message") or (ready or {}).get("reason") or "no Ready condition"
        problems.append(HealthProblem("critical", "Node", None, name, "NotReady", str(detail)))
    for pressure in _NODE_PRESSURE:
        condition = _condition(node, pressure)
        if condition is not None and condition.get("status") == "True":
            detail = condition.get("message") or condition.get("reason") or f"{pressure} is True"
            problems.append(HealthProblem("warning", "Node", None, name, pressure, str(detail)))
    return problems


def _owned_by_job(pod: Mapping[str, Any]) -> bool:
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("kind") == "Job" and r.get("controller") for r in refs)


def _restart_storm(
    pod: Mapping[str, Any], now: datetime, threshold: int, window: timedelta
) -> HealthProblem | None:
    namespace, name = _meta(pod)
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        restarts = _int(status.get("restartCount"))
        if restarts < threshold:
            continue
        last = (status.get("lastState") or {}).get("terminated") or {}
        finished = parse_time(last.get("finishedAt"))
        if finished is not None and now - finished <= window:
            return HealthProblem(
                "warning", "Pod", namespace, name, "RestartStorm",
                f"container {status.get('name')} restarted {restarts} times; last exit at {last.get('finishedAt')}"
                f" (exit code {last.get('exitCode')}{', ' + str(last['reason']) if last.get('reason') else ''})",
            )  # fmt: skip
    return None


def _pod_problems(
    pod: Mapping[str, Any], now: datetime, pending: timedelta, threshold: int, window: timedelta
) -> list[HealthProblem]:
    if _owned_by_job(pod):
        return []
    namespace, name = _meta(pod)
    created = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
    pending_long = created is not None and now - created > pending
    problems: list[HealthProblem] = []
    for found in diagnose_pod(pod, now=now, pending_timeout=pending):
        if found.reason in ("Unschedulable", "SchedulingGated") and not pending_long:
            continue  # the scheduler may still place it
        severity: Severity = "warning" if found.reason in _POD_WARNINGS else "critical"
        where = f"container {found.container}: " if found.container else ""
        message = where + (found.message or found.reason)
        if found.hint:
            message += f" ({found.hint})"
        problems.append(HealthProblem(severity, "Pod", namespace, name, found.reason, message))
    if not any(p.reason == "CrashLoopBackOff" for p in problems):
        storm = _restart_storm(pod, now, threshold, window)
        if storm is not None:
            problems.append(storm)
    return problems


def _workload_problem(kind: str, obj: Mapping[str, Any]) -> HealthProblem | None:
    namespace, name = _meta(obj)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    desired = _int(spec.get("replicas"), 1)
    if desired <= 0:
        return None
    if kind == "Deployment":
        available = _int(status.get("availableReplicas"))
    else:
        available = _int(status.get("availableReplicas"), _int(status.get("readyReplicas")))
    try:
        rollout = rollout_status(obj)
    except ValueError:
        rollout = None
    deadline = rollout is not None and rollout.failed and rollout.reason == TIMED_OUT_REASON
    if available >= desired and not deadline:
        return None
    text = f"{available}/{desired} replicas available"
    reason = "ReplicasUnavailable"
    detail = _condition(obj, "Available")
    if deadline:
        progressing = _condition(obj, "Progressing") or {}
        reason = TIMED_OUT_REASON
        text += f"; {progressing.get('message') or rollout.message}"  # type: ignore[union-attr]
    elif detail is not None and detail.get("status") == "False":
        text += f"; Available=False {detail.get('reason') or ''}: {detail.get('message') or ''}".rstrip(": ")
    severity: Severity = "critical" if available == 0 or deadline else "warning"
    return HealthProblem(severity, kind, namespace, name, reason, text)


def _job_problem(job: Mapping[str, Any], now: datetime, window: timedelta | None) -> HealthProblem | None:
    outcome = job_outcome(job)
    if outcome.state != "failed":
        return None
    if window is not None:
        failed = _condition(job, "Failed")
        at = parse_time((failed or {}).get("lastTransitionTime"))
        if at is not None and now - at > window:
            return None
    namespace, name = _meta(job)
    counts = outcome.progress_line().split(": ", 1)[1]
    message = f"{outcome.message or 'the Job failed'} ({counts})"
    return HealthProblem("critical", "Job", namespace, name, outcome.reason or "Failed", message)


def _event_problems(
    events: Iterable[Mapping[str, Any]],
    now: datetime,
    window: timedelta,
    known: set[tuple[str, str | None, str]],
    in_scope: set[tuple[str, str | None, str]] | None,
) -> tuple[list[HealthProblem], int]:
    grouped: dict[tuple[str, str | None, str, str], list[Mapping[str, Any]]] = {}
    folded = 0
    for event in events:
        if event.get("type") != "Warning":
            continue
        last = event_last_seen(event)
        if last is None or now - last > window:
            continue
        subject = event.get("involvedObject") or event.get("regarding") or {}
        ref = (
            str(subject.get("kind") or ""),
            subject.get("namespace") or None,
            str(subject.get("name") or ""),
        )
        if in_scope is not None and ref not in in_scope:
            continue
        if ref in known:
            folded += 1
            continue
        grouped.setdefault((*ref, str(event.get("reason") or "")), []).append(event)
    problems = []
    for (kind, namespace, name, reason), items in grouped.items():
        latest = max(items, key=lambda e: event_last_seen(e) or now)
        total = sum(event_count(e) for e in items)
        message = str(latest.get("message") or latest.get("note") or "")
        times = f" (x{total} in the last {int(window.total_seconds() // 60)} min)" if total > 1 else ""
        problems.append(HealthProblem("warning", kind or "Object", namespace, name, reason, message + times))
    return problems, folded


def judge_cluster(
    *,
    nodes: Sequence[Mapping[str, Any]] | None,
    pods: Sequence[Mapping[str, Any]],
    deployments: Sequence[Mapping[str, Any]],
    statefulsets: Sequence[Mapping[str, Any]],
    jobs: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    now: datetime,
    pending: timedelta = timedelta(minutes=10),
    warning_events: timedelta = timedelta(minutes=15),
    restart_threshold: int = 5,
    failed_job_window: timedelta | None = None,
    events_only_for_listed: bool = False,
) -> HealthReport:
    """Judge a snapshot (see the module docstring). ``nodes=None``: nodes could not be listed.
    ``events_only_for_listed``: only Events about the listed pods, workloads and Jobs count
    (when those were selected by labels)."""
    problems: list[HealthProblem] = []
    for node in nodes or []:
        problems.extend(_node_problems(node))
    for pod in pods:
        problems.extend(_pod_problems(pod, now, pending, restart_threshold, warning_events))
    for kind, objs in (("Deployment", deployments), ("StatefulSet", statefulsets)):
        for obj in objs:
            found = _workload_problem(kind, obj)
            if found is not None:
                problems.append(found)
    for job in jobs:
        job_problem = _job_problem(job, now, failed_job_window)
        if job_problem is not None:
            problems.append(job_problem)

    known = {(p.kind, p.namespace, p.name) for p in problems}
    in_scope: set[tuple[str, str | None, str]] | None = None
    if events_only_for_listed:
        in_scope = {
            (kind, *_meta(obj))
            for kind, objs in (
                ("Pod", pods),
                ("Deployment", deployments),
                ("StatefulSet", statefulsets),
                ("Job", jobs),
            )
            for obj in objs
        }
    event_problems, folded = _event_problems(events, now, warning_events, known, in_scope)
    problems.extend(event_problems)

    order = {"critical": 0, "warning": 1}
    problems.sort(key=lambda p: (order[p.severity], p.kind, p.namespace or "", p.name, p.reason))
    counts: dict[str, int | None] = {
        "nodes": len(nodes) if nodes is not None else None,
        "pods": len(pods),
        "deployments": len(deployments),
        "statefulsets": len(statefulsets),
        "jobs": len(jobs),
        "warning_events": sum(1 for e in events if e.get("type") == "Warning"),
        "folded_events": folded,
        "critical": sum(1 for p in problems if p.severity == "critical"),
        "warning": sum(1 for p in problems if p.severity == "warning"),
    }
    return HealthReport(tuple(problems), counts)
