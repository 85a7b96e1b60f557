"""Pod diagnosis. Container state shapes are the kubelet's (waiting reasons ErrImagePull,
ImagePullBackOff, CrashLoopBackOff...; terminated reason OOMKilled/Error), the scheduler's
PodScheduled=False/Unschedulable condition, and kubectl's printPod STATUS column
(pkg/printers/internalversion/printers.go)."""

from datetime import datetime, timedelta, timezone

import pytest

from airflow_k8s_workflows.kube.pods import (
    diagnose_pod,
    parse_time,
    pod_ready,
    pod_status_text,
    summarize_pods,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def pod(
    *,
    phase="Running",
    containers=None,
    init=None,
    conditions=None,
    created="2024-05-01T11:58:00Z",
    restart_policy="Always",
    memory_limit=None,
    reason=None,
    message=None,
    deleting=False,
    init_specs=None,
):
    container_spec = {"name": "main", "image": "app:1"}
    if memory_limit:
        container_spec["resources"] = {"limits": {"memory": memory_limit}}
    meta = {"name": "p", "namespace": "ns", "creationTimestamp": created}
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T11:59:00Z"
    status = {"phase": phase, "conditions": conditions or []}
    if containers is not None:
        status["containerStatuses"] = containers
    if init is not None:
        status["initContainerStatuses"] = init
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "restartPolicy": restart_policy,
            "containers": [container_spec],
            "initContainers": init_specs or [{"name": n["name"]} for n in init or []],
        },
        "status": status,
    }


def waiting(reason, message="", restarts=0, name="main", last=None):
    status = {
        "name": name,
        "ready": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason, "message": message}},
    }
    if last:
        status["lastState"] = {"terminated": last}
    return status


def running(name="main", ready=True, restarts=0, last=None):
    status = {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "started": True,
        "state": {"running": {"startedAt": "x"}},
    }
    if last:
        status["lastState"] = {"terminated": last}
    return status


def terminated(exit_code, reason=None, name="main", message=None, signal=None):
    state = {"exitCode": exit_code}
    if reason:
        state["reason"] = reason
    if message:
        state["message"] = message
    if signal:
        state["signal"] = signal
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": state}}


READY = [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]


def test_healthy_pod_has_no_problems():
    healthy = pod(containers=[running()], conditions=READY)
    assert diagnose_pod(healthy, now=NOW) == []
    assert pod_ready(healthy)


@pytest.mark.parametrize(
    ("reason", "message", "hint"),
    [
        ("ImagePullBackOff", 'Back-off pulling image "app:nope"', "check the image name and tag"),
        (
            "ErrImagePull",
            'rpc error: code = NotFound desc = failed to pull and unpack image "app:nope"',
            "imagePullSecrets",
        ),
        (
            "InvalidImageName",
            'Failed to apply default image tag "App:1": couldn\'t parse image name',
            "fix the image reference",
        ),
        ("CreateContainerConfigError", 'secret "db" not found', "a Secret, ConfigMap or key"),
    ],
)
def test_waiting_problems(reason, message, hint):
    problems = diagnose_pod(pod(phase="Pending", containers=[waiting(reason, message)]), now=NOW)
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.pod, problem.container, problem.reason, problem.message) == (
        "ns/p",
        "main",
        reason,
        message,
    )
    assert problem.describe().startswith(f"pod ns/p container main: {reason}: {message} (")
    assert hint in problem.describe()


def test_crash_loop_reports_restarts_and_last_exit():
    last = {"exitCode": 1, "reason": "Error", "message": "panic: boom\n"}
    problems = diagnose_pod(
        pod(containers=[waiting("CrashLoopBackOff", "back-off 40s", restarts=4, last=last)]), now=NOW
    )
    assert [p.reason for p in problems] == ["CrashLoopBackOff"]
    assert problems[0].message == "restarted 4 times; last exit: exit code 1, reason Error: panic: boom"
    assert problems[0].restart_count == 4
    assert problems[0].exit_code == 1


def test_crash_loop_after_oom_reports_both():
    last = {"exitCode": 137, "reason": "OOMKilled"}
    problems = diagnose_pod(
        pod(containers=[waiting("CrashLoopBackOff", restarts=2, last=last)], memory_limit="128Mi"), now=NOW
    )
    assert [p.reason for p in problems] == ["CrashLoopBackOff", "OOMKilled"]
    assert problems[1].message == (
        "last run was killed for using more memory than its limit (exit code 137, reason OOMKilled, memory limit 128Mi)"
    )
    assert "raise resources.limits.memory" in problems[1].describe()


def test_oom_killed_current_state_without_limit():
    container = terminated(137, "OOMKilled")
    problems = diagnose_pod(pod(phase="Failed", restart_policy="Never", containers=[container]), now=NOW)
    assert [p.reason for p in problems] == ["OOMKilled"]
    assert problems[0].message.endswith("no memory limit set: the node ran out)")
    assert problems[0].exit_code == 137


def test_failed_job_pod_container():
    container = terminated(3, "Error", message="cannot connect to db")
    problems = diagnose_pod(pod(phase="Failed", restart_policy="Never", containers=[container]), now=NOW)
    assert [(p.reason, p.message, p.exit_code) for p in problems] == [
        ("Error", "exit code 3, reason Error: cannot connect to db", 3)
    ]


def test_a_restarting_container_is_not_yet_failed():
    # restartPolicy Always and pod still Running: the kubelet will restart it (CrashLoopBackOff next)
    assert diagnose_pod(pod(containers=[terminated(1, "Error")]), now=NOW) == []


