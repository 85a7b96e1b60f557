"""What a finished Job returns and how its failure reads (pure, over API-shaped objects)."""

from __future__ import annotations

from typing import Any

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


def pod(name: str, phase: str, *, index: int | None = None, finished: str = "2026-01-01T00:00:01Z",
        created: str = "2026-01-01T00:00:00Z", message: str | None = None, exit_code: int = 0,
        uid: str | None = None) -> dict[str, Any]:  # fmt: skip
    terminated: dict[str, Any] = {
        "exitCode": exit_code,
        "finishedAt": finished,
        "reason": "Completed" if not exit_code else "Error",
    }
    if message is not None:
        terminated["message"] = message
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "creationTimestamp": created, "uid": uid or name}
    if index is not None:
        meta["annotations"] = {"batch.kubernetes.io/job-completion-index": str(index)}
    return {
        "metadata": meta,
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "main", "state": {"terminated": terminated}}],
        },
    }


def test_the_last_succeeded_pod_carries_the_result() -> None:
    job = {"spec": {}}
    pods = [pod("a", "Succeeded", finished="2026-01-01T00:00:05Z"), pod("b", "Failed"), pod("c", "Succeeded")]
    assert [p["metadata"]["name"] for p in result_pods(job, pods)] == ["a"]
    assert result_pods(job, [pod("x", "Failed")]) == []


def test_indexed_jobs_give_one_pod_per_index_in_order() -> None:
    job = {"spec": {"completionMode": "Indexed", "completions": 3}}
    pods = [pod("p2", "Succeeded", index=2), pod("p0", "Succeeded", index=0), pod("p1-failed", "Failed", index=1),
            pod("p1", "Succeeded", index=1)]  # fmt: skip
    assert [p["metadata"]["name"] for p in result_pods(job, pods)] == ["p0", "p1", "p2"]


def test_termination_message_then_last_line_parsed_as_json() -> None:
    assert termination_message(pod("a", "Succeeded", message='{"x": 1}\n'), "main") == '{"x": 1}\n'
    assert termination_message(pod("a", "Succeeded", message="  "), "main") is None
    assert termination_message(pod("a", "Succeeded"), "other") is None
    assert parse_result('{"x": 1}\n') == {"x": 1}
    assert parse_result("42") == 42
    assert parse_result(" plain text ") == "plain text"
    assert parse_result(None) is None
    assert last_line("one\ntwo\n\n") == "two"
    assert last_line("") is None


def test_failure_report_names_reason_pod_problem_logs_and_events() -> None:
    job = {
        "metadata": {"name": "etl", "namespace": "ns", "uid": "j"},
        "spec": {"backoffLimit": 1},
        "status": {
            "failed": 2,
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                            "message": "Job has reached the specified backoff limit"}],
        },
    }  # fmt: skip
    pods = [
        pod("etl-1", "Failed", exit_code=3, created="2026-01-01T00:00:00Z"),
        pod("etl-2", "Failed", exit_code=3, created="2026-01-01T00:00:09Z"),
    ]
    assert failing_pod(pods) is pods[1]
    events = [
        {"type": "Warning", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit",
         "involvedObject": {"kind": "Job", "name": "etl", "uid": "j"}, "lastTimestamp": "2026-01-01T00:00:10Z"},
        {"type": "Warning", "reason": "BackOff", "message": "other job", "involvedObject": {"uid": "elsewhere"}},
        {"type": "Normal", "reason": "Completed", "involvedObject": {"uid": "j"}},
    ]  # fmt: skip
    chosen = warning_events(events, {"j", "etl-1", "etl-2"})
    report = failure_report(job_outcome(job), pod=pods[1], log_lines=["a", "fatal: disk full"],
                            log_container="main", events=chosen)  # fmt: skip
    lines = report.splitlines()
    assert lines[0].startswith(
        "Job ns/etl failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
    )
    assert "pod ns/etl-2 container main: Error: exit code 3" in report
    assert "Last 2 log lines of pod etl-2 (container main):" in report
    assert lines[-3:] == ["  fatal: disk full", "Warning events:",
                          "  Job/etl: BackoffLimitExceeded: Job has reached the specified backoff limit"]  # fmt: skip
    assert "other job" not in report
