"""kube.readiness: what to watch for each kind and how its state reads."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_k8s_workflows.kube.readiness import judge, watched_kind


@pytest.mark.parametrize(
    ("doc", "wait_for_endpoints", "expected"),
    [
        ({"apiVersion": "apps/v1", "kind": "Deployment"}, False, ("apps/v1", "Deployment")),
        ({"apiVersion": "batch/v1", "kind": "Job"}, False, ("batch/v1", "Job")),
        ({"apiVersion": "v1", "kind": "Pod"}, False, ("v1", "Pod")),
        ({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"}, False,
         ("apiextensions.k8s.io/v1", "CustomResourceDefinition")),
        ({"apiVersion": "v1", "kind": "Service", "spec": {"selector": {"a": "b"}}}, False, None),
        ({"apiVersion": "v1", "kind": "Service", "spec": {"selector": {"a": "b"}}}, True, ("v1", "Endpoints")),
        ({"apiVersion": "v1", "kind": "Service", "spec": {}}, True, None),  # no selector: nobody fills endpoints
        ({"apiVersion": "v1", "kind": "ConfigMap"}, True, None),
        ({"apiVersion": "example.com/v1", "kind": "Deployment"}, False, None),  # a custom kind of that name
    ],
)  # fmt: skip
def test_watched_kind(
    doc: dict[str, Any], wait_for_endpoints: bool, expected: tuple[str, str] | None
) -> None:
    assert watched_kind(doc, wait_for_endpoints=wait_for_endpoints) == expected


def deployment(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "generation": 1}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, **status}}  # fmt: skip


def test_rollouts() -> None:
    waiting = judge("apps/v1", "Deployment", deployment(replicas=2, updatedReplicas=2, availableReplicas=1))
    assert (waiting.state, waiting.message) == (
        "waiting",
        'Waiting for deployment "web" rollout to finish: 1 of 2 updated replicas are available...',
    )
    done = judge("apps/v1", "Deployment", deployment(replicas=2, updatedReplicas=2, availableReplicas=2))
    assert done.ready
    stuck = deployment(
        conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    )
    assert judge("apps/v1", "Deployment", stuck).failed


def test_jobs_pods_crds_endpoints() -> None:
    failed_job = {"metadata": {"name": "j", "namespace": "n"}, "spec": {}, "status": {"failed": 1, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "limit"}]}}  # fmt: skip
    assert judge("batch/v1", "Job", failed_job).failed
    assert "BackoffLimitExceeded" in judge("batch/v1", "Job", failed_job).message
    assert (
        judge("batch/v1", "Job", {"metadata": {"name": "j"}, "spec": {}, "status": {"active": 1}}).state
        == "waiting"
    )

    ready_pod = {"metadata": {"name": "p", "namespace": "n"},
                 "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip
    assert judge("v1", "Pod", ready_pod).ready
    pulling = {"metadata": {"name": "p", "namespace": "n"}, "status": {"phase": "Pending", "containerStatuses": [
        {"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling"}}}]}}  # fmt: skip
    verdict = judge("v1", "Pod", pulling)
    assert verdict.state == "waiting" and "ImagePullBackOff" in verdict.message
    assert judge("v1", "Pod", {"metadata": {"name": "p"}, "status": {"phase": "Failed"}}).failed

    crd = {"metadata": {"name": "ws.example.com"}, "status": {"conditions": [
        {"type": "NamesAccepted", "status": "False", "reason": "Conflict", "message": "plural in use"}]}}  # fmt: skip
    assert judge("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd).failed
    crd["status"]["conditions"] = [{"type": "Established", "status": "True"}]
    assert judge("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd).ready

    endpoints = {
        "metadata": {"name": "web", "namespace": "n"},
        "subsets": [{"notReadyAddresses": [{"ip": "1"}]}],
    }
    assert (
        judge("v1", "Endpoints", endpoints).message
        == "service n/web has no ready endpoints yet (1 not ready)"
    )
    endpoints["subsets"][0]["addresses"] = [{"ip": "2"}]
    assert judge("v1", "Endpoints", endpoints).ready
    assert judge("v1", "ConfigMap", {"metadata": {"name": "c"}}).ready
