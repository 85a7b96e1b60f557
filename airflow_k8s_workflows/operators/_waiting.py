"""A wait whose trigger enforces the timeout itself, so the operator still gets the event.

``KubernetesOperator.wait`` leaves timeouts to Airflow (deferred) or to ``run_trigger_inline``
(sync): either way ``execute_complete`` never runs, so a timed-out rollout could not be rolled
back. Here the trigger carries the timeout and reports ``{"status": "timeout", ...}`` with its
diagnosis; Airflow's own defer timeout is only a backstop ``GRACE`` seconds later.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_k8s_workflows.operators.base import remaining_seconds
from airflow_k8s_workflows.triggers.base import run_trigger_inline

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_k8s_workflows.operators.base import KubernetesOperator

GRACE = 60.0


def trigger_cluster_for(operator: KubernetesOperator) -> dict[str, Any]:
    """The trigger's ``cluster`` kwarg: sealed for the triggerer when deferring; in sync mode the
    trigger runs in this process and is never serialized, so it gets the resolved config itself."""
    if operator.deferrable:
        return operator.trigger_cluster()
    return {
        "kubernetes_conn_id": operator.kubernetes_conn_id,
        "cluster_config": operator.hook.cluster_config.to_dict(),
    }


def wait_with_trigger_timeout(
    operator: KubernetesOperator,
    context: Context,
    make_trigger: Callable[[float | None], BaseTrigger],
    method_name: str,
) -> Any:
    """Build the trigger with what is left of ``timeout`` / ``execution_timeout``; defer to it
    or run it inline; then ``operator.<method_name>(context, event)``."""
    limit = remaining_seconds(context, operator.execution_timeout, operator.timeout)
    trigger = make_trigger(limit)
    if operator.deferrable:
        operator.defer(
            trigger=trigger,
            method_name=method_name,
            timeout=timedelta(seconds=limit + GRACE) if limit else None,
        )
    event = run_trigger_inline(trigger)
    return getattr(operator, method_name)(context, event)
