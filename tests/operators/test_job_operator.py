"""RunJobOperator called directly against the emulator over HTTP: live logs, results, failures,
adoption, cleanup, kill, and bad input refused before anything reaches the cluster."""

from __future__ import annotations

import asyncio
import functools
import threading
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.kube.job_manifest import JobArgumentError
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.operators.job import RunJobOperator
from airflow_k8s_workflows.operators.job_adopt import CHECKED_ANNOTATION, STATE_KEY
from tests.helpers import wait_for
from tests.operators.job_support import (
    NS,
    StateStore,
    all_jobs,
    captured_task_log,
    completion_times,
    context,
    job_or_none,
    jobs_of,
    pods_of,
    run_trigger,
    until,
)

IMAGE = "busybox:1.36"


@pytest.fixture
def api(emulator: KubeEmulator, airflow_conn: str, k8s: client.ApiClient) -> client.ApiClient:
    return k8s


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# -- sync: live logs and the result ------------------------------------------------------------------
def test_sync_streams_every_line_live_and_returns_the_json_termination_message(
    api: client.ApiClient, emulator: KubeEmulator
) -> None:
    completed = completion_times(emulator)
    script = (
        "for i in $(seq 1 10); do echo line-$i; sleep 0.2; done; echo '{\"rows\": 10}' > /dev/termination-log"
    )
    op = RunJobOperator(task_id="live", image=IMAGE, cmds=sh(script), deferrable=False, cleanup="never")
    ctx = context("live", store=StateStore())
    with captured_task_log() as log:
        result = op.execute(ctx)
    assert result == {"rows": 10}
    [job] = jobs_of(api, ctx)
    [pod] = pods_of(api, job["metadata"]["uid"])
    prefix = f"[{pod.metadata.name}] "
    assert log.messages(prefix) == [f"{prefix}line-{i}" for i in range(1, 11)]
    # streamed while the Job ran, not printed after it
    assert log.first_time(f"{prefix}line-1") < completed[job["metadata"]["name"]] - 1.0


def test_last_line_is_the_fallback_result_and_do_xcom_push_false_returns_nothing(
    api: client.ApiClient,
) -> None:
    op = RunJobOperator(
        task_id="tail", image=IMAGE, cmds=sh("echo first; echo '  the end '"), deferrable=False
    )
    assert op.execute(context("tail")) == "the end"
    quiet = RunJobOperator(
        task_id="quiet", image=IMAGE, cmds=sh("echo 1"), deferrable=False, do_xcom_push=False
    )
    assert quiet.execute(context("quiet")) is None


def test_a_restarted_container_is_streamed_once_per_line(api: client.ApiClient) -> None:
    # restartPolicy OnFailure: the same pod runs the container twice; every line of both runs once
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {},
        "spec": {
            "backoffLimit": 3,
            "template": {
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [
                        {
                            "name": "main",
                            "image": IMAGE,
                            "command": sh(
                                "if [ -e $HOME/ran ]; then sleep 0.5; echo second-run; exit 0; fi; "
                                "touch $HOME/ran; echo first-run; sleep 0.5; exit 1"
                            ),
                        }
                    ],
                }
            },
        },
    }
    op = RunJobOperator(task_id="restart", job_manifest=manifest, deferrable=False)
    with captured_task_log() as log:
        assert op.execute(context("restart")) == "second-run"
    lines = [m.split("] ", 1)[1] for m in log.messages("[") if "-run" in m]
    assert lines == ["first-run", "second-run"]


# -- deferrable: the same trigger through serialize(), logs on resume ---------------------------------
def test_deferrable_defers_then_prints_logs_and_returns_the_result(api: client.ApiClient) -> None:
    op = RunJobOperator(task_id="deferred", image=IMAGE, cmds=sh("echo hello; echo 42"), deferrable=True)
    ctx = context("deferred", store=StateStore())
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)
    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert trigger.delete_on_kill and trigger.uid == jobs_of(api, ctx)[0]["metadata"]["uid"]
    assert "sealed_cluster_config" in trigger.cluster or set(trigger.cluster) == {"kubernetes_conn_id"}
    event = run_trigger(trigger)
    assert event["status"] == "success" and event["succeeded"] == 1
    resumed = RunJobOperator(task_id="deferred", image=IMAGE, cmds=sh("echo hello; echo 42"), deferrable=True)
    with captured_task_log() as log:
        assert resumed.execute_complete(ctx, event) == 42
    assert [m.split("] ", 1)[1] for m in log.messages("[")] == ["hello", "42"]
    assert jobs_of(api, ctx) == []  # cleanup="on_success"


