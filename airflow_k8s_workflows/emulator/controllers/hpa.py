"""The HorizontalPodAutoscaler controller (autoscaling/v2, ``pkg/controller/podautoscaler``):
every 15 s (controller time) it reads the target's scale, proposes a replica count per metric,
stabilises and rate-limits it, and writes the scale subresource.

No metrics pipeline runs in the emulator: metric values come from the annotation
``emulator.airflow-k8s-workflows.io/metric-values`` (a JSON object) on the HPA or on its scale
target, the HPA's winning. Keys are metric names (``cpu``, ``memory``, a Pods/Object/External
metric's name). For Resource metrics a number is the utilisation in percent of the pods'
requests and a string an absolute quantity per pod (``"200Mi"``); for the other sources the
value (number or quantity) is the metric's value: per pod for Pods metrics, of the object or
the external metric otherwise. Every running pod reports the same value, unless the value is
``{"total": x}``: a load shared by the running pods (``{"cpu": {"total": 180}}`` is 90 % on each
of two pods, 45 % once there are four), so scaling converges as it would under a steady load.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.clock import rfc3339
from airflow_k8s_workflows.emulator.controllers import hpa_calc as calc
from airflow_k8s_workflows.emulator.controllers.base import Controller, Key
from airflow_k8s_workflows.emulator.controllers.podstate import is_ready
from airflow_k8s_workflows.emulator.errors import ApiError, not_found
from airflow_k8s_workflows.emulator.registry import ResourceType
from airflow_k8s_workflows.emulator.selectors import LabelSelector

Obj = dict[str, Any]

HPA_KEY = ("autoscaling", "horizontalpodautoscalers")
POD_KEY = ("", "pods")
METRIC_VALUES = "emulator.airflow-k8s-workflows.io/metric-values"
SYNC_PERIOD = 15.0
_FAILURE_REASONS = {
    "Resource": "FailedGetResourceMetric",
    "ContainerResource": "FailedGetContainerResourceMetric",
    "Pods": "FailedGetPodsMetric",
    "Object": "FailedGetObjectMetric",
    "External": "FailedGetExternalMetric",
}
_OUTER = {
    "Resource": "failed to get {name} resource metric value: {err}",
    "ContainerResource": "failed to get {name} container resource metric value: {err}",
    "Pods": "failed to get pods metric value: {err}",
    "Object": "failed to get object metric value: {err}",
    "External": "failed to get external metric value: {err}",
}


@dataclass
class _History:
    """What the real controller keeps in memory per HPA."""

    recommendations: list[calc.Recommendation] = field(default_factory=list)
    ups: list[calc.ScaleEvent] = field(default_factory=list)
    downs: list[calc.ScaleEvent] = field(default_factory=list)


class _Failed(Exception):
    """A metric failed: carries the ScalingActive condition to report and the wrapped error."""

    def __init__(self, reason: str, message: str, condition_message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.condition_message = condition_message


def set_condition(conditions: list[Obj], kind: str, status: str, reason: str, message: str) -> None:
    """``setConditionInList``: the transition time moves only when the status does."""
    for cond in conditions:
        if cond.get("type") == kind:
            if cond.get("status") != status:
                cond["lastTransitionTime"] = rfc3339()
            cond.update(status=status, reason=reason, message=message)
            return
    conditions.append({"type": kind, "status": status, "lastTransitionTime": rfc3339(), "reason": reason,
                       "message": message})  # fmt: skip


class HorizontalPodAutoscalerController(Controller):
    name = "horizontal-pod-autoscaler"
    watches = (HPA_KEY,)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history: dict[Key, _History] = {}

    def now(self) -> float:
        """Controller seconds on a monotonic clock (windows and periods are measured in them)."""
        return time.monotonic() * self.clock.speed

    async def reconcile(self, key: Key) -> float | None:
        hpa = self.api.try_get(self.api.rt(*HPA_KEY), *key)
        if hpa is None:
            self.history.pop(key, None)
            return None
        _Reconcile(self, key, copy.deepcopy(hpa)).run()
        return SYNC_PERIOD


class _Reconcile:
    """One ``reconcileAutoscaler`` pass."""

    def __init__(self, controller: HorizontalPodAutoscalerController, key: Key, hpa: Obj) -> None:
        self.c = controller
        self.api = controller.api
        self.key = key
        self.hpa = hpa
        self.ns = hpa["metadata"]["namespace"]
        self.spec = hpa["spec"]
        self.original = copy.deepcopy(hpa.get("status") or {})
        self.conditions: list[Obj] = copy.deepcopy(self.original.get("conditions") or [])
        self.history = controller.history.setdefault(key, _History())
        self.now = controller.now()

    def event(self, kind: str, reason: str, message: str) -> None:
        self.c.recorder.record(self.hpa, kind, reason, message, self.c.name)

    # -- the pass --------------------------------------------------------------------------------
    def run(self) -> None:
        target = self._target()
        if target is None:
            self._write(int(self.original.get("currentReplicas") or 0),
                        int(self.original.get("desiredReplicas") or 0), None, rescaled=False)  # fmt: skip
            return
        rt, obj = target
        scale = self.api.scale_of(rt, obj)
        set_condition(self.conditions, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale")  # fmt: skip
        current = int(scale["spec"]["replicas"])
        if not self.history.recommendations:
            self.history.recommendations.append(calc.Recommendation(current, self.now))
        min_replicas = int(self.spec.get("minReplicas") or 1)
        max_replicas = int(self.spec["maxReplicas"])
        statuses: list[Obj] | None = None
        reason = ""
        rescale = True
        if current == 0 and min_replicas != 0:
            desired, rescale = 0, False
            set_condition(self.conditions, "ScalingActive", "False", "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is zero")  # fmt: skip
        elif current > max_replicas:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", max_replicas
        elif current < min_replicas:
            reason, desired = "Current number of replicas below Spec.MinReplicas", min_replicas
        else:
            values = self._metric_values(obj)
            proposal, metric, statuses, error = self._metrics(scale, values)
            if proposal < 0:
                self._write(current, int(self.original.get("desiredReplicas") or 0), statuses, rescaled=False)
                self.event("Warning", "FailedComputeMetricsReplicas", error or "")
                return
            desired = max(proposal, 0)
            if desired > current:
                reason = f"{metric} above target"
            elif desired < current:
                reason = "All metrics below target"
            desired = self._normalize(current, desired, min_replicas, max_replicas)
            rescale = desired != current
        if rescale:
            try:
                self.api.replace_scale(rt, self.ns, obj["metadata"]["name"],
                                       {**scale, "spec": {"replicas": desired}}, CONTROLLER)  # fmt: skip
            except ApiError as e:
                self.event(
                    "Warning", "FailedRescale", f"New size: {desired}; reason: {reason}; error: {e.message}"
                )
                set_condition(self.conditions, "AbleToScale", "False", "FailedUpdateScale",
                              f"the HPA controller was unable to update the target scale: {e.message}")  # fmt: skip
                self._write(current, int(self.original.get("desiredReplicas") or 0), statuses, rescaled=False)
                return
            set_condition(self.conditions, "AbleToScale", "True", "SucceededRescale",
                          f"the HPA controller was able to update the target scale to {desired}")  # fmt: skip
            self.event("Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            self._store_scale_event(current, desired)
        else:
            desired = current
        self._write(current, desired, statuses, rescaled=rescale)

    def _target(self) -> tuple[ResourceType, Obj] | None:
        ref = self.spec.get("scaleTargetRef") or {}
        api_version, kind, name = ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", "")
        rt = self.api.registry.by_kind(api_version, kind)
        if rt is None or not rt.has_subresource("scale"):
            group = api_version.rpartition("/")[0]
            message = f'unable to determine resource for scale target reference: no matches for kind "{kind}" in group "{group}"'
            self._fail_get_scale(message)
            return None
        obj = self.api.try_get(rt, self.ns, name)
        if obj is None:
            self._fail_get_scale(not_found(rt.group, rt.resource, name).message)
            return None
        return rt, obj

    def _fail_get_scale(self, message: str) -> None:
        self.event("Warning", "FailedGetScale", message)
        set_condition(self.conditions, "AbleToScale", "False", "FailedGetScale",
                      f"the HPA controller was unable to get the target's current scale: {message}")  # fmt: skip

    def _metric_values(self, target: Obj) -> Obj:
        values: Obj = {}
        for obj in (target, self.hpa):
            raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(METRIC_VALUES)
            if not raw:
                continue
            try:
                parsed = json.loads(raw)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                values.update(parsed)
        return values

    # -- metrics --------------------------------------------------------------------------------
    def _metrics(self, scale: Obj, values: Obj) -> tuple[int, str, list[Obj], str | None]:
        """``computeReplicasForMetrics``: (proposal or -1, winning metric, statuses, error)."""
        specs = self.spec.get("metrics") or []
        selector_text = (scale.get("status") or {}).get("selector") or ""
        if not selector_text:
            self.event("Warning", "SelectorRequired", "selector is required")
            set_condition(self.conditions, "ScalingActive", "False", "InvalidSelector",
                          "the HPA target's scale is missing a selector")  # fmt: skip
            return -1, "", [], "selector is required"
        pods = [
            s.obj for s in self.api.select(self.api.rt(*POD_KEY), self.ns, LabelSelector.parse(selector_text))
        ]
        statuses: list[Obj] = [{"type": ""} for _ in specs]
        replicas, metric = 0, ""
        failures: list[_Failed] = []
        current = int(scale["spec"]["replicas"])
        status_replicas = int(scale["status"].get("replicas") or 0)
        for i, spec in enumerate(specs):
            try:
                proposal, name, statuses[i] = self._metric(spec, pods, values, current, status_replicas)
            except _Failed as failed:
                failures.append(failed)
                continue
            if replicas == 0 or proposal > replicas:
                replicas, metric = proposal, name
        error = None
        if failures:
            error = f"invalid metrics ({len(failures)} invalid out of {len(specs)}), first error is: {failures[0].message}"
        if failures and (len(failures) >= len(specs) or replicas < current):
            first = failures[0]
            set_condition(self.conditions, "ScalingActive", "False", first.reason, first.condition_message)
            return -1, "", statuses, error
        set_condition(self.conditions, "ScalingActive", "True", "ValidMetricFound",
                      f"the HPA was able to successfully calculate a replica count from {metric}")  # fmt: skip
        return replicas, metric, statuses, error

    def _metric(
        self, spec: Obj, pods: list[Obj], values: Obj, current: int, status_replicas: int
    ) -> tuple[int, str, Obj]:
        kind = spec.get("type", "")
        source = spec.get({"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
                           "Object": "object", "External": "external"}.get(kind, ""), {}) or {}  # fmt: skip
        try:
            if kind in ("Resource", "ContainerResource"):
                return self._resource(kind, source, pods, values, current)
            if kind == "Pods":
                return self._pods(source, pods, values, current)
            if kind in ("Object", "External"):
                return self._single_value(kind, source, pods, values, current, status_replicas)
            raise calc.MetricError(f"unknown metric source type {kind!r}")
        except calc.MetricError as e:
            name = source.get("name") or (source.get("metric") or {}).get("name", "")
            inner = str(e)
            reason = _FAILURE_REASONS.get(kind, "FailedGetResourceMetric")
            self.event("Warning", reason, inner)
            raise _Failed(
                reason,
                _OUTER.get(kind, "{err}").format(name=name, err=inner),
                f"the HPA was unable to compute the replica count: {inner}",
            ) from None

    def _resource(
        self, kind: str, source: Obj, pods: list[Obj], values: Obj, current: int
    ) -> tuple[int, str, Obj]:
        resource = source.get("name", "")
        container = source.get("container") if kind == "ContainerResource" else None
        target = source.get("target") or {}
        utilization = target.get("averageUtilization")
        word = "utilization" if target.get("averageValue") is None else "usage"
        try:
            value = (
                values.get(f"{container}/{resource}", values.get(resource))
                if container
                else values.get(resource)
            )
            value = _per_pod(value, pods)
            if value is None:
                raise calc.MetricError(
                    f"unable to get metrics for resource {resource}: no metrics returned from resource metrics API"
                )
            samples = [self._resource_sample(pod, resource, container, value, need_request=utilization is not None)
                       for pod in pods]  # fmt: skip
            if target.get("averageValue") is not None:
                replicas, usage = calc.average_value_replicas(current, calc.milli(target["averageValue"]), samples,
                                                              resource)  # fmt: skip
                current_value: Obj = {"averageValue": calc.milli_quantity(usage)}
                name = f"{resource} resource" if not container else f"{resource} container resource"
            elif utilization is not None:
                replicas, percent, raw = calc.utilization_replicas(
                    current, int(utilization), samples, resource
                )
                current_value = {"averageUtilization": percent, "averageValue": calc.milli_quantity(raw)}
                name = f"{resource} resource utilization (percentage of request)"
                if container:
                    name = f"{resource} container resource utilization (percentage of request)"
            else:
                raise calc.MetricError("invalid resource metric source: neither an average utilization target nor "
                                       "an average value (usage) target was set")  # fmt: skip
        except calc.MetricError as e:
            raise calc.MetricError(f"failed to get {resource} {word}: {e}") from None
        status: Obj = {"name": resource, "current": current_value}
        if container:
            status["container"] = container
        key = "resource" if kind == "Resource" else "containerResource"
        return replicas, name, {"type": kind, key: status}

    @staticmethod
    def _resource_sample(pod: Obj, resource: str, container: str | None, value: Any,
                         need_request: bool) -> calc.PodSample:  # fmt: skip
        meta, spec = pod["metadata"], pod.get("spec") or {}
        request = 0
        for c in spec.get("containers") or []:
            if container and c.get("name") != container:
                continue
            wanted = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if wanted is None:
                if need_request:
                    raise calc.MetricError(
                        f"missing request for {resource} in container {c.get('name')} of Pod {meta['name']}"
                    )
                continue
            request += calc.milli(wanted)
        phase = (pod.get("status") or {}).get("phase", "Pending")
        sample = calc.PodSample(meta["name"], phase, is_ready(pod), bool(meta.get("deletionTimestamp")),
                                request=request)  # fmt: skip
        if phase == "Running":
            # a percentage of the request, rounded up so the utilisation computed back is that percentage
            sample.value = (
                math.ceil(request * value / 100) if isinstance(value, (int, float)) else calc.milli(value)
            )
        return sample

    def _pods(self, source: Obj, pods: list[Obj], values: Obj, current: int) -> tuple[int, str, Obj]:
        metric = source.get("metric") or {}
        name = metric.get("name", "")
        try:
            value = _per_pod(values.get(name), pods)
            if value is None:
                raise calc.MetricError("unable to fetch metrics from custom metrics API: the server could not find "
                                       f"the metric {name} for pods")  # fmt: skip
            samples = []
            for pod in pods:
                phase = (pod.get("status") or {}).get("phase", "Pending")
                sample = calc.PodSample(pod["metadata"]["name"], phase, is_ready(pod),
                                        bool(pod["metadata"].get("deletionTimestamp")))  # fmt: skip
                if phase == "Running":
                    sample.value = calc.milli(value)
                samples.append(sample)
            target = calc.milli((source.get("target") or {}).get("averageValue", 0))
            replicas, usage = calc.average_value_replicas(current, target, samples, "")
        except calc.MetricError as e:
            raise calc.MetricError(f"unable to get metric {name}: {e}") from None
        status = {
            "type": "Pods",
            "pods": {"metric": metric, "current": {"averageValue": calc.milli_quantity(usage)}},
        }
        return replicas, f"pods metric {name}", status

    def _single_value(self, kind: str, source: Obj, pods: list[Obj], values: Obj, current: int,
                      status_replicas: int) -> tuple[int, str, Obj]:  # fmt: skip
        metric = source.get("metric") or {}
        name = metric.get("name", "")
        target = source.get("target") or {}
        described = source.get("describedObject") or {}
        value = values.get(name)
        if isinstance(value, dict):
            value = value.get("total")
        if value is None:
            cause = ("unable to fetch metrics from custom metrics API: the server could not find the metric "
                     f"{name} for {described.get('kind', '').lower()}s {described.get('name', '')}"
                     if kind == "Object" else
                     f'unable to fetch metrics from external metrics API: the server could not find the requested resource (get {name}.external.metrics.k8s.io)')  # fmt: skip
            if kind == "Object":
                # the real message's arguments are out of order, and users see it that way
                raise calc.MetricError(f"unable to get metric {name}: {described.get('kind', '')} on {self.ns} "
                                       f"{described.get('name', '')}/{cause}")  # fmt: skip
            raise calc.MetricError(
                f"unable to get external metric {self.ns}/{name}/{_selector_text(metric)}: {cause}"
            )
        usage = calc.milli(value)
        if target.get("averageValue") is not None:
            replicas, per_pod = calc.per_pod_replicas(
                status_replicas, usage, calc.milli(target["averageValue"])
            )
            current_value: Obj = {"averageValue": calc.milli_quantity(per_pod)}
        else:
            ready = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running" and is_ready(p))
            if current and not pods:
                raise calc.MetricError("unable to calculate ready pods: no pods returned by selector while "
                                       "calculating replica count")  # fmt: skip
            replicas = calc.usage_ratio_replicas(
                current, usage / max(calc.milli(target.get("value", 1)), 1), ready
            )
            current_value = {"value": calc.milli_quantity(usage)}
        if kind == "Object":
            status = {"type": "Object", "object": {"metric": metric, "current": current_value,
                                                   "describedObject": described}}  # fmt: skip
            return replicas, f"{described.get('kind', '')} metric {name}", status
        status = {"type": "External", "external": {"metric": metric, "current": current_value}}
        return replicas, f"external metric {name}({_selector_text(metric, go=True)})", status

    # -- normalisation ---------------------------------------------------------------------------
    def _normalize(self, current: int, desired: int, min_replicas: int, max_replicas: int) -> int:
        behavior = self.spec.get("behavior")
        recs = self.history.recommendations
        if behavior is None:
            stabilized = calc.stabilize(recs, desired, calc.DOWNSCALE_STABILISATION_WINDOW, self.now)
            if stabilized != desired:
                set_condition(self.conditions, "AbleToScale", "True", "ScaleDownStabilized",
                              "recent recommendations were higher than current one, applying the highest recent "
                              "recommendation")  # fmt: skip
            else:
                set_condition(self.conditions, "AbleToScale", "True", "ReadyForNewScale",
                              "recommended size matches current size")  # fmt: skip
            final, reason, message = calc.limit_with_rules(current, stabilized, min_replicas, max_replicas)
        else:
            up = int((behavior.get("scaleUp") or {}).get("stabilizationWindowSeconds") or 0)
            down_rules = behavior.get("scaleDown") or {}
            down = down_rules.get("stabilizationWindowSeconds")
            down = calc.DOWNSCALE_STABILISATION_WINDOW if down is None else int(down)
            stabilized, why, text = calc.stabilize_with_behavior(recs, current, desired, up, down, self.now)
            if stabilized != desired:
                set_condition(self.conditions, "AbleToScale", "True", why, text)
            else:
                set_condition(self.conditions, "AbleToScale", "True", "ReadyForNewScale",
                              "recommended size matches current size")  # fmt: skip
            final, reason, message = calc.limit_with_behavior(current, stabilized, min_replicas, max_replicas, behavior,
                                                              self.history.ups, self.history.downs, self.now)  # fmt: skip
        limited = "False" if final == stabilized else "True"
        set_condition(self.conditions, "ScalingLimited", limited, reason, message)
        return final

    def _store_scale_event(self, previous: int, new: int) -> None:
        behavior = self.spec.get("behavior")
        if behavior is None:
            return
        if new > previous:
            period = calc.longest_period(behavior.get("scaleUp") or {})
            calc.store_event(self.history.ups, new - previous, period, self.now)
        else:
            period = calc.longest_period(behavior.get("scaleDown") or {})
            calc.store_event(self.history.downs, previous - new, period, self.now)

    # -- status ---------------------------------------------------------------------------------
    def _write(self, current: int, desired: int, statuses: list[Obj] | None, *, rescaled: bool) -> None:
        status: Obj = {}
        last = rfc3339() if rescaled else self.original.get("lastScaleTime")
        if last:
            status["lastScaleTime"] = last
        if current:
            status["currentReplicas"] = current
        status["desiredReplicas"] = desired
        if statuses:
            status["currentMetrics"] = statuses
        if self.conditions:
            status["conditions"] = self.conditions
        if status != self.original:
            self.api.update_status(self.api.rt(*HPA_KEY), self.ns, self.hpa["metadata"]["name"],
                                   lambda o: o.__setitem__("status", status))  # fmt: skip


def _per_pod(value: Any, pods: list[Obj]) -> Any:
    """A per-pod value as given, or ``{"total": x}`` shared by the running pods (a load that spreads)."""
    if not isinstance(value, dict):
        return value
    total = value.get("total")
    running = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running")
    if total is None or running == 0:
        return None
    if isinstance(total, (int, float)):
        return total / running
    return f"{math.ceil(calc.milli(total) / running)}m"


def _selector_text(metric: Obj, go: bool = False) -> str:
    selector = metric.get("selector")
    if selector is None:
        return "nil" if go else ""
    return str(LabelSelector.from_label_selector(selector))
