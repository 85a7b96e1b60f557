"""``PrometheusQuerySensor``: wait until a PromQL instant query meets a threshold."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_k8s_workflows.monitoring.promql import Condition, evaluate
from airflow_k8s_workflows.operators.base import default_deferrable
from airflow_k8s_workflows.triggers.prometheus import PrometheusQueryTrigger, error_kind

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_k8s_workflows.hooks.prometheus import PrometheusHook

__all__ = ["InvalidPromQL", "PrometheusQueryFailed", "PrometheusQuerySensor"]

_AIRFLOW_SENSOR_MODES = ("poke", "reschedule")


class PrometheusQueryFailed(AirflowException):
    """The query could not be judged: Prometheus unreachable or failing, an empty result
    (``empty_result="fail"``), NaN values, or a result type that cannot be compared."""


class InvalidPromQL(PrometheusQueryFailed, AirflowFailException):
    """Prometheus rejected the query as invalid (``bad_data``): failed without retries."""


def _failure(kind: str, message: str) -> PrometheusQueryFailed:
    return InvalidPromQL(message) if kind == "bad_query" else PrometheusQueryFailed(message)


class PrometheusQuerySensor(BaseSensorOperator):
    """Wait until a PromQL instant query's value compares true with ``threshold``.

    Each series of an instant vector (or the scalar) is compared: ``mode="all"`` needs every
    series to pass, ``"any"`` one of them. The task returns (XCom) the evaluated samples,
    ``[{"metric": {...}, "value": 2.0, "timestamp": ..., "satisfied": True}, ...]``.

    Example::

        PrometheusQuerySensor(
            task_id="web_is_up",
            query='kube_deployment_status_replicas_available{namespace="prod", deployment="web"}',
            comparison=">=", threshold=2,
            poke_interval=15, timeout=600, deferrable=True,
        )

    :param query: PromQL evaluated at ``/api/v1/query`` (templated).
    :param comparison: ``>``, ``>=``, ``<``, ``<=``, ``==`` or ``!=``.
    :param threshold: the number each value is compared with (templated).
    :param mode: ``"all"`` or ``"any"`` series must pass. (Airflow's own sensor mode
        ``"poke"``/``"reschedule"`` is ``sensor_mode``; passing one of those two as ``mode``
        still means Airflow's mode, with ``"all"`` series.)
    :param prometheus_conn_id: connection of type ``prometheus`` (templated).
    :param empty_result: an empty vector ``"fail"``\\ s the task, counts as ``"false"`` (keep
        waiting) or as ``"true"`` (e.g. "no pods in CrashLoopBackOff").
    :param deferrable: wait in the triggerer (polling at ``poke_interval``); default
        ``[operators] default_deferrable``.
    :param sensor_mode: Airflow's ``"poke"`` or ``"reschedule"``.

    Invalid PromQL fails at once without retries, quoting Prometheus' ``bad_data`` message;
    an unreachable server (after the connection's ``max_retries``), NaN values and a failing
    empty result fail the try (task retries apply).
    """

    template_fields: Sequence[str] = ("query", "threshold", "prometheus_conn_id")
    ui_color = "#fbe3d2"

    def __init__(
        self,
        *,
        query: str,
        threshold: float | str,
        comparison: str = ">",
        mode: str = "all",
        prometheus_conn_id: str = "prometheus_default",
        empty_result: str = "fail",
        deferrable: bool | None = None,
        sensor_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        if mode in _AIRFLOW_SENSOR_MODES:
            if sensor_mode not in (None, mode):
                raise ValueError(
                    f"mode: {mode!r} is Airflow's sensor mode and contradicts sensor_mode={sensor_mode!r}"
                )
            sensor_mode, mode = mode, "all"
        if sensor_mode is not None:
            kwargs["mode"] = sensor_mode
        super().__init__(**kwargs)
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"query: must be a non-empty PromQL string, got {query!r}")
        templated = isinstance(threshold, str) and "{{" in threshold
        Condition(comparison, 0.0 if templated else threshold, mode, empty_result)  # type: ignore[arg-type]
        self.query = query
        self.threshold = threshold
        self.comparison = comparison
        self.series_mode = mode
        self.empty_result = empty_result
        self.prometheus_conn_id = prometheus_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._last_summary: str | None = None

    def condition(self) -> Condition:
        """The condition with the rendered threshold (raises ``ValueError`` naming the parameter)."""
        return Condition(self.comparison, self.threshold, self.series_mode, self.empty_result)  # type: ignore[arg-type]

    @cached_property
    def hook(self) -> PrometheusHook:
        from airflow_k8s_workflows.hooks.prometheus import PrometheusHook

        return PrometheusHook(self.prometheus_conn_id)

    def poke(self, context: Context) -> PokeReturnValue:
        condition = self.condition()
        try:
            verdict = evaluate(self.hook.query(self.query), condition, query=self.query)
        except Exception as e:
            kind = error_kind(e)
            if kind is None:
                raise
            raise _failure(kind, str(e)) from e
        if verdict.summary != self._last_summary:
            self.log.info("%s", verdict.summary)
            self._last_summary = verdict.summary
        return PokeReturnValue(verdict.satisfied, verdict.samples_for_xcom() if verdict.satisfied else None)

    def execute(self, context: Context) -> Any:
        condition = self.condition()
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=PrometheusQueryTrigger(
                query=self.query,
                comparison=condition.comparison,
                threshold=condition.threshold,
                mode=condition.mode,
                empty_result=condition.empty_result,
                prometheus_conn_id=self.prometheus_conn_id,
                poll_interval=self.poke_interval if self.poke_interval > 0 else 1.0,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None, **_: Any) -> Any:
        event = event or {}
        if event.get("status") == "success":
            self.log.info("%s", event.get("message"))
            return event.get("result")
        raise _failure(str(event.get("error_kind") or ""), str(event.get("message") or event))
