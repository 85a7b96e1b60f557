"""RolloutTrigger and ScaleTrigger over HTTP against the emulator's controllers and kubelet."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from airflow_k8s_workflows.kube import watch
from airflow_k8s_workflows.kube.deploy import deadline_marker
from airflow_k8s_workflows.triggers.base import first_event
from airflow_k8s_workflows.triggers.rollout import RolloutTrigger
from airflow_k8s_workflows.triggers.scale import ScaleTrigger
from tests.operators.workload_support import daemonset, deployment, statefulset, trigger_lines


def cluster(emu: KubeEmulator) -> dict[str, Any]:
    return {"kubernetes_conn_id": None, "cluster_config": {"server": emu.url}}


@pytest.fixture
def hook(emulator: KubeEmulator) -> ClusterHook:
    return ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emulator.url})


def rollout(emu: KubeEmulator, **kw: Any) -> dict[str, Any]:
    kw.setdefault("namespace", "default")
    return asyncio.run(first_event(RolloutTrigger(cluster=cluster(emu), **kw), timeout=30))


async def watching(wait: Coroutine[Any, Any, dict[str, Any]]) -> asyncio.Future[dict[str, Any]]:
    """Start ``wait`` and return once its watch is open: its snapshot was taken, what follows arrives
    as events."""
    before = watch.watch_metrics().watch_requests
    task = asyncio.ensure_future(wait)
    for _ in range(2000):
        if watch.watch_metrics().watch_requests > before or task.done():
            return task
        await asyncio.sleep(0.01)
    raise AssertionError("the trigger's watch did not open within 20 s")


def test_serialize_round_trips() -> None:
    trigger = RolloutTrigger(kind="StatefulSet", name="db", namespace="ns", timeout=5.0, echo={"a": 1},
                             cluster={"kubernetes_conn_id": "c"})  # fmt: skip
    path, kwargs = trigger.serialize()
    assert path == "airflow_k8s_workflows.triggers.rollout.RolloutTrigger"
    again = RolloutTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert (again.kind, again.name, again.timeout, again.echo, again.revision) == (
        "StatefulSet",
        "db",
        5.0,
        {"a": 1},
        None,
    )
    deployment_trigger = RolloutTrigger(name="web", revision=3, stale_deadline="t|m")
    assert RolloutTrigger(**deployment_trigger.serialize()[1]).serialize() == deployment_trigger.serialize()
    scale = ScaleTrigger(kind="ReplicaSet", name="rs", namespace="ns", echo={"previous": 1, "current": 2})
    path, kwargs = scale.serialize()
    assert path == "airflow_k8s_workflows.triggers.scale.ScaleTrigger"
    assert ScaleTrigger(**kwargs).serialize() == (path, kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"kind": "Job", "name": "x"},
            r"kind: must be one of \['Deployment', 'StatefulSet', 'DaemonSet'\], got 'Job'",
        ),
        ({"kind": "Deployment", "name": ""}, "name: the Deployment to wait for is required"),
        ({"kind": "DaemonSet", "name": "a", "revision": 2}, "revision: only Deployments have revisions"),
        ({"kind": "Deployment", "name": "a", "revision": 0}, "revision: must be a positive whole number"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RolloutTrigger(**kwargs)
    with pytest.raises(ValueError, match="kind: must be one of"):
        ScaleTrigger(kind="DaemonSet", name="x")


def test_deployment_rollout_logs_progress_on_change_and_succeeds(
    emulator: KubeEmulator, hook: ClusterHook, capfd: pytest.CaptureFixture[str]
) -> None:
    hook.apply(deployment(replicas=4))
    assert rollout(emulator, name="web")["status"] == "success"
    capfd.readouterr()
    hook.apply(deployment(replicas=4, image="busybox:2"))
    event = rollout(emulator, name="web")
    assert event["status"] == "success", event
    assert event["message"] == 'deployment "web" successfully rolled out'
    assert event["result"]["revision"] == 2 and event["result"]["replicas"] == 4
    assert event["result"]["images"] == ["busybox:2"]
    assert event["result"]["ready_replicas"] == 4
    lines = trigger_lines(capfd.readouterr().out)
    assert lines[-1] == 'deployment "web" successfully rolled out'
    assert any(line.startswith('Waiting for deployment "web"') for line in lines), lines
    assert all(a != b for a, b in itertools.pairwise(lines)), "logged on change only"


def test_wrong_revision_fails_like_kubectl(emulator: KubeEmulator, hook: ClusterHook) -> None:
    hook.apply(deployment(replicas=1))
    event = rollout(emulator, name="web", revision=2)
    assert event["status"] == "failed"
    assert event["reason"] == "RevisionMismatch"
    assert event["message"].startswith("desired revision (2) is different from the running revision (1)")


def test_progress_deadline_reports_the_pods_problems_and_warnings(
    emulator: KubeEmulator, hook: ClusterHook
) -> None:
    hook.apply(deployment(replicas=1, image="busybox:does-not-exist", progressDeadlineSeconds=10))
    event = rollout(emulator, name="web", echo={"keep": "me"})
    assert event["status"] == "failed", event
    assert event["reason"] == "ProgressDeadlineExceeded"
    assert event["message"].startswith(
        'deployment "web" exceeded its progress deadline\npod problems:\n  pod default/web-'
    )
    [problem] = event["problems"]
    assert "container main: ImagePullBackOff" in problem or "container main: ErrImagePull" in problem
    assert any("Warning Failed pod/web-" in w and "busybox:does-not-exist" in w for w in event["warnings"])
    assert event["echo"] == {"keep": "me"}


def test_statefulset_and_daemonset_rollouts(emulator: KubeEmulator, hook: ClusterHook) -> None:
    hook.apply(statefulset(replicas=2))
    hook.apply(daemonset())
    sts = rollout(emulator, kind="StatefulSet", name="db")
    assert sts["status"] == "success", sts
    assert sts["message"] == "partitioned roll out complete: 2 new pods have been updated..."
    ds = rollout(emulator, kind="DaemonSet", name="agent")
    assert (ds["status"], ds["message"]) == ("success", 'daemon set "agent" successfully rolled out')
    assert ds["result"]["revision"] is None


def test_missing_deleted_and_timeout(emulator: KubeEmulator, hook: ClusterHook) -> None:
    missing = rollout(emulator, name="nope")
    assert (missing["status"], missing["message"]) == (
        "error",
        """deployment "nope" not found in namespace 'default'""",
    )

    hook.apply(deployment(replicas=1, image="busybox:does-not-exist"))
    slow = rollout(emulator, name="web", timeout=0.5)
    assert slow["status"] == "timeout"
    assert slow["message"].startswith(
        'timed out after 0.5s waiting for deployment "web": Waiting for deployment'
    )
    assert slow["problems"] or slow["warnings"], slow

    async def delete_while_waiting() -> dict[str, Any]:
        trigger = RolloutTrigger(name="web", namespace="default", cluster=cluster(emulator))
        waiting = await watching(first_event(trigger, timeout=20))
        await asyncio.to_thread(hook.delete, "apps/v1", "Deployment", "web", "default")
        return await waiting

    gone = asyncio.run(delete_while_waiting())
    assert (gone["status"], gone["message"]) == ("error", 'deployment "web" was deleted while waiting')


def test_waits_for_many_workloads_share_one_watch(emulator: KubeEmulator, hook: ClusterHook) -> None:
    for name in ("a", "b", "c"):
        hook.apply(deployment(name=name, replicas=1))

    async def all_three() -> list[dict[str, Any]]:
        before = watch.watch_metrics().streams_started
        triggers = [RolloutTrigger(name=n, namespace="default", cluster=cluster(emulator)) for n in "abc"]
        events = await asyncio.gather(*(first_event(t, 30) for t in triggers))
        assert watch.watch_metrics().streams_started - before == 1
        return events

    assert [e["status"] for e in asyncio.run(all_three())] == ["success"] * 3


def test_scale_trigger_waits_for_ready_replicas(emulator: KubeEmulator, hook: ClusterHook) -> None:
    hook.apply(statefulset(replicas=1))
    assert rollout(emulator, kind="StatefulSet", name="db")["status"] == "success"
    hook.patch("apps/v1", "StatefulSet", "db", {"spec": {"replicas": 3}}, subresource="scale")
    trigger = ScaleTrigger(kind="StatefulSet", name="db", namespace="default", cluster=cluster(emulator),
                           echo={"previous": 1, "current": 3})  # fmt: skip
    event = asyncio.run(first_event(trigger, 30))
    assert (event["status"], event["message"]) == ("success", 'statefulset "db" scaled to 3 ready replicas')
    assert event["echo"] == {"previous": 1, "current": 3}
    sts = hook.get("apps/v1", "StatefulSet", "db")
    assert sts["status"]["readyReplicas"] == 3


def test_a_left_over_deadline_is_not_this_rollouts_verdict(tmp_path: Path) -> None:
    # After a rollback to an existing ReplicaSet the controller keeps the old
    # Progressing=ProgressDeadlineExceeded until it sees progress; with no controllers running,
    # the status is written by hand to hold that moment.
    with KubeEmulator(speed=20, controllers=False, kubelet=False, workdir=tmp_path / "emu") as emu:
        hook = ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url})
        hook.apply(deployment(replicas=1))
        stuck = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": 'ReplicaSet "web-bad" has timed out progressing.',
                 "lastUpdateTime": "2030-01-01T00:00:00Z", "lastTransitionTime": "2030-01-01T00:00:00Z"}  # fmt: skip
        status = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1,
                  "conditions": [stuck]}  # fmt: skip
        hook.patch("apps/v1", "Deployment", "web", {"status": status}, subresource="status")
        marker = deadline_marker(hook.get("apps/v1", "Deployment", "web"))
        assert marker == '2030-01-01T00:00:00Z|ReplicaSet "web-bad" has timed out progressing.'

        assert rollout(emu, name="web")["reason"] == "ProgressDeadlineExceeded"  # what kubectl would say

        async def wait_past_the_left_over() -> dict[str, Any]:
            trigger = RolloutTrigger(
                name="web", namespace="default", cluster=cluster(emu), stale_deadline=marker
            )
            # the snapshot (still the left-over deadline) is judged before any change arrives
            waiting = await watching(first_event(trigger, timeout=20))
            done = {**status, "replicas": 1, "conditions": [
                {**stuck, "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": 'ReplicaSet "web-good" has successfully progressed.'}]}  # fmt: skip
            await asyncio.to_thread(hook.patch, "apps/v1", "Deployment", "web", {"status": done},
                                    subresource="status")  # fmt: skip
            return await waiting

        event = asyncio.run(wait_past_the_left_over())
        assert (event["status"], event["message"]) == ("success", 'deployment "web" successfully rolled out')

        fresh = {
            **stuck,
            "lastUpdateTime": "2030-01-01T00:05:00Z",
            "message": 'ReplicaSet "web-good" has timed out progressing.',
        }
        hook.patch(
            "apps/v1",
            "Deployment",
            "web",
            {"status": {**status, "conditions": [fresh]}},
            subresource="status",
        )
        again = rollout(emu, name="web", stale_deadline=marker)
        assert again["reason"] == "ProgressDeadlineExceeded", "a new deadline is this rollout's failure"
