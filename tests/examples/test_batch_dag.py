"""``dags/batch_jobs.py`` in real Airflow (``dag.test()``) against the emulator: one extract Job
per logical date with its data interval, a mapped Job per shard from the extract's result."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from tests.dags.examples import DAGS
from tests.operators.workload_support import xcom_result


def test_one_extract_job_per_date_and_one_mapped_job_per_shard(
    emulator: KubeEmulator, airflow_conn: str, airflow_db: str
) -> None:
    dag_run = DAGS["batch_jobs"].test(logical_date=pendulum.datetime(2026, 1, 5, tz="UTC"))
    assert dag_run.state == "success"
    jobs = {j["metadata"]["name"]: j for j in ClusterHook().list("batch/v1", "Job", "default")}
    assert set(jobs) == {"batch-extract-20260105", *(f"batch-process-20260105-{i}" for i in range(3))}
    assert all(j["spec"]["ttlSecondsAfterFinished"] == 7 * 24 * 3600 for j in jobs.values())
    env = {
        e["name"]: e["value"]
        for e in jobs["batch-extract-20260105"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    start, end = dag_run.data_interval_start, dag_run.data_interval_end
    assert end - start == timedelta(days=1)
    assert (env["INTERVAL_START"], env["INTERVAL_END"]) == (start.isoformat(), end.isoformat())
    extracted = xcom_result(dag_run, "extract")
    assert extracted["date"] == "20260105"
    assert [s["start"] for s in extracted["shards"]] == [
        start.isoformat(),
        (start + timedelta(hours=8)).isoformat(),
        (start + timedelta(hours=16)).isoformat(),
    ]
    assert extracted["shards"][-1]["end"] == end.isoformat()
    assert xcom_result(dag_run, "report") == {"date": "2026-01-05", "shards": 3, "rows": 3021}
