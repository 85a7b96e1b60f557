"""In which order a batch of objects is applied (and deleted).

What others depend on goes first: Namespaces, then CustomResourceDefinitions, then
configuration (quotas, ServiceAccounts, Secrets, ConfigMaps, storage, RBAC), then Services,
then workloads, then everything else (autoscalers, ingresses, custom resources, webhooks).
Within a rank the documents keep their order. Deletion runs the other way round::

    apply_order(docs)    # indices of docs: [namespace, crd, configmap, service, deployment, ...]
    delete_order(docs)   # the same ranks, last first
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .resources import split_api_version

__all__ = ["apply_order", "apply_rank", "delete_order"]

NAMESPACES, CRDS, CONFIG, SERVICES, WORKLOADS, OTHERS = range(6)

_RANKS: dict[tuple[str, str], int] = {
    ("", "Namespace"): NAMESPACES,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): CRDS,
    **{
        key: CONFIG
        for key in (
            ("", "ResourceQuota"),
            ("", "LimitRange"),
            ("scheduling.k8s.io", "PriorityClass"),
            ("networking.k8s.io", "NetworkPolicy"),
            ("policy", "PodDisruptionBudget"),
            ("", "ServiceAccount"),
            ("", "Secret"),
            ("", "ConfigMap"),
            ("storage.k8s.io", "StorageClass"),
            ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
        )
    },
    ("", "Service"): SERVICES,
    **{
        key: WORKLOADS
        for key in (
            ("apps", "DaemonSet"),
            ("", "Pod"),
            ("", "ReplicationController"),
            ("apps", "ReplicaSet"),
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("batch", "Job"),
            ("batch", "CronJob"),
        )
    },
}


def apply_rank(api_version: str, kind: str) -> int:
    """0 (applied first) to 5 (last) for an object's apiVersion and kind."""
    group = split_api_version(api_version)[0]
    return _RANKS.get((group, kind), OTHERS)


def _rank(doc: Mapping[str, Any]) -> int:
    return apply_rank(str(doc.get("apiVersion") or ""), str(doc.get("kind") or ""))


def apply_order(docs: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of ``docs`` in apply order (stable within a rank)."""
    return sorted(range(len(docs)), key=lambda index: _rank(docs[index]))


def delete_order(docs: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of ``docs`` in delete order: highest rank first, documents in order within a rank."""
    return sorted(range(len(docs)), key=lambda index: -_rank(docs[index]))
