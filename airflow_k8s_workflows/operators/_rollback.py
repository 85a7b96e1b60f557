"""``kubectl rollout undo`` through a ClusterHook: plan with ``kube.rollout.rollback_plan``, send
its JSON patch, and remember what the wait afterwards needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_k8s_workflows.kube.deploy import deadline_marker
from airflow_k8s_workflows.kube.rollout import (
    RollbackError,
    RollbackPlan,
    deployment_revision,
    rollback_plan,
    rollout_history,
)
from airflow_k8s_workflows.kube.workloads import label_selector_text

if TYPE_CHECKING:
    from airflow_k8s_workflows.hooks.kubernetes import ClusterHook


@dataclass(frozen=True)
class Rollback:
    plan: RollbackPlan
    from_revision: int
    """The Deployment's revision before the rollback."""
    stale_deadline: str | None
    """The ProgressDeadlineExceeded condition the Deployment had before the rollback, if any."""


def roll_back(hook: ClusterHook, name: str, namespace: str, to_revision: int = 0) -> Rollback:
    """Roll Deployment ``name`` back to ``to_revision`` (0: the previous one) with kubectl's
    rules. Raises :class:`RollbackError` (paused, no history, unknown revision — then listing
    the revisions there are); sends nothing when the plan is skipped."""
    deployment = hook.get("apps/v1", "Deployment", name, namespace)
    selector = label_selector_text((deployment.get("spec") or {}).get("selector"))
    replica_sets = hook.list("apps/v1", "ReplicaSet", namespace, label_selector=selector or None)
    try:
        plan = rollback_plan(deployment, replica_sets, to_revision)
    except RollbackError as e:
        revisions = [entry.revision for entry in rollout_history(deployment, replica_sets)]
        raise RollbackError(f'deployment "{name}": {e}; available revisions: {revisions}') from None
    if not plan.skipped:
        hook.patch("apps/v1", "Deployment", name, plan.patch, namespace, patch_type="json")
    return Rollback(plan, deployment_revision(deployment), deadline_marker(deployment))
