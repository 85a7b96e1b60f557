"""Pod defaulting and validation as the real API server does them, seen through the official client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.kinds.pods import default_pod_spec, qos_class, validate_pod_spec


@pytest.fixture
def core(tmp_path: Path) -> Iterator[client.CoreV1Api]:
    # API behaviour only: no scheduler or kubelet writing to the pods
    with KubeEmulator(speed=20, workdir=tmp_path / "emu", controllers=False, kubelet=False) as emu:
        api_client = config.new_client_from_config(emu.kubeconfig)
        yield client.CoreV1Api(api_client)
        api_client.close()


def _raw_create(core: client.CoreV1Api, body: dict[str, Any]) -> dict[str, Any]:
    resp = core.create_namespaced_pod("default", body, _preload_content=False)
    return json.loads(resp.data)


def _invalid(core: client.CoreV1Api, body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("default", body)
    assert err.value.status == 422
    return json.loads(err.value.body)


def test_pod_defaults(core: client.CoreV1Api) -> None:
    pod = _raw_create(core, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "ports": [{"containerPort": 80}],
         "readinessProbe": {"exec": {"command": ["true"]}}},
        {"name": "d", "image": "busybox:1.36", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
    ]}})  # fmt: skip
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["priority"] == 0
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    ]  # fmt: skip
    c, d = spec["containers"]
    assert c["imagePullPolicy"] == "Always"
    assert d["imagePullPolicy"] == "IfNotPresent"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["resources"] == {}
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["readinessProbe"] == {"exec": {"command": ["true"]}, "timeoutSeconds": 1, "periodSeconds": 10,
                                   "successThreshold": 1, "failureThreshold": 3}  # fmt: skip
    # a pod (not a template) requests what it limits
    assert d["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert pod["status"] == {"phase": "Pending", "qosClass": "Burstable"}


def test_template_defaults_leave_out_pod_only_fields() -> None:
    spec = default_pod_spec({"containers": [{"name": "c", "image": "nginx:latest",
                                              "resources": {"limits": {"cpu": "1"}}}]})  # fmt: skip
    assert spec == {
        "containers": [{"name": "c", "image": "nginx:latest", "imagePullPolicy": "Always",
                        "resources": {"limits": {"cpu": "1"}}, "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"}],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "securityContext": {}, "schedulerName": "default-scheduler",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({}, "BestEffort"),
        ({"requests": {"cpu": "100m"}}, "Burstable"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        (
            {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
            "Burstable",
        ),
    ],
)
def test_qos_class(resources: dict[str, Any], expected: str) -> None:
    assert qos_class({"containers": [{"name": "c", "image": "x", "resources": resources}]}) == expected


def test_missing_containers(core: client.CoreV1Api) -> None:
    status = _invalid(core, {"metadata": {"name": "p"}, "spec": {"containers": []}})
    assert status["message"] == 'Pod "p" is invalid: spec.containers: Required value'
    assert status["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}
    ]


def test_missing_image(core: client.CoreV1Api) -> None:
    status = _invalid(core, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}})
    assert status["message"] == 'Pod "p" is invalid: spec.containers[0].image: Required value'


def test_container_names_are_dns_labels_and_unique(core: client.CoreV1Api) -> None:
    status = _invalid(core, {"metadata": {"name": "p"}, "spec": {
        "initContainers": [{"name": "a", "image": "x"}],
        "containers": [{"name": "Bad_Name", "image": "x"}, {"name": "a", "image": "x"}],
    }})  # fmt: skip
    causes = status["details"]["causes"]
    assert causes[0]["field"] == "spec.containers[0].name"
    assert causes[0]["reason"] == "FieldValueInvalid"
    assert causes[0]["message"].startswith(
        'Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist of'
    )
    assert causes[1] == {"reason": "FieldValueDuplicate", "message": 'Duplicate value: "a"',
                         "field": "spec.containers[1].name"}  # fmt: skip


def test_restart_policy_values(core: client.CoreV1Api) -> None:
    status = _invalid(core, {"metadata": {"name": "p"}, "spec": {
        "restartPolicy": "Sometimes", "containers": [{"name": "c", "image": "x"}]}})  # fmt: skip
    assert status["message"] == (
        'Pod "p" is invalid: spec.restartPolicy: Unsupported value: "Sometimes": '
        'supported values: "Always", "OnFailure", "Never"'
    )


def test_volume_mount_must_name_a_volume(core: client.CoreV1Api) -> None:
    status = _invalid(core, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}})  # fmt: skip
    assert (
        status["message"] == 'Pod "p" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "data"'
    )


def test_validate_pod_spec_on_a_template_path() -> None:
    causes = validate_pod_spec({"containers": [{"name": "c"}]}, "spec.template.spec")
    assert [c.text() for c in causes] == ["spec.template.spec.containers[0].image: Required value"]


def test_image_may_change_but_not_the_command(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "1"]}]}})  # fmt: skip
    patched = core.patch_namespaced_pod("p", "default", [
        {"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:1.37"},
        {"op": "add", "path": "/spec/activeDeadlineSeconds", "value": 60},
        {"op": "add", "path": "/spec/tolerations/-", "value": {"key": "k", "operator": "Exists"}},
    ])  # fmt: skip
    assert patched.spec.containers[0].image == "busybox:1.37"
    assert patched.spec.active_deadline_seconds == 60
    assert patched.metadata.generation == 2
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod("p", "default", [
            {"op": "replace", "path": "/spec/containers/0/command", "value": ["sleep", "2"]}])  # fmt: skip
    assert err.value.status == 422
    status = json.loads(err.value.body)
    assert status["message"].startswith(
        'Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other than '
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
        "`spec.tolerations` (only additions to existing tolerations)"
    )
    assert status["details"]["causes"][0]["reason"] == "FieldValueForbidden"


def test_tolerations_may_only_be_added(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "x"}], "tolerations": [{"key": "k", "operator": "Exists"}]}})  # fmt: skip
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod("p", "default", [{"op": "remove", "path": "/spec/tolerations/0"}])
    assert err.value.status == 422


def test_probe_handlers(core: client.CoreV1Api) -> None:
    two = {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}
    status = _invalid(core, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "x", "readinessProbe": two, "livenessProbe": {"periodSeconds": 5}}]}})  # fmt: skip
    assert [(c["field"], c["message"]) for c in status["details"]["causes"]] == [
        ("spec.containers[0].livenessProbe", "Required value: must specify a handler type"),
        (
            "spec.containers[0].readinessProbe.tcpSocket",
            "Forbidden: may not specify more than 1 handler type",
        ),
    ]
