"""AlertmanagerHook against a real Alertmanager (sync and async), its refusals and retries."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

import pytest

from airflow_k8s_workflows.emulator.core import free_port
from airflow_k8s_workflows.hooks.alertmanager import AlertmanagerHook
from airflow_k8s_workflows.monitoring.endpoint import HttpEndpoint, ServiceError, ServiceUnreachable

if TYPE_CHECKING:
    from tests.monitoring_servers import Alertmanager, ScriptedServer

pytest_plugins = ["tests.monitoring_servers"]


def test_post_and_list_sync_and_async(alertmanager: Alertmanager, alertmanager_conn: str) -> None:
    hook = AlertmanagerHook()
    hook.post_alerts([{"labels": {"alertname": "HookSync", "case": "hook"}}])
    asyncio.run(AlertmanagerHook().apost_alerts([{"labels": {"alertname": "HookAsync", "case": "hook"}}]))

    listed = hook.get_alerts(filters=['case="hook"'])
    assert sorted(a["labels"]["alertname"] for a in listed) == ["HookAsync", "HookSync"]
    only = asyncio.run(AlertmanagerHook().aget_alerts(filters=['case="hook"', 'alertname="HookAsync"']))
    assert [a["labels"]["alertname"] for a in only] == ["HookAsync"]
    ok, message = hook.test_connection()
    assert ok and message.startswith("Alertmanager 0.") and alertmanager.url in message


def test_a_refusal_carries_alertmanagers_reason(alertmanager_conn: str) -> None:
    with pytest.raises(
        ServiceError, match="refused to take the alerts: HTTP 400: at least one label pair required"
    ):
        AlertmanagerHook().post_alerts([{"labels": {}}])
    with pytest.raises(ServiceError, match=r'invalid label set: invalid name \\?"bad-name'):
        AlertmanagerHook().post_alerts([{"labels": {"alertname": "x", "bad-name": "y"}}])


def test_unreachable_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    conn = {"conn_type": "alertmanager", "host": "127.0.0.1", "port": port, "extra": {"max_retries": 2}}
    monkeypatch.setenv("AIRFLOW_CONN_AM_GONE", json.dumps(conn))
    with pytest.raises(
        ServiceUnreachable, match=r"cannot reach Alertmanager at http://127.0.0.1:\d+ .*after 3"
    ):
        AlertmanagerHook("am_gone", retry_base=0.01).post_alerts([{"labels": {"alertname": "x"}}])


def test_busy_alertmanager_is_retried_after_what_it_asks(scripted_server: ScriptedServer) -> None:
    scripted_server.script = [(503, {"Retry-After": "1"}, "busy"), (200, {}, None)]
    hook = AlertmanagerHook("scripted", endpoint=HttpEndpoint(scripted_server.url), retry_base=0.01)
    asyncio.run(hook.apost_alerts([{"labels": {"alertname": "x"}}]))
    first, second = scripted_server.requests
    assert second["at"] - first["at"] >= 1.0
    assert json.loads(second["body"]) == [{"labels": {"alertname": "x"}}]


def test_retries_stop_at_max_retries_with_the_last_answer(scripted_server: ScriptedServer) -> None:
    scripted_server.script = [(502, {}, "bad gateway")]
    hook = AlertmanagerHook(
        "scripted", endpoint=HttpEndpoint(scripted_server.url, max_retries=2), retry_base=0.01
    )
    started = time.monotonic()
    with pytest.raises(ServiceError, match="HTTP 502: bad gateway"):
        hook.post_alerts([{"labels": {"alertname": "x"}}])
    assert len(scripted_server.requests) == 3 and time.monotonic() - started < 5
