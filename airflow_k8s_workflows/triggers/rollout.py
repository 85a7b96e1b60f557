"""``RolloutTrigger``: wait for a Deployment, StatefulSet or DaemonSet rollout like
``kubectl rollout status``, on the shared watch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from airflow_k8s_workflows.kube.deploy import without_stale_deadline
from airflow_k8s_workflows.kube.rollout import RolloutStatus, rollout_status
from airflow_k8s_workflows.triggers.workload import WorkloadTrigger

__all__ = ["RolloutTrigger"]


class RolloutTrigger(WorkloadTrigger):
    """Until the rollout completes (``success``), fails (``failed``: ProgressDeadlineExceeded, a
    different revision, an OnDelete strategy) or ``timeout`` passes (``timeout``).

    Every state is judged by :func:`~airflow_k8s_workflows.kube.rollout.rollout_status`
    (kubectl's checks, order and messages); progress lines are logged when they change. A
    failure names the failing pods' problems (ImagePullBackOff, CrashLoopBackOff...) and recent
    Warning events.

    :param kind: ``Deployment``, ``StatefulSet`` or ``DaemonSet``.
    :param name: the workload.
    :param revision: Deployments only: fail unless this revision is the one rolling out
        (``kubectl rollout status --revision``).
    :param stale_deadline: a :func:`~airflow_k8s_workflows.kube.deploy.deadline_marker` taken
        before the write this wait follows: that very ``ProgressDeadlineExceeded`` condition is
        a left-over of an earlier rollout, not this one's verdict.
    :param timeout: seconds, then a ``timeout`` event.

    Example::

        RolloutTrigger(kind="Deployment", name="web", namespace="prod",
                       cluster=ClusterHook().trigger_kwargs(), timeout=600)
    """

    kinds: ClassVar[tuple[str, ...]] = ("Deployment", "StatefulSet", "DaemonSet")

    def __init__(
        self,
        *,
        kind: str = "Deployment",
        name: str,
        revision: int | None = None,
        stale_deadline: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(kind=kind, name=name, **kwargs)
        if revision is not None and kind != "Deployment":
            raise ValueError(f"revision: only Deployments have revisions, not {kind}")
        if revision is not None and (
            isinstance(revision, bool) or not isinstance(revision, int) or revision < 1
        ):
            raise ValueError(f"revision: must be a positive whole number, got {revision!r}")
        self.revision = revision
        self.stale_deadline = stale_deadline

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "revision": self.revision, "stale_deadline": self.stale_deadline}

    def judge(self, obj: Mapping[str, Any]) -> RolloutStatus:
        return rollout_status(without_stale_deadline(obj, self.stale_deadline), self.revision)
