"""Jobs end to end: the Job controller, the scheduler and the kubelet running real processes."""

from __future__ import annotations

import threading
from typing import Any

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.helpers import wait_for

NS = "default"


def _job(name: str, command: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "busybox", "command": ["sh", "-c", command]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}, **spec},
    }


def _status(batch: client.BatchV1Api, name: str) -> dict[str, Any]:
    return dict(
        batch.api_client.sanitize_for_serialization(batch.read_namespaced_job(name, NS)).get("status") or {}
    )


def _finished(batch: client.BatchV1Api, name: str, kind: str, timeout: float = 30) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status = _status(batch, name)
        return (
            status
            if any(c["type"] == kind and c["status"] == "True" for c in status.get("conditions") or [])
            else None
        )

    return wait_for(reached, timeout=timeout, message=f"job {name} {kind}")


def _log(v1: client.CoreV1Api, pod: str) -> str:
    # the client's own decoding of text/plain answers is lossy in some versions: read the raw body
    return v1.read_namespaced_pod_log(pod, NS, _preload_content=False).data.decode()


def _pods(v1: client.CoreV1Api, job: str) -> list[client.V1Pod]:
    return v1.list_namespaced_pod(NS, label_selector=f"batch.kubernetes.io/job-name={job}").items


def test_echo_job_completes_with_its_log_and_the_interim_condition(k8s: client.ApiClient) -> None:
    batch, v1 = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    conditions_seen: list[list[str]] = []
    started = threading.Event()

    def watch_job() -> None:
        w = watch.Watch()
        started.set()
        for event in w.stream(
            batch.list_namespaced_job, NS, field_selector="metadata.name=hello", timeout_seconds=30
        ):
            status = event["object"].status
            kinds = [c.type for c in ((status and status.conditions) or []) if c.status == "True"]
            conditions_seen.append(kinds)
            if "Complete" in kinds or "Failed" in kinds:
                w.stop()

    thread = threading.Thread(target=watch_job, daemon=True)
    thread.start()
    started.wait(5)
    batch.create_namespaced_job(NS, _job("hello", "echo hi"))
    status = _finished(batch, "hello", "Complete")
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [
        ("SuccessCriteriaMet", "CompletionsReached"),
        ("Complete", "CompletionsReached"),
    ]
    assert status["succeeded"] == 1
    [pod] = _pods(v1, "hello")
    assert pod.status.phase == "Succeeded"
    assert pod.metadata.finalizers is None
    assert _log(v1, pod.metadata.name) == "hi\n"
    thread.join(10)
    assert ["SuccessCriteriaMet"] in conditions_seen, conditions_seen
    assert conditions_seen.index(["SuccessCriteriaMet"]) < conditions_seen.index(
        ["SuccessCriteriaMet", "Complete"]
    )


def test_failing_job_hits_its_backoff_limit_after_three_pods(k8s: client.ApiClient) -> None:
    batch, v1 = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job(NS, _job("boom", "exit 1", backoffLimit=2))
    status = _finished(batch, "boom", "Failed", timeout=45)
    assert [(c["type"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
    ]
    assert status["failed"] == 3
    pods = _pods(v1, "boom")
    assert len(pods) == 3
    assert {p.status.phase for p in pods} == {"Failed"}
    exit_codes = {p.status.container_statuses[0].state.terminated.exit_code for p in pods}
    assert exit_codes == {1}


def test_foreground_deletion_removes_running_pods_first(k8s: client.ApiClient) -> None:
    batch, v1 = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job(NS, _job("long", "sleep 60", parallelism=2, completions=2))
    wait_for(
        lambda: (
            [p for p in _pods(v1, "long") if p.status.phase == "Running"]
            if len(_pods(v1, "long")) == 2
            else None
        ),
        timeout=30,
        message="two running pods",
    )
    # read back from watches replayed from before the delete: a loaded machine may finish the
    # whole deletion before a GET right after it could see the marked Job
    since = batch.list_namespaced_job(NS).metadata.resource_version
    batch.delete_namespaced_job("long", NS, propagation_policy="Foreground")
    job_events = _events_until_deleted(
        batch.list_namespaced_job, since, 1, field_selector="metadata.name=long"
    )
    marked = [e["object"] for e in job_events if e["object"].metadata.deletion_timestamp is not None]
    assert marked[0].metadata.finalizers == ["foregroundDeletion"]
    assert job_events[-1]["type"] == "DELETED"
    pod_events = _events_until_deleted(
        v1.list_namespaced_pod, since, 2, label_selector="batch.kubernetes.io/job-name=long"
    )
    pods_deleted = [int(e["object"].metadata.resource_version) for e in pod_events if e["type"] == "DELETED"]
    assert len(pods_deleted) == 2
    assert max(pods_deleted) < int(job_events[-1]["object"].metadata.resource_version)  # pods first
    assert _pods(v1, "long") == []


def _events_until_deleted(list_fn: Any, since: str, deletions: int, **selectors: str) -> list[dict[str, Any]]:
    """The watch events from ``since`` up to the ``deletions``-th DELETED one (``selectors``:
    ``field_selector``, ``label_selector``)."""
    events: list[dict[str, Any]] = []
    for event in watch.Watch().stream(list_fn, NS, resource_version=since, timeout_seconds=60, **selectors):
        events.append(event)
        if sum(e["type"] == "DELETED" for e in events) == deletions:
            break
    return events


def test_indexed_job_pods_get_their_index(k8s: client.ApiClient) -> None:
    batch, v1 = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job(
        NS,
        _job(
            "idx", "echo index=$JOB_COMPLETION_INDEX", completionMode="Indexed", completions=3, parallelism=3
        ),
    )
    status = _finished(batch, "idx", "Complete")
    assert status["completedIndexes"] == "0-2"
    logs = {}
    for pod in _pods(v1, "idx"):
        index = pod.metadata.annotations["batch.kubernetes.io/job-completion-index"]
        assert pod.metadata.labels["batch.kubernetes.io/job-completion-index"] == index
        assert pod.metadata.name.startswith(f"idx-{index}-")
        logs[index] = _log(v1, pod.metadata.name)
    assert logs == {"0": "index=0\n", "1": "index=1\n", "2": "index=2\n"}


def test_deleting_a_namespace_stops_its_running_job(k8s: client.ApiClient) -> None:
    batch, v1 = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    v1.create_namespace({"metadata": {"name": "scratch"}})
    batch.create_namespaced_job("scratch", _job("sleeper", "sleep 60"))
    wait_for(
        lambda: [p for p in v1.list_namespaced_pod("scratch").items if p.status.phase == "Running"],
        timeout=30,
        message="the pod running",
    )
    v1.delete_namespace("scratch")

    def gone() -> bool:
        try:
            v1.read_namespace("scratch")
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, timeout=60, message="the namespace removed once its pod stopped")