def test_completed_containers_are_fine():
    assert (
        diagnose_pod(
            pod(phase="Succeeded", restart_policy="Never", containers=[terminated(0, "Completed")]), now=NOW
        )
        == []
    )


def test_unschedulable_carries_the_schedulers_message():
    message = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    conditions = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]
    problems = diagnose_pod(
        pod(phase="Pending", conditions=conditions, created="2024-05-01T10:00:00Z"), now=NOW
    )
    # specific, so no extra "pending too long"
    assert [(p.reason, p.message, p.container) for p in problems] == [("Unschedulable", message, None)]
    assert "lower its requests" in problems[0].describe()


def test_init_container_problems_are_named_as_such():
    init = [waiting("CrashLoopBackOff", restarts=3, name="migrate", last={"exitCode": 2, "reason": "Error"})]
    problems = diagnose_pod(pod(phase="Pending", init=init, containers=[waiting("PodInitializing")]), now=NOW)
    assert [(p.container, p.reason) for p in problems] == [("init:migrate", "CrashLoopBackOff")]
    assert (
        problems[0]
        .describe()
        .startswith("pod ns/p container init:migrate: CrashLoopBackOff: restarted 3 times")
    )


def test_failed_init_container_in_never_pod():
    init = [terminated(1, "Error", name="migrate")]
    problems = diagnose_pod(pod(phase="Failed", restart_policy="Never", init=init), now=NOW)
    assert [(p.container, p.reason) for p in problems] == [("init:migrate", "Error")]


def test_pending_too_long_only_without_a_better_reason():
    slow = pod(phase="Pending", containers=[waiting("ContainerCreating")], created="2024-05-01T11:45:00Z")
    problems = diagnose_pod(slow, now=NOW)
    assert [(p.reason, p.message) for p in problems] == [
        ("PendingTooLong", "Pending for 15m (status ContainerCreating)")
    ]
    assert diagnose_pod(slow, now=NOW, pending_timeout=timedelta(minutes=20)) == []
    young = pod(phase="Pending", containers=[waiting("ContainerCreating")], created="2024-05-01T11:59:00Z")
    assert diagnose_pod(young, now=NOW) == []


def test_evicted_pod():
    evicted = pod(phase="Failed", reason="Evicted", message="The node was low on resource: memory.")
    problems = diagnose_pod(evicted, now=NOW)
    assert [(p.reason, p.message) for p in problems] == [("Evicted", "The node was low on resource: memory.")]


def test_pod_ready():
    assert not pod_ready(pod(conditions=[{"type": "Ready", "status": "False"}]))
    assert not pod_ready({"metadata": {}})


def test_parse_time():
    assert parse_time("2024-05-01T11:58:00Z") == datetime(2024, 5, 1, 11, 58, tzinfo=timezone.utc)
    assert parse_time("2024-05-01T11:58:00.123456Z").microsecond == 123456
    assert parse_time(None) is None
    assert parse_time("yesterday") is None


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"containers": [running()], "conditions": READY}, "Running"),
        ({"phase": "Pending", "containers": [waiting("ContainerCreating")]}, "ContainerCreating"),
        ({"containers": [waiting("CrashLoopBackOff", restarts=5)]}, "CrashLoopBackOff"),
        ({"phase": "Succeeded", "containers": [terminated(0, "Completed")]}, "Completed"),
        ({"phase": "Failed", "containers": [terminated(2)]}, "ExitCode:2"),
        ({"phase": "Failed", "containers": [terminated(137, signal=9)]}, "Signal:9"),
        (
            {
                "phase": "Pending",
                "init": [waiting("PodInitializing", name="a"), waiting("PodInitializing", name="b")],
            },
            "Init:0/2",
        ),
        ({"phase": "Pending", "init": [terminated(0, "Completed", name="a"), running(name="b")]}, "Init:1/2"),
        ({"phase": "Pending", "init": [waiting("CrashLoopBackOff", name="a")]}, "Init:CrashLoopBackOff"),
        ({"phase": "Failed", "init": [terminated(1, "Error", name="a")]}, "Init:Error"),
        ({"phase": "Failed", "init": [terminated(3, name="a")]}, "Init:ExitCode:3"),
        ({"containers": [running()], "deleting": True}, "Terminating"),
        ({"phase": "Unknown", "reason": "NodeLost", "containers": [running()], "deleting": True}, "Unknown"),
        ({"phase": "Failed", "reason": "Evicted"}, "Evicted"),
        (
            {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
            },
            "SchedulingGated",
        ),
        # one container completed, another still running and ready
        (
            {"containers": [running(name="a"), terminated(0, "Completed", name="b")], "conditions": READY},
            "Running",
        ),
        ({"containers": [running(name="a"), terminated(0, "Completed", name="b")]}, "NotReady"),
    ],
)
def test_pod_status_text_like_kubectl_get_pods(kwargs, expected):
    assert pod_status_text(pod(**kwargs)) == expected


def test_started_sidecar_does_not_hold_initialization():
    init_specs = [{"name": "proxy", "restartPolicy": "Always"}]
    sidecar_pod = pod(
        init=[running(name="proxy")], init_specs=init_specs, containers=[running()], conditions=READY
    )
    assert pod_status_text(sidecar_pod) == "Running"


def test_summarize_pods():
    pods = [
        pod(containers=[running()], conditions=READY),
        pod(containers=[running()], conditions=READY),
        pod(containers=[waiting("CrashLoopBackOff")]),
    ]
    summary = summarize_pods(pods)
    assert summary.total == 3
    assert summary.ready == 2
    assert summary.phases == (("Running", 3),)
    assert summary.line() == "3 pods: 2 Running, 1 CrashLoopBackOff; 2/3 ready"
    assert summarize_pods([]).line() == "no pods"
