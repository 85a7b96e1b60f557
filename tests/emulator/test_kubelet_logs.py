"""``pods/log`` as served by the kubelet: tail, timestamps, limits, since, previous, follow through
the official client and ``kubectl logs -f``, and throughput."""

from __future__ import annotations

import json
import re
import sys
import time

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.conftest import Kubectl
from tests.emulator.pod_helpers import (
    NS,
    annotations_pod,
    container_status,
    log,
    phase_is,
    pod,
    raw,
    sh,
    state_of,
    wait_pod,
)
from tests.helpers import wait_for

# A container that prints "first", waits until the ConfigMap "go" exists (asking the API server
# through KUBERNETES_SERVICE_HOST/PORT, as an in-cluster client would), then prints "second".
WAIT_FOR_GO = """
import os, time, urllib.request
print("first", flush=True)
url = "http://%s:%s/api/v1/namespaces/default/configmaps/go" % (
    os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
while True:
    try:
        urllib.request.urlopen(url)
        break
    except Exception:
        time.sleep(0.02)
print("second", flush=True)
"""
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (.*)$")


@pytest.fixture
def core(k8s: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(k8s)


def _running_with_output(core: client.CoreV1Api, name: str, lines: int) -> None:
    wait_pod(core, name, lambda p: "running" in state_of(p) and len(log(core, name).splitlines()) >= lines)


def test_tail_timestamps_limit_and_since(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, sh("p", "seq 1 10; sleep 1000", restart="Always"))
    _running_with_output(core, "p", 10)
    assert log(core, "p") == "".join(f"{i}\n" for i in range(1, 11))
    assert log(core, "p", tail_lines=3) == "8\n9\n10\n"
    assert log(core, "p", tail_lines=0) == ""
    assert log(core, "p", limit_bytes=5) == "1\n2\n3"
    stamped = log(core, "p", timestamps=True, tail_lines=2).splitlines()
    assert [TIMESTAMPED.match(line).group(1) for line in stamped] == ["9", "10"]  # type: ignore[union-attr]
    assert log(core, "p", since_seconds=3600) == log(core, "p")
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    resp = core.api_client.call_api(f"/api/v1/namespaces/{NS}/pods/p/log", "GET", query_params=[("sinceTime", future)],
                                    _preload_content=False)  # fmt: skip
    assert resp.data == b""


def test_follow_streams_until_the_container_ends(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, pod("p", sys.executable, "-c", WAIT_FOR_GO))
    _running_with_output(core, "p", 1)
    stream = core.read_namespaced_pod_log("p", NS, follow=True, _preload_content=False)
    chunks = stream.stream(1024)
    assert next(chunks) == b"first\n"
    assert "running" in state_of(raw(core, "p") or {}), "the first line arrived while the container ran"
    core.create_namespaced_config_map(NS, {"metadata": {"name": "go"}})
    assert b"".join(chunks) == b"second\n"
    assert wait_pod(core, "p", phase_is("Succeeded", "Failed"))["status"]["phase"] == "Succeeded"


def test_kubectl_logs_follow(core: client.CoreV1Api, kubectl: Kubectl) -> None:
    core.create_namespaced_pod(NS, pod("p", sys.executable, "-c", WAIT_FOR_GO))
    _running_with_output(core, "p", 1)
    proc = kubectl.popen("logs", "-f", "p")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "first\n"
        core.create_namespaced_config_map(NS, {"metadata": {"name": "go"}})
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert (out, proc.returncode) == ("second\n", 0), err


def test_kubectl_logs_previous_tail_and_containers(core: client.CoreV1Api, kubectl: Kubectl) -> None:
    script = "n=$(cat /work/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /work/n; echo run $n; [ $n -ge 2 ] && sleep 1000; exit 1"
    body = sh("p", script, restart="Always", volumeMounts=[{"name": "work", "mountPath": "/work"}])
    body["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}]
    body["spec"]["initContainers"] = [
        {"name": "setup", "image": "busybox", "command": ["sh", "-c", "echo prepared"]}
    ]
    core.create_namespaced_pod(NS, body)
    wait_pod(core, "p", lambda p: container_status(p)["restartCount"] == 1 and "running" in state_of(p))
    wait_for(lambda: log(core, "p") == "run 2\n")
    assert kubectl("logs", "p").stdout == "run 2\n"
    assert kubectl("logs", "p", "--previous").stdout == "run 1\n"
    assert kubectl("logs", "p", "-c", "setup").stdout == "prepared\n"
    assert kubectl("logs", "p", "--tail=1", "--timestamps").stdout.endswith(" run 2\n")


def test_log_errors(core: client.CoreV1Api) -> None:
    body = pod("two", restart="Always")
    body["spec"]["containers"].append({"name": "d", "image": "busybox"})
    core.create_namespaced_pod(NS, body)
    delayed = annotations_pod("slow", {"emulator.airflow-k8s-workflows.io/start-delay-seconds": "600"})
    core.create_namespaced_pod(NS, delayed)
    wait_pod(core, "slow", lambda p: state_of(p).get("waiting", {}).get("reason") == "ContainerCreating")
    for name, params, message in [
        ("two", {}, "a container name must be specified for pod two, choose one of: [c d]"),
        ("two", {"container": "x"}, "container x is not valid for pod two"),
        ("slow", {}, 'container "c" in pod "slow" is waiting to start: ContainerCreating'),
        (
            "two",
            {"container": "c", "previous": True},
            'previous terminated container "c" in pod "two" not found',
        ),
    ]:
        with pytest.raises(ApiException) as err:
            log(core, name, **params)
        assert (err.value.status, json.loads(err.value.body)["message"]) == (400, message)


def test_follow_ends_when_the_pod_is_deleted(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, sh("p", "echo up; sleep 1000", restart="Always"))
    _running_with_output(core, "p", 1)
    stream = core.read_namespaced_pod_log("p", NS, follow=True, _preload_content=False)
    core.delete_namespaced_pod("p", NS, grace_period_seconds=0)
    assert stream.read() == b"up\n"


def test_log_throughput(core: client.CoreV1Api) -> None:
    lines = 200_000
    script = f"import sys\nw = sys.stdout.write\nfor i in range({lines}):\n    w('line %d of the benchmark output\\n' % i)\n"
    started = time.monotonic()
    core.create_namespaced_pod(NS, pod("p", sys.executable, "-c", script))
    wait_pod(core, "p", lambda p: "running" in state_of(p) or "terminated" in state_of(p))
    received = 0
    last = b""
    for chunk in core.read_namespaced_pod_log("p", NS, follow=True, _preload_content=False).stream(1 << 16):
        received += chunk.count(b"\n")
        last = chunk
    elapsed = time.monotonic() - started
    assert received == lines and last.endswith(b"line 199999 of the benchmark output\n")
    # the target is 50,000 lines/s end to end; the bound leaves room for a loaded machine
    assert lines / elapsed > 25_000, f"{lines / elapsed:.0f} lines/s"
