"""autoscaling/v2 HorizontalPodAutoscalers: the API server's defaulting (``SetDefaults_HorizontalPodAutoscaler``)
and validation (``pkg/apis/autoscaling/validation``), with its messages."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_k8s_workflows.emulator import errors
from airflow_k8s_workflows.emulator.errors import Cause
from airflow_k8s_workflows.emulator.kinds._fields import invalid_rendered, is_int
from airflow_k8s_workflows.emulator.strategy import Strategy, register
from airflow_k8s_workflows.kube.quantities import QuantityError, parse_quantity

Obj = dict[str, Any]

DEFAULT_CPU_UTILIZATION = 80
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600
_SOURCES = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "External": "external",
    "ContainerResource": "containerResource",
}
_SOURCE_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
_SCALE_UP_DEFAULT: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
# the scale-down window stays unset: the controller applies its --horizontal-pod-autoscaler-downscale-stabilization
_SCALE_DOWN_DEFAULT: Obj = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def _rules(given: Any, default: Obj) -> Obj:
    """``copyHPAScalingRules``: the user's fields over the defaults."""
    rules = copy.deepcopy(default)
    if isinstance(given, dict):
        for key, value in given.items():
            if value is not None:
                rules[key] = copy.deepcopy(value)
    return rules


def _defaults(obj: Obj, ctx: Any) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
        obj["spec"] = spec
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION},
                },
            }
        ]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _rules(behavior.get("scaleUp"), _SCALE_UP_DEFAULT)
        behavior["scaleDown"] = _rules(behavior.get("scaleDown"), _SCALE_DOWN_DEFAULT)


def _positive_quantity(target: Mapping[str, Any], key: str, path: str) -> list[Cause]:
    if key not in target or target[key] is None:
        return []
    try:
        ok = parse_quantity(target[key]) > 0
    except QuantityError:
        return []  # the schema check reports malformed quantities
    return [] if ok else [invalid_rendered(f"{path}.{key}", str(target[key]), "must be positive")]


