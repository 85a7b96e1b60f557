"""What every operator of this provider shares: connection, namespace, and how it waits.

``wait(context, trigger)`` defers to the trigger in deferrable mode, or runs the very same
trigger in-process in sync mode, then calls ``execute_complete(context, event)`` either way:
one code path for both modes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf

from airflow_k8s_workflows.kube.naming import check_namespace
from airflow_k8s_workflows.triggers.base import WaitTimeout, run_trigger_inline

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_k8s_workflows.hooks.kubernetes import ClusterHook


def default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class KubernetesTaskFailed(Exception):
    """The cluster said no: the message names the object, the reason and what to look at."""


class ClusterAccess:
    """Connection plumbing shared by operators and sensors (needs ``kubernetes_conn_id``, ``namespace``)."""

    kubernetes_conn_id: str
    namespace: str | None

    @cached_property
    def hook(self) -> ClusterHook:
        from airflow_k8s_workflows.hooks.kubernetes import ClusterHook

        return ClusterHook(kubernetes_conn_id=self.kubernetes_conn_id)

    @cached_property
    def resolved_namespace(self) -> str:
        return self.hook.get_namespace(self.namespace)

    def trigger_cluster(self) -> dict[str, Any]:
        """The ``cluster`` kwarg for our triggers (sealed credentials, never plain)."""
        return dict(self.hook.trigger_kwargs())


def check_static_namespace(namespace: Any) -> None:
    """A namespace given as it is (not templated) must be valid when the DAG is parsed; a
    templated one is checked by the hook before the first request."""
    if not (isinstance(namespace, str) and "{{" in namespace):
        check_namespace(namespace)


def remaining_seconds(
    context: Context, execution_timeout: timedelta | None, timeout: float | None
) -> float | None:
    """The tighter of ``timeout`` and what is left of ``execution_timeout`` for this try.

    Airflow does not enforce ``execution_timeout`` while a task is deferred, so every defer
    carries it as the trigger timeout.
    """
    limit = timeout
    if execution_timeout is not None:
        ti = context.get("ti")
        start = getattr(ti, "start_date", None) if ti is not None else None
        used = (datetime.now(timezone.utc) - start).total_seconds() if start is not None else 0.0
        left = max(1.0, execution_timeout.total_seconds() - used)
        limit = left if limit is None else min(limit, left)
    return limit


class KubernetesOperator(ClusterAccess, BaseOperator):
    """Base of this provider's operators (not used directly).

    :param kubernetes_conn_id: Airflow connection of type ``kubernetes``.
    :param namespace: falls back to the connection's namespace, then the kubeconfig context's, then ``default``.
    :param deferrable: free the worker while waiting (default ``[operators] default_deferrable``).
    :param timeout: seconds a wait may take (None: no limit beyond ``execution_timeout``).
    """

    template_fields: Sequence[str] = ("namespace", "kubernetes_conn_id")
    ui_color = "#d6e6ff"

    def __init__(
        self,
        *,
        kubernetes_conn_id: str = "kubernetes_default",
        namespace: str | None = None,
        deferrable: bool | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kubernetes_conn_id = kubernetes_conn_id
        self.namespace = namespace
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise ValueError(f"timeout: must be a positive number of seconds, got {timeout!r}")
        self.timeout = timeout
        check_static_namespace(namespace)

    def wait(
        self,
        context: Context,
        trigger: BaseTrigger,
        method_name: str = "execute_complete",
        *,
        timeout: float | None = None,
        alongside: Callable[[], Any] | None = None,
    ) -> Any:
        """Wait for ``trigger``'s event, deferring or in-process, then call ``method_name``."""
        timeout = remaining_seconds(
            context, self.execution_timeout, self.timeout if timeout is None else timeout
        )
        if self.deferrable:
            self.defer(
                trigger=trigger,
                method_name=method_name,
                timeout=timedelta(seconds=timeout) if timeout else None,
            )
        try:
            event = run_trigger_inline(trigger, timeout, alongside)
        except WaitTimeout as e:
            return self.on_wait_timeout(context, str(e))
        return getattr(self, method_name)(context, event)

    def on_wait_timeout(self, context: Context, message: str) -> Any:
        raise KubernetesTaskFailed(f"{self.task_id}: {message}")

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Default resume: fail unless the trigger reported success; return its ``result``."""
        raise_for_event(event)
        return event.get("result")


def raise_for_event(event: dict[str, Any]) -> None:
    if event.get("status") != "success":
        raise KubernetesTaskFailed(str(event.get("message") or event))
