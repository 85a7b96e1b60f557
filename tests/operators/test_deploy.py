"""DeployOperator and RollbackDeploymentOperator against the emulator: real Airflow (dag.test, sync
and deferrable) for the main paths, direct calls for the edges; real kubectl as the reference."""

from __future__ import annotations

import asyncio
import copy
import itertools
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import TaskDeferred

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.operators.deployment import DeployOperator, RollbackDeploymentOperator
from airflow_k8s_workflows.triggers.base import first_event
from airflow_k8s_workflows.triggers.rollout import RolloutTrigger
from tests.conftest import Kubectl
from tests.operators.workload_support import (
    container,
    deployment,
    run_dag,
    task_instance,
    xcom_result,
)

FALSE_READINESS = {"exec": {"command": ["false"]}, "periodSeconds": 1}
DEADLINE = 60  # progressDeadlineSeconds: 3 s at the emulator's speed 20, room for a loaded machine


@pytest.fixture
def hook(emulator: KubeEmulator, airflow_conn: str) -> ClusterHook:
    return ClusterHook()


def rolled_out(hook: ClusterHook, name: str = "web") -> dict[str, Any]:
    """Wait on the trigger itself: the Deployment once its rollout is complete."""
    trigger = RolloutTrigger(name=name, namespace="default", cluster=hook.trigger_kwargs())
    event = asyncio.run(first_event(trigger, 30))
    assert event["status"] == "success", event
    return hook.get("apps/v1", "Deployment", name)


