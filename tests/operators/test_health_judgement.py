"""kube.health.judge_cluster over plain objects: each rule, severities, windows, folding, scope."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_k8s_workflows.kube.health import judge_cluster

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def ts(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name: str, ready: str = "True", **pressure: str) -> dict[str, Any]:
    conditions = [
        {
            "type": "Ready",
            "status": ready,
            "reason": "KubeletReady" if ready == "True" else "KubeletNotReady",
            "message": "kubelet is posting ready status" if ready == "True" else "PLEG is not healthy",
        }
    ]
    conditions += [{"type": k, "status": v, "message": f"{k} on the node"} for k, v in pressure.items()]
    return {"kind": "Node", "metadata": {"name": name}, "status": {"conditions": conditions}}  # fmt: skip


def pod(name: str, *, created: float = 1, phase: str = "Running", **status: Any) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": ts(created)},
        "spec": {"restartPolicy": "Always", "containers": [{"name": "c"}]},
        "status": {"phase": phase, **status},
    }


def event(name: str, reason: str, *, minutes_ago: float = 1, kind: str = "Pod", count: int = 1,
          event_type: str = "Warning") -> dict[str, Any]:  # fmt: skip
    return {
        "kind": "Event",
        "metadata": {"name": f"{name}.{reason}", "namespace": "ns"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "ns"},
        "reason": reason,
        "message": f"{reason} happened",
        "type": event_type,
        "count": count,
        "lastTimestamp": ts(minutes_ago),
    }


def judge(**kw: Any) -> Any:
    args: dict[str, Any] = {"nodes": [], "pods": [], "deployments": [], "statefulsets": [], "jobs": [],
                            "events": [], "now": NOW}  # fmt: skip
    args.update(kw)
    return judge_cluster(**args)


def problems(report: Any) -> set[tuple[str, str, str, str]]:
    return {(p.severity, p.kind, p.name, p.reason) for p in report.problems}


def test_nodes_not_ready_and_under_pressure() -> None:
    report = judge(
        nodes=[node("n1"), node("n2", ready="False"), node("n3", DiskPressure="True", PIDPressure="False")]
    )
    assert problems(report) == {
        ("critical", "Node", "n2", "NotReady"),
        ("warning", "Node", "n3", "DiskPressure"),
    }
    assert next(p for p in report.problems if p.name == "n2").message == "PLEG is not healthy"


def test_pods_pending_too_long_unschedulable_and_restart_storms() -> None:
    unschedulable = {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": "0/3 nodes are available"}]}  # fmt: skip
    storm = {
        "containerStatuses": [{
            "name": "c", "restartCount": 7, "ready": True, "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": ts(2)}},
        }]
    }  # fmt: skip
    old_storm = {
        "containerStatuses": [{
            "name": "c", "restartCount": 7, "ready": True, "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ts(600)}},
        }]
    }  # fmt: skip
    report = judge(
        pods=[
            pod("fresh-pending", phase="Pending", created=2),
            pod("long-pending", phase="Pending", created=30),
            pod("fresh-unschedulable", phase="Pending", created=2, **unschedulable),
            pod("long-unschedulable", phase="Pending", created=30, **unschedulable),
            pod("storm", **storm),
            pod("calm-now", **old_storm),
        ]
    )
    assert problems(report) == {
        ("warning", "Pod", "long-pending", "PendingTooLong"),
        ("warning", "Pod", "long-unschedulable", "Unschedulable"),
        ("warning", "Pod", "storm", "RestartStorm"),
    }
    assert judge(pods=[pod("long-pending", phase="Pending", created=30)], pending=timedelta(hours=1)).healthy


def test_pods_of_jobs_are_judged_through_their_job() -> None:
    failed_pod = pod("etl-x", phase="Failed", containerStatuses=[
        {"name": "c", "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}])  # fmt: skip
    failed_pod["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "etl", "controller": True}]
    failed_pod["spec"]["restartPolicy"] = "Never"
    job = {
        "kind": "Job",
        "metadata": {"name": "etl", "namespace": "ns"},
        "spec": {"completions": 1, "parallelism": 1},
        "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                                "message": "Job has reached the specified backoff limit",
                                                "lastTransitionTime": ts(120)}]},
    }  # fmt: skip
    report = judge(pods=[failed_pod], jobs=[job])
    assert problems(report) == {("critical", "Job", "etl", "BackoffLimitExceeded")}
    assert report.problems[0].message.startswith("Job has reached the specified backoff limit (0 active")
    assert judge(jobs=[job], failed_job_window=timedelta(minutes=60)).healthy


def test_workloads_below_desired_availability() -> None:
    def dep(name: str, replicas: int, available: int, **progress: str) -> dict[str, Any]:
        conditions = [{"type": "Progressing", "status": "False", **progress}] if progress else []
        return {"kind": "Deployment", "metadata": {"name": name, "namespace": "ns"}, "spec": {"replicas": replicas},
                "status": {"availableReplicas": available, "conditions": conditions}}  # fmt: skip

    sts = {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "ns"}, "spec": {"replicas": 3},
           "status": {"readyReplicas": 2}}  # fmt: skip
    report = judge(
        deployments=[
            dep("ok", 2, 2),
            dep("scaled-to-zero", 0, 0),
            dep("degraded", 3, 2),
            dep("down", 2, 0),
            dep(
                "stuck",
                2,
                2,
                reason="ProgressDeadlineExceeded",
                message='ReplicaSet "x" has timed out progressing.',
            ),
        ],
        statefulsets=[sts],
    )
    assert problems(report) == {
        ("warning", "Deployment", "degraded", "ReplicasUnavailable"),
        ("critical", "Deployment", "down", "ReplicasUnavailable"),
        ("critical", "Deployment", "stuck", "ProgressDeadlineExceeded"),
        ("warning", "StatefulSet", "db", "ReplicasUnavailable"),
    }
    assert next(p for p in report.problems if p.name == "degraded").message == "2/3 replicas available"
    # a new spec not yet observed: the old deadline condition no longer counts (kubectl rollout status)
    updated = dep("updated", 2, 2, reason="ProgressDeadlineExceeded")
    updated["metadata"]["generation"] = 2
    updated["status"]["observedGeneration"] = 1
    assert judge(deployments=[updated]).healthy


def test_warning_events_grouped_windowed_folded_and_scoped() -> None:
    crashing = pod("crash", containerStatuses=[{"name": "c", "restartCount": 4, "state": {"waiting": {
        "reason": "CrashLoopBackOff", "message": "back-off"}}}])  # fmt: skip
    events = [
        event("crash", "BackOff", count=9),  # folded into the pod's CrashLoopBackOff
        event("web-1", "Unhealthy", count=2),
        event("web-1", "Unhealthy", minutes_ago=3, count=1),
        event("web-1", "Killing", minutes_ago=60),  # too old
        event("web-1", "Pulled", event_type="Normal"),  # not a warning
        event("other", "FailedMount"),
    ]
    report = judge(pods=[crashing], events=events)
    assert problems(report) == {
        ("critical", "Pod", "crash", "CrashLoopBackOff"),
        ("warning", "Pod", "web-1", "Unhealthy"),
        ("warning", "Pod", "other", "FailedMount"),
    }
    unhealthy = next(p for p in report.problems if p.reason == "Unhealthy")
    assert unhealthy.message == "Unhealthy happened (x3 in the last 15 min)"
    assert report.counts["folded_events"] == 1
    # with a label selector only events about the listed objects count
    scoped = judge(pods=[crashing, pod("web-1")], events=events, events_only_for_listed=True)
    assert {p.name for p in scoped.problems} == {"crash", "web-1"}


def test_report_dict_table_and_order() -> None:
    report = judge(nodes=[node("n1", MemoryPressure="True")], deployments=[
        {"kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}, "spec": {"replicas": 1},
         "status": {}}])  # fmt: skip
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["healthy"] is False
    assert [p["severity"] for p in data["problems"]] == ["critical", "warning"]  # critical first
    assert data["problems"][0] == {"severity": "critical", "kind": "Deployment", "namespace": "prod", "name": "web",
                                   "reason": "ReplicasUnavailable", "message": "0/1 replicas available"}  # fmt: skip
    lines = report.table().splitlines()
    assert (
        lines[0]
        == "2 problems (1 critical, 1 warning) in 1 node, 0 pods, 1 deployment, 0 statefulsets, 0 jobs"
    )
    assert lines[1].split() == ["SEVERITY", "KIND", "NAMESPACE", "NAME", "REASON", "MESSAGE"]
    assert lines[3].split()[:5] == ["warning", "Node", "-", "n1", "MemoryPressure"]
    assert judge(nodes=None).to_dict()["counts"]["nodes"] is None
    assert judge(nodes=None).table() == "cluster healthy (0 pods, 0 deployments, 0 statefulsets, 0 jobs)"
