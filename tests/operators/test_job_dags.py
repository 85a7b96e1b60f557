"""RunJobOperator in real Airflow: dag.test() runs of tests/dags/jobs.py against the emulator, in
sync and deferrable mode (dag.test runs a deferred task's trigger inline)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.operators.job_support import NS, all_jobs, completion_times

MODES = ["sync", "deferred"]


@pytest.fixture
def api(
    airflow_db: str, emulator: KubeEmulator, airflow_conn: str, k8s: client.ApiClient
) -> client.ApiClient:
    return k8s


def xcoms(run: Any) -> dict[tuple[str, int], Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == run.dag_id,
                XComModel.run_id == run.run_id,
                XComModel.key == "return_value",
            )
        )
        return {(x.task_id, x.map_index): x.value for x in rows}


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.mark.parametrize("mode", MODES)
def test_results_land_in_xcom(api: client.ApiClient, mode: str) -> None:
    from tests.dags.jobs import dags

    run = dags[f"jobs_success_{mode}"].test(run_conf={"tag": mode})
    assert states(run) == {"json_result": "success", "last_line": "success", "indexed": "success"}
    assert xcoms(run) == {
        ("json_result", -1): {"rows": 3, "ok": True},
        ("last_line", -1): f"done {mode}",
        ("indexed", -1): [{"index": 0}, {"index": 1}, {"index": 2}],
    }
    assert all_jobs(api) == []  # cleanup="on_success"


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_job_fails_the_task_and_is_kept(api: client.ApiClient, mode: str) -> None:
    from tests.dags.jobs import dags

    run = dags[f"jobs_failure_{mode}"].test()
    assert run.state == "failed"
    assert states(run) == {"fails": "failed"}
    [name] = all_jobs(api)
    job = client.BatchV1Api(api).read_namespaced_job(name, NS)
    assert [(c.type, c.reason) for c in job.status.conditions if c.type == "Failed"] == [
        ("Failed", "BackoffLimitExceeded")
    ]
    assert job.status.failed == 2
    assert job.metadata.annotations["airflow-k8s-workflows.io/checked"] == "true"


@pytest.mark.parametrize("mode", MODES)
def test_execution_timeout_holds_in_both_modes(api: client.ApiClient, mode: str) -> None:
    from tests.dags.jobs import dags

    started = time.monotonic()
    run = dags[f"jobs_timeout_{mode}"].test()
    elapsed = time.monotonic() - started
    assert run.state == "failed"
    assert states(run) == {"never_ends": "failed"}
    assert elapsed < 20, elapsed  # execution_timeout is 5 s; dag.test itself adds a few seconds
    assert all_jobs(api) == []  # the Job that would never end was deleted


def test_mapping_runs_one_job_per_map_index(api: client.ApiClient, emulator: KubeEmulator) -> None:
    from tests.dags.jobs import dags

    completed = completion_times(emulator)
    run = dags["jobs_mapped"].test()
    assert run.state == "success"
    assert xcoms(run) == {("shard", 0): "shard-1", ("shard", 1): "shard-2", ("shard", 2): "shard-3"}
    assert len(completed) == 3  # three distinct Job names


def test_manifest_file_is_rendered_and_yaml_arguments_stay_values(api: client.ApiClient) -> None:
    from tests.dags.jobs import dags

    run = dags["jobs_templates"].test(run_conf={"team": "ml"})
    assert states(run) == {"from_file": "success", "yaml_argument": "success"}
    assert xcoms(run) == {("from_file", -1): "from manifest for ml", ("yaml_argument", -1): "ml.yaml"}