def revision(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


def history(hook: ClusterHook, app: str) -> list[tuple[str, str, str | None]]:
    """(revision, image, revision-history) of the app's ReplicaSets, by revision."""
    rows = []
    for rs in hook.list("apps/v1", "ReplicaSet", "default", label_selector=f"app={app}"):
        annotations = rs["metadata"]["annotations"]
        image = rs["spec"]["template"]["spec"]["containers"][0]["image"]
        rows.append((annotations["deployment.kubernetes.io/revision"], image,
                     annotations.get("deployment.kubernetes.io/revision-history")))  # fmt: skip
    return sorted(rows, key=lambda row: int(row[0]))


def pod_images(hook: ClusterHook, app: str = "web") -> set[str]:
    pods = hook.list("v1", "Pod", "default", label_selector=f"app={app}")
    return {p["spec"]["containers"][0]["image"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def context() -> dict[str, Any]:
    return {}


# -- main paths in real Airflow ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sync", "deferrable"])
def test_deploy_new_image_waits_for_the_rollout(hook: ClusterHook, airflow_db: str, mode: str) -> None:
    hook.apply(deployment(replicas=4))
    rolled_out(hook)
    test = run_dag(f"deploy_image_{mode}", deployment="web", image="busybox:2")
    assert task_instance(test.run, "deploy").state == "success"
    assert xcom_result(test.run, "deploy") == {"deployment": "web", "namespace": "default", "revision": 2,
                                          "previous_revision": 1, "image": "busybox:2"}  # fmt: skip
    live = hook.get("apps/v1", "Deployment", "web")
    assert live["status"]["updatedReplicas"] == live["status"]["availableReplicas"] == 4
    assert pod_images(hook) == {"busybox:2"}
    lines = test.rollout_lines()
    assert lines[-1] == 'deployment "web" successfully rolled out'
    if mode == "sync":  # deferred, dag.test starts the trigger late enough to see the end only
        assert any(line.startswith('Waiting for deployment "web" rollout to finish: ') for line in lines), (
            lines
        )
    assert all(a != b for a, b in itertools.pairwise(lines)), "progress is logged on change only"


def test_never_ready_rollout_is_rolled_back_like_kubectl_rollout_undo(
    hook: ClusterHook, airflow_db: str, kubectl: Kubectl
) -> None:
    v1 = {
        name: deployment(name=name, replicas=2, progressDeadlineSeconds=DEADLINE) for name in ("web", "twin")
    }
    for body in v1.values():
        body["metadata"]["annotations"] = {"team": "a"}  # rollback restores the old RS's annotations
    v2 = copy.deepcopy(v1)
    for body in v2.values():
        body["metadata"]["annotations"] = {"team": "b"}
        body["spec"]["template"]["spec"]["containers"][0].update(
            image="busybox:2", readinessProbe=FALSE_READINESS
        )
    for body in v1.values():
        hook.apply(body)
    rolled_out(hook, "web")
    rolled_out(hook, "twin")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump(v2["twin"]))

    test = run_dag("deploy_manifest_sync", manifest=v2["web"])

    assert task_instance(test.run, "deploy").state == "failed"
    out = test.text()
    assert 'ProgressDeadlineExceeded: deployment "web" exceeded its progress deadline' in out
    assert "Warning Unhealthy pod/web-" in out and "Readiness probe failed" in out
    assert 'rolled back to revision 1 (now revision 3): deployment "web" successfully rolled out' in out

    failed = kubectl("rollout", "status", "deployment/twin", "--timeout=30s", check=False)
    assert 'deployment "twin" exceeded its progress deadline' in failed.stderr
    assert kubectl("rollout", "undo", "deployment/twin").stdout.strip() == "deployment.apps/twin rolled back"
    kubectl("rollout", "status", "deployment/twin", "--timeout=30s")

    web, twin = hook.get("apps/v1", "Deployment", "web"), hook.get("apps/v1", "Deployment", "twin")
    assert revision(web) == revision(twin) == "3"
    assert (
        web["metadata"]["annotations"]
        == twin["metadata"]["annotations"]
        == {
            "deployment.kubernetes.io/revision": "3",
            "team": "a",
        }
    )
    assert (
        web["spec"]["template"]["spec"]
        == twin["spec"]["template"]["spec"]
        == {
            **twin["spec"]["template"]["spec"],
            "containers": [{**twin["spec"]["template"]["spec"]["containers"][0], "image": "busybox:1"}],
        }
    )
    assert "readinessProbe" not in web["spec"]["template"]["spec"]["containers"][0]
    assert (
        history(hook, "web") == history(hook, "twin") == [("2", "busybox:2", None), ("3", "busybox:1", "1")]
    )
    assert web["status"]["availableReplicas"] == 2 and pod_images(hook) == {"busybox:1"}


def test_image_pull_failure_deferred_rolls_back_and_names_the_pod_problem(
    hook: ClusterHook, airflow_db: str
) -> None:
    hook.apply(deployment(replicas=2, progressDeadlineSeconds=DEADLINE))
    rolled_out(hook)
    test = run_dag("deploy_image_deferrable", deployment="web", image="busybox:does-not-exist")
    assert task_instance(test.run, "deploy").state == "failed"
    out = test.text()
    assert 'ProgressDeadlineExceeded: deployment "web" exceeded its progress deadline' in out
    assert "container main: ImagePullBackOff" in out or "container main: ErrImagePull" in out
    assert "rolled back to revision 1 (now revision 3)" in out
    web = hook.get("apps/v1", "Deployment", "web")
    assert revision(web) == "3"
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1"


@pytest.mark.parametrize("mode", ["sync", "deferrable"])
def test_rollback_operator_to_a_given_revision(hook: ClusterHook, airflow_db: str, mode: str) -> None:
    for image in ("busybox:1", "busybox:2", "busybox:3"):
        hook.apply(deployment(replicas=1, image=image))
        rolled_out(hook)
    test = run_dag(f"rollback_{mode}", deployment="web", to_revision=1)
    assert task_instance(test.run, "rollback").state == "success"
    assert xcom_result(test.run, "rollback") == {"deployment": "web", "namespace": "default", "revision": 4,
                                            "previous_revision": 3, "rolled_back_to": 1, "skipped": False}  # fmt: skip
    assert history(hook, "web") == [
        ("2", "busybox:2", None),
        ("3", "busybox:3", None),
        ("4", "busybox:1", "1"),
    ]
    assert pod_images(hook) == {"busybox:1"}


# -- direct calls: the edges --------------------------------------------------------------------------
def test_rollback_of_a_single_replica_completes(hook: ClusterHook) -> None:
    # One replica: right after the undo the controller briefly keeps Progressing=ProgressDeadlineExceeded
    # (no measurable progress until the failed pod is gone); the rollback wait must see past it.
    # tests/triggers/test_rollout_trigger.py holds that moment still; here it is the real sequence.
    hook.apply(deployment(replicas=1, progressDeadlineSeconds=DEADLINE))
    rolled_out(hook)
    op = DeployOperator(task_id="d", deployment="web", image="busybox:does-not-exist", deferrable=False)
    with pytest.raises(KubernetesTaskFailed) as failure:
        op.execute(context())
    assert 'rolled back to revision 1 (now revision 3): deployment "web" successfully rolled out' in str(
        failure.value
    )


def test_deploying_what_runs_changes_nothing(hook: ClusterHook) -> None:
    hook.apply(deployment(replicas=1))
    before = rolled_out(hook)
    same_image = DeployOperator(task_id="d", deployment="web", image="busybox:1", deferrable=True)
    result = same_image.execute(context())  # no TaskDeferred: nothing to wait for
    assert result == {"deployment": "web", "namespace": "default", "revision": 1, "previous_revision": 1,
                      "image": "busybox:1"}  # fmt: skip
    same_manifest = DeployOperator(task_id="m", manifest=deployment(replicas=1), deferrable=True)
    assert same_manifest.execute(context()) == result
    after = hook.get("apps/v1", "Deployment", "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert len(history(hook, "web")) == 1


def test_manifest_applies_service_and_configmap_first(hook: ClusterHook) -> None:
    body = deployment(
        replicas=1, containers=[{**container(), "envFrom": [{"configMapRef": {"name": "web"}}]}]
    )
    bundle = [
        body,
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"MODE": "blue"}},
    ]  # fmt: skip
    op = DeployOperator(task_id="d", manifest=yaml.safe_dump_all(bundle), deferrable=False)
    assert op.execute(context()) == {"deployment": "web", "namespace": "default", "revision": 1,
                                     "previous_revision": None, "image": "busybox:1"}  # fmt: skip
    rv = {kind: int(hook.get(api, kind, "web")["metadata"]["resourceVersion"])
          for api, kind in (("v1", "Service"), ("v1", "ConfigMap"), ("apps/v1", "Deployment"))}  # fmt: skip
    assert rv["Service"] < rv["Deployment"] and rv["ConfigMap"] < rv["Deployment"]
    applied = hook.get("apps/v1", "Deployment", "web")
    assert any(m["manager"] == "airflow-k8s-workflows" and m["operation"] == "Apply"
               for m in applied["metadata"]["managedFields"])  # fmt: skip


def test_deferrable_deploy_defers_to_the_rollout_trigger(hook: ClusterHook) -> None:
    hook.apply(deployment(replicas=1))
    rolled_out(hook)
    op = DeployOperator(task_id="d", deployment="web", image="busybox:2", deferrable=True, timeout=30)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    trigger = deferred.value.trigger
    path, kwargs = trigger.serialize()
    assert path == "airflow_k8s_workflows.triggers.rollout.RolloutTrigger"
    assert set(kwargs["cluster"]) <= {"kubernetes_conn_id", "sealed_cluster_config"}, "never a plain config"
    assert kwargs["timeout"] == 30 and deferred.value.timeout.total_seconds() > 30
    event = asyncio.run(first_event(RolloutTrigger(**kwargs), 30))
    assert op.execute_complete(context(), event) == {"deployment": "web", "namespace": "default", "revision": 2,
                                                     "previous_revision": 1, "image": "busybox:2"}  # fmt: skip


def test_timeout_rolls_back_too(hook: ClusterHook) -> None:
    hook.apply(deployment(replicas=1))
    rolled_out(hook)
    op = DeployOperator(
        task_id="d", deployment="web", image="busybox:does-not-exist", deferrable=False, timeout=0.5
    )
    with pytest.raises(KubernetesTaskFailed, match=r"(?s)Timeout: timed out after 0\.5s waiting for deployment "
                                                  r'"web": .*rolled back to revision 1 \(now revision 3\)'):  # fmt: skip
        op.execute(context())
    assert (
        hook.get("apps/v1", "Deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
        == "busybox:1"
    )


def test_without_rollback_the_failure_stays(hook: ClusterHook) -> None:
    hook.apply(deployment(replicas=1, progressDeadlineSeconds=10))
    rolled_out(hook)
    op = DeployOperator(task_id="d", deployment="web", image="busybox:does-not-exist", rollback_on_failure=False,
                        deferrable=False)  # fmt: skip
    with pytest.raises(KubernetesTaskFailed, match="ProgressDeadlineExceeded") as failure:
        op.execute(context())
    assert "rolled back" not in str(failure.value)
    assert revision(hook.get("apps/v1", "Deployment", "web")) == "2"


def test_first_deploy_that_fails_has_nothing_to_roll_back_to(hook: ClusterHook) -> None:
    op = DeployOperator(task_id="d", manifest=deployment(image="busybox:does-not-exist", progressDeadlineSeconds=10),
                        deferrable=False)  # fmt: skip
    with pytest.raises(KubernetesTaskFailed, match=r'(?s)ProgressDeadlineExceeded.*not rolled back: deployment "web": '
                                                  r'no rollout history found for deployment "web"; available revisions: \[1\]'):  # fmt: skip
        op.execute(context())


# -- bad input: errors name the field, the cluster is unchanged ---------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "manifest / deployment: give exactly one"),
        (
            {"manifest": {"kind": "Deployment"}, "deployment": "web", "image": "x"},
            "manifest / deployment: give exactly one",
        ),
        ({"deployment": "web"}, "image: required with deployment="),
        ({"deployment": "", "image": "x"}, "deployment: must be a Deployment name"),
        ({"manifest": {"kind": "Deployment"}, "image": "x"}, "image: only with deployment="),
        ({"deployment": "web", "image": "x", "container": ""}, "container: must be a container name"),
    ],
)
def test_argument_errors_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeployOperator(task_id="d", **kwargs)


