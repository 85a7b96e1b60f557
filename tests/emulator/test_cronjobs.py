"""batch/v1 CronJobs: validation, and the controller driven by moving its clock forward
(``CronJobController.shift_time``) instead of waiting for the wall clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator.controllers.cronjob import CronJobController
from tests.emulator.batch_support import NS, Cluster, cluster, pod_spec
from tests.helpers import wait_for

__all__ = ["cluster"]


def cronjob_body(name: str, schedule: str = "*/1 * * * *", **spec: Any) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": name}}, "spec": {"template": {"spec": pod_spec()}}}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": schedule, "jobTemplate": template, **spec},
    }


def _controller(cluster: Cluster) -> CronJobController:
    return next(c for c in cluster.emu.controllers if isinstance(c, CronJobController))


def create_cronjob(cluster: Cluster, body: dict[str, Any]) -> None:
    """Create the CronJob at least 10 s before the next minute on the controller's clock, so the
    wall clock cannot reach a ``*/1`` schedule before the test moves the clock on (a Job the test
    did not ask for; seen on a loaded machine when the create fell on second 59)."""
    controller = _controller(cluster)
    wait_for(lambda: cluster.emu.call(controller.now).second < 50, timeout=15, message="not second 50-59")
    cluster.batch.create_namespaced_cron_job(NS, body)


def advance_past_next_minute(cluster: Cluster, seconds_after: float = 2.0) -> datetime:
    """Move the CronJob controller's clock just past the next minute boundary; returns the boundary."""
    controller = _controller(cluster)
    now = cluster.emu.call(controller.now)
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    shift = (boundary - now).total_seconds() + seconds_after
    cluster.emu.call(lambda: controller.shift_time(shift))
    return boundary


def advance_to(cluster: Cluster, when: datetime) -> None:
    controller = _controller(cluster)
    now = cluster.emu.call(controller.now)
    cluster.emu.call(lambda: controller.shift_time((when - now).total_seconds()))


def jobs_of(cluster: Cluster, cronjob: str) -> list[dict[str, Any]]:
    found = [cluster.api.sanitize_for_serialization(j) for j in cluster.batch.list_namespaced_job(NS).items]
    owned = [
        j for j in found if any(r["name"] == cronjob for r in j["metadata"].get("ownerReferences") or [])
    ]
    return sorted(owned, key=lambda j: j["metadata"]["name"])


def cj_status(cluster: Cluster, name: str) -> dict[str, Any]:
    found = cluster.api.sanitize_for_serialization(cluster.batch.read_namespaced_cron_job(name, NS))
    return dict(found.get("status") or {})


def complete(cluster: Cluster, job: dict[str, Any]) -> None:
    name = job["metadata"]["name"]
    pod = wait_for(lambda: cluster.pods(name), message=f"pod of {name}")[0]
    cluster.finish_pod(pod, "Succeeded")
    cluster.wait_condition(name, "Complete")


def _invalid(exc: pytest.ExceptionInfo[ApiException]) -> str:
    assert exc.value.status == 422, exc.value.body
    return str(json.loads(exc.value.body)["message"])


def test_defaults_and_validation(cluster: Cluster) -> None:
    created = cluster.batch.create_namespaced_cron_job(NS, cronjob_body("nightly", "0 3 * * *"))
    assert created.spec.concurrency_policy == "Allow"
    assert created.spec.suspend is False
    assert created.spec.successful_jobs_history_limit == 3
    assert created.spec.failed_jobs_history_limit == 1

    with pytest.raises(ApiException) as exc:
        cluster.batch.create_namespaced_cron_job(NS, cronjob_body("bad", "x"))
    assert (
        _invalid(exc)
        == 'CronJob.batch "bad" is invalid: spec.schedule: Invalid value: "x": expected exactly 5 fields, found 1: [x]'
    )
    with pytest.raises(ApiException) as exc:
        cluster.batch.create_namespaced_cron_job(NS, cronjob_body("bad", "70 * * * *"))
    assert 'spec.schedule: Invalid value: "70 * * * *": end of range (70) above maximum (59): 70' in _invalid(
        exc
    )
    with pytest.raises(ApiException) as exc:
        cluster.batch.create_namespaced_cron_job(NS, cronjob_body("bad", timeZone="Mars/Olympus"))
    assert 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus' in _invalid(exc)
    with pytest.raises(ApiException) as exc:
        cluster.batch.create_namespaced_cron_job(NS, cronjob_body("bad", concurrencyPolicy="Sometimes"))
    assert (
        'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"'
        in (_invalid(exc))
    )
    with pytest.raises(ApiException) as exc:
        cluster.batch.create_namespaced_cron_job(NS, cronjob_body("x" * 53))
    assert "metadata.name: Invalid value" in _invalid(exc)
    assert "must be no more than 52 characters" in _invalid(exc)