# -- failure ---------------------------------------------------------------------------------------------
def test_backoff_limit_failure_names_reason_pod_problem_logs_and_events(api: client.ApiClient) -> None:
    script = "for i in $(seq 1 30); do echo log-$i; done; echo 'fatal: disk full' >&2; exit 3"
    op = RunJobOperator(task_id="fails", image=IMAGE, cmds=sh(script), backoff_limit=1, deferrable=False)
    ctx = context("fails")
    with captured_task_log() as log, pytest.raises(KubernetesTaskFailed) as failed:
        op.execute(ctx)
    message = str(failed.value)
    [job] = jobs_of(api, ctx)  # kept for inspection (cleanup="on_success")
    name = job["metadata"]["name"]
    # both pods (the first and its replacement) are in the task log, every line once
    pods = sorted(p.metadata.name for p in pods_of(api, job["metadata"]["uid"]))
    assert len(pods) == 2
    expected = [f"log-{i}" for i in range(1, 31)] + ["fatal: disk full"]
    for pod in pods:
        assert [m.split("] ", 1)[1] for m in log.messages(f"[{pod}] ")] == expected
    assert message.startswith(
        f"Job {NS}/{name} failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
    )
    assert "2 failed" in message.splitlines()[0]
    assert "container main: Error: exit code 3" in message
    assert "Last 20 log lines of pod" in message
    assert "  log-30\n  fatal: disk full" in message
    assert "  log-11\n" not in message
    assert f"Job/{name}: BackoffLimitExceeded" in message.split("Warning events:")[1]
    assert job["metadata"]["annotations"][CHECKED_ANNOTATION] == "true"


# -- adoption ---------------------------------------------------------------------------------------------
def gated(tmp_path: Path) -> tuple[Path, list[str]]:
    """A gate file and a command that waits for it, then prints ``released``."""
    gate = tmp_path / "release"
    return gate, sh(f"until [ -e {gate} ]; do sleep 0.05; done; echo released")


def one_try(
    task_id: str, cmds: list[str], store: StateStore, try_number: int
) -> tuple[RunJobOperator, dict[str, Any]]:
    """A try of a deferrable RunJobOperator that keeps its Job: (operator, context)."""
    op = RunJobOperator(task_id=task_id, image=IMAGE, cmds=cmds, deferrable=True, cleanup="never")
    return op, context(task_id, try_number=try_number, store=store)


def deferred_attempt(
    task_id: str, cmds: list[str], store: StateStore, try_number: int
) -> tuple[RunJobOperator, dict[str, Any], TaskDeferred]:
    """One try that defers: (operator, context, deferral)."""
    op, ctx = one_try(task_id, cmds, store, try_number)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)
    return op, ctx, deferred.value


def test_a_retry_adopts_the_running_job_and_a_clear_starts_a_fresh_one(
    api: client.ApiClient, tmp_path: Path
) -> None:
    gate, cmds = gated(tmp_path)
    store = StateStore()
    attempt = functools.partial(deferred_attempt, "adopt", cmds, store)

    _, ctx, _ = attempt(1)
    [job] = jobs_of(api, ctx)
    uid = job["metadata"]["uid"]
    assert store.get(STATE_KEY) == {"name": job["metadata"]["name"], "namespace": NS, "uid": uid, "try": "1"}

    op2, ctx2, second = attempt(2)  # the worker of try 1 died; try 2 runs while the Job still runs
    assert second.trigger.uid == uid
    assert [j["metadata"]["uid"] for j in jobs_of(api, ctx)] == [uid]

    gate.touch()
    event = run_trigger(second.trigger)
    assert op2.execute_complete(ctx2, event) == "released"

    _, _, third = attempt(3)  # a clear of the finished task: a fresh Job, still only one
    [fresh] = jobs_of(api, ctx)
    assert fresh["metadata"]["uid"] not in (uid, None)
    assert third.trigger.uid == fresh["metadata"]["uid"]
    assert store.get(STATE_KEY)["uid"] == fresh["metadata"]["uid"]