def _target_causes(target: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    kind = target.get("type")
    if not kind:
        causes.append(errors.required(f"{path}.type", "must specify a metric target type"))
    if kind not in ("Utilization", "Value", "AverageValue"):
        causes.append(
            errors.invalid_value(
                f"{path}.type", kind or "", "must be either Utilization, Value, or AverageValue"
            )
        )
    causes += _positive_quantity(target, "value", path)
    causes += _positive_quantity(target, "averageValue", path)
    utilization = target.get("averageUtilization")
    if is_int(utilization) and utilization < 1:
        causes.append(
            errors.invalid_value(f"{path}.averageUtilization", utilization, "must be greater than 0")
        )
    return causes


def _metric_identifier_causes(metric: Mapping[str, Any], path: str) -> list[Cause]:
    if not metric.get("name"):
        return [errors.required(f"{path}.name", "must specify a metric name")]
    return []


def _source_causes(kind: str, source: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    target = source.get("target") or {}
    if kind in ("Resource", "ContainerResource"):
        if not source.get("name"):
            causes.append(errors.required(f"{path}.name", "must specify a resource name"))
        if kind == "ContainerResource" and not source.get("container"):
            causes.append(errors.required(f"{path}.container", "must specify a container"))
        causes += _target_causes(target, f"{path}.target")
        if target.get("averageUtilization") is None and target.get("averageValue") is None:
            causes.append(
                errors.required(
                    f"{path}.target.averageUtilization",
                    "must set either a target raw value or a target utilization",
                )
            )
        if target.get("averageUtilization") is not None and target.get("averageValue") is not None:
            causes.append(
                errors.forbidden_field(
                    f"{path}.target.averageValue",
                    "may not set both a target raw value and a target utilization",
                )
            )
        return causes
    causes += _metric_identifier_causes(source.get("metric") or {}, f"{path}.metric")
    causes += _target_causes(target, f"{path}.target")
    if kind == "Object":
        described = source.get("describedObject") or {}
        if not described.get("kind"):
            causes.append(errors.required(f"{path}.describedObject.kind", ""))
        if not described.get("name"):
            causes.append(errors.required(f"{path}.describedObject.name", ""))
    if kind == "Pods" and target.get("averageValue") is None:
        causes.append(
            errors.required(f"{path}.target.averageValue", "must specify a positive target averageValue")
        )
    if kind in ("Object", "External") and target.get("value") is None and target.get("averageValue") is None:
        causes.append(
            errors.required(f"{path}.target.averageValue", "must set either a target value or averageValue")
        )
    return causes


def _metric_causes(spec: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    kind = spec.get("type")
    if not kind:
        causes.append(errors.required(f"{path}.type", "must specify a metric source type"))
    present = [field for field in _SOURCES.values() if spec.get(field) is not None]
    if kind not in _SOURCES:
        causes.append(errors.unsupported_value(f"{path}.type", kind or "", _SOURCE_TYPES))
    elif spec.get(_SOURCES[kind]) is None:
        causes.append(
            errors.required(
                f"{path}.{_SOURCES[kind]}", "must populate information for the given metric source"
            )
        )
    if len(present) == 1 and kind in _SOURCES and present[0] == _SOURCES[kind]:
        causes += _source_causes(kind, spec[present[0]], f"{path}.{present[0]}")
    elif len(present) > 1:
        expected = _SOURCES.get(kind or "")
        for field in present:
            if field != expected:
                causes.append(
                    errors.forbidden_field(f"{path}.{field}", "must populate the given metric source only")
                )
    return causes


def _rules_causes(rules: Any, path: str) -> list[Cause]:
    if not isinstance(rules, dict):
        return []
    causes: list[Cause] = []
    window = rules.get("stabilizationWindowSeconds")
    if is_int(window) and window < 0:
        causes.append(
            errors.invalid_value(
                f"{path}.stabilizationWindowSeconds", window, "must be greater than or equal to zero"
            )
        )
    if is_int(window) and window > MAX_STABILIZATION_WINDOW_SECONDS:
        causes.append(
            errors.invalid_value(
                f"{path}.stabilizationWindowSeconds",
                window,
                f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}",
            )
        )
    select = rules.get("selectPolicy")
    if select is not None and select not in ("Disabled", "Max", "Min"):
        causes.append(errors.unsupported_value(f"{path}.selectPolicy", select, ["Disabled", "Max", "Min"]))
    policies = rules.get("policies")
    if not policies:
        causes.append(errors.required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(policies or []):
        ppath = f"{path}.policies[{i}]"
        if policy.get("type") not in ("Percent", "Pods"):
            causes.append(
                errors.unsupported_value(f"{ppath}.type", policy.get("type") or "", ["Percent", "Pods"])
            )
        value, period = policy.get("value", 0), policy.get("periodSeconds", 0)
        if is_int(value) and value <= 0:
            causes.append(errors.invalid_value(f"{ppath}.value", value, "must be greater than zero"))
        if is_int(period) and period <= 0:
            causes.append(errors.invalid_value(f"{ppath}.periodSeconds", period, "must be greater than zero"))
        if is_int(period) and period > MAX_PERIOD_SECONDS:
            causes.append(
                errors.invalid_value(
                    f"{ppath}.periodSeconds", period, f"must be less than or equal to {MAX_PERIOD_SECONDS}"
                )
            )
    return causes


def _validate(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    min_replicas, max_replicas = spec.get("minReplicas"), spec.get("maxReplicas", 0)
    if is_int(min_replicas) and min_replicas < 1:
        causes.append(
            errors.invalid_value("spec.minReplicas", min_replicas, "must be greater than or equal to 1")
        )
    if is_int(max_replicas) and max_replicas < 1:
        causes.append(errors.invalid_value("spec.maxReplicas", max_replicas, "must be greater than 0"))
    if is_int(min_replicas) and is_int(max_replicas) and max_replicas < min_replicas:
        causes.append(
            errors.invalid_value(
                "spec.maxReplicas", max_replicas, "must be greater than or equal to `minReplicas`"
            )
        )
    ref = spec.get("scaleTargetRef") or {}
    ref_causes = []
    if not ref.get("kind"):
        ref_causes.append(errors.required("spec.scaleTargetRef.kind", ""))
    if not ref.get("name"):
        ref_causes.append(errors.required("spec.scaleTargetRef.name", ""))
    causes += ref_causes
    if not ref_causes:
        for i, metric in enumerate(spec.get("metrics") or []):
            causes += _metric_causes(metric or {}, f"spec.metrics[{i}]")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        causes += _rules_causes(behavior.get("scaleUp"), "spec.behavior.scaleUp")
        causes += _rules_causes(behavior.get("scaleDown"), "spec.behavior.scaleDown")
    return causes


register(Strategy(("autoscaling", "horizontalpodautoscalers"), defaults=_defaults, validate=_validate))