def test_schedule_creates_named_job_and_tracks_it(cluster: Cluster) -> None:
    create_cronjob(cluster, cronjob_body("tick"))
    boundary = advance_past_next_minute(cluster)
    [job] = wait_for(lambda: jobs_of(cluster, "tick"), message="the scheduled job")
    meta = job["metadata"]
    assert meta["name"] == f"tick-{int(boundary.timestamp()) // 60}"
    assert meta["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == boundary.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert meta["labels"]["app"] == "tick"
    assert meta["ownerReferences"][0]["kind"] == "CronJob"
    assert meta["ownerReferences"][0]["controller"] is True
    status = wait_for(lambda: (s := cj_status(cluster, "tick")).get("active") and s)
    assert [a["name"] for a in status["active"]] == [meta["name"]]
    assert datetime.fromisoformat(status["lastScheduleTime"]) == boundary
    assert ("Normal", "SuccessfulCreate", f"Created job {meta['name']}") in cluster.events("tick")

    complete(cluster, job)
    status = wait_for(
        lambda: (s := cj_status(cluster, "tick")).get("lastSuccessfulTime") and not s.get("active") and s
    )
    assert status["lastSuccessfulTime"] == cluster.job_status(meta["name"])["completionTime"]
    assert (
        "Normal",
        "SawCompletedJob",
        f"Saw completed job: {meta['name']}, condition: Complete",
    ) in cluster.events("tick")


def test_forbid_skips_while_a_job_runs(cluster: Cluster) -> None:
    create_cronjob(cluster, cronjob_body("solo", concurrencyPolicy="Forbid"))
    advance_past_next_minute(cluster)
    wait_for(lambda: len(jobs_of(cluster, "solo")) == 1)
    advance_past_next_minute(cluster)
    message = "Not starting job because prior execution is running and concurrency policy is Forbid"
    wait_for(
        lambda: ("Normal", "JobAlreadyActive", message) in cluster.events("solo"), message="JobAlreadyActive"
    )
    assert len(jobs_of(cluster, "solo")) == 1


def test_replace_deletes_the_running_job(cluster: Cluster) -> None:
    create_cronjob(cluster, cronjob_body("swap", concurrencyPolicy="Replace"))
    advance_past_next_minute(cluster)
    [first] = wait_for(lambda: jobs_of(cluster, "swap"))
    advance_past_next_minute(cluster)
    [second] = wait_for(
        lambda: (
            (j := jobs_of(cluster, "swap")) and j[0]["metadata"]["name"] != first["metadata"]["name"] and j
        )
    )
    assert ("Normal", "SuccessfulDelete", f"Deleted job {first['metadata']['name']}") in cluster.events(
        "swap"
    )
    status = wait_for(lambda: (s := cj_status(cluster, "swap")).get("active") and s)
    assert [a["name"] for a in status["active"]] == [second["metadata"]["name"]]


def test_allow_runs_concurrently_and_history_limit_deletes_old_jobs(cluster: Cluster) -> None:
    create_cronjob(cluster, cronjob_body("hist", successfulJobsHistoryLimit=1))
    advance_past_next_minute(cluster)
    [first] = wait_for(lambda: jobs_of(cluster, "hist"))
    advance_past_next_minute(cluster)
    jobs = wait_for(
        lambda: j if len(j := jobs_of(cluster, "hist")) == 2 else None, message="two concurrent jobs"
    )
    complete(cluster, jobs[0])
    complete(cluster, jobs[1])
    wait_for(
        lambda: [j["metadata"]["name"] for j in jobs_of(cluster, "hist")] == [jobs[1]["metadata"]["name"]],
        message="the oldest successful job deleted",
    )
    assert ("Normal", "SuccessfulDelete", f"Deleted job {first['metadata']['name']}") in cluster.events(
        "hist"
    )


def test_suspended_cronjob_starts_nothing(cluster: Cluster) -> None:
    create_cronjob(cluster, cronjob_body("paused", suspend=True))
    advance_past_next_minute(cluster)
    with pytest.raises(AssertionError):
        wait_for(lambda: jobs_of(cluster, "paused"), timeout=1)
    cluster.batch.patch_namespaced_cron_job("paused", NS, {"spec": {"suspend": False}})
    wait_for(lambda: jobs_of(cluster, "paused"), message="the due run starts on resume")


def test_starting_deadline_skips_a_missed_run(cluster: Cluster) -> None:
    create_cronjob(cluster, cronjob_body("strict", startingDeadlineSeconds=10))
    advance_past_next_minute(cluster, seconds_after=30)
    with pytest.raises(AssertionError):
        wait_for(lambda: jobs_of(cluster, "strict"), timeout=1)
    advance_past_next_minute(cluster, seconds_after=2)
    wait_for(lambda: jobs_of(cluster, "strict"), message="a run within its deadline")


def test_time_zone(cluster: Cluster) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    cluster.batch.create_namespaced_cron_job(NS, cronjob_body("tokyo", "0 9 * * *", timeZone="Asia/Tokyo"))
    now = cluster.emu.call(_controller(cluster).now).astimezone(tokyo)
    nine = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if nine <= now:
        nine += timedelta(days=1)
    advance_to(cluster, nine + timedelta(seconds=2))
    [job] = wait_for(lambda: jobs_of(cluster, "tokyo"), message="the 09:00 JST run")
    annotation = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert annotation == nine.strftime("%Y-%m-%dT09:00:00+09:00")
    assert datetime.fromisoformat(annotation) == nine.astimezone(timezone.utc)
