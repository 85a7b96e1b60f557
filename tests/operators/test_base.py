"""The shared waiting mechanics: the same trigger runs deferred or inline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_k8s_workflows.operators.base import KubernetesOperator, KubernetesTaskFailed, remaining_seconds
from airflow_k8s_workflows.triggers.base import (
    KubernetesTrigger,
    WaitTimeout,
    first_event,
    run_trigger_inline,
)


class SleepThenReport(KubernetesTrigger):
    def __init__(self, *, delay: float, status: str = "success", **kw: Any) -> None:
        super().__init__(**kw)
        self.delay = delay
        self.status = status
        self.cleaned = False

    def _kwargs(self) -> dict[str, Any]:
        return {"delay": self.delay, "status": self.status}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await asyncio.sleep(self.delay)
        yield TriggerEvent(
            {"status": self.status, "message": f"{self.status} after {self.delay}", "result": 7}
        )

    async def cleanup(self) -> None:
        self.cleaned = True


def test_serialize_round_trips_with_cluster_and_namespace() -> None:
    t = SleepThenReport(delay=0.01, namespace="ns", cluster={"kubernetes_conn_id": "c1"})
    path, kwargs = t.serialize()
    assert path.endswith("SleepThenReport")
    again = SleepThenReport(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert again.kubernetes_conn_id == "c1" and again.namespace == "ns"


def test_first_event_returns_payload_and_cleans_up() -> None:
    t = SleepThenReport(delay=0.01)
    payload = asyncio.run(first_event(t))
    assert payload["result"] == 7 and t.cleaned


def test_inline_timeout() -> None:
    with pytest.raises(WaitTimeout, match=r"timed out after 0\.05s"):
        run_trigger_inline(SleepThenReport(delay=5), timeout=0.05)


def test_alongside_runs_during_the_wait_and_is_cancelled() -> None:
    ticks: list[int] = []

    async def side() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    run_trigger_inline(SleepThenReport(delay=0.1), alongside=side)
    assert len(ticks) >= 3


class Waiter(KubernetesOperator):
    def __init__(self, *, status: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.status = status

    def execute(self, context: Any) -> Any:
        return self.wait(context, SleepThenReport(delay=0.01, status=self.status))


def test_operator_sync_wait_calls_execute_complete() -> None:
    assert Waiter(task_id="ok", status="success", deferrable=False).execute({}) == 7
    with pytest.raises(KubernetesTaskFailed, match=r"failed after 0\.01"):
        Waiter(task_id="bad", status="failed", deferrable=False).execute({})


def test_operator_defers_with_the_same_trigger() -> None:
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        Waiter(task_id="d", status="success", deferrable=True, timeout=30).execute({})
    assert isinstance(deferred.value.trigger, SleepThenReport)
    assert deferred.value.timeout == timedelta(seconds=30)


def test_remaining_execution_timeout_caps_the_wait() -> None:
    ti = SimpleNamespace(start_date=datetime.now(timezone.utc) - timedelta(seconds=50))
    left = remaining_seconds({"ti": ti}, timedelta(seconds=60), timeout=None)  # type: ignore[arg-type]
    assert left is not None and 8 <= left <= 10
    assert remaining_seconds({"ti": ti}, timedelta(seconds=600), timeout=5) == 5  # type: ignore[arg-type]
    assert remaining_seconds({}, None, timeout=None) is None  # type: ignore[arg-type]


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout: must be a positive number"):
        Waiter(task_id="x", status="success", timeout=0)
