"""The HPA's arithmetic (``pkg/controller/podautoscaler``): replica proposals from metrics
(``replica_calculator.go``) and their normalisation by stabilisation windows and scaling rules
(``horizontal.go``). Pure functions over plain numbers; times are controller seconds."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING
from typing import Any

from airflow_k8s_workflows.kube.quantities import QuantityError, parse_quantity

Obj = dict[str, Any]

TOLERANCE = 0.1
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0
DOWNSCALE_STABILISATION_WINDOW = 300
_SUFFIXES = {-3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}


class MetricError(Exception):
    """A metric that cannot be computed; the message is the controller's."""


def milli(value: Any) -> int:
    """``Quantity.MilliValue``: a quantity (or number) in thousandths, rounded up."""
    try:
        return int((parse_quantity(value) * 1000).to_integral_value(rounding=ROUND_CEILING))
    except QuantityError as e:
        raise MetricError(str(e)) from None


def milli_quantity(value: int) -> str:
    """``resource.NewMilliQuantity(v, DecimalSI).String()``: ``90m``, ``1``, ``5k``."""
    exponent = -3
    while value and value % 1000 == 0 and exponent < 18:
        value //= 1000
        exponent += 3
    return f"{value}{_SUFFIXES[exponent]}"


def within_tolerance(ratio: float) -> bool:
    return abs(1.0 - ratio) <= TOLERANCE


@dataclass
class PodSample:
    """A target pod as the metrics pipeline sees it."""

    name: str
    phase: str
    ready: bool
    deleted: bool = False
    value: int | None = None  # the metric, in milli-units; None when no metric was collected
    request: int | None = None  # the resource request, in milli-units (Resource metrics)


@dataclass
class _Groups:
    ready: dict[str, int] = field(default_factory=dict)
    unready: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)


def _group(pods: list[PodSample], cpu: bool) -> _Groups:
    """``groupPods``: deleted/failed pods are ignored, pending (and not-ready, for cpu) are unready."""
    groups = _Groups()
    for pod in pods:
        if pod.deleted or pod.phase == "Failed":
            continue
        if pod.phase == "Pending":
            groups.unready.add(pod.name)
        elif pod.value is None:
            groups.missing.add(pod.name)
        elif cpu and not pod.ready:
            groups.unready.add(pod.name)
        else:
            groups.ready[pod.name] = pod.value
    return groups


