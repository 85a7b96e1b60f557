"""PrometheusQueryTrigger against a real Prometheus: it polls until the condition holds, sends
one event and ends; failures come back as error events with a kind the sensor maps."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_k8s_workflows.emulator.core import free_port
from airflow_k8s_workflows.triggers.prometheus import PrometheusQueryTrigger

if TYPE_CHECKING:
    from tests.monitoring_servers import Prometheus

pytest_plugins = ["tests.monitoring_servers"]


async def all_events(trigger: PrometheusQueryTrigger, timeout: float = 20) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return await asyncio.wait_for(collect(), timeout)


def test_serialize_round_trips() -> None:
    trigger = PrometheusQueryTrigger(query="up", comparison="<=", threshold="3", mode="any", empty_result="true",
                                     prometheus_conn_id="p", poll_interval=5)  # fmt: skip
    path, kwargs = trigger.serialize()
    assert path == "airflow_k8s_workflows.triggers.prometheus.PrometheusQueryTrigger"
    assert kwargs == {"query": "up", "comparison": "<=", "threshold": 3.0, "mode": "any", "empty_result": "true",
                      "prometheus_conn_id": "p", "poll_interval": 5.0}  # fmt: skip
    assert PrometheusQueryTrigger(**kwargs).serialize() == (path, kwargs)


def test_polls_until_the_condition_holds_then_sends_one_event_and_ends(
    prometheus: Prometheus, prometheus_conn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deadline = time.time() + 1.5
    trigger = PrometheusQueryTrigger(
        query="vector(time())", comparison=">", threshold=deadline, poll_interval=0.2
    )
    events = asyncio.run(all_events(trigger))

    assert len(events) == 1
    event = events[0]
    assert event["status"] == "success"
    assert event["message"].startswith("1 of 1 series satisfy >")
    [sample] = event["result"]
    assert sample["metric"] == {} and sample["value"] > deadline and sample["satisfied"] is True
    waiting = capsys.readouterr().out.count("0 of 1 series satisfy")  # the trigger logs each new value
    assert waiting >= 3, "it asked again every poll_interval while the condition was false"


@pytest.mark.parametrize(
    ("query", "kind", "message"),
    [("rate(", "bad_query", "invalid PromQL: .*parse error"),
     ('absent_metric{job="none"}', "result", "returned no series"),
     ("up[1m]", "result", r"range vector \(matrix\)"),
     ("vector(0) / 0 * 0 - vector(0) / 0", "result", "NaN")],
)  # fmt: skip
def test_failures_are_error_events(prometheus_conn: str, query: str, kind: str, message: str) -> None:
    [event] = asyncio.run(all_events(PrometheusQueryTrigger(query=query, poll_interval=0.2)))
    assert event["status"] == "error" and event["error_kind"] == kind
    assert re.search(message, event["message"]), event["message"]


def test_unreachable_prometheus_is_an_error_event_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    conn = {"conn_type": "prometheus", "host": "127.0.0.1", "port": port, "extra": {"max_retries": 2}}
    monkeypatch.setenv("AIRFLOW_CONN_PROMETHEUS_GONE", json.dumps(conn))
    trigger = PrometheusQueryTrigger(query="up", prometheus_conn_id="prometheus_gone", poll_interval=0.2)
    [event] = asyncio.run(all_events(trigger))
    assert event["status"] == "error" and event["error_kind"] == "unreachable"
    assert f"cannot reach Prometheus at http://127.0.0.1:{port}" in event["message"]
    assert "(after 3 attempts)" in event["message"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"poll_interval": 0}, "poll_interval: must be a positive number"), ({"mode": "some"}, "mode: must be")],
)
def test_bad_arguments_fail_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrometheusQueryTrigger(query="up", **kwargs)
