"""Alertmanager alerts for Airflow tasks and DAG runs (pure: no Airflow import, no I/O).

An alert's identity is its label set: posting the same labels again updates the alert, and
posting them with ``endsAt`` in the past resolves it. So the firing and the resolving post
must build exactly the same labels, which :func:`alert_labels` does from plain values::

    labels = alert_labels(
        alertname="AirflowTaskFailed", severity="critical",
        scope={"dag_id": "etl", "task_id": "load", "run_id": "manual__1"},
        cluster_object=parse_cluster_object("Deployment/web", namespace="prod"),
        user={"team": "data"},
    )
    firing_alert(labels, {"summary": "..."}, starts_at=now, ends_at=now + timedelta(days=1))
    resolved_alert(labels, {"summary": "..."}, ended_at=now)

User labels override the built-in ones, and a user label set to ``None`` (or ``""``) removes
it: ``labels={"run_id": None}`` makes one alert per task instead of one per run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "LABEL_NAME",
    "OBJECT_NAME_LABELS",
    "alert_labels",
    "firing_alert",
    "label_name_errors",
    "parse_cluster_object",
    "resolved_alert",
    "rfc3339",
    "truncate",
]

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# The label kube-state-metrics (and so most alerting rules) name an object of each kind with,
# so that our alerts group and inhibit alongside the cluster's own.
OBJECT_NAME_LABELS = {
    "Pod": "pod",
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "ReplicaSet": "replicaset",
    "Job": "job_name",
    "CronJob": "cronjob",
    "Node": "node",
    "Service": "service",
    "Namespace": "namespace",
    "PersistentVolumeClaim": "persistentvolumeclaim",
    "HorizontalPodAutoscaler": "horizontalpodautoscaler",
    "ConfigMap": "configmap",
    "Secret": "secret",
}
_KIND_ALIASES = {
    **{kind.lower(): kind for kind in OBJECT_NAME_LABELS},
    **{f"{kind.lower()}s": kind for kind in OBJECT_NAME_LABELS},
    "po": "Pod",
    "deploy": "Deployment",
    "sts": "StatefulSet",
    "ds": "DaemonSet",
    "rs": "ReplicaSet",
    "cj": "CronJob",
    "no": "Node",
    "svc": "Service",
    "ns": "Namespace",
    "pvc": "PersistentVolumeClaim",
    "hpa": "HorizontalPodAutoscaler",
    "cm": "ConfigMap",
}


def label_name_errors(labels: Mapping[str, Any], what: str = "labels") -> list[str]:
    """Alertmanager's rule for label names, as messages naming the parameter."""
    return [
        f"{what}: invalid label name {name!r} (must match [a-zA-Z_][a-zA-Z0-9_]*)"
        for name in labels
        if not isinstance(name, str) or not LABEL_NAME.match(name)
    ]


def parse_cluster_object(
    value: str | Mapping[str, Any] | None, namespace: str | None = None
) -> dict[str, str]:
    """``"Deployment/web"`` (kubectl's ``kind/name``, aliases like ``deploy/web`` too) or
    ``{"kind": ..., "name": ..., "namespace": ...}`` → ``{"kind", "name"[, "namespace"]}``."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        kind, sep, name = value.partition("/")
        if not sep or not kind or not name or "/" in name:
            raise ValueError(f"cluster_object: expected 'Kind/name' (e.g. 'Deployment/web'), got {value!r}")
        out = {"kind": kind, "name": name}
    elif isinstance(value, Mapping):
        if not value.get("kind") or not value.get("name"):
            raise ValueError(f"cluster_object: needs 'kind' and 'name', got {dict(value)!r}")
        out = {"kind": str(value["kind"]), "name": str(value["name"])}
        namespace = str(value.get("namespace") or "") or namespace
    else:
        raise ValueError(f"cluster_object: expected 'Kind/name' or a mapping, got {value!r}")
    out["kind"] = _KIND_ALIASES.get(out["kind"].lower(), out["kind"])
    if namespace:
        out["namespace"] = namespace
    return out


def _object_labels(obj: Mapping[str, str]) -> dict[str, str]:
    if not obj:
        return {}
    kind = obj["kind"]
    name_label = OBJECT_NAME_LABELS.get(kind) or re.sub(r"[^a-zA-Z0-9_]", "_", kind.lower())
    out = {"kind": kind, name_label: obj["name"]}
    if obj.get("namespace") and kind != "Namespace":
        out["namespace"] = obj["namespace"]
    return out


def alert_labels(
    *,
    alertname: str,
    severity: str,
    scope: Mapping[str, str | None],
    cluster_object: Mapping[str, str] | None = None,
    user: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The label set: ``alertname``, ``severity``, the Airflow ``scope`` (dag_id, task_id,
    run_id, map_index), the cluster object's labels, then ``user`` (overrides; None removes)."""
    merged: dict[str, Any] = {"alertname": alertname, "severity": severity, **scope}
    merged.update(_object_labels(cluster_object or {}))
    merged.update(user or {})
    return {k: str(v) for k, v in merged.items() if v is not None and str(v) != ""}


def rfc3339(when: datetime) -> str:
    """UTC with milliseconds and ``Z``, as Alertmanager prints times."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alert(
    labels: Mapping[str, str],
    annotations: Mapping[str, Any],
    starts_at: datetime | None,
    ends_at: datetime | None,
    generator_url: str | None,
) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": dict(labels),
        "annotations": {k: str(v) for k, v in annotations.items() if v is not None and str(v) != ""},
    }
    if starts_at is not None:
        alert["startsAt"] = rfc3339(starts_at)
    if ends_at is not None:
        alert["endsAt"] = rfc3339(ends_at)
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert


def firing_alert(
    labels: Mapping[str, str],
    annotations: Mapping[str, Any],
    *,
    starts_at: datetime,
    ends_at: datetime | None = None,
    generator_url: str | None = None,
) -> dict[str, Any]:
    """A firing alert. ``startsAt`` is always sent: without it Alertmanager would take ``endsAt``
    as the start. Without ``ends_at`` Alertmanager resolves it after its ``resolve_timeout``."""
    return _alert(labels, annotations, starts_at, ends_at, generator_url)


def resolved_alert(
    labels: Mapping[str, str],
    annotations: Mapping[str, Any],
    *,
    ended_at: datetime,
    generator_url: str | None = None,
) -> dict[str, Any]:
    """The same labels with ``endsAt`` now: Alertmanager marks the firing alert resolved."""
    return _alert(labels, annotations, None, ended_at, generator_url)
