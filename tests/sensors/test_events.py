"""KubernetesEventSensor in real Airflow (dag.test) against the emulator, poke and deferrable: it
returns the first matching Event that happens after the task started, and ignores older ones
and other objects' Events."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from kubernetes import client, config

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.sensors.events import KubernetesEventSensor
from tests.triggers.watch_support import emu, fast_watch

__all__ = ["emu", "fast_watch"]  # fixtures


def event(name: str, pod: str, *, minutes_ago: float = 0) -> dict[str, Any]:
    stamp = (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "default"},
        "reason": "BackOff",
        "message": f"Back-off restarting failed container main in pod {pod}",
        "type": "Warning",
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
    }


def xcom_result(run: Any, task_id: str) -> Any:
    ti = next(ti for ti in run.get_task_instances() if ti.task_id == task_id)
    return ti.xcom_pull(task_ids=task_id, dag_id=ti.dag_id, run_id=ti.run_id)


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_sensor_returns_the_first_matching_event_after_the_start(
    airflow_db: str, emu: KubeEmulator, mode: str
) -> None:
    from tests.dags.events import DAGS

    api = config.new_client_from_config(emu.kubeconfig)
    core = client.CoreV1Api(api)
    core.create_namespaced_event("default", event("old.1", "web-7", minutes_ago=3))  # before the start
    created: dict[str, str] = {}
    errors: list[str] = []

    def make_it_happen() -> None:
        def waiting() -> bool:
            if mode == "poke":  # the sensor has looked at least once and found nothing
                return emu.http.counter.total(verb="LIST", resource="events") >= 1
            return emu.http.counter.watches_open >= 1  # deferred: the trigger watches

        deadline = datetime.now(timezone.utc) + timedelta(seconds=60)
        while not waiting():
            if datetime.now(timezone.utc) > deadline:
                errors.append("the sensor never started waiting")
                return
            threading.Event().wait(0.05)
        core.create_namespaced_event("default", event("other.1", "api-1"))
        ev = core.create_namespaced_event("default", event("new.1", "web-7"))
        created["uid"] = ev.metadata.uid

    helper = threading.Thread(target=make_it_happen, daemon=True)
    helper.start()
    try:
        run = DAGS[f"events_sensor_{mode}"].test(run_conf={"pod": "web-7"})
    finally:
        helper.join(10)
        api.close()
    assert not errors, errors
    assert run.state == "success"
    assert xcom_result(run, "echo") == {"reason": "BackOff", "pod": "web-7", "uid": created["uid"]}
    if mode == "deferrable":  # it waited on the watch, not by polling
        assert (
            emu.http.counter.total(verb="LIST", resource="events") == 2
        )  # the poke, then the trigger's LIST


def test_since_is_templated_and_reaches_back(emu: KubeEmulator) -> None:
    api = config.new_client_from_config(emu.kubeconfig)
    client.CoreV1Api(api).create_namespaced_event("default", event("recent.1", "web-3", minutes_ago=2))
    api.close()
    assert "since" in KubernetesEventSensor.template_fields
    since = (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat()
    sensor = KubernetesEventSensor(task_id="s", reasons="BackOff", involved_name="web-*", deferrable=False,
                                   since=since, timeout=5)  # fmt: skip
    result = sensor.execute({})  # type: ignore[arg-type]
    assert result["name"] == "recent.1" and result["involvedObject"]["name"] == "web-3"

    later = KubernetesEventSensor(task_id="t", reasons="BackOff", involved_name="web-*", deferrable=True,
                                  since=datetime.now(timezone.utc) + timedelta(minutes=1))  # fmt: skip
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        later.execute({})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    _, kwargs = trigger.serialize()
    assert (
        kwargs["once"] is True
        and kwargs["fire_on_repeat"] is True
        and kwargs["since"].startswith(
            (datetime.now(timezone.utc) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:")
        )
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event_type": "Bad"}, "event_type must be one of"),
        ({"min_count": 0}, "min_count must be an integer"),
        ({"namespace": "a", "all_namespaces": True}, "namespace: give a namespace or all_namespaces"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KubernetesEventSensor(task_id="s", **kwargs)
