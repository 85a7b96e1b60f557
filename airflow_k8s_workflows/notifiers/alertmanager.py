"""``AlertmanagerNotifier``: fire an Alertmanager alert when a task or DAG run fails, resolve it
when it succeeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_k8s_workflows.monitoring.alerts import (
    alert_labels,
    firing_alert,
    label_name_errors,
    parse_cluster_object,
    resolved_alert,
    truncate,
)
from airflow_k8s_workflows.notifiers.base import CallbackNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["AlertmanagerNotifier"]

_FAILED_STATES = ("failed", "up_for_retry", "upstream_failed")
_NOTHING_TO_DO_STATES = ("skipped", "removed", "up_for_reschedule", "deferred")
_MAX_DESCRIPTION = 4000


def _state(obj: Any) -> str:
    state = getattr(obj, "state", None)
    return str(getattr(state, "value", state) or "")


def _duration(value: Any) -> timedelta | None:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return None


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


class AlertmanagerNotifier(CallbackNotifier):
    """Post an alert to Alertmanager (``/api/v2/alerts``) from a task or DAG callback.

    Use the same notifier for failure and success: it fires on failure (or retry) and, with
    ``resolve_on_success``, resolves the alert with the same labels when the task later
    succeeds (a retry or a cleared re-run of the same DAG run)::

        alert = AlertmanagerNotifier(severity="critical", labels={"team": "data"},
                                     cluster_object="Deployment/web")
        RunJobOperator(task_id="load", ..., retries=2,
                       on_failure_callback=alert, on_retry_callback=alert, on_success_callback=alert)
        DAG(..., on_failure_callback=alert, on_success_callback=alert)    # one alert per DAG run

    Fire or resolve is decided from the callback context: an exception or a failed / up-for-retry
    state fires, success resolves, skips do nothing.

    Labels (the alert's identity): ``alertname`` (``AirflowTaskFailed``, or ``AirflowDagRunFailed``
    from a DAG callback), ``severity``, ``dag_id``, ``task_id``, ``run_id``, ``map_index`` (mapped
    tasks), the ``cluster_object``'s ``kind``, ``namespace`` and kube-state-metrics style name
    label (``deployment="web"``), then ``labels``, which override those and remove one when set
    to ``None`` (``labels={"run_id": None}``: one alert per task across runs).
    Annotations: ``summary``, ``description`` (the failure: exception type and message, secrets
    redacted), ``log_url`` (also the alert's ``generatorURL``), then ``annotations``.

    :param alertmanager_conn_id: connection of type ``alertmanager`` (templated).
    :param severity: the ``severity`` label (templated).
    :param labels: extra labels (values templated against the callback context).
    :param annotations: extra annotations (values templated).
    :param resolve_on_success: resolve on success; False leaves resolution to ``expires_after``.
    :param cluster_object: the Kubernetes object the alert is about, ``"Kind/name"`` or
        ``{"kind", "name", "namespace"}`` (templated).
    :param expires_after: how long a fired alert stays active without being resolved
        (timedelta or seconds; default one day). ``None`` leaves it to Alertmanager's
        ``resolve_timeout`` (5 minutes by default).

    Sending is retried with back-off (the connection's ``max_retries``); a failure to notify is
    logged and never raised into the task's callback.
    """

    template_fields: Sequence[str] = (
        "alertmanager_conn_id",
        "severity",
        "labels",
        "annotations",
        "cluster_object",
    )

    def __init__(
        self,
        *,
        alertmanager_conn_id: str = "alertmanager_default",
        severity: str = "critical",
        labels: Mapping[str, Any] | None = None,
        annotations: Mapping[str, Any] | None = None,
        resolve_on_success: bool = True,
        cluster_object: str | Mapping[str, Any] | None = None,
        expires_after: timedelta | float | None = timedelta(days=1),
    ) -> None:
        super().__init__()
        errors = label_name_errors(labels or {}, "labels")
        if not isinstance(severity, str) or not severity:
            errors.append(f"severity: must be a non-empty string, got {severity!r}")
        if cluster_object is not None and not _templated(cluster_object):
            try:
                parse_cluster_object(cluster_object)
            except ValueError as e:
                errors.append(str(e))
        expiry = _duration(expires_after)
        if expires_after is not None and (expiry is None or expiry <= timedelta(0)):
            errors.append(f"expires_after: must be a positive duration or None, got {expires_after!r}")
        if errors:
            raise ValueError("; ".join(errors))
        self.alertmanager_conn_id = alertmanager_conn_id
        self.severity = severity
        self.labels: dict[str, Any] = dict(labels or {})
        self.annotations: dict[str, Any] = dict(annotations or {})
        self.resolve_on_success = resolve_on_success
        self.cluster_object = cluster_object
        self.expires_after = expiry

    # -- what happened ---------------------------------------------------------------------------------
    @staticmethod
    def is_dag_callback(context: Mapping[str, Any]) -> bool:
        """DAG callbacks carry a ``reason`` and, unlike a worker's task callbacks, no ``exception``."""
        return "reason" in context and "exception" not in context

    def action(self, context: Mapping[str, Any]) -> str | None:
        """``"fire"``, ``"resolve"`` or None (nothing to report) for this callback."""
        if self.is_dag_callback(context):
            return "resolve" if context.get("reason") == "success" else "fire"
        ti = context.get("ti") or context.get("task_instance")
        state = _state(ti)
        if context.get("exception") is not None or state in _FAILED_STATES:
            return "fire"
        if state == "success":
            return "resolve" if self.resolve_on_success else None
        if state in _NOTHING_TO_DO_STATES or "exception" in context:
            return None
        # The dag-processor runs only failure and retry callbacks, with no exception and the
        # state the task was last seen in (a heartbeat timeout leaves it "running").
        return "fire"

    # -- the alert ---------------------------------------------------------------------------------------
    def _scope(self, context: Mapping[str, Any]) -> tuple[dict[str, str | None], str]:
        """(identifying labels, alertname)."""
        ti = context.get("ti") or context.get("task_instance")
        dag = context.get("dag")
        run_id = context.get("run_id") or getattr(ti, "run_id", None)
        dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None)
        if self.is_dag_callback(context) or ti is None:
            return {"dag_id": dag_id, "run_id": run_id}, "AirflowDagRunFailed"
        map_index = getattr(ti, "map_index", -1)
        scope = {
            "dag_id": dag_id,
            "task_id": getattr(ti, "task_id", None),
            "run_id": run_id,
            "map_index": str(map_index) if isinstance(map_index, int) and map_index >= 0 else None,
        }
        return scope, "AirflowTaskFailed"

    @staticmethod
    def _run_url(dag_id: str | None, run_id: str | None) -> str | None:
        if not dag_id or not run_id:
            return None
        from airflow.sdk import conf

        base = conf.get("api", "base_url", fallback="http://localhost:8080/")
        return f"{str(base).rstrip('/')}/dags/{dag_id}/runs/{quote(run_id, safe='')}"

    def _annotations(
        self, context: Mapping[str, Any], action: str, scope: Mapping[str, Any]
    ) -> dict[str, Any]:
        ti = context.get("ti") or context.get("task_instance")
        dag_level = self.is_dag_callback(context) or ti is None
        what = (
            f"Airflow DAG run {scope['dag_id']} {scope['run_id']}"
            if dag_level
            else f"Airflow task {scope['dag_id']}.{scope['task_id']} (run {scope['run_id']}"
            + (f", try {getattr(ti, 'try_number', None)}" if getattr(ti, "try_number", None) else "")
            + ")"
        )
        state = _state(ti)
        if action == "resolve":
            summary = f"{what} succeeded"
        elif state == "up_for_retry":
            summary = f"{what} failed and will be retried"
        else:
            summary = f"{what} failed"
        out: dict[str, Any] = {"summary": summary}
        if action == "fire":
            out["description"] = self._failure_text(context)
        url = None if dag_level else getattr(ti, "log_url", None)
        out["log_url"] = url or self._run_url(scope.get("dag_id"), scope.get("run_id"))
        out.update(self.annotations)
        return out

    @staticmethod
    def _failure_text(context: Mapping[str, Any]) -> str | None:
        exc = context.get("exception")
        if exc is None:
            text = str(context.get("reason") or "") or None
        elif isinstance(exc, BaseException):
            text = f"{type(exc).__name__}: {exc}"
        else:
            text = str(exc)
        if text is None:
            return None
        try:
            from airflow.sdk.log import redact

            text = str(redact(text))
        except ImportError:  # pragma: no cover - older task SDKs
            pass
        return truncate(text, _MAX_DESCRIPTION)

    def build_alert(
        self, context: Mapping[str, Any], now: datetime | None = None
    ) -> tuple[str, dict[str, Any]] | None:
        """(action, alert) for this callback context; None when there is nothing to report."""
        action = self.action(context)
        if action is None:
            return None
        now = now or datetime.now(timezone.utc)
        scope, alertname = self._scope(context)
        labels = alert_labels(
            alertname=alertname,
            severity=self.severity,
            scope=scope,
            cluster_object=parse_cluster_object(self.cluster_object),
            user=self.labels,
        )
        annotations = self._annotations(context, action, scope)
        url = annotations.get("log_url")
        if action == "fire":
            ends = now + self.expires_after if self.expires_after is not None else None
            return action, firing_alert(labels, annotations, starts_at=now, ends_at=ends, generator_url=url)
        return action, resolved_alert(labels, annotations, ended_at=now, generator_url=url)

    # -- sending ---------------------------------------------------------------------------------------------
    def notify(self, context: Context) -> None:
        try:
            built = self.build_alert(context)
            if built is None:
                ti = context.get("ti")
                self.log.info("Alertmanager: nothing to report for state %r", _state(ti) or None)
                return
            action, alert = built
            from airflow_k8s_workflows.hooks.alertmanager import AlertmanagerHook

            AlertmanagerHook(self.alertmanager_conn_id).post_alerts([alert])
            self.log.info(
                "Alertmanager: %s alert %s", "fired" if action == "fire" else "resolved", alert["labels"]
            )
        except Exception as e:
            self.log.error(
                "Could not notify Alertmanager (connection %r); the task's outcome is unchanged: %s",
                self.alertmanager_conn_id,
                e,
            )