def _adjusted_replicas(current: int, ratio: float, groups: _Groups, metrics: dict[str, int],
                       new_ratio_of: Any, fallback_down: Any) -> int:  # fmt: skip
    """The second half of ``GetResourceReplicas`` / ``calcPlainMetricReplicas``: missing pods count as
    the target on a scale-down and as zero on a scale-up, unready pods as zero on a scale-up."""
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if within_tolerance(ratio):
            return current
        return math.ceil(ratio * len(groups.ready))
    metrics = dict(metrics)
    for name in groups.missing:
        if ratio < 1.0:
            metrics[name] = fallback_down(name)
        elif ratio > 1.0:
            metrics[name] = 0
    if scale_up_with_unready:
        for name in groups.unready:
            metrics[name] = 0
    new_ratio = new_ratio_of(metrics)
    if within_tolerance(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposal = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


def utilization_replicas(
    current: int, target: int, pods: list[PodSample], resource: str
) -> tuple[int, int, int]:
    """``GetResourceReplicas``: (replicas, utilization %, average raw usage in milli-units)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    groups = _group(pods, resource == "cpu")
    requests = {pod.name: pod.request or 0 for pod in pods}
    if not groups.ready:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")

    def ratio_of(metrics: dict[str, int]) -> tuple[float, int, int]:
        total = sum(metrics.values())
        total_requests = sum(requests[n] for n in metrics)
        if total_requests == 0:
            raise MetricError("no metrics returned matched known pods")
        utilization = total * 100 // total_requests
        return utilization / target, utilization, total // len(metrics)

    ratio, utilization, raw = ratio_of(groups.ready)
    replicas = _adjusted_replicas(current, ratio, groups, groups.ready, lambda m: ratio_of(m)[0],
                                  lambda name: requests[name] * max(100, target) // 100)  # fmt: skip
    return replicas, utilization, raw


def average_value_replicas(
    current: int, target: int, pods: list[PodSample], resource: str
) -> tuple[int, int]:
    """``calcPlainMetricReplicas`` (Resource AverageValue, Pods metrics): (replicas, average usage)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    groups = _group(pods, resource == "cpu")
    if not groups.ready:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")

    def ratio_of(metrics: dict[str, int]) -> float:
        return (sum(metrics.values()) // len(metrics)) / target

    usage = sum(groups.ready.values()) // len(groups.ready)
    replicas = _adjusted_replicas(current, ratio_of(groups.ready), groups, groups.ready, ratio_of,
                                  lambda name: target)  # fmt: skip
    return replicas, usage


def usage_ratio_replicas(current: int, ratio: float, ready_pods: int) -> int:
    """``getUsageRatioReplicaCount``: Object and External metrics against a Value target."""
    if current == 0:
        return math.ceil(ratio)
    if within_tolerance(ratio):
        return current
    return math.ceil(ratio * ready_pods)


def per_pod_replicas(status_replicas: int, usage: int, target_average: int) -> tuple[int, int]:
    """``GetObjectPerPodMetricReplicas`` / ``GetExternalPerPodMetricReplicas``: (replicas, usage per pod)."""
    replicas = status_replicas
    ratio = usage / (target_average * replicas) if replicas else math.inf
    if not within_tolerance(ratio):
        replicas = math.ceil(usage / target_average)
    per_pod = math.ceil(usage / status_replicas) if status_replicas else usage
    return replicas, per_pod


# -- behaviour ----------------------------------------------------------------------------------
@dataclass
class Recommendation:
    replicas: int
    at: float  # controller seconds


@dataclass
class ScaleEvent:
    change: int
    at: float
    outdated: bool = False


def changes_in_period(period: int, events: list[ScaleEvent], now: float) -> int:
    return sum(e.change for e in events if e.at > now - period)


def scale_up_limit(
    current: int, ups: list[ScaleEvent], downs: list[ScaleEvent], rules: Obj, now: float
) -> int:
    """``calculateScaleUpLimitWithScalingRules``."""
    policy_select = rules.get("selectPolicy") or "Max"
    if policy_select == "Disabled":
        return current
    results = []
    for policy in rules.get("policies") or []:
        period = int(policy.get("periodSeconds") or 0)
        start = current - changes_in_period(period, ups, now) + changes_in_period(period, downs, now)
        if policy.get("type") == "Pods":
            results.append(start + int(policy.get("value") or 0))
        else:
            results.append(math.ceil(start * (1 + int(policy.get("value") or 0) / 100)))
    if not results:
        return current
    return min(results) if policy_select == "Min" else max(results)


def scale_down_limit(
    current: int, ups: list[ScaleEvent], downs: list[ScaleEvent], rules: Obj, now: float
) -> int:
    """``calculateScaleDownLimitWithBehaviors``."""
    policy_select = rules.get("selectPolicy") or "Max"
    if policy_select == "Disabled":
        return current
    results = []
    for policy in rules.get("policies") or []:
        period = int(policy.get("periodSeconds") or 0)
        start = current - changes_in_period(period, ups, now) + changes_in_period(period, downs, now)
        if policy.get("type") == "Pods":
            results.append(start - int(policy.get("value") or 0))
        else:
            results.append(int(start * (1 - int(policy.get("value") or 0) / 100)))
    if not results:
        return current
    return max(results) if policy_select == "Min" else min(results)


def stabilize_with_behavior(recs: list[Recommendation], current: int, desired: int, up_window: int,
                            down_window: int, now: float) -> tuple[int, str, str]:  # fmt: skip
    """``stabilizeRecommendationWithBehaviors``: clamp between the recent recommendations, record this one."""
    up, down = desired, desired
    old_index = None
    for i, rec in enumerate(recs):
        if rec.at > now - up_window:
            up = min(rec.replicas, up)
        if rec.at > now - down_window:
            down = max(rec.replicas, down)
        if rec.at < now - up_window and rec.at < now - down_window:
            old_index = i
    recommendation = min(max(current, up), down)
    if old_index is not None:
        recs[old_index] = Recommendation(desired, now)
    else:
        recs.append(Recommendation(desired, now))
    if desired >= current:
        return (recommendation, "ScaleUpStabilized",
                "recent recommendations were lower than current one, applying the lowest recent recommendation")  # fmt: skip
    return (recommendation, "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation")  # fmt: skip


def stabilize(recs: list[Recommendation], desired: int, window: int, now: float) -> int:
    """``stabilizeRecommendation`` (no behavior): the highest recommendation of the downscale window."""
    highest = desired
    old_index = None
    for i, rec in enumerate(recs):
        if rec.at < now - window:
            old_index = i
        elif rec.replicas > highest:
            highest = rec.replicas
    if old_index is not None:
        recs[old_index] = Recommendation(desired, now)
    else:
        recs.append(Recommendation(desired, now))
    return highest


def limit_with_rules(
    current: int, desired: int, min_replicas: int, max_replicas: int
) -> tuple[int, str, str]:
    """``convertDesiredReplicasWithRules`` (no behavior): at most double (at least 4) per step."""
    scale_up = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    if max_replicas > scale_up:
        maximum, reason, message = (scale_up, "ScaleUpLimit",
                                    "the desired replica count is increasing faster than the maximum scale rate")  # fmt: skip
    else:
        maximum, reason, message = (max_replicas, "TooManyReplicas",
                                    "the desired replica count is more than the maximum replica count")  # fmt: skip
    if desired < min_replicas:
        return (
            min_replicas,
            "TooFewReplicas",
            "the desired replica count is less than the minimum replica count",
        )
    if desired > maximum:
        return maximum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def limit_with_behavior(current: int, desired: int, min_replicas: int, max_replicas: int, behavior: Obj,
                        ups: list[ScaleEvent], downs: list[ScaleEvent], now: float) -> tuple[int, str, str]:  # fmt: skip
    """``convertDesiredReplicasWithBehaviorRate``."""
    if desired > current:
        limit = max(scale_up_limit(current, ups, downs, behavior.get("scaleUp") or {}, now), current)
        if max_replicas > limit:
            maximum, reason, message = (limit, "ScaleUpLimit",
                                        "the desired replica count is increasing faster than the maximum scale rate")  # fmt: skip
        else:
            maximum, reason, message = (max_replicas, "TooManyReplicas",
                                        "the desired replica count is more than the maximum replica count")  # fmt: skip
        if desired > maximum:
            return maximum, reason, message
    elif desired < current:
        limit = min(scale_down_limit(current, ups, downs, behavior.get("scaleDown") or {}, now), current)
        if min_replicas < limit:
            minimum, reason, message = (limit, "ScaleDownLimit",
                                        "the desired replica count is decreasing faster than the maximum scale rate")  # fmt: skip
        else:
            minimum, reason, message = (min_replicas, "TooFewReplicas",
                                        "the desired replica count is less than the minimum replica count")  # fmt: skip
        if desired < minimum:
            return minimum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def longest_period(rules: Obj) -> int:
    return max((int(p.get("periodSeconds") or 0) for p in rules.get("policies") or []), default=0)


def store_event(events: list[ScaleEvent], change: int, period: int, now: float) -> None:
    """``storeScaleEvent``: reuse an outdated slot, else append."""
    for e in events:
        if e.at <= now - period:
            e.outdated = True
    for i, e in enumerate(events):
        if e.outdated:
            events[i] = ScaleEvent(change, now)
            return
    events.append(ScaleEvent(change, now))
