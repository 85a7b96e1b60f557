"""A container's environment as the kubelet builds it: ``envFrom``, then ``env`` (with
``$(VAR)`` expansion and every ``valueFrom`` source), over the base variables every container gets."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from airflow_k8s_workflows.emulator.api import ApiServer
from airflow_k8s_workflows.kube.quantities import QuantityError, parse_quantity

Obj = dict[str, Any]

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


class ConfigError(Exception):
    """A required ConfigMap, Secret or key is missing: ``CreateContainerConfigError``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class PodFacts:
    """What the downward API can expose about a running pod."""

    pod: Obj
    node_name: str
    host_ip: str
    pod_ip: str
    node_allocatable: Mapping[str, Any]


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined names are replaced, ``$$`` escapes a ``$``,
    anything else is left as written."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] == "$" and i + 1 < n:
            following = value[i + 1]
            if following == "$":
                out.append("$")
                i += 2
                continue
            if following == "(":
                end = value.find(")", i + 2)
                if end != -1:
                    name = value[i + 2 : end]
                    out.append(env[name] if name in env else value[i : end + 1])
                    i = end + 1
                    continue
        out.append(value[i])
        i += 1
    return "".join(out)


def configmap_data(api: ApiServer, namespace: str, name: str) -> dict[str, bytes] | None:
    cm = api.try_get(api.rt("", "configmaps"), namespace, name)
    if cm is None:
        return None
    data = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    for k, v in (cm.get("binaryData") or {}).items():
        data[k] = _b64(v)
    return data


def secret_data(api: ApiServer, namespace: str, name: str) -> dict[str, bytes] | None:
    secret = api.try_get(api.rt("", "secrets"), namespace, name)
    if secret is None:
        return None
    data = {k: _b64(v) for k, v in (secret.get("data") or {}).items()}
    for k, v in (secret.get("stringData") or {}).items():
        data.setdefault(k, str(v).encode())
    return data


def _b64(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value))
    except (binascii.Error, ValueError):
        return b""


def field_value(path: str, facts: PodFacts, *, volume: bool = False) -> str:
    """A downward API ``fieldRef`` value (``volume`` allows whole label/annotation maps)."""
    pod = facts.pod
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": facts.node_name,
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": facts.host_ip,
        "status.hostIPs": facts.host_ip,
        "status.podIP": facts.pod_ip,
        "status.podIPs": facts.pod_ip,
    }
    if path in simple:
        return str(simple[path])
    match = _SUBSCRIPT.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if volume and path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1]) or {}
        return "\n".join(f"{k}={json.dumps(str(values[k]))}" for k in sorted(values))
    return ""


def resource_value(ref: Obj, container: Obj | None, facts: PodFacts) -> str:
    """A ``resourceFieldRef`` value: the container's limit (node allocatable when unset) or
    request, divided by ``divisor`` and rounded up."""
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    resources = (container or {}).get("resources") or {}
    value: Any = (resources.get(kind) or {}).get(name)
    if value is None:
        value = facts.node_allocatable.get(name, 0) if kind == "limits" else 0
    try:
        amount = parse_quantity(value)
        divisor = parse_quantity(ref.get("divisor") or "1") or Decimal(1)
    except QuantityError:
        return "0"
    return str(math.ceil(amount / divisor))


def container_env(api: ApiServer, container: Obj, facts: PodFacts, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of ``container``; raises ``ConfigError`` as the real kubelet refuses to start it."""
    namespace = facts.pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for kind, getter in (("configMapRef", configmap_data), ("secretRef", secret_data)):
            ref = source.get(kind)
            if not isinstance(ref, dict):
                continue
            data = getter(api, namespace, ref.get("name", ""))
            if data is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(
                    f'{"configmap" if kind == "configMapRef" else "secret"} "{ref.get("name", "")}" not found'
                )
            for key, raw in data.items():
                if _ENV_NAME.match(prefix + key):
                    env[prefix + key] = raw.decode("utf-8", "replace")
    for item in container.get("env") or []:
        if "valueFrom" not in item:
            value: str | None = expand(str(item.get("value", "")), env)
        else:
            value = _value_from(api, item["valueFrom"], container, facts, namespace)
        if value is not None:
            env[item.get("name", "")] = value
    return env


def _value_from(api: ApiServer, source: Obj, container: Obj, facts: PodFacts, namespace: str) -> str | None:
    for kind, getter, label in (
        ("configMapKeyRef", configmap_data, "ConfigMap"),
        ("secretKeyRef", secret_data, "Secret"),
    ):
        ref = source.get(kind)
        if not isinstance(ref, dict):
            continue
        name, key = ref.get("name", ""), ref.get("key", "")
        data = getter(api, namespace, name)
        if data is None:
            if ref.get("optional"):
                return None
            raise ConfigError(f'{label.lower()} "{name}" not found')
        if key not in data:
            if ref.get("optional"):
                return None
            raise ConfigError(f"couldn't find key {key} in {label} {namespace}/{name}")
        return data[key].decode("utf-8", "replace")
    if isinstance(source.get("fieldRef"), dict):
        return field_value(source["fieldRef"].get("fieldPath", ""), facts)
    ref = source.get("resourceFieldRef")
    if isinstance(ref, dict):
        target = container
        if ref.get("containerName"):
            spec = facts.pod.get("spec") or {}
            all_containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
            target = next((c for c in all_containers if c.get("name") == ref["containerName"]), container)
        return resource_value(ref, target, facts)
    return ""