def test_a_retry_hands_back_the_result_of_a_job_that_succeeded_while_no_try_watched(
    api: client.ApiClient, tmp_path: Path
) -> None:
    gate, cmds = gated(tmp_path)
    store = StateStore()
    attempt = functools.partial(deferred_attempt, "late", cmds, store)

    _, ctx, first = attempt(1)
    [job] = jobs_of(api, ctx)
    gate.touch()
    run_trigger(first.trigger)  # the Job succeeds; try 1 is killed before execute_complete
    # try 2 adopts it (not run again) and, as it has finished, hands its result back at once:
    # no deferral, no trip through the triggerer
    op2, ctx2 = one_try("late", cmds, store, 2)
    assert op2.execute(ctx2) == "released"
    [same] = jobs_of(api, ctx)
    assert same["metadata"]["uid"] == job["metadata"]["uid"]
    assert same["metadata"]["annotations"][CHECKED_ANNOTATION] == "true"


def test_concurrent_attempts_without_a_state_store_share_one_job(api: client.ApiClient) -> None:
    barrier = threading.Barrier(3)
    uids: list[str] = []

    def attempt() -> None:
        op = RunJobOperator(task_id="race", image=IMAGE, cmds=["sleep", "30"], deferrable=True)
        barrier.wait()
        try:
            op.execute(context("race"))
        except TaskDeferred as deferred:
            uids.append(deferred.trigger.uid)

    threads = [threading.Thread(target=attempt) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    [job] = jobs_of(api, context("race"))
    assert uids == [job["metadata"]["uid"]] * 3


def test_a_foreign_job_with_the_same_name_is_left_alone(api: client.ApiClient) -> None:
    body = {"metadata": {"name": "taken"}, "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "30"]}]}}}}  # fmt: skip
    foreign = client.BatchV1Api(api).create_namespaced_job(NS, body)
    op = RunJobOperator(task_id="collide", name="taken", image=IMAGE, cmds=["true"], deferrable=False)
    with pytest.raises(KubernetesTaskFailed, match="already exists and was not created by this task"):
        op.execute(context("collide"))
    assert job_or_none(api, "taken")["metadata"]["uid"] == foreign.metadata.uid  # type: ignore[index]


# -- cleanup, kill, fire-and-forget -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cleanup", "succeeds", "deleted"),
    [
        ("on_success", True, True),
        ("on_success", False, False),
        ("always", False, True),
        ("never", True, False),
    ],
)
def test_cleanup_modes(api: client.ApiClient, cleanup: str, succeeds: bool, deleted: bool) -> None:
    op = RunJobOperator(task_id="clean", image=IMAGE, cmds=sh("exit 0" if succeeds else "exit 1"),
                        backoff_limit=0, cleanup=cleanup, deferrable=False)  # fmt: skip
    ctx = context("clean")
    if succeeds:
        op.execute(ctx)
    else:
        with pytest.raises(KubernetesTaskFailed):
            op.execute(ctx)
    remaining = jobs_of(api, ctx)
    assert (remaining == []) is deleted
    if not deleted:
        assert remaining[0]["metadata"]["annotations"][CHECKED_ANNOTATION] == "true"


def test_on_kill_deletes_the_job_and_its_pods(api: client.ApiClient) -> None:
    op = RunJobOperator(task_id="killed", image=IMAGE, cmds=["sleep", "60"], deferrable=False)
    ctx = context("killed")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(ctx)
        except BaseException as e:
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    job = wait_for(lambda: (jobs_of(api, ctx) or [None])[0], message="the Job")
    uid = job["metadata"]["uid"]
    wait_for(lambda: [p for p in pods_of(api, uid) if p.status.phase == "Running"], message="a running pod")
    op.on_kill()
    wait_for(lambda: not jobs_of(api, ctx) and not pods_of(api, uid), message="Job and pods deleted")
    worker.join(30)
    assert not worker.is_alive()
    assert isinstance(errors[0], KubernetesTaskFailed) and "deleted before it finished" in str(errors[0])


def test_wait_until_complete_false_returns_the_job_right_away(api: client.ApiClient) -> None:
    op = RunJobOperator(task_id="fire", image=IMAGE, cmds=["sleep", "30"], wait_until_complete=False)
    ctx = context("fire")
    ref = op.execute(ctx)
    [job] = jobs_of(api, ctx)
    assert ref == {"name": job["metadata"]["name"], "namespace": NS, "uid": job["metadata"]["uid"]}
    assert job["metadata"]["annotations"][CHECKED_ANNOTATION] == "true"


# -- bad input: refused before any request that changes the cluster -----------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"job_manifest": {"kind": "Job"}, "image": IMAGE}, "image"),
        ({"image": IMAGE, "backoff_limit": -1}, "backoff_limit"),
        ({"image": ""}, "image"),
        ({"image": IMAGE, "name": "Bad_Name"}, "name"),
        ({"image": IMAGE, "completion_mode": "Parallel"}, "completion_mode"),
        ({"image": IMAGE, "cleanup": "later"}, "cleanup"),
        ({}, "image"),
    ],
)
def test_bad_arguments_fail_at_dag_parse_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(JobArgumentError) as err:
        RunJobOperator(task_id="bad", **kwargs)
    assert str(err.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("rendered", "field"),
    [
        ({"image": " "}, "image"),
        ({"backoff_limit": "-2"}, "backoff_limit"),
        ({"name": "UPPER"}, "name"),
        ({"env_vars": {"A": ["list"]}}, "env_vars.A"),
        ({"container_resources": {"limits": {"memory": "1 GB"}}}, "container_resources.limits.memory"),
    ],
)
def test_bad_rendered_arguments_fail_before_any_write(
    api: client.ApiClient, emulator: KubeEmulator, rendered: dict[str, Any], field: str
) -> None:
    op = RunJobOperator(task_id="bad", image="{{ params.image }}", cmds=["true"], deferrable=False)
    op.image = IMAGE
    for key, value in rendered.items():  # what template rendering produced
        setattr(op, key, value)
    with pytest.raises(AirflowFailException) as err:
        op.execute(context("bad"))
    assert str(err.value).startswith(f"{field}: ")
    assert emulator.http.counter.total(verb="create") == 0
    assert all_jobs(api) == []


