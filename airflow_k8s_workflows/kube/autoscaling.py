"""The autoscaling/v2 HorizontalPodAutoscaler an ``AutoscaleOperator`` applies, checked first.

::

    hpa = hpa_manifest("Deployment", "web", "prod", min_replicas=2, max_replicas=10,
                       target_cpu_utilization=70)
    hpa["spec"]["metrics"]
    # [{'type': 'Resource', 'resource': {'name': 'cpu', 'target': {'type': 'Utilization',
    #                                                              'averageUtilization': 70}}}]

Errors are ValueErrors naming the parameter (``metrics[0].resource.target.type: ...``), raised
before anything is sent to a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .quantities import QuantityError, parse_quantity
from .scaling import SCALE_KINDS

__all__ = ["hpa_manifest", "validate_metrics"]

# metric type -> (its field, the target types it allows)
_SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Resource": ("resource", ("Utilization", "AverageValue")),
    "ContainerResource": ("containerResource", ("Utilization", "AverageValue")),
    "Pods": ("pods", ("AverageValue",)),
    "Object": ("object", ("Value", "AverageValue")),
    "External": ("external", ("Value", "AverageValue")),
}
_TARGET_VALUE = {"Utilization": "averageUtilization", "Value": "value", "AverageValue": "averageValue"}


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _name(source: Mapping[str, Any], path: str) -> None:
    if not isinstance(source.get("name"), str) or not source["name"]:
        raise ValueError(f"{path}.name: Required value: must name the metric")


def _check_target(target: Any, allowed: tuple[str, ...], path: str) -> None:
    if not isinstance(target, Mapping):
        raise ValueError(f"{path}: Required value: must be an object with type and a value")
    kind = target.get("type")
    if kind not in allowed:
        raise ValueError(f"{path}.type: Unsupported value: {kind!r}: supported values: {list(allowed)}")
    key = _TARGET_VALUE[kind]
    present = [k for k in _TARGET_VALUE.values() if k in target]
    if present != [key]:
        raise ValueError(f"{path}: type {kind} needs exactly {key!r}, got {present}")
    value = target[key]
    if kind == "Utilization":
        if not _positive_int(value):
            raise ValueError(
                f"{path}.averageUtilization: Invalid value: {value!r}: must be a positive integer"
            )
        return
    try:
        quantity = parse_quantity(value)
    except (QuantityError, TypeError, ValueError) as e:
        raise ValueError(f"{path}.{key}: Invalid value: {value!r}: {e}") from None
    if quantity <= 0:
        raise ValueError(f"{path}.{key}: Invalid value: {value!r}: must be positive")


def validate_metrics(metrics: Any) -> list[dict[str, Any]]:
    """``metrics`` as an autoscaling/v2 ``MetricSpec`` list; raises ValueError naming the path."""
    if not isinstance(metrics, Sequence) or isinstance(metrics, str | bytes) or not metrics:
        raise ValueError(f"metrics: must be a non-empty list of autoscaling/v2 metric specs, got {metrics!r}")
    out = []
    for index, metric in enumerate(metrics):
        path = f"metrics[{index}]"
        if not isinstance(metric, Mapping):
            raise ValueError(f"{path}: must be an object, got {metric!r}")
        kind = metric.get("type")
        if kind not in _SOURCES:
            raise ValueError(f"{path}.type: Unsupported value: {kind!r}: supported values: {list(_SOURCES)}")
        field, allowed = _SOURCES[str(kind)]
        extra = sorted(set(metric) - {"type", field})
        if extra:
            raise ValueError(f"{path}: type {kind} takes only {field!r}, also got {extra}")
        source = metric.get(field)
        spath = f"{path}.{field}"
        if not isinstance(source, Mapping):
            raise ValueError(f"{spath}: Required value: must be set for type {kind}")
        if kind in ("Resource", "ContainerResource"):
            _name(source, spath)
            if kind == "ContainerResource" and not source.get("container"):
                raise ValueError(f"{spath}.container: Required value: must name the container")
        else:
            metric_id = source.get("metric")
            if not isinstance(metric_id, Mapping):
                raise ValueError(f"{spath}.metric: Required value: must be an object with a name")
            _name(metric_id, f"{spath}.metric")
            if kind == "Object":
                described = source.get("describedObject")
                if (
                    not isinstance(described, Mapping)
                    or not described.get("kind")
                    or not described.get("name")
                ):
                    raise ValueError(f"{spath}.describedObject: Required value: must have kind and name")
        _check_target(source.get("target"), allowed, f"{spath}.target")
        out.append(dict(metric))
    return out


def hpa_manifest(
    kind: str,
    name: str,
    namespace: str,
    *,
    min_replicas: int,
    max_replicas: int,
    metrics: Any = None,
    target_cpu_utilization: int | None = None,
    api_version: str = "apps/v1",
) -> dict[str, Any]:
    """An autoscaling/v2 HPA named after its target ``kind/name``; validates every argument."""
    if kind not in SCALE_KINDS:
        raise ValueError(f"kind: must be one of {list(SCALE_KINDS)}, got {kind!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: the {kind} to autoscale is required")
    if not _positive_int(min_replicas):
        raise ValueError(f"min_replicas: must be >= 1, got {min_replicas!r}")
    if not isinstance(max_replicas, int) or isinstance(max_replicas, bool) or max_replicas < min_replicas:
        raise ValueError(f"max_replicas: must be >= min_replicas ({min_replicas}), got {max_replicas!r}")
    if (metrics is None) == (target_cpu_utilization is None):
        raise ValueError("metrics / target_cpu_utilization: give exactly one of them")
    if target_cpu_utilization is not None:
        if not _positive_int(target_cpu_utilization):
            raise ValueError(
                f"target_cpu_utilization: must be a positive percentage, got {target_cpu_utilization!r}"
            )
        metrics = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target_cpu_utilization},
                },
            }
        ]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": name},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": validate_metrics(metrics),
        },
    }
