"""Real ``airflow standalone`` with the repo's ``dags/`` against the emulator:

* REST: the flagship ``deploy_scale_monitor`` triggered through ``/api/v2`` succeeds, and its
  ``deploy`` task went through the ``deferred`` state: its log (read through the REST API) shows
  the deferral and the rollout progress the trigger wrote in the triggerer;
* CLI: ``airflow backfill create`` of three logical dates of ``batch_jobs`` gives exactly one
  extract Job per date, named after it (and one Job per date and shard); a second backfill with
  ``--reprocess-behavior completed`` re-runs the dates and **replaces** each finished Job (a
  fresh uid at the same name) — still exactly one Job per name, never a twin.
"""

from __future__ import annotations

import subprocess
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.testing.standalone import VENV_BIN, AirflowStandalone

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]
DATES = ["20260101", "20260102", "20260103"]


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEmulator]:
    with KubeEmulator(speed=20, workdir=tmp_path_factory.mktemp("emu")) as e:
        yield e


@pytest.fixture(scope="module")
def af(emu: KubeEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStandalone]:
    env = {"AIRFLOW_CONN_KUBERNETES_DEFAULT": emu.airflow_connection(inline=True)}
    with AirflowStandalone(tmp_path_factory.mktemp("airflow"), REPO / "dags", env=env) as running:
        yield running


def log_text(af: AirflowStandalone, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
    quoted = urllib.parse.quote(run_id, safe="")
    body = af.get(
        f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}", full_content=True
    )
    content = body["content"]
    return "\n".join(str(c.get("event", c)) if isinstance(c, dict) else str(c) for c in content)


def test_rest_trigger_of_the_flagship_defers_and_succeeds(af: AirflowStandalone) -> None:
    af.wait_for_dag("deploy_scale_monitor")
    assert af.import_errors() == []
    af.unpause("deploy_scale_monitor")
    run = af.trigger("deploy_scale_monitor", conf={"namespace": "rest"})
    [finished] = af.wait_for_runs("deploy_scale_monitor", 1, timeout=300)
    assert finished["dag_run_id"] == run["dag_run_id"]
    states = {
        ti["task_id"]: ti["state"] for ti in af.task_instances("deploy_scale_monitor", run["dag_run_id"])
    }
    assert set(states.values()) == {"success"}, states
    deploy = af.get(
        f"/dags/deploy_scale_monitor/dagRuns/{urllib.parse.quote(run['dag_run_id'], safe='')}/taskInstances/deploy"
    )
    log = log_text(af, "deploy_scale_monitor", run["dag_run_id"], "deploy", deploy["try_number"])
    assert "Pausing task as DEFERRED" in log
    assert 'deployment "web" successfully rolled out' in log  # written by the trigger, in the triggerer


def backfill(af: AirflowStandalone, *extra: str) -> None:
    for _ in range(3):  # SQLite (standalone's database) can be locked by the scheduler for a moment
        done = subprocess.run(
            [str(VENV_BIN / "airflow"), "backfill", "create", "--dag-id", "batch_jobs",
             "--from-date", "2026-01-01", "--to-date", "2026-01-03", *extra],
            env=af.env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if done.returncode == 0 or "database is locked" not in done.stdout + done.stderr:
            break
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def batch_runs(af: AirflowStandalone) -> list[dict[str, Any]]:
    return [r for r in af.runs("batch_jobs") if r["run_type"] == "backfill"]


def backfills_completed(af: AirflowStandalone) -> bool:
    """The scheduler marks a backfill completed a moment after its last run ends; until then a
    new backfill of the DAG is refused (AlreadyRunningBackfill)."""
    found = af.get("/backfills", dag_id="batch_jobs")["backfills"]
    return bool(found) and all(b["completed_at"] for b in found)


def test_cli_backfill_gives_one_job_per_date_and_a_reprocess_replaces_without_twins(
    af: AirflowStandalone, emu: KubeEmulator
) -> None:
    batch = client.BatchV1Api(config.new_client_from_config(emu.kubeconfig))
    created: Counter[str] = Counter()
    uids: dict[str, set[str]] = {}
    start_rv = batch.list_namespaced_job("default").metadata.resource_version
    af.wait_for_dag("batch_jobs")
    af.unpause("batch_jobs")  # the scheduler queues no task of a paused DAG, backfills included

    def ours() -> list[Any]:  # the three dates' Jobs (unpausing also schedules the latest day)
        return [
            j for j in batch.list_namespaced_job("default").items if any(d in j.metadata.name for d in DATES)
        ]

    backfill(af)
    af.wait(lambda: len(batch_runs(af)) == 3 and all(r["state"] == "success" for r in batch_runs(af)),
            300, "three successful backfill runs")  # fmt: skip
    jobs = {j.metadata.name: j for j in ours()}
    assert {n for n in jobs if n.startswith("batch-extract-")} == {f"batch-extract-{d}" for d in DATES}
    assert {n for n in jobs if n.startswith("batch-process-")} == {
        f"batch-process-{d}-{i}" for d in DATES for i in range(3)
    }
    first_uids = {n: j.metadata.uid for n, j in jobs.items()}
    assert {r["logical_date"][:10].replace("-", "") for r in batch_runs(af)} == set(DATES)
    af.wait(lambda: backfills_completed(af), 120, "the first backfill marked completed")

    backfill(af, "--reprocess-behavior", "completed")
    af.wait(lambda: len(batch_runs(af)) == 3 and all(r["state"] == "success" for r in batch_runs(af))
            and all(r["end_date"] and r["end_date"] > r["start_date"] for r in batch_runs(af))
            and any(j.metadata.uid != first_uids.get(j.metadata.name) for j in ours()),
            300, "the reprocessed runs")  # fmt: skip
    af.wait(lambda: all(j.metadata.uid != first_uids[j.metadata.name] and j.status.succeeded for j in ours())
            and len(ours()) == 12, 300, "every Job replaced and succeeded")  # fmt: skip

    # every create the API server answered, from a watch replayed from before the first backfill
    for event in watch.Watch().stream(batch.list_namespaced_job, "default", resource_version=start_rv,
                                      timeout_seconds=2):  # fmt: skip
        if event["type"] == "ADDED" and event["object"].metadata.name in first_uids:
            name = event["object"].metadata.name
            if event["object"].metadata.uid not in uids.setdefault(name, set()):
                uids[name].add(event["object"].metadata.uid)
                created[name] += 1
    assert set(created) == set(first_uids)
    assert set(created.values()) == {2}, created  # once per backfill: replaced, never twinned
