"""JobSensor against the emulator: poke with kube.jobs.job_outcome, or defer to JobTrigger."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.sensors.job import JobSensor
from tests.helpers import wait_for
from tests.operators.job_support import create_job, finished, run_trigger


@pytest.fixture
def batch(emulator: KubeEmulator, airflow_conn: str, k8s: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(k8s)


def test_poke_waits_for_a_job_to_appear_and_to_complete(batch: client.BatchV1Api, tmp_path: Path) -> None:
    sensor = JobSensor(task_id="wait", name="external")
    assert sensor.poke({}) is False  # not created yet
    gate = tmp_path / "go"
    create_job(batch, "external", f"until [ -e {gate} ]; do sleep 0.05; done")
    assert sensor.poke({}) is False  # running
    gate.touch()
    wait_for(lambda: finished(batch, "external"), message="job complete")
    assert sensor.poke({}) is True


def test_poke_fails_with_the_reason_and_the_pod_story(batch: client.BatchV1Api) -> None:
    create_job(batch, "broken", "echo 'cannot connect to db'; exit 4", backoffLimit=0)
    wait_for(lambda: finished(batch, "broken"), message="job failed")
    with pytest.raises(KubernetesTaskFailed) as failed:
        JobSensor(task_id="wait", name="broken").poke({})
    message = str(failed.value)
    assert "failed: BackoffLimitExceeded" in message
    assert "exit code 4" in message
    assert "cannot connect to db" in message


def test_deferrable_sensor_uses_the_trigger(batch: client.BatchV1Api, tmp_path: Path) -> None:
    gate = tmp_path / "go"
    uid = create_job(batch, "ext", f"until [ -e {gate} ]; do sleep 0.05; done")
    sensor = JobSensor(task_id="wait", name="ext", deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    gate.touch()
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "success" and event["uid"] == uid
    assert sensor.execute_complete({}, event) is None
    # already complete: no deferral at all
    assert JobSensor(task_id="wait", name="ext", deferrable=True).execute({}) is None


def test_deferrable_sensor_fails_on_job_failure_and_times_out(
    batch: client.BatchV1Api, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    create_job(batch, "bad", f"until [ -e {gate} ]; do sleep 0.05; done; exit 1", backoffLimit=0)
    sensor = JobSensor(task_id="wait", name="bad", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    gate.touch()
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "failed"
    with pytest.raises(KubernetesTaskFailed, match="BackoffLimitExceeded"):
        sensor.execute_complete({}, event)

    create_job(batch, "slow", "sleep 60")
    slow = JobSensor(task_id="wait", name="slow", deferrable=True, timeout=1)
    with pytest.raises(TaskDeferred) as deferred:
        slow.execute({})
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout):
        slow.execute_complete({}, event)
