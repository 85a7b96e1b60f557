"""JobTrigger against the emulator over HTTP: current state first, one shared watch for many Jobs,
deletion and replacement, deadlines, and an on_kill that deletes only its own Job."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.kube import watch
from airflow_k8s_workflows.triggers.base import first_event
from airflow_k8s_workflows.triggers.job import JobTrigger
from tests.helpers import wait_for
from tests.operators.job_support import NS, create_job, finished, job_or_none

IMAGE = "busybox:1.36"


@pytest.fixture
def batch(emulator: KubeEmulator, airflow_conn: str, k8s: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(k8s)


def test_serialize_round_trips_through_airflow_serde() -> None:
    from airflow.sdk.serde import deserialize, serialize

    deadline = datetime(2030, 1, 1, tzinfo=timezone.utc)
    trigger = JobTrigger(name="etl", namespace="batch", uid="u-1", cluster={"kubernetes_conn_id": "k"},
                         deadline=deadline, delete_on_kill=True)  # fmt: skip
    path, kwargs = trigger.serialize()
    assert path == "airflow_k8s_workflows.triggers.job.JobTrigger"
    stored = json.loads(json.dumps(serialize(kwargs)))  # what the trigger table holds
    again = JobTrigger(**deserialize(stored))
    assert again.serialize() == (path, kwargs)
    assert again.deadline == deadline and again.kubernetes_conn_id == "k"
    with pytest.raises(ValueError, match="name"):
        JobTrigger(name="")


async def test_a_finished_job_is_reported_from_its_current_state(batch: client.BatchV1Api) -> None:
    uid = create_job(batch, "done", "echo ok")
    wait_for(lambda: finished(batch, "done"), message="job done")
    started = time.monotonic()
    event = await first_event(JobTrigger(name="done", namespace=NS, uid=uid), timeout=10)
    assert time.monotonic() - started < 2
    assert event["status"] == "success"
    assert (event["name"], event["namespace"], event["uid"]) == ("done", NS, uid)
    assert (event["succeeded"], event["failed"], event["reason"]) == (1, 0, "CompletionsReached")
    assert event["completion_time"]
    assert event["message"].startswith(f"Job {NS}/done succeeded")


async def test_a_failed_job_reports_its_reason(batch: client.BatchV1Api) -> None:
    uid = create_job(batch, "boom", "exit 2", backoffLimit=0)
    event = await first_event(JobTrigger(name="boom", namespace=NS, uid=uid), timeout=20)
    assert event["status"] == "failed"
    assert event["reason"] == "BackoffLimitExceeded"
    assert event["failed"] == 1
    assert "BackoffLimitExceeded: Job has reached the specified backoff limit" in event["message"]


async def test_many_waits_in_a_namespace_share_one_list_and_one_watch(
    batch: client.BatchV1Api, emulator: KubeEmulator, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    uids = {
        f"w-{i}": create_job(batch, f"w-{i}", f"until [ -e {gate} ]; do sleep 0.05; done") for i in range(20)
    }
    before = watch.watch_metrics()
    gets_before = emulator.http.counter.total(verb="get", resource="jobs")
    triggers = [JobTrigger(name=name, namespace=NS, uid=uid) for name, uid in uids.items()]
    waits = [asyncio.ensure_future(first_event(t, timeout=30)) for t in triggers]
    await asyncio.sleep(
        0.3
    )  # every trigger subscribed and waiting (nothing can finish before the gate opens)
    assert not any(w.done() for w in waits)
    gate.touch()
    events = await asyncio.gather(*waits)
    assert [e["status"] for e in events] == ["success"] * 20
    after = watch.watch_metrics()
    assert after.list_requests - before.list_requests == 1
    assert after.watch_requests - before.watch_requests == 1
    assert emulator.http.counter.total(verb="get", resource="jobs") == gets_before


async def test_a_job_created_after_the_stream_started_is_not_mistaken_for_deleted(
    batch: client.BatchV1Api, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    first = create_job(batch, "early", f"until [ -e {gate} ]; do sleep 0.05; done")
    early = asyncio.ensure_future(first_event(JobTrigger(name="early", namespace=NS, uid=first), timeout=30))
    await asyncio.sleep(0.2)  # the shared stream is open
    for i in range(5):  # the stream's cache may lag behind these creates
        uid = await asyncio.to_thread(create_job, batch, f"late-{i}", "echo ok")
        event = await first_event(JobTrigger(name=f"late-{i}", namespace=NS, uid=uid), timeout=20)
        assert event["status"] == "success", event
    gate.touch()
    assert (await early)["status"] == "success"


async def test_deletion_ends_the_wait_with_an_error(batch: client.BatchV1Api) -> None:
    uid = create_job(batch, "doomed", "sleep 60")
    waiting = asyncio.ensure_future(first_event(JobTrigger(name="doomed", namespace=NS, uid=uid), timeout=20))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(batch.delete_namespaced_job, "doomed", NS, propagation_policy="Background")
    event = await waiting
    assert event["status"] == "error"
    assert f"Job {NS}/doomed (uid {uid}) was deleted before it finished" in event["message"]


async def test_a_pinned_uid_ignores_a_newer_job_of_the_same_name(batch: client.BatchV1Api) -> None:
    old = create_job(batch, "again", "sleep 60")
    batch.delete_namespaced_job("again", NS, propagation_policy="Background")
    new = create_job(batch, "again", "echo new")
    event = await first_event(JobTrigger(name="again", namespace=NS, uid=old), timeout=10)
    assert event["status"] == "error" and "was deleted" in event["message"]
    event = await first_event(JobTrigger(name="again", namespace=NS, uid=new), timeout=20)
    assert event["status"] == "success" and event["uid"] == new


async def test_without_uid_it_waits_for_the_job_to_appear(batch: client.BatchV1Api) -> None:
    waiting = asyncio.ensure_future(first_event(JobTrigger(name="later", namespace=NS), timeout=20))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await asyncio.to_thread(create_job, batch, "later", "echo hi")
    assert (await waiting)["status"] == "success"


async def test_the_deadline_ends_the_wait_with_a_timeout_event(batch: client.BatchV1Api) -> None:
    uid = create_job(batch, "slow", "sleep 60")
    deadline = datetime.now(timezone.utc) + timedelta(seconds=1)
    started = time.monotonic()
    event = await first_event(JobTrigger(name="slow", namespace=NS, uid=uid, deadline=deadline), timeout=10)
    assert 0.5 < time.monotonic() - started < 3
    assert event["status"] == "timeout"
    assert "did not finish before its deadline" in event["message"]
    assert "1 active" in event["message"]


async def test_on_kill_deletes_only_its_own_job(batch: client.BatchV1Api, k8s: client.ApiClient) -> None:
    uid = create_job(batch, "mine", "sleep 60")
    await JobTrigger(name="mine", namespace=NS, uid=uid).on_kill()  # not asked to delete
    await JobTrigger(name="mine", namespace=NS, uid="someone-else", delete_on_kill=True).on_kill()  # 409
    assert job_or_none(k8s, "mine")["metadata"]["uid"] == uid  # type: ignore[index]
    await JobTrigger(name="mine", namespace=NS, uid=uid, delete_on_kill=True).on_kill()
    assert job_or_none(k8s, "mine") is None
    await JobTrigger(name="mine", namespace=NS, uid=uid, delete_on_kill=True).on_kill()  # 404: done