def test_cluster_errors_name_the_field_and_change_nothing(hook: ClusterHook) -> None:
    two = [container("main"), container("sidecar")]
    hook.apply(deployment(replicas=1, containers=two))
    before = rolled_out(hook)
    with pytest.raises(ValueError, match=r"container: deployment 'web' has 2 containers; name the one to update, "
                                         r"one of \['main', 'sidecar'\]"):  # fmt: skip
        DeployOperator(task_id="d", deployment="web", image="busybox:2").execute(context())
    with pytest.raises(ValueError, match=r"container: deployment 'web' has no container 'db'; choose one of "
                                         r"\['main', 'sidecar'\]"):  # fmt: skip
        DeployOperator(task_id="d", deployment="web", image="busybox:2", container="db").execute(context())
    with pytest.raises(KubernetesTaskFailed, match='deployment: "nope" not found in namespace "default"'):
        DeployOperator(task_id="d", deployment="nope", image="busybox:2").execute(context())
    two_deployments = [deployment("a"), deployment("b"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                        "metadata": {"name": "c"}}]  # fmt: skip
    with pytest.raises(ValueError, match="manifest: must hold exactly one Deployment, got 2"):
        DeployOperator(task_id="d", manifest=two_deployments).execute(context())
    negative = deployment("neg", replicas=-1)
    with pytest.raises(ValueError, match=r"spec\.replicas: Invalid value: -1"):
        DeployOperator(task_id="d", manifest=[{"apiVersion": "v1", "kind": "ConfigMap",
                                               "metadata": {"name": "c"}}, negative]).execute(context())  # fmt: skip
    after = hook.get("apps/v1", "Deployment", "web")
    assert (after["metadata"]["generation"], after["spec"]) == (
        before["metadata"]["generation"],
        before["spec"],
    )
    namespaced_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"},
    }
    with pytest.raises(ValueError, match="namespace: 'other', but ConfigMap/c declares namespace 'default'"):
        DeployOperator(task_id="d", manifest=[namespaced_cm, deployment("x")], namespace="other").execute(
            context()
        )
    assert hook.get_or_none("v1", "ConfigMap", "c") is None
    assert [d["metadata"]["name"] for d in hook.list("apps/v1", "Deployment", "default")] == ["web"]


