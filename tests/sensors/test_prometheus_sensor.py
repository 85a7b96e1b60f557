"""PrometheusQuerySensor against a real Prometheus scraping the emulator's /metrics."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_k8s_workflows.emulator.core import free_port
from airflow_k8s_workflows.sensors.prometheus import (
    InvalidPromQL,
    PrometheusQueryFailed,
    PrometheusQuerySensor,
)
from airflow_k8s_workflows.triggers.base import first_event
from airflow_k8s_workflows.triggers.prometheus import PrometheusQueryTrigger
from tests.helpers import wait_for

if TYPE_CHECKING:
    from tests.monitoring_servers import MonitoredCluster, Prometheus

pytest_plugins = ["tests.monitoring_servers"]


def sensor(query: str, **kwargs: Any) -> PrometheusQuerySensor:
    kwargs.setdefault("threshold", 0)
    return PrometheusQuerySensor(task_id="wait", query=query, poke_interval=0.2, timeout=30, **kwargs)


def test_becomes_true_after_the_deployment_rolls_out(
    prometheus: Prometheus, prometheus_conn: str, monitored_cluster: MonitoredCluster
) -> None:
    ns = monitored_cluster.namespace("sensor-rollout")
    query = f'kube_deployment_status_replicas_available{{namespace="{ns}", deployment="web"}}'
    waiting = sensor(query, comparison=">=", threshold=2, empty_result="false")
    assert not waiting.poke({}), "no Deployment yet: no series, keep waiting"

    monitored_cluster.deploy(ns, "web", replicas=2)
    samples = waiting.execute({})

    assert len(samples) == 1
    assert samples[0]["metric"]["deployment"] == "web" and samples[0]["metric"]["namespace"] == ns
    assert samples[0]["value"] == 2.0 and samples[0]["satisfied"] is True


def test_all_needs_every_series_any_needs_one(
    prometheus: Prometheus, prometheus_conn: str, monitored_cluster: MonitoredCluster
) -> None:
    ns = monitored_cluster.namespace("sensor-modes")
    monitored_cluster.deploy(ns, "big", replicas=2)
    monitored_cluster.deploy(ns, "small", replicas=1)
    query = f'kube_deployment_spec_replicas{{namespace="{ns}"}}'
    prometheus.wait_for_series(query, count=2)

    assert not sensor(query, comparison=">=", threshold=2, mode="all").poke({})
    found = sensor(query, comparison=">=", threshold=2, mode="any").poke({})
    assert found
    outcome = {s["metric"]["deployment"]: (s["value"], s["satisfied"]) for s in found.xcom_value}
    assert outcome == {"big": (2.0, True), "small": (1.0, False)}


def test_bad_promql_fails_without_retry_quoting_prometheus(prometheus_conn: str) -> None:
    with pytest.raises(InvalidPromQL) as e:
        sensor('kube_deployment_spec_replicas{namespace="x"').poke({})
    assert isinstance(e.value, AirflowFailException)
    assert "invalid PromQL" in str(e.value)
    assert "parse error: unexpected end of input inside braces" in str(e.value)


def test_empty_result_fails_waits_or_passes_as_configured(prometheus_conn: str) -> None:
    query = 'kube_deployment_spec_replicas{namespace="no-such-namespace"}'
    with pytest.raises(
        PrometheusQueryFailed, match="the query returned no series: kube_deployment_spec_replicas"
    ):
        sensor(query).poke({})
    assert not sensor(query, empty_result="false").poke({})
    passed = sensor(query, empty_result="true").poke({})
    assert passed and passed.xcom_value == []


def test_nan_values_are_an_error_naming_the_series(
    prometheus: Prometheus, prometheus_conn: str, monitored_cluster: MonitoredCluster
) -> None:
    ns = monitored_cluster.namespace("sensor-nan")
    monitored_cluster.deploy(ns, "web", replicas=1)
    series = f'kube_deployment_spec_replicas{{namespace="{ns}"}}'
    prometheus.wait_for_series(series)
    with pytest.raises(
        PrometheusQueryFailed, match=rf'NaN \(not a number\) for {{deployment="web",.*namespace="{ns}"}}'
    ):
        sensor(f"({series} - {series}) / 0").poke({})


def test_unreachable_server_fails_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    conn = {"conn_type": "prometheus", "host": f"http://127.0.0.1:{port}", "extra": {"max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_PROMETHEUS_DOWN", json.dumps(conn))
    with pytest.raises(PrometheusQueryFailed) as e:
        sensor("up", prometheus_conn_id="prometheus_down").poke({})
    assert str(e.value) == (
        f"cannot reach Prometheus at http://127.0.0.1:{port} (connection 'prometheus_down') (after 2 attempts): "
        "[Errno 111] Connection refused"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"comparison": "=<"}, "comparison: must be one of"), ({"mode": "every"}, "mode: must be 'all' or 'any'"),
     ({"threshold": "lots"}, "threshold: must be a number, got 'lots'"), ({"empty_result": "no"}, "empty_result:"),
     ({"query": " "}, "query: must be a non-empty PromQL string")],
)  # fmt: skip
def test_arguments_are_checked_when_the_task_is_defined(kwargs: dict[str, Any], message: str) -> None:
    kwargs = {"query": "up", "threshold": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        PrometheusQuerySensor(task_id="bad", **kwargs)


def test_a_templated_threshold_is_checked_after_rendering(prometheus_conn: str) -> None:
    waiting = sensor("vector(1)", threshold="{{ params.min }}")
    waiting.threshold = "plenty"  # what rendering produced
    with pytest.raises(ValueError, match="threshold: must be a number, got 'plenty'"):
        waiting.execute({})


def test_airflow_sensor_modes_are_not_series_modes() -> None:
    rescheduling = PrometheusQuerySensor(task_id="r", query="up", threshold=0, mode="reschedule")
    assert (rescheduling.mode, rescheduling.series_mode) == ("reschedule", "all")
    both = PrometheusQuerySensor(task_id="b", query="up", threshold=0, mode="any", sensor_mode="reschedule")
    assert (both.mode, both.series_mode) == ("reschedule", "any")


def test_deferred_wait_is_the_trigger_polling_until_the_rollout(
    prometheus: Prometheus, prometheus_conn: str, monitored_cluster: MonitoredCluster
) -> None:
    ns = monitored_cluster.namespace("sensor-deferred")
    query = f'kube_deployment_status_replicas_available{{namespace="{ns}", deployment="api"}}'
    waiting = sensor(query, comparison=">=", threshold=3, empty_result="false", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute({})
    assert deferred.value.method_name == "execute_complete"
    path, kwargs = deferred.value.trigger.serialize()
    assert path == "airflow_k8s_workflows.triggers.prometheus.PrometheusQueryTrigger"
    assert kwargs["poll_interval"] == 0.2 and kwargs["threshold"] == 3.0

    monitored_cluster.deploy(ns, "api", replicas=3)
    event = asyncio.run(first_event(PrometheusQueryTrigger(**kwargs), timeout=30))

    assert event["status"] == "success"
    samples = waiting.execute_complete({}, event)
    assert [(s["metric"]["deployment"], s["value"]) for s in samples] == [("api", 3.0)]


def test_deferred_errors_fail_like_the_poke(prometheus_conn: str) -> None:
    trigger = PrometheusQueryTrigger(query="sum(", poll_interval=0.2)
    event = asyncio.run(first_event(trigger, timeout=10))
    assert event["status"] == "error" and event["error_kind"] == "bad_query"
    with pytest.raises(InvalidPromQL, match="parse error"):
        sensor("sum(").execute_complete({}, event)


def test_deferrable_sensor_in_a_dag_run(
    airflow_db: str, prometheus: Prometheus, prometheus_conn: str, monitored_cluster: MonitoredCluster
) -> None:
    from airflow.models.trigger import Trigger
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    from tests.dags.monitoring import prometheus_sensor_dag

    ns = monitored_cluster.namespace("sensor-dag")
    query = f'kube_deployment_status_replicas_available{{namespace="{ns}", deployment="web"}}'
    classpath = "airflow_k8s_workflows.triggers.prometheus.PrometheusQueryTrigger"

    def triggers() -> int:
        with create_session() as session:
            return int(session.scalar(select(func.count()).where(Trigger.classpath == classpath)) or 0)

    before = triggers()

    def roll_out_once_deferred() -> None:
        wait_for(lambda: triggers() > before, timeout=60, message="the sensor to defer")
        monitored_cluster.deploy(ns, "web", replicas=2)

    helper = threading.Thread(target=roll_out_once_deferred, daemon=True)
    helper.start()
    run: Any = prometheus_sensor_dag.test(run_conf={"query": query, "threshold": 2})
    helper.join(5)

    assert run.state == "success"
    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id,
                                          XComModel.task_id == "wait_for_replicas", XComModel.key == "return_value")
        )  # fmt: skip
    samples = json.loads(value) if isinstance(value, str) else value
    assert [(s["metric"]["deployment"], s["value"], s["satisfied"]) for s in samples] == [("web", 2.0, True)]
