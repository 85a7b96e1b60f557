"""RunJobOperator across tries of one generation (the tries between two clears): a try killed
at any point after its Job succeeded is followed by one that hands the result back without
running the work again; a clear (a new generation) runs it again. Direct calls against the
emulator, with the ``dag_run.clear_number``, ``dag_run.start_date`` and ``ti.max_tries`` Airflow
puts in the context.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.operators.job import RunJobOperator
from airflow_k8s_workflows.operators.job_adopt import (
    CHECKED_ANNOTATION,
    GENERATION_ANNOTATION,
    STATE_KEY,
    generation,
)
from tests.operators.job_support import NS, StateStore, context, job_or_none, jobs_of, run_trigger

IMAGE = "busybox:1.36"
CMDS = ["sh", "-c", "echo work-done"]


@pytest.fixture
def api(emulator: KubeEmulator, airflow_conn: str, k8s: client.ApiClient) -> client.ApiClient:
    return k8s


RUN_STARTED = datetime(2026, 1, 1, 0, 0, 5, tzinfo=timezone.utc)
AT_RUN_START = "@2026-01-01T00:00:05+00:00"  # the generation's suffix for RUN_STARTED


def ctx(
    try_number: int,
    store: StateStore,
    *,
    clear_number: int = 0,
    max_tries: int = 3,
    run_started: datetime = RUN_STARTED,
) -> dict[str, Any]:
    c = context("gen", try_number=try_number, store=store)
    c["ti"].max_tries = max_tries
    c["dag_run"] = SimpleNamespace(clear_number=clear_number, start_date=run_started)
    return c


def op(**kwargs: Any) -> RunJobOperator:
    return RunJobOperator(task_id="gen", image=IMAGE, cmds=CMDS, deferrable=True, **kwargs)


def first_try(store: StateStore, **kwargs: Any) -> tuple[RunJobOperator, dict[str, Any], dict[str, Any]]:
    """Try 1 creates the Job and the Job succeeds; returns the operator, context and event."""
    o, c = op(**kwargs), ctx(1, store)
    with pytest.raises(TaskDeferred) as deferred:
        o.execute(c)
    return o, c, run_trigger(deferred.value.trigger)


def test_generation_comes_from_clear_number_max_tries_and_the_runs_start() -> None:
    assert generation(ctx(2, StateStore(), clear_number=1, max_tries=5)) == f"1.5{AT_RUN_START}"
    assert generation(context("gen")) is None  # not told: a finished Job is never adopted by it


def test_a_run_deleted_and_made_again_under_the_same_run_id_runs_the_job_again(
    api: client.ApiClient,
) -> None:
    store = StateStore()
    _, c1, _ = first_try(store, cleanup="never")
    [job] = jobs_of(api, c1)
    # the run is deleted (its task state store goes with it) and made again: clear_number and
    # max_tries start over as they were, only the run's start differs
    again = ctx(1, StateStore(), run_started=RUN_STARTED + timedelta(minutes=3))
    with pytest.raises(TaskDeferred) as deferred:
        op(cleanup="never").execute(again)
    [fresh] = jobs_of(api, c1)
    assert fresh["metadata"]["uid"] != job["metadata"]["uid"]
    assert deferred.value.trigger.uid == fresh["metadata"]["uid"]


def test_killed_after_the_checked_mark_the_retry_reads_the_same_job(api: client.ApiClient) -> None:
    store = StateStore()
    _, c1, _ = first_try(store, cleanup="never")
    [job] = jobs_of(api, c1)
    assert job["metadata"]["annotations"][GENERATION_ANNOTATION] == f"0.3{AT_RUN_START}"
    # try 1 annotated the Job checked, then was killed before the hand-back
    client.BatchV1Api(api).patch_namespaced_job(
        job["metadata"]["name"], NS, {"metadata": {"annotations": {CHECKED_ANNOTATION: "true"}}}
    )
    # adopted, not run again; finished already, so handed back without a deferral
    assert op(cleanup="never").execute(ctx(2, store)) == "work-done"
    assert [j["metadata"]["uid"] for j in jobs_of(api, c1)] == [job["metadata"]["uid"]]


def test_killed_after_the_cleanup_the_retry_returns_the_recorded_result(api: client.ApiClient) -> None:
    store = StateStore()
    o1, c1, event = first_try(store)
    [job] = jobs_of(api, c1)
    assert o1.execute_complete(c1, event) == "work-done"  # ... and the process dies before XCom
    assert job_or_none(api, job["metadata"]["name"]) is None  # cleanup="on_success" deleted it
    assert store.get(STATE_KEY)["outcome"] == "succeeded" and store.get(STATE_KEY)["result"] == "work-done"
    assert op().execute(ctx(2, store)) == "work-done"  # no defer: no Job at all
    assert jobs_of(api, c1) == []


def test_a_clear_runs_the_job_again_even_if_no_try_saw_it_finish(api: client.ApiClient) -> None:
    store = StateStore()
    _, c1, _ = first_try(store, cleanup="never")
    [job] = jobs_of(api, c1)
    # try 1 was killed before it read the result; then the task was cleared: a new generation
    o2, c2 = op(cleanup="never"), ctx(2, store, clear_number=1, max_tries=4)
    with pytest.raises(TaskDeferred) as deferred:
        o2.execute(c2)
    [fresh] = jobs_of(api, c1)
    assert fresh["metadata"]["uid"] != job["metadata"]["uid"]
    assert deferred.value.trigger.uid == fresh["metadata"]["uid"]
    assert fresh["metadata"]["annotations"][GENERATION_ANNOTATION] == f"1.4{AT_RUN_START}"


def test_a_clear_after_a_recorded_success_runs_the_job_again(api: client.ApiClient) -> None:
    store = StateStore()
    o1, c1, event = first_try(store)
    assert o1.execute_complete(c1, event) == "work-done"
    with pytest.raises(TaskDeferred):
        op().execute(ctx(2, store, clear_number=1, max_tries=4))
    [fresh] = jobs_of(api, c1)
    assert fresh["metadata"]["annotations"][GENERATION_ANNOTATION] == f"1.4{AT_RUN_START}"


def test_a_failed_job_is_run_again_by_the_retry(api: client.ApiClient) -> None:
    store = StateStore()
    o = RunJobOperator(task_id="gen", image=IMAGE, cmds=["sh", "-c", "exit 3"], backoff_limit=0,
                       deferrable=True, cleanup="never")  # fmt: skip
    c1 = ctx(1, store)
    with pytest.raises(TaskDeferred) as deferred:
        o.execute(c1)
    assert run_trigger(deferred.value.trigger)["status"] == "failed"
    [failed] = jobs_of(api, c1)
    with pytest.raises(TaskDeferred):
        o.execute(ctx(2, store))
    [fresh] = jobs_of(api, c1)
    assert fresh["metadata"]["uid"] != failed["metadata"]["uid"]
