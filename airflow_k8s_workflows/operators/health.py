"""A cluster health check as a task: nodes, pods, workloads, Jobs and recent Warning Events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from airflow_k8s_workflows.kube.health import HealthReport, judge_cluster
from airflow_k8s_workflows.kube.naming import check_namespace
from airflow_k8s_workflows.kube.selectors import check_label_selector
from airflow_k8s_workflows.operators.base import KubernetesOperator, KubernetesTaskFailed

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ClusterHealthOperator"]


def _positive_number(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{name}: must be a number, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name}: must be a positive number, got {value!r}")
    return float(value)


def _namespaces(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None or value == "":
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip() for n in items if str(n).strip()]
    if not names:
        return None
    return sorted(set(names))


class ClusterHealthOperator(KubernetesOperator):
    """Judge the cluster's health, report every problem, and fail (or skip) when there are any.

    Looks at nodes (Ready, pressure conditions), pods (CrashLoopBackOff, image pull errors,
    OOMKilled, Pending longer than ``pending_minutes``, restart storms), Deployments and
    StatefulSets below desired availability, failed Jobs, and Warning Events of the last
    ``warning_event_minutes`` — all judged by ``kube.health.judge_cluster``. ``namespaces`` and
    ``label_selector`` narrow what is looked at (nodes are always checked when the connection
    may list them).

    Returns (XCom) ``{"healthy": bool, "problems": [{severity, kind, namespace, name, reason,
    message}], "counts": {...}}``; a readable table goes to the task log. With problems and
    ``fail_on_problems`` the task fails listing each one (the report is then in XCom under
    ``report``), or is skipped when ``soft_fail``.

    Example::

        ClusterHealthOperator(task_id="health", namespaces=["prod", "batch"], pending_minutes=5,
                              on_failure_callback=AlertmanagerNotifier(alertmanager_conn_id="am"))

    :param namespaces: namespaces to check (list, or comma-separated text); None: all.
    :param label_selector: only pods, workloads and Jobs with these labels (and their Events).
    :param pending_minutes: a pod Pending longer than this is a problem.
    :param warning_event_minutes: Warning Events that happened this recently are problems.
    :param fail_on_problems: fail the task when there is any problem (else just report).
    :param soft_fail: skip instead of failing.
    :param restart_threshold: restarts of one container that make a recent restart a storm.
    :param failed_job_minutes: only Jobs that failed this recently (None: every failed Job).
    """

    template_fields: Sequence[str] = (
        "namespaces",
        "label_selector",
        "pending_minutes",
        "warning_event_minutes",
        "kubernetes_conn_id",
    )
    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        namespaces: str | Sequence[str] | None = None,
        label_selector: str | None = None,
        pending_minutes: float = 10,
        warning_event_minutes: float = 15,
        fail_on_problems: bool = True,
        soft_fail: bool = False,
        restart_threshold: int = 5,
        failed_job_minutes: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.namespaces = namespaces
        self.label_selector = label_selector
        self.pending_minutes = pending_minutes
        self.warning_event_minutes = warning_event_minutes
        self.fail_on_problems = fail_on_problems
        self.soft_fail = soft_fail
        if (
            isinstance(restart_threshold, bool)
            or not isinstance(restart_threshold, int)
            or restart_threshold < 1
        ):
            raise ValueError(f"restart_threshold: must be an integer >= 1, got {restart_threshold!r}")
        self.restart_threshold = restart_threshold
        self.failed_job_minutes = failed_job_minutes
        for name in ("pending_minutes", "warning_event_minutes"):
            value = getattr(self, name)
            if not (isinstance(value, str) and "{{" in value):
                _positive_number(name, value)
        _positive_number("failed_job_minutes", failed_job_minutes, allow_none=True)
        if not (isinstance(label_selector, str) and "{{" in label_selector):
            check_label_selector(label_selector)

    # -- cluster reads ----------------------------------------------------------------------------
    def _list(
        self, api_version: str, kind: str, namespaces: list[str] | None, labels: bool
    ) -> list[dict[str, Any]]:
        selector = self.label_selector if labels else None
        if namespaces is None:
            return self.hook.list(api_version, kind, all_namespaces=True, label_selector=selector)
        out: list[dict[str, Any]] = []
        for namespace in namespaces:
            out.extend(self.hook.list(api_version, kind, namespace, label_selector=selector))
        return out

    def _nodes(self) -> list[dict[str, Any]] | None:
        from airflow_k8s_workflows.kube.errors import Forbidden

        try:
            return self.hook.list("v1", "Node")
        except Forbidden as e:
            self.log.warning("Not checking nodes: %s", e)
            return None

    def snapshot(self, namespaces: list[str] | None) -> dict[str, Any]:
        """Everything the judgement needs, read from the cluster."""
        return {
            "nodes": self._nodes(),
            "pods": self._list("v1", "Pod", namespaces, labels=True),
            "deployments": self._list("apps/v1", "Deployment", namespaces, labels=True),
            "statefulsets": self._list("apps/v1", "StatefulSet", namespaces, labels=True),
            "jobs": self._list("batch/v1", "Job", namespaces, labels=True),
            "events": self._list("v1", "Event", namespaces, labels=False),
        }

    # -- the task ---------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        pending = _positive_number("pending_minutes", self.pending_minutes)
        warning = _positive_number("warning_event_minutes", self.warning_event_minutes)
        failed_window = _positive_number("failed_job_minutes", self.failed_job_minutes, allow_none=True)
        assert pending is not None and warning is not None
        check_label_selector(self.label_selector)
        namespaces = _namespaces(self.namespaces)
        for namespace in namespaces or []:
            check_namespace(namespace, "namespaces")
        where = "all namespaces" if namespaces is None else "namespaces " + ", ".join(namespaces)
        if self.label_selector:
            where += f" (labels {self.label_selector})"
        self.log.info("Checking cluster health in %s", where)

        report = judge_cluster(
            **self.snapshot(namespaces),
            now=datetime.now(timezone.utc),
            pending=timedelta(minutes=pending),
            warning_events=timedelta(minutes=warning),
            restart_threshold=self.restart_threshold,
            failed_job_window=timedelta(minutes=failed_window) if failed_window else None,
            events_only_for_listed=bool(self.label_selector),
        )
        self.log.info("%s", report.table())
        result = report.to_dict()
        if report.healthy or not self.fail_on_problems:
            return result
        self._push_report(context, result)
        message = self._failure_message(report)
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise KubernetesTaskFailed(message)

    @staticmethod
    def _failure_message(report: HealthReport) -> str:
        lines = [f"cluster health check failed: {report.summary()}"]
        lines += [f"  - {p.describe()}" for p in report.problems]
        return "\n".join(lines)

    def _push_report(self, context: Context, result: dict[str, Any]) -> None:
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key="report", value=result)
