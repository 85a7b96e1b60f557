"""RBAC for bearer tokens and the fault injection API, observed through real clients."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.conftest import Kubectl
from tests.helpers import wait_for


@pytest.fixture
def rbac_emulator(tmp_path: Path) -> Any:
    with KubeEmulator(speed=20, workdir=tmp_path / "emu", rbac=True) as emu:
        yield emu


def _client_for(emu: KubeEmulator, token: str, tmp_path: Path) -> client.ApiClient:
    return config.new_client_from_config(emu.kubeconfig_for(token, tmp_path / "kc.yaml"))


def test_service_account_token_is_authorized_by_role_bindings(
    rbac_emulator: KubeEmulator, tmp_path: Path
) -> None:
    emu = rbac_emulator
    admin = client.RbacAuthorizationV1Api(config.new_client_from_config(emu.kubeconfig))
    token = emu.issue_token("default/airflow")
    v1 = client.CoreV1Api(_client_for(emu, token, tmp_path))
    with pytest.raises(ApiException) as err:
        v1.list_namespaced_config_map("default")
    body = json.loads(err.value.body)
    assert err.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'configmaps is forbidden: User "system:serviceaccount:default:airflow" cannot list resource '
        '"configmaps" in API group "" in the namespace "default"'
    )
    admin.create_namespaced_role("default", {
        "metadata": {"name": "cm-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
    })  # fmt: skip
    admin.create_namespaced_role_binding("default", {
        "metadata": {"name": "airflow-cm-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "airflow", "namespace": "default"}],
    })  # fmt: skip
    assert [c.metadata.name for c in v1.list_namespaced_config_map("default").items] == ["kube-root-ca.crt"]
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    assert 'cannot create resource "configmaps"' in json.loads(err.value.body)["message"]
    with pytest.raises(ApiException) as err:
        v1.list_namespaced_config_map("kube-system")
    assert 'in the namespace "kube-system"' in json.loads(err.value.body)["message"]


def test_subresources_and_cluster_roles(rbac_emulator: KubeEmulator, tmp_path: Path) -> None:
    emu = rbac_emulator
    admin = client.RbacAuthorizationV1Api(config.new_client_from_config(emu.kubeconfig))
    token = emu.issue_token("team/deployer")
    apps = client.AppsV1Api(_client_for(emu, token, tmp_path))
    admin.create_cluster_role_binding({
        "metadata": {"name": "deployer-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "team"}],
    })  # fmt: skip
    assert apps.list_namespaced_deployment("default").items == []
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 2}})
    message = json.loads(err.value.body)["message"]
    assert message.startswith('deployments.apps "web" is forbidden:')
    assert 'cannot patch resource "deployments/scale" in API group "apps"' in message


def test_self_subject_access_review(rbac_emulator: KubeEmulator, tmp_path: Path) -> None:
    # what `kubectl auth can-i` asks (kubectl itself sends protobuf there: docs/emulator.md, Limitations)
    emu = rbac_emulator
    robot = client.AuthorizationV1Api(_client_for(emu, emu.issue_token("default/robot"), tmp_path))

    def can_i(verb: str, resource: str, group: str = "") -> bool:
        review = robot.create_self_subject_access_review({"spec": {"resourceAttributes": {
            "verb": verb, "resource": resource, "group": group, "namespace": "default"}}})  # fmt: skip
        return bool(review.status.allowed)

    assert not can_i("list", "pods")
    Kubectl(emu.kubeconfig, tmp_path)("apply", "-f", "-", input=json.dumps({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "robot-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}]}))  # fmt: skip
    assert can_i("list", "pods")
    assert can_i("patch", "deployments", "apps")
    assert not can_i("delete", "roles", "rbac.authorization.k8s.io")


def test_unknown_token_is_401(rbac_emulator: KubeEmulator) -> None:
    import ssl

    assert rbac_emulator.url.startswith("https://"), "kubectl sends bearer tokens over HTTPS only"
    ctx = ssl.create_default_context(cafile=rbac_emulator.ca_file)
    req = urllib.request.Request(
        f"{rbac_emulator.url}/api/v1/namespaces", headers={"Authorization": "Bearer nope"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, context=ctx)
    assert err.value.code == 401
    # health and metrics stay anonymous for probes and Prometheus
    assert urllib.request.urlopen(f"{rbac_emulator.url}/metrics", context=ctx).status == 200


def test_error_bursts_with_retry_after(emulator: KubeEmulator, k8s: client.ApiClient) -> None:
    url = f"{emulator.url}/api/v1/namespaces/default/configmaps"
    emulator.faults.set(errors=[{"code": 429, "count": 1, "retry_after": 3, "resources": ["configmaps"]}])
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url)
    assert err.value.code == 429 and err.value.headers["Retry-After"] == "3"
    assert json.loads(err.value.read())["reason"] == "TooManyRequests"
    urllib.request.urlopen(
        f"{emulator.url}/api/v1/namespaces/default/pods"
    ).read()  # other resources unaffected
    # the kubernetes client's urllib3 retries a 429 with Retry-After three times, then gives up
    v1 = client.CoreV1Api(k8s)
    emulator.faults.set(errors=[{"code": 429, "count": 5, "retry_after": 0, "resources": ["configmaps"]}])
    with pytest.raises(ApiException) as api_err:
        v1.list_namespaced_config_map("default")
    assert api_err.value.status == 429
    assert emulator.faults.injected["http-429"] == 1 + 4
    emulator.faults.clear()
    emulator.faults.set(errors=[{"code": 503, "count": 1, "verbs": ["POST"]}])
    with pytest.raises(ApiException) as api_err:
        v1.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert api_err.value.status == 503
    v1.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert emulator.faults.injected["http-503"] == 1


def test_faults_over_http_and_latency(emulator: KubeEmulator) -> None:
    req = urllib.request.Request(
        f"{emulator.url}/_emulator/faults", data=json.dumps({"latency": 0.3}).encode(), method="POST"
    )
    assert json.loads(urllib.request.urlopen(req).read())["latency"] == 0.3
    started = time.monotonic()
    urllib.request.urlopen(f"{emulator.url}/api/v1/namespaces").read()
    assert time.monotonic() - started >= 0.3
    urllib.request.urlopen(urllib.request.Request(f"{emulator.url}/_emulator/faults", method="DELETE")).read()
    assert emulator.faults.latency == 0.0


def test_drop_watch_every_n_events(emulator: KubeEmulator, k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    for i in range(5):
        v1.create_namespaced_config_map("default", {"metadata": {"name": f"d{i}"}})
    emulator.faults.set(drop_watch_every=2)
    events = [e["object"].metadata.name for e in watch.Watch().stream(
        v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5)]  # fmt: skip
    assert events == ["d0", "d1"], "the stream closes after 2 events"
    assert emulator.faults.injected["watch-drop"] == 1


def test_expired_resume(emulator: KubeEmulator, k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    emulator.faults.set(expire_watch_resumes=1)
    with pytest.raises(ApiException) as err:
        list(
            watch.Watch().stream(
                v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
            )
        )
    assert err.value.status == 410
    assert (
        list(
            watch.Watch().stream(
                v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
            )
        )
        == []
    )


def test_restart_api_keeps_or_loses_state(emulator: KubeEmulator, k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    v1.create_namespaced_config_map("default", {"metadata": {"name": "survivor"}})
    refused: list[bool] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(f"{emulator.url}/healthz", timeout=0.5)
            refused.append(False)
        except OSError:
            refused.append(True)

    t = threading.Thread(target=emulator.restart_api, kwargs={"downtime": 1.0})
    t.start()
    wait_for(lambda: (probe(), refused[-1])[1], timeout=5, message="API down")
    t.join()
    assert v1.read_namespaced_config_map("survivor", "default").metadata.name == "survivor"
    emulator.restart_api(downtime=0.1, keep_state=False)
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_config_map("survivor", "default")
    assert err.value.status == 404
    assert v1.read_namespace("default").metadata.name == "default", "bootstrap objects come back"
