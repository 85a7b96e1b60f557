"""Reading a finished Job's result and the story of its failure from the cluster (sync hook).

The judgements are in ``kube.job_results``; this module only fetches what they need: the
Job's pods, a container's last log lines, the namespace's Warning events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_k8s_workflows.kube.job_manifest import main_container, pod_selector
from airflow_k8s_workflows.kube.job_results import (
    failing_pod,
    failure_report,
    last_line,
    parse_result,
    result_pods,
    termination_message,
    warning_events,
)
from airflow_k8s_workflows.kube.jobs import job_outcome
from airflow_k8s_workflows.kube.pods import diagnose_pod
from airflow_k8s_workflows.operators.job_logs import tail_lines

__all__ = ["failure_message", "job_pods", "job_result"]

FAILURE_LOG_LINES = 20


def job_pods(hook: Any, job: Mapping[str, Any]) -> list[dict[str, Any]]:
    namespace = (job.get("metadata") or {}).get("namespace")
    return list(hook.list("v1", "Pod", namespace, label_selector=pod_selector(job)))


def job_result(hook: Any, job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Any:
    """The XCom value: each result pod's termination message, else its last line of output,
    parsed as JSON when it is JSON; a list (by completion index) for an Indexed Job with
    several completions."""
    namespace = str((job.get("metadata") or {}).get("namespace"))
    container = main_container(job)
    values = []
    for pod in result_pods(job, pods):
        text = termination_message(pod, container)
        if text is None and container:
            text = last_line("\n".join(tail_lines(hook, namespace, pod, container, 5).lines))
        values.append(parse_result(text))
    spec = job.get("spec") or {}
    if spec.get("completionMode") == "Indexed" and (spec.get("completions") or 1) > 1:
        return values
    return values[-1] if values else None


def failure_message(hook: Any, job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> str:
    """What went wrong: the Job's reason, its failing pod's problem and last log lines, and
    recent Warning events of the Job and its pods."""
    namespace = str((job.get("metadata") or {}).get("namespace"))
    pod = failing_pod(pods)
    container = main_container(job)
    lines: list[str] = []
    if pod is not None:
        problems = [p for p in diagnose_pod(pod) if p.container]
        if problems:
            container = str(problems[0].container).removeprefix("init:")
        if container:
            lines = tail_lines(hook, namespace, pod, container, FAILURE_LOG_LINES).lines
    uids = {str((obj.get("metadata") or {}).get("uid")) for obj in [job, *pods]}
    try:
        events = hook.list("v1", "Event", namespace, field_selector="type=Warning")
    except Exception:  # the report must not fail for want of events (e.g. no RBAC on events)
        events = []
    return failure_report(
        job_outcome(job),
        pod=pod,
        log_lines=lines,
        log_container=container,
        events=warning_events(events, uids),
    )
