"""Fault injection through pod annotations, as a client sees the resulting states and events."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.emulator.pod_helpers import (
    NS,
    annotations_pod,
    condition,
    container_status,
    create,
    events,
    phase_is,
    pod,
    sh,
    state_of,
    wait_pod,
    waiting_reason,
    watch_until,
)

PREFIX = "emulator.airflow-k8s-workflows.io/"


@pytest.fixture
def core(k8s: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(k8s)


def _waiting_reasons(seen: list[dict[str, object]]) -> list[str]:
    reasons: list[str] = []
    for p in seen:
        reason = waiting_reason(p)  # type: ignore[arg-type]
        if reason and (not reasons or reasons[-1] != reason):
            reasons.append(reason)
    return reasons


def test_image_pull_failure_then_recovery(core: client.CoreV1Api) -> None:
    body = sh("p", "echo pulled", annotations={PREFIX + "image-pull": "fail"}, image="registry.example/app:1")
    seen = watch_until(
        core, "p", lambda _, p: waiting_reason(p) == "ImagePullBackOff", since=create(core, body)
    )
    assert _waiting_reasons(seen)[-2:] == ["ErrImagePull", "ImagePullBackOff"]
    error = ('rpc error: code = NotFound desc = failed to pull and unpack image "registry.example/app:1": failed to '
             'resolve reference "registry.example/app:1": registry.example/app:1: not found')  # fmt: skip
    err_pull = next(p for p in seen if waiting_reason(p) == "ErrImagePull")
    assert state_of(err_pull)["waiting"]["message"] == error
    assert (
        state_of(seen[-1])["waiting"]["message"]
        == f'Back-off pulling image "registry.example/app:1": ErrImagePull: {error}'
    )
    assert seen[-1]["status"]["phase"] == "Pending"
    found = {(e.type, e.reason, e.message) for e in events(core, "p")}
    assert found >= {
        ("Normal", "Pulling", 'Pulling image "registry.example/app:1"'),
        ("Warning", "Failed", f'Failed to pull image "registry.example/app:1": {error}'),
        ("Warning", "Failed", "Error: ErrImagePull"),
        ("Normal", "BackOff", 'Back-off pulling image "registry.example/app:1"'),
        ("Warning", "Failed", "Error: ImagePullBackOff"),
    }
    core.patch_namespaced_pod("p", NS, {"metadata": {"annotations": {PREFIX + "image-pull": None}}})
    wait_pod(core, "p", phase_is("Succeeded"))


def test_missing_image_tag_fails_to_pull(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, pod("p", image="busybox:does-not-exist"))
    p = wait_pod(core, "p", lambda p: waiting_reason(p) == "ImagePullBackOff")
    assert "docker.io/library/busybox:does-not-exist: not found" in state_of(p)["waiting"]["message"]


def test_oom_kill(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, sh("p", "sleep 1000", annotations={PREFIX + "oom-kill": "true"}))
    p = wait_pod(core, "p", phase_is("Failed", "Succeeded"))
    assert p["status"]["phase"] == "Failed"
    terminated = state_of(p)["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "OOMKilled")


def test_oom_kill_after_seconds_then_crash_loop(core: client.CoreV1Api) -> None:
    body = sh(
        "p", "echo up; sleep 1000", restart="Always", annotations={PREFIX + "oom-kill-after-seconds": "4"}
    )
    seen = watch_until(core, "p", lambda _, p: container_status(p).get("restartCount", 0) >= 1
                       if p.get("status", {}).get("containerStatuses") else False, since=create(core, body))  # fmt: skip
    assert any("running" in state_of(p) for p in seen), "the container ran before it was killed"
    last = container_status(seen[-1])["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (137, "OOMKilled")


def test_start_delay_keeps_containers_creating(core: client.CoreV1Api) -> None:
    body = annotations_pod("p", {PREFIX + "start-delay-seconds": "10"})  # 0.5 s at speed 20
    stamps: list[float] = []
    seen = watch_until(
        core, "p", lambda _, p: "running" in state_of(p), since=create(core, body), stamps=stamps
    )
    creating = next(i for i, p in enumerate(seen) if waiting_reason(p) == "ContainerCreating")
    assert stamps[-1] - stamps[creating] >= 0.4


def test_never_ready(core: client.CoreV1Api) -> None:
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    core.create_namespaced_pod(
        NS, annotations_pod("never", {PREFIX + "never-ready": "true"}, readinessProbe=probe)
    )
    core.create_namespaced_pod(NS, annotations_pod("reference", {}, readinessProbe=probe))
    wait_pod(core, "reference", lambda p: condition(p, "Ready").get("status") == "True")
    never = wait_pod(core, "never", lambda p: "running" in state_of(p))
    assert container_status(never)["ready"] is False
    assert condition(never, "Ready")["status"] == "False"
    assert never["status"]["phase"] == "Running"