def test_rollback_operator_follows_kubectl_rules(
    hook: ClusterHook, capfd: pytest.CaptureFixture[str]
) -> None:
    for image in ("busybox:1", "busybox:2"):
        hook.apply(deployment(replicas=1, image=image))
        rolled_out(hook)
    with pytest.raises(KubernetesTaskFailed, match=r'deployment "web": unable to find specified revision 7 in '
                                                  r"history; available revisions: \[1, 2\]"):  # fmt: skip
        RollbackDeploymentOperator(task_id="r", deployment="web", to_revision=7).execute(context())
    skipped = RollbackDeploymentOperator(task_id="r", deployment="web", to_revision="2", deferrable=True)
    assert skipped.execute(context())["skipped"] is True  # no deferral: nothing to wait for
    assert (
        'deployment "web": skipped rollback (current template already matches revision 2)'
        in capfd.readouterr().out
    )
    hook.patch("apps/v1", "Deployment", "web", {"spec": {"paused": True}})
    with pytest.raises(
        KubernetesTaskFailed, match="you cannot rollback a paused deployment; resume it first"
    ):
        RollbackDeploymentOperator(task_id="r", deployment="web").execute(context())
    assert history(hook, "web") == [("1", "busybox:1", None), ("2", "busybox:2", None)]
    with pytest.raises(ValueError, match="to_revision: must be >= 0, got -1"):
        RollbackDeploymentOperator(task_id="r", deployment="web", to_revision=-1)
    with pytest.raises(ValueError, match="deployment: must be a Deployment name"):
        RollbackDeploymentOperator(task_id="r", deployment="")
