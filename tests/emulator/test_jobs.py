"""batch/v1 Jobs through the official client: API defaulting and validation, and the Job
controller's behaviour with the test playing the kubelet (pod status written through the API)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.conftest import Kubectl
from tests.emulator.batch_support import NS, Cluster, cluster, job_body, pod_spec
from tests.helpers import wait_for

__all__ = ["cluster"]

UID_LABEL = "batch.kubernetes.io/controller-uid"


def _invalid(exc: pytest.ExceptionInfo[ApiException]) -> str:
    assert exc.value.status == 422, exc.value.body
    return str(json.loads(exc.value.body)["message"])


# -- API: defaults and validation -----------------------------------------------------------
def test_defaults_and_generated_selector(cluster: Cluster) -> None:
    created = cluster.api.sanitize_for_serialization(cluster.batch.create_namespaced_job(NS, job_body("pi")))
    uid = created["metadata"]["uid"]
    spec = created["spec"]
    assert spec["backoffLimit"] == 6
    assert spec["completions"] == 1
    assert spec["parallelism"] == 1
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["selector"] == {"matchLabels": {UID_LABEL: uid}}
    expected = {UID_LABEL: uid, "batch.kubernetes.io/job-name": "pi", "controller-uid": uid, "job-name": "pi"}
    assert spec["template"]["metadata"]["labels"] == expected
    assert created["metadata"]["labels"] == expected  # a Job without labels takes its template's


def test_parallelism_alone_leaves_completions_unset(cluster: Cluster) -> None:
    created = cluster.batch.create_namespaced_job(NS, job_body("queue", parallelism=3))
    assert created.spec.completions is None
    assert created.spec.parallelism == 3


def test_validation_messages(cluster: Cluster) -> None:
    no_restart = job_body("bad", pod={"containers": [{"name": "main", "image": "busybox"}]})
    with pytest.raises(ApiException) as exc:
        cluster.batch.create_namespaced_job(NS, no_restart)
    assert _invalid(exc) == (
        'Job.batch "bad" is invalid: spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'
    )

    with pytest.raises(ApiException) as exc:
        cluster.batch.create_namespaced_job(NS, job_body("bad", pod=pod_spec(restart="Sometimes")))
    assert (
        'spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "OnFailure", "Never"'
        in (_invalid(exc))
    )

    with pytest.raises(ApiException) as exc:
        cluster.batch.create_namespaced_job(
            NS, job_body("bad", backoffLimit=-1, completionMode="Indexed", parallelism=2)
        )
    message = _invalid(exc)
    assert "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0" in message
    assert "spec.completions: Required value: when completion mode is Indexed" in message

    selector = {"matchLabels": {"app": "x"}}
    with pytest.raises(ApiException) as exc:
        cluster.batch.create_namespaced_job(NS, job_body("bad", selector=selector))
    assert "`selector` not auto-generated" in _invalid(exc)


def test_selector_and_template_are_immutable(cluster: Cluster) -> None:
    cluster.batch.create_namespaced_job(NS, job_body("imm", suspend=False))
    job = cluster.batch.read_namespaced_job("imm", NS)
    job.spec.template.spec.containers[0].image = "alpine"
    with pytest.raises(ApiException) as exc:
        cluster.batch.replace_namespaced_job("imm", NS, job)
    message = _invalid(exc)
    assert message.startswith('Job.batch "imm" is invalid: spec.template: Invalid value: ')
    assert message.endswith("field is immutable")

    job = cluster.batch.read_namespaced_job("imm", NS)
    job.spec.completions = 3
    with pytest.raises(ApiException) as exc:
        cluster.batch.replace_namespaced_job("imm", NS, job)
    assert (
        _invalid(exc) == 'Job.batch "imm" is invalid: spec.completions: Invalid value: 3: field is immutable'
    )


# -- controller -------------------------------------------------------------------------------
def test_pod_creation_status_and_success(cluster: Cluster) -> None:
    job = cluster.batch.create_namespaced_job(NS, job_body("ok"))
    pods = wait_for(lambda: cluster.pods("ok"), message="the job's pod")
    assert len(pods) == 1
    pod = pods[0]
    meta = pod["metadata"]
    assert meta["generateName"] == "ok-"
    assert meta["name"].startswith("ok-")
    assert meta["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    assert meta["labels"]["job-name"] == "ok"
    assert meta["labels"]["controller-uid"] == job.metadata.uid
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": "ok",
            "uid": job.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    status = wait_for(lambda: (s := cluster.job_status("ok")).get("active") == 1 and s)
    assert status["ready"] == 0
    assert status["terminating"] == 0
    assert status["uncountedTerminatedPods"] == {}
    assert "startTime" in status
    assert "succeeded" not in status
    assert "failed" not in status
    assert ("Normal", "SuccessfulCreate", f"Created pod: {meta['name']}") in cluster.events("ok")

    cluster.run_pod(pod, ready=True)
    wait_for(lambda: cluster.job_status("ok").get("ready") == 1, message="ready=1")

    statuses = _watch_job_statuses(cluster, "ok")
    cluster.finish_pod(pod, "Succeeded")
    status = wait_for(
        lambda: (s := cluster.job_status("ok")).get("completionTime") and s, message="completion"
    )
    conditions = status["conditions"]
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in conditions] == [
        ("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods"),
        ("Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods"),
    ]
    assert status["completionTime"] == conditions[1]["lastTransitionTime"]
    assert status["succeeded"] == 1
    assert "active" not in status
    assert status["ready"] == 0
    assert status["uncountedTerminatedPods"] == {}
    seen = wait_for(
        lambda: statuses if any(_types(s) == ["SuccessCriteriaMet", "Complete"] for s in statuses) else None
    )
    interim = [s for s in seen if _types(s) == ["SuccessCriteriaMet"]]
    assert interim, "the interim SuccessCriteriaMet condition came first"
    assert interim[0]["uncountedTerminatedPods"] == {"succeeded": [meta["uid"]]}
    assert cluster.core.read_namespaced_pod(meta["name"], NS).metadata.finalizers is None
    assert ("Normal", "Completed", "Job completed") in wait_for(lambda: cluster.events("ok"))


def _types(status: dict[str, Any]) -> list[str]:
    return [c["type"] for c in status.get("conditions") or []]


def _watch_job_statuses(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    """Every status the Job goes through from now on (a watch in a thread)."""
    seen: list[dict[str, Any]] = []
    ready = threading.Event()
    batch = client.BatchV1Api(cluster.api)
    rv = batch.read_namespaced_job(name, NS).metadata.resource_version

    def run() -> None:
        w = watch.Watch()
        ready.set()
        for event in w.stream(
            batch.list_namespaced_job,
            NS,
            field_selector=f"metadata.name={name}",
            resource_version=rv,
            timeout_seconds=20,
            _preload_content=True,
        ):
            status = cluster.api.sanitize_for_serialization(event["object"]).get("status") or {}
            seen.append(status)
            if "Complete" in _types(status) or "Failed" in _types(status):
                w.stop()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(5)
    return seen


def test_backoff_limit_exceeded_after_retries(cluster: Cluster) -> None:
    cluster.batch.create_namespaced_job(NS, job_body("fails", backoffLimit=2))
    failed_pods: list[str] = []
    for attempt in range(3):
        pod = wait_for(
            lambda: [p for p in cluster.pods("fails") if p["metadata"]["name"] not in failed_pods],
            timeout=10,
            message=f"pod for attempt {attempt}",
        )[0]
        cluster.finish_pod(pod, "Failed", exit_code=1)
        failed_pods.append(pod["metadata"]["name"])
    status = cluster.wait_condition("fails", "Failed")
    assert [(c["type"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
    ]
    assert status["failed"] == 3
    assert "completionTime" not in status
    assert len(cluster.pods("fails")) == 3
    warning = ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert warning in wait_for(lambda: cluster.events("fails"))


def test_replacement_waits_for_the_backoff(cluster: Cluster) -> None:
    cluster.emu.config.job_backoff_base = 60.0  # 3 s of real time at speed 20
    cluster.batch.create_namespaced_job(NS, job_body("slow", backoffLimit=1))
    pod = wait_for(lambda: cluster.pods("slow"))[0]
    cluster.finish_pod(pod, "Failed")
    wait_for(lambda: cluster.job_status("slow").get("failed") == 1, message="failure counted")
    with pytest.raises(AssertionError):
        wait_for(lambda: len(cluster.pods("slow")) > 1, timeout=1.5)
    wait_for(lambda: len(cluster.pods("slow")) == 2, timeout=5, message="replacement after the back-off")


def test_active_deadline_kills_pods(cluster: Cluster) -> None:
    cluster.batch.create_namespaced_job(NS, job_body("late", activeDeadlineSeconds=20))
    pod = wait_for(lambda: cluster.pods("late"))[0]
    status = cluster.wait_condition("late", "Failed", timeout=10)
    failed = status["conditions"][-1]
    assert (failed["reason"], failed["message"]) == (
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    )
    assert _types(status) == ["FailureTarget", "Failed"]
    assert status["failed"] == 1
    assert "active" not in status
    events = cluster.events("late")
    assert ("Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}") in events
    assert ("Warning", "DeadlineExceeded", "Job was active longer than specified deadline") in events
    assert cluster.pods("late") == []


def test_pod_failure_policy_fail_job_and_ignore(cluster: Cluster) -> None:
    policy = {
        "rules": [
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]
    }
    created = cluster.batch.create_namespaced_job(
        NS, job_body("policy", podFailurePolicy=policy, backoffLimit=0)
    )
    assert created.spec.pod_replacement_policy == "Failed"
    assert created.spec.pod_failure_policy.rules[1].on_pod_conditions[0].status == "True"

    first = wait_for(lambda: cluster.pods("policy"))[0]
    disruption = {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    cluster.finish_pod(first, "Failed", exit_code=137, conditions=[disruption])
    second = wait_for(
        lambda: [p for p in cluster.pods("policy") if p["metadata"]["name"] != first["metadata"]["name"]]
    )[0]
    assert "failed" not in cluster.job_status("policy"), "an ignored failure is not counted"

    cluster.finish_pod(second, "Failed", exit_code=42)
    status = cluster.wait_condition("policy", "Failed")
    message = f"Container main for pod {NS}/{second['metadata']['name']} failed with exit code 42 matching FailJob rule at index 0"
    assert [(c["type"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("FailureTarget", "PodFailurePolicy", message),
        ("Failed", "PodFailurePolicy", message),
    ]
    assert status["failed"] == 1


def test_indexed_job(cluster: Cluster) -> None:
    cluster.batch.create_namespaced_job(
        NS, job_body("idx", completionMode="Indexed", completions=3, parallelism=2)
    )
    pods = cluster.wait_pods("idx", 2)
    by_index = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: p for p in pods}
    assert sorted(by_index) == ["0", "1"]
    zero = by_index["0"]
    assert zero["metadata"]["generateName"] == "idx-0-"
    assert zero["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "0"
    assert zero["spec"]["hostname"] == "idx-0"
    env = zero["spec"]["containers"][0]["env"]
    assert env == [
        {
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": {
                "fieldRef": {
                    "apiVersion": "v1",
                    "fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']",
                }
            },
        }
    ]

    cluster.finish_pod(by_index["1"], "Succeeded")
    wait_for(lambda: cluster.job_status("idx").get("completedIndexes") == "1", message="index 1 done")
    third = wait_for(
        lambda: [
            p
            for p in cluster.pods("idx")
            if p["metadata"]["name"] not in {q["metadata"]["name"] for q in pods}
        ]
    )[0]
    assert third["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "2"
    cluster.finish_pod(third, "Succeeded")
    wait_for(lambda: cluster.job_status("idx").get("completedIndexes") == "1,2", message="indexes 1 and 2")
    cluster.finish_pod(zero, "Succeeded")
    status = cluster.wait_condition("idx", "Complete")
    assert status["completedIndexes"] == "0-2"
    assert status["succeeded"] == 3


def test_backoff_limit_per_index(cluster: Cluster) -> None:
    body = job_body("per", completionMode="Indexed", completions=2, parallelism=2, backoffLimitPerIndex=0)
    created = cluster.batch.create_namespaced_job(NS, body)
    assert created.spec.backoff_limit == 2147483647
    pods = cluster.wait_pods("per", 2)
    by_index = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: p for p in pods}
    assert by_index["0"]["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"] == "0"
    cluster.finish_pod(by_index["0"], "Failed")
    wait_for(lambda: cluster.job_status("per").get("failedIndexes") == "0", message="index 0 failed")
    cluster.finish_pod(by_index["1"], "Succeeded")
    status = cluster.wait_condition("per", "Failed")
    assert (status["conditions"][-1]["reason"], status["conditions"][-1]["message"]) == (
        "FailedIndexes",
        "Job has failed indexes",
    )
    assert status["completedIndexes"] == "1"
    assert len(cluster.pods("per")) == 2, "no retry for an index past its limit"


def test_parallel_job_keeps_parallelism_until_completions(cluster: Cluster) -> None:
    cluster.batch.create_namespaced_job(NS, job_body("par", completions=3, parallelism=2))
    pods = cluster.wait_pods("par", 2)
    cluster.finish_pod(pods[0], "Succeeded")
    wait_for(lambda: len(cluster.pods("par")) == 3 and cluster.job_status("par").get("active") == 2)
    cluster.finish_pod(pods[1], "Succeeded")
    wait_for(
        lambda: (
            cluster.job_status("par").get("succeeded") == 2 and cluster.job_status("par").get("active") == 1
        )
    )
    assert len(cluster.pods("par")) == 3, "only one more completion is needed"


def test_suspend_and_resume(cluster: Cluster) -> None:
    cluster.batch.create_namespaced_job(NS, job_body("sus", suspend=True))
    status = wait_for(lambda: (s := cluster.job_status("sus")).get("conditions") and s)
    [suspended] = status["conditions"]
    assert (suspended["type"], suspended["status"], suspended["reason"], suspended["message"]) == (
        "Suspended",
        "True",
        "JobSuspended",
        "Job suspended",
    )
    assert "startTime" not in status
    assert cluster.pods("sus") == []

    cluster.batch.patch_namespaced_job("sus", NS, {"spec": {"suspend": False}})
    pod = wait_for(lambda: cluster.pods("sus"))[0]
    status = wait_for(
        lambda: (s := cluster.job_status("sus")).get("conditions", [{}])[0].get("status") == "False" and s
    )
    assert (status["conditions"][0]["reason"], status["conditions"][0]["message"]) == (
        "JobResumed",
        "Job resumed",
    )
    assert "startTime" in status

    cluster.batch.patch_namespaced_job("sus", NS, {"spec": {"suspend": True}})
    wait_for(lambda: cluster.pods("sus") == [], message="active pods deleted on suspend")
    assert ("Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}") in cluster.events("sus")
    status = wait_for(lambda: (s := cluster.job_status("sus"))["conditions"][0]["status"] == "True" and s)
    assert "failed" not in status, "pods deleted on suspension are not failures"


def test_ttl_after_finished_deletes_job_and_pods(cluster: Cluster) -> None:
    cluster.batch.create_namespaced_job(NS, job_body("ttl", ttlSecondsAfterFinished=0))
    pod = wait_for(lambda: cluster.pods("ttl"))[0]
    cluster.finish_pod(pod, "Succeeded")

    def gone() -> bool:
        try:
            cluster.batch.read_namespaced_job("ttl", NS)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, message="the job deleted after its TTL")
    wait_for(lambda: cluster.pods("ttl") == [], message="its pods too")


def test_job_deletion_orphans_by_default_and_releases_finalizers(cluster: Cluster) -> None:
    cluster.batch.create_namespaced_job(NS, job_body("orph"))
    pod = wait_for(lambda: cluster.pods("orph"))[0]
    cluster.batch.delete_namespaced_job("orph", NS)

    def released() -> dict[str, Any] | None:
        current = cluster.api.sanitize_for_serialization(
            cluster.core.read_namespaced_pod(pod["metadata"]["name"], NS)
        )
        meta = current["metadata"]
        return current if not meta.get("ownerReferences") and not meta.get("finalizers") else None

    wait_for(released, message="the pod orphaned, its tracking finalizer removed")


def test_background_deletion_removes_pods(cluster: Cluster) -> None:
    cluster.batch.create_namespaced_job(NS, job_body("bg", parallelism=2, completions=2))
    wait_for(lambda: len(cluster.pods("bg")) == 2)
    cluster.batch.delete_namespaced_job("bg", NS, propagation_policy="Background")
    wait_for(lambda: cluster.pods("bg") == [], message="pods garbage collected")


def test_kubectl_wait_and_get_show_a_completed_job(cluster: Cluster, tmp_path: Path) -> None:
    kubectl = Kubectl(cluster.emu.kubeconfig, tmp_path)
    kubectl("apply", "-f", "-", input=json.dumps(job_body("kc")))
    pod = wait_for(lambda: cluster.pods("kc"))[0]
    waiter = kubectl.popen("wait", "--for=condition=complete", "job/kc", "--timeout=30s")
    cluster.finish_pod(pod, "Succeeded")
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    assert out.strip() == "job.batch/kc condition met"
    table = kubectl("get", "jobs", "kc").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table[1].split()[:3] == ["kc", "Complete", "1/1"]
