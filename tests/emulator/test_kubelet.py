"""The kubelet as clients see it: containers run as local processes, pod status as the real
kubelet writes it, restarts, probes, config and volumes, graceful deletion, and no process left
behind. Everything is observed through the official ``kubernetes`` client."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.emulator.pod_helpers import (
    NS,
    condition,
    container_status,
    create,
    event_reasons,
    events,
    log,
    phase_is,
    pod,
    raw,
    sh,
    state_of,
    wait_event,
    wait_pod,
    waiting_reason,
    watch_until,
)
from tests.helpers import wait_for


@pytest.fixture
def core(k8s: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(k8s)


def test_echo_succeeds_with_its_output(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, sh("p", "echo hi"))
    p = wait_pod(core, "p", phase_is("Succeeded", "Failed"))
    assert p["status"]["phase"] == "Succeeded"
    assert log(core, "p") == "hi\n"
    cs = container_status(p)
    terminated = cs["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert (
        re.fullmatch(r"emulator://[0-9a-f]{64}", cs["containerID"])
        and terminated["containerID"] == cs["containerID"]
    )
    assert cs["image"] == "docker.io/library/busybox:1.36"
    assert cs["imageID"].startswith("docker.io/library/busybox@sha256:")
    assert (cs["ready"], cs["started"], cs["restartCount"], cs["lastState"]) == (False, False, 0, {})
    status = p["status"]
    assert status["hostIP"] == "172.18.0.2" and status["hostIPs"] == [{"ip": "172.18.0.2"}]
    assert re.fullmatch(r"10\.244\.0\.\d+", status["podIP"]) and status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["startTime"] and status["qosClass"] == "BestEffort"
    assert [(c["type"], c["status"], c.get("reason")) for c in status["conditions"]] == [
        ("PodReadyToStartContainers", "False", None),
        ("Initialized", "True", None),
        ("Ready", "False", "PodCompleted"),
        ("ContainersReady", "False", "PodCompleted"),
        ("PodScheduled", "True", None),
    ]
    kubelet_events = [e for e in events(core, "p") if e.source.component == "kubelet"]
    assert {(e.reason, e.message) for e in kubelet_events} >= {
        ("Pulling", 'Pulling image "busybox:1.36"'),
        ("Created", "Created container: c"),
        ("Started", "Started container c"),
    }
    for e in kubelet_events:
        assert e.source.host == "emulator-node-0"
        assert e.involved_object.field_path == "spec.containers{c}"


def test_running_pod_status(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, pod("p", restart="Always"))  # no command: an idle container
    p = wait_pod(core, "p", lambda p: condition(p, "Ready").get("status") == "True")
    assert p["status"]["phase"] == "Running"
    cs = container_status(p)
    assert "startedAt" in cs["state"]["running"]
    assert (cs["ready"], cs["started"]) == (True, True)
    assert [(c["type"], c["status"]) for c in p["status"]["conditions"]] == [
        ("PodReadyToStartContainers", "True"), ("Initialized", "True"), ("Ready", "True"),
        ("ContainersReady", "True"), ("PodScheduled", "True"),
    ]  # fmt: skip


def test_nonzero_exit_fails_the_pod(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, sh("p", "echo bad >&2; exit 3"))
    p = wait_pod(core, "p", phase_is("Succeeded", "Failed"))
    assert p["status"]["phase"] == "Failed"
    terminated = state_of(p)["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert log(core, "p") == "bad\n"
    assert condition(p, "Ready")["reason"] == "PodFailed"


def test_termination_message(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, sh("p", "printf 'all done' > /dev/termination-log"))
    custom = sh("q", "echo to-file > /tmp/msg; exit 0", terminationMessagePath="/tmp/msg")
    fallback = sh(
        "r", "echo line1; echo last words; exit 2", terminationMessagePolicy="FallbackToLogsOnError"
    )
    for body in (custom, fallback):
        core.create_namespaced_pod(NS, body)
    assert state_of(wait_pod(core, "p", phase_is("Succeeded")))["terminated"]["message"] == "all done"
    assert state_of(wait_pod(core, "q", phase_is("Succeeded")))["terminated"]["message"] == "to-file\n"
    assert not Path("/tmp/msg").exists() or Path("/tmp/msg").read_text() != "to-file\n"
    assert state_of(wait_pod(core, "r", phase_is("Failed")))["terminated"]["message"] == "line1\nlast words\n"


def test_env_from_configmap_secret_and_downward_api(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(
        NS, {"metadata": {"name": "cfg"}, "data": {"COLOR": "blue", "size": "L"}}
    )
    core.create_namespaced_secret(NS, {"metadata": {"name": "sec"},
                                       "data": {"TOKEN": base64.b64encode(b"s3cr3t").decode()}})  # fmt: skip
    env = [
        {"name": "PLAIN", "value": "v"},
        {"name": "EXPANDED", "value": "$(PLAIN)-$(COLOR)-$$(PLAIN)-$(UNDEFINED)"},
        {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "size"}}},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "TOKEN"}}},
        {
            "name": "OPTIONAL",
            "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}},
        },
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {
            "name": "MEM_MI",
            "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
        },
    ]
    env_from = [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "sec"}, "prefix": "S_"}]
    body = sh("p", "env | sort", env=env, envFrom=env_from, resources={"limits": {"memory": "64Mi"}})
    body["metadata"]["labels"] = {"app": "web"}
    core.create_namespaced_pod(NS, body)
    p = wait_pod(core, "p", phase_is("Succeeded", "Failed"))
    assert p["status"]["phase"] == "Succeeded"
    values = dict(line.split("=", 1) for line in log(core, "p").splitlines())
    assert values["COLOR"] == "blue" and values["size"] == "L" and values["S_TOKEN"] == "s3cr3t"
    assert values["PLAIN"] == "v"
    assert values["EXPANDED"] == "v-blue-$(PLAIN)-$(UNDEFINED)"
    assert values["FROM_CM"] == "L" and values["FROM_SECRET"] == "s3cr3t"
    assert "OPTIONAL" not in values
    assert values["POD_NAME"] == "p" and values["POD_IP"] == p["status"]["podIP"]
    assert values["NODE"] == "emulator-node-0" and values["APP"] == "web" and values["MEM_MI"] == "64"
    assert values["HOSTNAME"] == "p"
    assert values["KUBERNETES_SERVICE_HOST"] == "127.0.0.1" and values["KUBERNETES_SERVICE_PORT"].isdigit()


def test_missing_configmap_is_a_config_error_until_it_exists(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, sh("p", "echo $KEY", envFrom=[{"configMapRef": {"name": "later"}}]))
    p = wait_pod(core, "p", lambda p: waiting_reason(p) == "CreateContainerConfigError")
    assert state_of(p)["waiting"]["message"] == 'configmap "later" not found'
    assert p["status"]["phase"] == "Pending"
    failed = wait_event(core, "p", "Failed")
    assert (failed.type, failed.message) == ("Warning", 'Error: configmap "later" not found')
    core.create_namespaced_config_map(NS, {"metadata": {"name": "later"}, "data": {"KEY": "now"}})
    wait_pod(core, "p", phase_is("Succeeded"))
    assert log(core, "p") == "now\n"


def test_missing_secret_key(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret(NS, {"metadata": {"name": "sec"}, "data": {}})
    ref = {"secretKeyRef": {"name": "sec", "key": "password"}}
    core.create_namespaced_pod(NS, sh("p", "true", env=[{"name": "P", "valueFrom": ref}]))
    p = wait_pod(core, "p", lambda p: waiting_reason(p) == "CreateContainerConfigError")
    assert state_of(p)["waiting"]["message"] == "couldn't find key password in Secret default/sec"


def test_crash_loop_back_off(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, sh("p", "echo crash; exit 1", restart="Always"))
    p = wait_pod(core, "p", lambda p: container_status(p)["restartCount"] >= 3
                 and waiting_reason(p) == "CrashLoopBackOff", what="three restarts")  # fmt: skip
    assert p["status"]["phase"] == "Running"
    uid = p["metadata"]["uid"]
    message = state_of(p)["waiting"]["message"]
    assert re.fullmatch(
        rf"back-off (10|20|40)s restarting failed container=c pod=p_default\({uid}\)", message
    )
    last = container_status(p)["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (1, "Error")
    backoff = wait_event(core, "p", "BackOff")
    assert (backoff.type, backoff.message) == (
        "Warning",
        f"Back-off restarting failed container c in pod p_default({uid})",
    )
    assert log(core, "p") == "crash\n"


def test_on_failure_restarts_until_success(core: client.CoreV1Api) -> None:
    script = (
        "n=$(cat /work/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /work/n; echo run $n; [ $n -ge 2 ]"
    )
    body = sh("p", script, restart="OnFailure", volumeMounts=[{"name": "work", "mountPath": "/work"}])
    body["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}]
    core.create_namespaced_pod(NS, body)
    p = wait_pod(core, "p", phase_is("Succeeded", "Failed"))
    assert p["status"]["phase"] == "Succeeded"
    cs = container_status(p)
    assert cs["restartCount"] == 1 and cs["lastState"]["terminated"]["exitCode"] == 1
    assert log(core, "p") == "run 2\n"
    assert log(core, "p", previous=True) == "run 1\n"


def test_readiness_exec_probe_gates_ready(core: client.CoreV1Api) -> None:
    probe = {"exec": {"command": ["cat", "/work/ready"]}, "periodSeconds": 1}
    body = sh("p", "while [ ! -e /work/go ]; do sleep 0.05; done; touch /work/ready; sleep 1000", restart="Always",
              readinessProbe=probe, volumeMounts=[{"name": "work", "mountPath": "/work"}])  # fmt: skip
    body["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}]
    body["spec"]["containers"].append({"name": "starter", "image": "busybox", "command": ["sh", "-c", "touch /w/go; sleep 1000"],
                                       "volumeMounts": [{"name": "work", "mountPath": "/w"}],
                                       "startupProbe": {"exec": {"command": ["cat", "/w/go"]}, "periodSeconds": 1}})  # fmt: skip
    seen = watch_until(
        core, "p", lambda _, p: condition(p, "Ready").get("status") == "True", since=create(core, body)
    )
    running_unready = [p for p in seen if "running" in state_of(p) and not container_status(p)["ready"]]
    assert running_unready, "the container must run unready until its probe passes"
    assert condition(running_unready[0], "ContainersReady")["message"].startswith(
        "containers with unready status: [c"
    )
    unhealthy = [e for e in events(core, "p") if e.reason == "Unhealthy"]
    assert all(
        e.message.startswith("Readiness probe failed: cat: ")
        for e in unhealthy
        if "{c}" in e.involved_object.field_path
    )


def test_liveness_probe_restarts_the_container(core: client.CoreV1Api) -> None:
    probe = {"exec": {"command": ["sh", "-c", "exit 1"]}, "periodSeconds": 1, "failureThreshold": 2}
    core.create_namespaced_pod(NS, sh("p", "sleep 1000", restart="Always", livenessProbe=probe))
    p = wait_pod(core, "p", lambda p: container_status(p)["restartCount"] >= 1, what="a restart")
    last = container_status(p)["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (143, "Error")
    reasons = event_reasons(core, "p")
    assert "Unhealthy" in reasons and "Killing" in reasons
    killing = next(e for e in events(core, "p") if e.reason == "Killing")
    assert killing.message == "Container c failed liveness probe, will be restarted"


def test_init_containers_run_first_in_order(core: client.CoreV1Api) -> None:
    mounts = [{"name": "work", "mountPath": "/work"}]
    body = sh("p", "cat /work/order", volumeMounts=mounts)
    body["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}]
    body["spec"]["initContainers"] = [
        {"name": f"init{i}", "image": "busybox", "command": ["sh", "-c", f"echo init{i} >> /work/order"],
         "volumeMounts": mounts} for i in (1, 2)
    ]  # fmt: skip
    core.create_namespaced_pod(NS, body)
    p = wait_pod(core, "p", phase_is("Succeeded", "Failed"))
    assert p["status"]["phase"] == "Succeeded"
    assert log(core, "p") == "init1\ninit2\n"
    assert [s["state"]["terminated"]["reason"] for s in p["status"]["initContainerStatuses"]] == [
        "Completed"
    ] * 2
    assert condition(p, "Initialized") | {"lastTransitionTime": None} == {
        "type": "Initialized", "status": "True", "reason": "PodCompleted", "lastProbeTime": None,
        "lastTransitionTime": None, "observedGeneration": 1}  # fmt: skip


def test_failed_init_container_fails_a_never_restarting_pod(core: client.CoreV1Api) -> None:
    body = sh("p", "echo never runs")
    body["spec"]["initContainers"] = [{"name": "init", "image": "busybox", "command": ["sh", "-c", "exit 7"]}]
    core.create_namespaced_pod(NS, body)
    p = wait_pod(core, "p", phase_is("Succeeded", "Failed"))
    assert p["status"]["phase"] == "Failed"
    assert state_of(p, "init", init=True)["terminated"]["exitCode"] == 7
    assert waiting_reason(p) == "PodInitializing"
    assert condition(p, "Initialized")["status"] == "False"
    assert condition(p, "Initialized")["message"] == "containers with incomplete status: [init]"


def test_volumes_are_files_under_the_mount_paths(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(
        NS, {"metadata": {"name": "cfg"}, "data": {"app.conf": "x=1", "other": "o"}}
    )
    body = sh("p", "cat /etc/app/app.conf; echo; cat /etc/pod/labels; echo; cat /etc/one/renamed",
              volumeMounts=[{"name": "cfg", "mountPath": "/etc/app"}, {"name": "info", "mountPath": "/etc/pod"},
                            {"name": "one", "mountPath": "/etc/one"}])  # fmt: skip
    body["metadata"]["labels"] = {"tier": "db", "app": "x"}
    body["spec"]["volumes"] = [
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {
            "name": "info",
            "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
        },
        {"name": "one", "configMap": {"name": "cfg", "items": [{"key": "other", "path": "renamed"}]}},
    ]
    core.create_namespaced_pod(NS, body)
    wait_pod(core, "p", phase_is("Succeeded"))
    assert log(core, "p") == 'x=1\napp="x"\ntier="db"\no'


def test_missing_configmap_volume_fails_mount(core: client.CoreV1Api) -> None:
    body = pod("p", volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])
    body["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "absent"}}]
    core.create_namespaced_pod(NS, body)
    event = wait_event(core, "p", "FailedMount")
    assert (event.type, event.message) == (
        "Warning",
        'MountVolume.SetUp failed for volume "cfg" : configmap "absent" not found',
    )
    assert waiting_reason(raw(core, "p") or {}) == "ContainerCreating"


def test_active_deadline_fails_the_pod(core: client.CoreV1Api) -> None:
    body = sh("p", "sleep 1000")
    body["spec"]["activeDeadlineSeconds"] = 5
    core.create_namespaced_pod(NS, body)
    p = wait_pod(core, "p", phase_is("Succeeded", "Failed"))
    assert (p["status"]["phase"], p["status"]["reason"]) == ("Failed", "DeadlineExceeded")
    assert p["status"]["message"] == "Pod was active on the node longer than the specified deadline"


def test_unknown_command_is_a_start_error(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, pod("p", "no-such-binary-xyz"))
    p = wait_pod(core, "p", phase_is("Failed"))
    terminated = state_of(p)["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (128, "StartError")
    assert 'exec: "no-such-binary-xyz": executable file not found in $PATH' in terminated["message"]


def test_graceful_deletion_sends_sigterm_then_removes_the_pod(core: client.CoreV1Api) -> None:
    script = "trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.05; done"
    core.create_namespaced_pod(NS, sh("p", script, restart="Always"))
    wait_pod(core, "p", lambda p: "started" in log(core, "p") if "running" in state_of(p) else False)
    follow = core.read_namespaced_pod_log("p", NS, follow=True, _preload_content=False)
    deleting = core.delete_namespaced_pod("p", NS)
    seen = watch_until(core, "p", lambda kind, _: kind == "DELETED", since=deleting.metadata.resource_version)
    assert follow.read().decode() == "started\ngot TERM\n"
    final = seen[-2]  # the kubelet's last status before the pod went away
    assert final["metadata"]["deletionTimestamp"] and final["metadata"]["deletionGracePeriodSeconds"] == 30
    assert final["status"]["phase"] == "Succeeded"
    assert state_of(final)["terminated"]["exitCode"] == 0
    assert raw(core, "p") is None
    killing = next(e for e in events(core, "p") if e.reason == "Killing")
    assert killing.message == "Stopping container c"


def test_sigterm_ignored_means_sigkill_after_the_grace_period(core: client.CoreV1Api) -> None:
    body = sh("p", "trap '' TERM; echo started; while true; do sleep 0.05; done", restart="Always")
    body["spec"]["terminationGracePeriodSeconds"] = 2  # 0.1 s at speed 20
    core.create_namespaced_pod(NS, body)
    wait_pod(core, "p", lambda p: "running" in state_of(p) and "started" in log(core, "p"))
    deleting = core.delete_namespaced_pod("p", NS)
    seen = watch_until(core, "p", lambda kind, _: kind == "DELETED", since=deleting.metadata.resource_version)
    terminated = state_of(seen[-2])["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "Error")
    assert seen[-2]["status"]["phase"] == "Failed"


def test_image_update_restarts_the_container(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, sh("p", "sleep 1000", restart="Always"))
    wait_pod(core, "p", lambda p: "running" in state_of(p))
    core.patch_namespaced_pod(
        "p", NS, [{"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:1.37"}]
    )
    p = wait_pod(core, "p", lambda p: container_status(p)["restartCount"] == 1 and "running" in state_of(p))
    assert container_status(p)["image"] == "docker.io/library/busybox:1.37"
    assert p["status"]["observedGeneration"] == 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_no_process_outlives_the_emulator(tmp_path: Path) -> None:
    emu = KubeEmulator(speed=20, workdir=tmp_path / "emu").start()
    try:
        from kubernetes import config

        api_client = config.new_client_from_config(emu.kubeconfig)
        core = client.CoreV1Api(api_client)
        core.create_namespaced_pod(NS, sh("p", "sleep 1000 & echo $$! ; echo $$$$ ; wait", restart="Always"))
        core.create_namespaced_pod(
            NS, sh("q", "trap '' TERM; echo $$$$; while true; do sleep 1; done", restart="Always")
        )
        pids = [
            int(x)
            for x in wait_for(
                lambda: log(core, "p").split() if "running" in state_of(raw(core, "p") or {}) else None
            )
        ]
        pids += [
            int(x)
            for x in wait_for(
                lambda: log(core, "q").split() if "running" in state_of(raw(core, "q") or {}) else None
            )
        ]
        assert len(pids) == 3 and all(_alive(pid) for pid in pids)
        api_client.close()
    finally:
        emu.stop()
    assert [pid for pid in pids if _alive(pid)] == []


def test_pods_spread_and_report_their_node_ip(tmp_path: Path) -> None:
    with KubeEmulator(speed=20, nodes=2, workdir=tmp_path / "emu") as emu:
        from kubernetes import config

        api_client = config.new_client_from_config(emu.kubeconfig)
        core = client.CoreV1Api(api_client)
        for name in ("a", "b"):
            core.create_namespaced_pod(NS, pod(name, restart="Always"))
        nodes: dict[str, Any] = {}
        for name in ("a", "b"):
            p = wait_pod(core, name, phase_is("Running"))
            nodes[p["spec"]["nodeName"]] = p["status"]
        assert set(nodes) == {"emulator-node-0", "emulator-node-1"}
        assert nodes["emulator-node-1"]["hostIP"] == "172.18.0.3"
        assert nodes["emulator-node-1"]["podIP"].startswith("10.244.1.")
        api_client.close()


def test_args_alone_are_the_command(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(NS, pod("p", args=["echo", "from", "args"]))
    wait_pod(core, "p", phase_is("Succeeded"))
    assert log(core, "p") == "from args\n"


def test_secret_volume(core: client.CoreV1Api) -> None:
    data = {"user": base64.b64encode(b"admin").decode(), "pass": base64.b64encode(b"hunter2").decode()}
    core.create_namespaced_secret(NS, {"metadata": {"name": "creds"}, "data": data})
    body = sh("p", "cat /etc/creds/user; echo; cat /etc/creds/pass; echo; stat -c %a /etc/creds/pass",
              volumeMounts=[{"name": "creds", "mountPath": "/etc/creds", "readOnly": True}])  # fmt: skip
    body["spec"]["volumes"] = [{"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}}]
    core.create_namespaced_pod(NS, body)
    p = wait_pod(core, "p", phase_is("Succeeded", "Failed"))
    assert log(core, "p") == "admin\nhunter2\n400\n"
    assert container_status(p)["volumeMounts"] == [
        {"name": "creds", "mountPath": "/etc/creds", "readOnly": True, "recursiveReadOnly": "Disabled"}
    ]


def test_sidecar_runs_beside_the_app_and_stops_with_it(core: client.CoreV1Api) -> None:
    mounts = [{"name": "work", "mountPath": "/work"}]
    body = sh(
        "p",
        "while [ ! -e /work/sidecar-up ]; do sleep 0.02; done; echo app saw the sidecar",
        volumeMounts=mounts,
    )
    body["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}]
    body["spec"]["initContainers"] = [
        {"name": "proxy", "image": "busybox", "restartPolicy": "Always", "volumeMounts": mounts,
         "command": ["sh", "-c", "touch /work/sidecar-up; sleep 1000"]}
    ]  # fmt: skip
    core.create_namespaced_pod(NS, body)
    p = wait_pod(core, "p", phase_is("Succeeded", "Failed"))
    assert p["status"]["phase"] == "Succeeded"
    assert log(core, "p") == "app saw the sidecar\n"
    assert "terminated" in state_of(p, "proxy", init=True)
    assert condition(p, "Initialized")["status"] == "True"


def test_a_restarted_emulator_restarts_running_containers(tmp_path: Path) -> None:
    from kubernetes import config

    state = tmp_path / "state.json"
    with KubeEmulator(speed=20, workdir=tmp_path / "one", state_file=state) as emu:
        api_client = config.new_client_from_config(emu.kubeconfig)
        core = client.CoreV1Api(api_client)
        core.create_namespaced_pod(NS, sh("p", "echo started; sleep 1000", restart="Always"))
        before = wait_pod(core, "p", lambda p: "running" in state_of(p))
        api_client.close()
    with KubeEmulator(speed=20, workdir=tmp_path / "two", state_file=state) as emu:
        api_client = config.new_client_from_config(emu.kubeconfig)
        core = client.CoreV1Api(api_client)
        after = wait_pod(
            core, "p", lambda p: "running" in state_of(p) and container_status(p)["restartCount"] == 1
        )
        assert after["status"]["podIP"] == before["status"]["podIP"]
        assert log(core, "p") == "started\n"
        api_client.close()


def test_http_and_tcp_probes_connect_to_the_container(core: client.CoreV1Api) -> None:
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = pod("web", sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", restart="Always",
                 ports=[{"name": "http", "containerPort": port}],
                 readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                 livenessProbe={"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 40})  # fmt: skip
    core.create_namespaced_pod(NS, server)
    p = wait_pod(core, "web", lambda p: condition(p, "Ready").get("status") == "True")
    assert container_status(p)["restartCount"] == 0
    closed = sh("closed", "sleep 1000", restart="Always",
                readinessProbe={"tcpSocket": {"port": 9}, "periodSeconds": 1})  # fmt: skip
    core.create_namespaced_pod(NS, closed)
    event = wait_event(core, "closed", "Unhealthy")
    assert event.message == "Readiness probe failed: dial tcp 127.0.0.1:9: connect: connection refused"
    assert container_status(raw(core, "closed") or {})["ready"] is False
