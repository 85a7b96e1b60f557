"""What a finished Job produced and why it failed: pure functions over its pods and events.

* :func:`result_pods` — which succeeded pods carry the result: the last one, or, for an
  Indexed Job with several completions, one per completion index in index order.
* :func:`termination_message` / :func:`parse_result` — a container's result is its
  termination message (``/dev/termination-log``), else its last line of output, read as JSON
  when it is JSON.
* :func:`failing_pod` and :func:`failure_report` — the message a failed task shows: the Job's
  reason, what went wrong with its pod (``kube.pods.diagnose_pod``), the pod's last log lines
  and recent Warning events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_k8s_workflows.kube.jobs import JobOutcome
from airflow_k8s_workflows.kube.pods import diagnose_pod, parse_time

__all__ = [
    "COMPLETION_INDEX",
    "completion_index",
    "failing_pod",
    "failure_report",
    "last_line",
    "parse_result",
    "result_pods",
    "termination_message",
    "warning_events",
]

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def completion_index(pod: Mapping[str, Any]) -> int | None:
    """An Indexed Job pod's completion index (annotation, else label)."""
    meta = _meta(pod)
    raw = (meta.get("annotations") or {}).get(COMPLETION_INDEX) or (meta.get("labels") or {}).get(
        COMPLETION_INDEX
    )
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _finished_at(pod: Mapping[str, Any]) -> tuple[str, str]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    ends = [str(((s.get("state") or {}).get("terminated") or {}).get("finishedAt") or "") for s in statuses]
    return (max(ends, default=""), str(_meta(pod).get("creationTimestamp") or ""))


def result_pods(job: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The succeeded pods whose output is the result, in result order.

    An Indexed Job with ``completions > 1`` gives one pod per completed index (the last to
    succeed for that index), ordered by index; any other Job the last pod to succeed.
    """
    spec = job.get("spec") or {}
    done = [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]
    done.sort(key=_finished_at)
    if spec.get("completionMode") == "Indexed" and (spec.get("completions") or 1) > 1:
        by_index: dict[int, Mapping[str, Any]] = {}
        for pod in done:
            index = completion_index(pod)
            if index is not None:
                by_index[index] = pod
        return [by_index[i] for i in sorted(by_index)]
    return done[-1:]


def termination_message(pod: Mapping[str, Any], container: str | None) -> str | None:
    """The container's termination message, when it wrote one."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if container is None or status.get("name") == container:
            message = ((status.get("state") or {}).get("terminated") or {}).get("message")
            if isinstance(message, str) and message.strip():
                return message
            return None
    return None


def last_line(log: str | None) -> str | None:
    """The last non-blank line of ``log``."""
    for line in reversed((log or "").splitlines()):
        if line.strip():
            return line.rstrip("\r")
    return None


def parse_result(text: str | None) -> Any:
    """``text`` as JSON when it is JSON, else the stripped text (None stays None)."""
    if text is None:
        return None
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        return stripped


def failing_pod(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The pod that best explains a failure: the newest failed pod, else the newest pod with a
    problem, else the newest pod."""
    ordered = sorted(pods, key=lambda p: str(_meta(p).get("creationTimestamp") or ""))
    failed = [p for p in ordered if (p.get("status") or {}).get("phase") == "Failed"]
    if failed:
        return failed[-1]
    troubled = [p for p in ordered if diagnose_pod(p)]
    if troubled:
        return troubled[-1]
    return ordered[-1] if ordered else None


def warning_events(
    events: Iterable[Mapping[str, Any]], uids: set[str], *, limit: int = 10
) -> list[Mapping[str, Any]]:
    """The newest ``limit`` Warning events about the objects with these uids, oldest first."""
    chosen = [
        e
        for e in events
        if e.get("type") == "Warning" and ((e.get("involvedObject") or {}).get("uid") in uids)
    ]

    def when(event: Mapping[str, Any]) -> float:
        stamp = parse_time(
            event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
        )
        return stamp.timestamp() if stamp else 0.0

    chosen.sort(key=when)
    return chosen[-limit:]


def _event_line(event: Mapping[str, Any]) -> str:
    obj = event.get("involvedObject") or {}
    count = event.get("count") or 1
    times = f" (x{count})" if isinstance(count, int) and count > 1 else ""
    return f"{obj.get('kind')}/{obj.get('name')}: {event.get('reason')}: {event.get('message')}{times}"


def failure_report(
    outcome: JobOutcome,
    *,
    pod: Mapping[str, Any] | None,
    log_lines: Sequence[str] = (),
    log_container: str | None = None,
    events: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The message of a failed Job task, e.g.::

    Job batch/etl failed: BackoffLimitExceeded: Job has reached the specified backoff limit (0 active, 0/1 succeeded, 2 failed)
    Pod problems:
      pod batch/etl-x7k2p container main: Error: exit code 3
    Last 20 log lines of pod etl-x7k2p (container main):
      ...
    Warning events:
      Job/etl: BackoffLimitExceeded: Job has reached the specified backoff limit
    """
    lines = [outcome.describe()]
    if pod is not None:
        problems = diagnose_pod(pod)
        if problems:
            lines.append("Pod problems:")
            lines.extend(f"  {p.describe()}" for p in problems)
        if log_lines:
            pod_name = _meta(pod).get("name")
            where = f"pod {pod_name}" + (f" (container {log_container})" if log_container else "")
            lines.append(f"Last {len(log_lines)} log lines of {where}:")
            lines.extend(f"  {line}" for line in log_lines)
    if events:
        lines.append("Warning events:")
        lines.extend(f"  {_event_line(e)}" for e in events)
    return "\n".join(lines)
