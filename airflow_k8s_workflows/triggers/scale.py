"""``ScaleTrigger``: wait until a Deployment, StatefulSet or ReplicaSet runs its replica count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from airflow_k8s_workflows.kube.rollout import RolloutStatus
from airflow_k8s_workflows.kube.scaling import SCALE_KINDS, scale_status
from airflow_k8s_workflows.triggers.workload import WorkloadTrigger

__all__ = ["ScaleTrigger"]


class ScaleTrigger(WorkloadTrigger):
    """Until the workload runs ``spec.replicas`` ready pods and no extra ones (``success``).

    Deployments use rollout semantics (``kubectl rollout status``); StatefulSets and
    ReplicaSets their ``readyReplicas`` and ``replicas``
    (:func:`~airflow_k8s_workflows.kube.scaling.scale_status`).

    Example::

        ScaleTrigger(kind="StatefulSet", name="db", namespace="prod",
                     cluster=ClusterHook().trigger_kwargs(), timeout=300)
    """

    kinds: ClassVar[tuple[str, ...]] = SCALE_KINDS

    def judge(self, obj: Mapping[str, object]) -> RolloutStatus:
        return scale_status(obj)
