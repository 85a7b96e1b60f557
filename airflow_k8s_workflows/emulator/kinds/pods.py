"""Pods as the API server defaults and validates them.

``default_pod_spec`` and ``validate_pod_spec`` are what other kinds reuse for their pod
templates (``spec.template.spec`` of Jobs, Deployments, ...): the template gets the
``SetDefaults_PodSpec`` defaults only; a pod also gets the pod-only defaults and those of the
admission plugins (ServiceAccount, DefaultTolerationSeconds, Priority) in ``default_pod``.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from airflow_k8s_workflows.emulator.errors import Cause
from airflow_k8s_workflows.emulator.kinds import _podspec_validation as validation
from airflow_k8s_workflows.emulator.strategy import Strategy, register
from airflow_k8s_workflows.kube.quantities import QuantityError, parse_quantity

Obj = dict[str, Any]

__all__ = [
    "default_container",
    "default_pod",
    "default_pod_spec",
    "image_pull_policy",
    "qos_class",
    "validate_pod_spec",
]

validate_pod_spec = validation.validate_pod_spec

DEFAULT_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
)  # fmt: skip
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_DEFAULT_MODE = 420  # 0644


def image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or an untagged image, else ``IfNotPresent`` (digests included)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _default_probe(probe: Obj) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    _default_handler(probe)


def _default_handler(handler: Obj) -> None:
    http = handler.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def default_container(container: Obj) -> None:
    """Container defaults of ``SetDefaults_Container`` and friends, in place."""
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = container.get("image")
    if isinstance(image, str) and image:
        container.setdefault("imagePullPolicy", image_pull_policy(image))
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in container.get("env") or []:
        field_ref = ((env or {}).get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for name in _PROBES:
        probe = container.get(name)
        if isinstance(probe, dict):
            _default_probe(probe)
    for hook in ((container.get("lifecycle") or {}).get(k) for k in ("postStart", "preStop")):
        if isinstance(hook, dict):
            _default_handler(hook)


def _default_volume(volume: Obj) -> None:
    for source in ("configMap", "secret", "downwardAPI", "projected"):
        spec = volume.get(source)
        if isinstance(spec, dict):
            spec.setdefault("defaultMode", _DEFAULT_MODE)
            for item in spec.get("items") or []:
                field_ref = (item or {}).get("fieldRef")
                if isinstance(field_ref, dict):
                    field_ref.setdefault("apiVersion", "v1")
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        host_path.setdefault("type", "")


def default_pod_spec(spec: Obj) -> Obj:
    """``SetDefaults_PodSpec`` (what a pod template gets), in place; returns ``spec``."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                default_container(container)
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            _default_volume(volume)
    return spec


def _requests_from_limits(container: Obj) -> None:
    resources = container.get("resources")
    if not isinstance(resources, dict) or not resources.get("limits"):
        return
    requests = resources.setdefault("requests", {})
    for name, value in resources["limits"].items():
        requests.setdefault(name, value)


def default_pod(pod: Obj) -> Obj:
    """Everything a created pod gets: template defaults, pod-only defaults, admission defaults."""
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return pod
    default_pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _requests_from_limits(container)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = account
    spec["serviceAccount"] = account
    tolerations = spec.setdefault("tolerations", [])
    if isinstance(tolerations, list):
        for default in DEFAULT_TOLERATIONS:
            if not any(
                isinstance(t, dict)
                and t.get("key") == default["key"]
                and t.get("effect") in (None, "", "NoExecute")
                for t in tolerations
            ):
                tolerations.append(dict(default))
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    if "status" not in pod:
        pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
    return pod


def _quantity(value: Any) -> Decimal | None:
    try:
        return parse_quantity(value)
    except QuantityError:
        return None


def qos_class(spec: Obj) -> str:
    """``Guaranteed`` / ``Burstable`` / ``BestEffort`` as ``GetPodQOS`` decides (cpu and memory only)."""
    containers = [
        c for k in ("initContainers", "containers") for c in spec.get(k) or [] if isinstance(c, dict)
    ]
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        c_requests = {
            k: _quantity(v) for k, v in (resources.get("requests") or {}).items() if k in ("cpu", "memory")
        }
        c_limits = {
            k: _quantity(v) for k, v in (resources.get("limits") or {}).items() if k in ("cpu", "memory")
        }
        for name, q in c_requests.items():
            if q is not None and q != 0:
                requests[name] = requests.get(name, Decimal(0)) + q
        for name, q in c_limits.items():
            if q is not None and q != 0:
                limits[name] = limits.get(name, Decimal(0)) + q
        if set(c_limits) != {"cpu", "memory"}:
            guaranteed = False
        for name, q in c_requests.items():
            if c_limits.get(name) != q:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _defaults(pod: Obj, ctx: Any) -> None:
    default_pod(pod)


def _validate(pod: Obj) -> list[Cause]:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return [validation.required("spec.containers")]
    return validate_pod_spec(spec, "spec")


def _validate_update(old: Obj, new: Obj) -> list[Cause]:
    return validation.validate_pod_spec_update(copy.deepcopy(old.get("spec") or {}), new.get("spec") or {})


register(Strategy(("", "pods"), defaults=_defaults, validate=_validate, validate_update=_validate_update))
