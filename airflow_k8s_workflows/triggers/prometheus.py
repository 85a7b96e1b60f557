"""``PrometheusQueryTrigger``: the deferred half of ``PrometheusQuerySensor``.

Why this wait polls while every Kubernetes wait here watches: Prometheus has no way to push
the result of a query. Its only push path is an alerting rule plus Alertmanager sending a
webhook, which means configuring both servers outside Airflow for each condition a DAG waits
on. An instant query is cheap for Prometheus, so the trigger asks once per ``poll_interval``
(the sensor's ``poke_interval``) from the triggerer, without holding a worker slot.

Payload: ``{"status": "success", "message": summary, "result": samples}`` when the condition
holds, or ``{"status": "error", "error_kind": ..., "message": ...}`` when it cannot be judged
(``bad_query``: invalid PromQL; ``query_failed``: Prometheus failed to run it; ``result``:
empty with ``empty_result="fail"``, NaN, range vector; ``unreachable``/``http``: the server).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_k8s_workflows.monitoring.endpoint import ServiceError, ServiceUnreachable
from airflow_k8s_workflows.monitoring.promql import Condition, PromQLError, QueryResultError, evaluate

__all__ = ["PrometheusQueryTrigger", "error_kind"]


def error_kind(exc: BaseException) -> str | None:
    """How a failed query is reported (None: not a query failure, a bug to let through)."""
    if isinstance(exc, PromQLError):
        return "bad_query" if exc.bad_query else "query_failed"
    if isinstance(exc, QueryResultError):
        return "result"
    if isinstance(exc, ServiceUnreachable):
        return "unreachable"
    if isinstance(exc, ServiceError):
        return "http"
    return None


class PrometheusQueryTrigger(BaseTrigger):
    """Poll a PromQL instant query until ``condition`` holds over its series.

    Example (what ``PrometheusQuerySensor(deferrable=True)`` defers to)::

        PrometheusQueryTrigger(
            query='kube_deployment_status_replicas_available{deployment="web"}',
            comparison=">=", threshold=2, mode="all", poll_interval=15,
        )
    """

    def __init__(
        self,
        *,
        query: str,
        comparison: str = ">",
        threshold: float = 0.0,
        mode: str = "all",
        empty_result: str = "fail",
        prometheus_conn_id: str = "prometheus_default",
        poll_interval: float = 30.0,
    ) -> None:
        super().__init__()
        self.condition = Condition(comparison, threshold, mode, empty_result)
        self.query = query
        self.prometheus_conn_id = prometheus_conn_id
        if poll_interval <= 0:
            raise ValueError(f"poll_interval: must be a positive number of seconds, got {poll_interval!r}")
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "query": self.query,
                "comparison": self.condition.comparison,
                "threshold": self.condition.threshold,
                "mode": self.condition.mode,
                "empty_result": self.condition.empty_result,
                "prometheus_conn_id": self.prometheus_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_k8s_workflows.hooks.prometheus import PrometheusHook

        hook = PrometheusHook(self.prometheus_conn_id)
        last_summary = None
        while True:
            try:
                verdict = evaluate(await hook.aquery(self.query), self.condition, query=self.query)
            except Exception as e:
                kind = error_kind(e)
                if kind is None:
                    raise
                yield TriggerEvent({"status": "error", "error_kind": kind, "message": str(e)})
                return
            if verdict.summary != last_summary:
                self.log.info("%s", verdict.summary)
                last_summary = verdict.summary
            if verdict.satisfied:
                yield TriggerEvent(
                    {"status": "success", "message": verdict.summary, "result": verdict.samples_for_xcom()}
                )
                return
            await asyncio.sleep(self.poll_interval)
