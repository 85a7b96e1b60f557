"""Pure judgements behind deploy, rollback, scale and autoscale: kube.deploy, kube.scaling,
kube.autoscaling and kube.workloads over plain dicts."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_k8s_workflows.kube.autoscaling import hpa_manifest
from airflow_k8s_workflows.kube.deploy import (
    choose_container,
    container_image,
    deadline_marker,
    set_image_patch,
    split_deploy_manifests,
    without_stale_deadline,
)
from airflow_k8s_workflows.kube.rollout import rollout_status
from airflow_k8s_workflows.kube.scaling import ReplicasRequest, parse_replicas, scale_status, target_replicas
from airflow_k8s_workflows.kube.workloads import (
    controlled_pods,
    diagnose,
    label_selector_text,
    new_replica_set,
    warning_lines,
)


def template(image: str, hash_: str | None = None) -> dict[str, Any]:
    labels = {"app": "web", **({"pod-template-hash": hash_} if hash_ else {})}
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main", "image": image}]}}


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "uid": "d-1", "generation": 3},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template("busybox:2")},
    "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1,
               "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                               "message": 'ReplicaSet "web-a" has timed out progressing.',
                               "lastUpdateTime": "2030-01-01T00:00:00Z"}]},
}  # fmt: skip


def rs(name: str, image: str, created: str, owner: str = "d-1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"u-{name}", "namespace": "default", "creationTimestamp": created,
                     "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": owner, "controller": True}]},
        "spec": {"template": template(image, name[-1])},
    }  # fmt: skip


def test_new_replica_set_is_the_oldest_with_the_current_template() -> None:
    sets = [rs("web-c", "busybox:2", "2030-01-01T00:00:09Z"), rs("web-a", "busybox:1", "2030-01-01T00:00:01Z"),
            rs("web-b", "busybox:2", "2030-01-01T00:00:05Z"), rs("web-x", "busybox:2", "2030-01-01T00:00:00Z", "other")]  # fmt: skip
    found = new_replica_set(DEPLOYMENT, sets)
    assert found is not None and found["metadata"]["name"] == "web-b"
    assert (
        new_replica_set({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "template": template("nginx")}}, sets)
        is None
    )


def test_controlled_pods_by_controller_uid() -> None:
    def pod(name: str, uid: str, controller: bool = True) -> dict[str, Any]:
        return {"metadata": {"name": name, "ownerReferences": [{"uid": uid, "controller": controller}]}}

    pods = [
        pod("b", "u-web-b"),
        pod("a", "u-web-b"),
        pod("c", "u-web-c"),
        pod("d", "u-web-b", controller=False),
    ]
    assert [p["metadata"]["name"] for p in controlled_pods({"metadata": {"uid": "u-web-b"}}, pods)] == [
        "a",
        "b",
    ]


def test_label_selector_text() -> None:
    selector = {"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["x", "y"]}, {"key": "env", "operator": "NotIn", "values": ["dev"]},
        {"key": "canary", "operator": "Exists"}, {"key": "legacy", "operator": "DoesNotExist"}]}  # fmt: skip
    assert label_selector_text(selector) == "a=1,b=2,tier in (x,y),env notin (dev),canary,!legacy"
    assert label_selector_text(None) == ""


def event(
    name: str, reason: str, when: str, kind: str = "Pod", type_: str = "Warning", count: int = 1
) -> dict[str, Any]:
    return {"involvedObject": {"kind": kind, "name": name}, "reason": reason, "message": f"{reason} happened",
            "type": type_, "lastTimestamp": when, "count": count, "metadata": {"name": f"{name}.{reason}"}}  # fmt: skip


def test_warning_lines_are_the_newest_about_the_named_objects() -> None:
    events = [
        event("web-b-1", "BackOff", "2030-01-01T00:00:03Z", count=4),
        event("web-b-1", "Failed", "2030-01-01T00:00:01Z"),
        event("other", "Failed", "2030-01-01T00:00:02Z"),
        event("web-b-1", "Pulled", "2030-01-01T00:00:02Z", type_="Normal"),
        event("web-b", "FailedCreate", "2030-01-01T00:00:04Z", kind="ReplicaSet"),
    ]
    assert warning_lines(events, {"web-b-1", "web-b"}) == [
        "Warning Failed pod/web-b-1: Failed happened",
        "Warning BackOff pod/web-b-1: BackOff happened (x4)",
        "Warning FailedCreate replicaset/web-b: FailedCreate happened",
    ]
    assert len(warning_lines(events, {"web-b-1", "web-b"}, limit=1)) == 1


def test_diagnose_combines_pod_problems_and_warnings() -> None:
    pod = {"metadata": {"name": "web-b-1", "namespace": "default"}, "status": {"phase": "Pending", "containerStatuses": [
        {"name": "main", "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "nope"}}}]}}  # fmt: skip
    report = diagnose([pod, pod], [event("web-b-1", "Failed", "2030-01-01T00:00:01Z")], {"web"})
    assert report.problems == (
        "pod default/web-b-1 container main: ImagePullBackOff: nope (check the image name and tag, and that the "
        "node can reach the registry (imagePullSecrets for a private one))",
    )
    assert report.text().splitlines()[0] == "pod problems:"
    assert "recent Warning events:\n  Warning Failed pod/web-b-1: Failed happened" in report.text()
    assert diagnose([], [], set()).text() == ""


def test_choose_container_and_the_set_image_patch() -> None:
    two = {"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "a"}, {"name": "sidecar", "image": "b"}]}}}}  # fmt: skip
    assert choose_container(DEPLOYMENT, None) == "main"
    assert choose_container(two, "sidecar") == "sidecar"
    assert container_image(two, "sidecar") == "b" and container_image(two, "x") is None
    with pytest.raises(ValueError, match=r"container: deployment 'web' has 2 containers; name the one"):
        choose_container(two, None)
    with pytest.raises(ValueError, match=r"container: deployment 'web' has no container 'x'; choose one of"):
        choose_container(two, "x")
    assert set_image_patch("main", "busybox:3") == {
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox:3"}]}}}
    }


def test_split_deploy_manifests() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    deployment, others = split_deploy_manifests([cm, DEPLOYMENT])
    assert deployment == DEPLOYMENT and others == [cm]
    with pytest.raises(
        ValueError, match=r"manifest: must hold exactly one Deployment, got 0 in \['ConfigMap/c'\]"
    ):
        split_deploy_manifests([cm])
    with pytest.raises(
        ValueError, match="manifest: the Deployment must be apps/v1, got 'extensions/v1beta1'"
    ):
        split_deploy_manifests([{**DEPLOYMENT, "apiVersion": "extensions/v1beta1"}])


def test_a_left_over_deadline_is_hidden_only_while_it_is_the_same_condition() -> None:
    marker = deadline_marker(DEPLOYMENT)
    assert marker == '2030-01-01T00:00:00Z|ReplicaSet "web-a" has timed out progressing.'
    assert rollout_status(DEPLOYMENT).reason == "ProgressDeadlineExceeded"
    settled = rollout_status(without_stale_deadline(DEPLOYMENT, marker))
    assert (settled.done, settled.failed) == (False, False)
    assert (
        settled.message
        == 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...'
    )
    assert DEPLOYMENT["status"]["conditions"], "the input is not changed"
    newer = {**DEPLOYMENT, "status": {**DEPLOYMENT["status"], "conditions": [
        {**DEPLOYMENT["status"]["conditions"][0], "lastUpdateTime": "2030-01-01T00:09:00Z"}]}}  # fmt: skip
    assert without_stale_deadline(newer, marker) is newer
    assert deadline_marker({"status": {}}) is None and without_stale_deadline(DEPLOYMENT, None) is DEPLOYMENT


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, ReplicasRequest(False, 3)), ("3", ReplicasRequest(False, 3)), (" 0 ", ReplicasRequest(False, 0)),
     ("+2", ReplicasRequest(True, 2)), ("-2", ReplicasRequest(True, -2)), ("+0", ReplicasRequest(True, 0))],
)  # fmt: skip
def test_parse_replicas(value: Any, expected: ReplicasRequest) -> None:
    assert parse_replicas(value) == expected


@pytest.mark.parametrize("value", [-1, "x", "", "1.5", "++1", None, 2.0, True, "- 1"])
def test_parse_replicas_refuses(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^replicas: "):
        parse_replicas(value)


@pytest.mark.parametrize(
    ("request_", "current", "low", "high", "expected"),
    [
        (ReplicasRequest(True, 2), 3, None, None, 5),
        (ReplicasRequest(True, 9), 3, None, 6, 6),
        (ReplicasRequest(True, -9), 3, None, None, 0),
        (ReplicasRequest(True, -9), 3, 2, None, 2),
        (ReplicasRequest(False, 4), 3, 1, 4, 4),
    ],
)
def test_target_replicas(request_: ReplicasRequest, current: int, low: int | None, high: int | None,
                         expected: int) -> None:  # fmt: skip
    assert target_replicas(request_, current, low, high) == expected


def test_target_replicas_refuses_out_of_bounds() -> None:
    with pytest.raises(ValueError, match=r"replicas: 5 is above max_replicas \(4\)"):
        target_replicas(ReplicasRequest(False, 5), 1, None, 4)
    with pytest.raises(ValueError, match=r"replicas: 1 is below min_replicas \(2\)"):
        target_replicas(ReplicasRequest(False, 1), 3, 2, None)
    with pytest.raises(ValueError, match="replicas: \\+2 gives 10001, above 10000; set max_replicas"):
        target_replicas(ReplicasRequest(True, 2), 9999)


def sts(**status: Any) -> dict[str, Any]:
    return {"kind": "StatefulSet", "metadata": {"name": "db", "generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, **status}}  # fmt: skip


@pytest.mark.parametrize(
    ("obj", "done", "message"),
    [
        (
            {**sts(), "status": {"observedGeneration": 1}},
            False,
            "Waiting for statefulset spec update to be observed...",
        ),
        (
            sts(replicas=3, readyReplicas=1),
            False,
            'Waiting for statefulset "db" to scale to 3: 1 of 3 replicas are ready...',
        ),
        (
            sts(replicas=5, readyReplicas=5),
            False,
            'Waiting for statefulset "db" to scale to 3: 2 extra replicas are pending termination...',
        ),
        (sts(replicas=3, readyReplicas=3), True, 'statefulset "db" scaled to 3 ready replicas'),
        (
            {**sts(replicas=3, readyReplicas=3), "kind": "ReplicaSet"},
            True,
            'replica set "db" scaled to 3 ready replicas',
        ),
    ],
)
def test_scale_status(obj: dict[str, Any], done: bool, message: str) -> None:
    verdict = scale_status(obj)
    assert (verdict.done, verdict.failed, verdict.message) == (done, False, message)


def test_scale_status_of_a_deployment_is_its_rollout_status() -> None:
    assert scale_status(DEPLOYMENT) == rollout_status(DEPLOYMENT)
    with pytest.raises(ValueError, match="kind: cannot scale 'DaemonSet'"):
        scale_status({"kind": "DaemonSet"})


def test_hpa_manifest() -> None:
    hpa = hpa_manifest("StatefulSet", "db", "prod", min_replicas=2, max_replicas=5, target_cpu_utilization=70)
    assert hpa == {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "db", "namespace": "prod"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"},
            "minReplicas": 2,
            "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 70}}}],
        },
    }  # fmt: skip
    obj = [{"type": "Object", "object": {"describedObject": {"apiVersion": "v1", "kind": "Service", "name": "s"},
                                         "metric": {"name": "rps"}, "target": {"type": "Value", "value": "10k"}}}]  # fmt: skip
    assert (
        hpa_manifest("Deployment", "web", "p", min_replicas=1, max_replicas=1, metrics=obj)["spec"]["metrics"]
        == obj
    )
    with pytest.raises(ValueError, match=r"metrics\[0\].object.describedObject: Required value"):
        hpa_manifest("Deployment", "web", "p", min_replicas=1, max_replicas=2,
                     metrics=[{"type": "Object", "object": {"metric": {"name": "x"}}}])  # fmt: skip
    with pytest.raises(
        ValueError, match=r"metrics\[0\]: type Resource takes only 'resource', also got \['pods'\]"
    ):
        hpa_manifest("Deployment", "web", "p", min_replicas=1, max_replicas=2,
                     metrics=[{"type": "Resource", "resource": {}, "pods": {}}])  # fmt: skip
    with pytest.raises(ValueError, match=r"metrics\[0\].resource.target: type Utilization needs exactly "
                                         r"'averageUtilization', got \['averageUtilization', 'value'\]"):  # fmt: skip
        hpa_manifest("Deployment", "web", "p", min_replicas=1, max_replicas=2, metrics=[{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 5, "value": "1"}}}])  # fmt: skip