@pytest.mark.parametrize(
    ("manifest_patch", "field"),
    [
        ({"spec": {"backoffLimit": -1}}, "job_manifest.spec.backoffLimit"),
        (
            {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": IMAGE, "comand": ["x"]}],
                        }
                    }
                }
            },
            "job_manifest.spec.template.spec.containers[0].comand",
        ),
        ({"metadata": {"name": "x" * 64}}, "job_manifest.metadata.name"),
    ],
)
def test_bad_manifests_fail_before_any_write(
    api: client.ApiClient, emulator: KubeEmulator, manifest_patch: dict[str, Any], field: str
) -> None:
    manifest: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": IMAGE}]}}
        },
    }
    for key, value in manifest_patch.items():
        manifest[key] = {**manifest[key], **value}
    op = RunJobOperator(task_id="bad", job_manifest=manifest, deferrable=False)
    with pytest.raises(AirflowFailException) as err:
        op.execute(context("bad"))
    assert str(err.value).startswith(f"{field}: "), str(err.value)
    assert emulator.http.counter.total(verb="create") == 0
    assert all_jobs(api) == []


async def test_a_job_removed_by_its_ttl_right_after_success_still_succeeds(
    api: client.ApiClient, tmp_path: Path
) -> None:
    from airflow_k8s_workflows.kube import watch
    from airflow_k8s_workflows.triggers.base import first_event

    gate = tmp_path / "go"
    op = RunJobOperator(task_id="ttl", image=IMAGE, cmds=sh(f"until [ -e {gate} ]; do sleep 0.05; done"),
                        ttl_seconds_after_finished=0, deferrable=True)  # fmt: skip
    ctx = context("ttl")
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)
    lists = watch.watch_metrics().list_requests
    waiting = asyncio.ensure_future(first_event(deferred.value.trigger, 30))
    await until(
        lambda: watch.watch_metrics().list_requests > lists, what="the trigger holding the Job's state"
    )
    gate.touch()
    event = await waiting
    assert event["status"] == "success"
    await until(lambda: not jobs_of(api, ctx), what="the TTL controller deleting the Job")
    assert op.execute_complete(ctx, event) is None
