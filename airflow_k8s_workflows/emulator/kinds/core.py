"""Core/v1 kinds other than Pods: Namespace, Service (cluster IP and node port allocation),
Secret (stringData, base64 data), ConfigMap, ServiceAccount, Event, Node."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import random
import re
from collections.abc import Mapping
from typing import Any

from airflow_k8s_workflows.emulator import errors
from airflow_k8s_workflows.emulator.errors import Cause
from airflow_k8s_workflows.emulator.kinds._fields import (
    IANA_SVC_NAME,
    config_keys,
    immutable,
    invalid_rendered,
    is_int,
)
from airflow_k8s_workflows.emulator.strategy import Strategy, register

Obj = dict[str, Any]

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")
NODE_PORTS = (30000, 32767)
MAX_DATA_BYTES = 1024 * 1024
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _stored(ctx: Any, key: tuple[str, str], obj: Obj) -> Obj | None:
    """The stored version of ``obj`` when this write is an update (same uid), else None."""
    meta = obj.get("metadata") or {}
    found: Obj | None = ctx.store.get(key, (meta.get("namespace", ""), meta.get("name", "")))
    if found is not None and found["metadata"].get("uid") == meta.get("uid"):
        return found
    return None


# -- Namespace ------------------------------------------------------------------------------
def _namespace_defaults(obj: Obj, ctx: Any) -> None:
    meta = obj.setdefault("metadata", {})
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta.get("name", "")
    spec = obj.setdefault("spec", {})
    if _stored(ctx, ("", "namespaces"), obj) is None:
        spec.setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")


register(Strategy(("", "namespaces"), defaults=_namespace_defaults))


# -- Service --------------------------------------------------------------------------------
def _service_defaults(obj: Obj, ctx: Any) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    old = _stored(ctx, ("", "services"), obj)
    if old is not None:
        _keep_allocations(old.get("spec") or {}, spec)
    kind = spec["type"]
    if kind == "ExternalName":
        return
    _allocate_cluster_ip(obj, spec, ctx)
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        _allocate_node_ports(obj, spec, ctx)
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if old is None:
        obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _keep_allocations(old: Mapping[str, Any], new: Obj) -> None:
    """Like the real update path: values the client left out are carried over from the live object."""
    if old.get("type") == "ExternalName" or new.get("type") == "ExternalName":
        return
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        if not new.get(key) and old.get(key):
            new[key] = old[key]
    if new.get("type") in ("NodePort", "LoadBalancer"):
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old.get("ports") or []
        }
        for port in new.get("ports") or []:
            if isinstance(port, dict) and not port.get("nodePort"):
                node_port = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                if node_port:
                    port["nodePort"] = node_port


def _services_except(ctx: Any, obj: Obj) -> list[Obj]:
    uid = (obj.get("metadata") or {}).get("uid")
    return [s.obj for s in ctx.store.items(("", "services")) if s.obj["metadata"].get("uid") != uid]


def _allocate_cluster_ip(obj: Obj, spec: Obj, ctx: Any) -> None:
    wanted = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
    if wanted == "None":
        spec["clusterIP"] = "None"
        spec["clusterIPs"] = ["None"]
    else:
        used = {s.get("spec", {}).get("clusterIP") for s in _services_except(ctx, obj)}
        name = (obj.get("metadata") or {}).get("name", "")
        if wanted:
            _check_requested_ip(name, wanted, used)
            ip = wanted
        else:
            ip = _free_ip(used)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")


def _check_requested_ip(name: str, wanted: str, used: set[Any]) -> None:
    rendered = f'[]string{{"{wanted}"}}'
    try:
        address = ipaddress.ip_address(wanted)
    except ValueError:
        raise errors.invalid(
            "",
            "Service",
            name,
            [
                errors.invalid_value(
                    "spec.clusterIPs[0]",
                    wanted,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )
            ],
        )
    if address not in SERVICE_CIDR:
        detail = (
            f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the valid range. "
            f"The range of valid IPs is {SERVICE_CIDR}"
        )
        raise errors.invalid("", "Service", name, [invalid_rendered("spec.clusterIPs", rendered, detail)])
    if wanted in used:
        detail = f"failed to allocate IP {wanted}: provided IP is already allocated"
        raise errors.invalid("", "Service", name, [invalid_rendered("spec.clusterIPs", rendered, detail)])


def _free_ip(used: set[Any]) -> str:
    hosts = SERVICE_CIDR.num_addresses - 2
    for _ in range(64):
        candidate = str(SERVICE_CIDR.network_address + random.randint(11, hosts))
        if candidate not in used:
            return candidate
    for address in SERVICE_CIDR.hosts():
        if str(address) not in used and int(address) - int(SERVICE_CIDR.network_address) > 10:
            return str(address)
    raise errors.internal("failed to allocate a serviceIP: range is full")


def _allocate_node_ports(obj: Obj, spec: Obj, ctx: Any) -> None:
    used = {
        p.get("nodePort")
        for s in _services_except(ctx, obj)
        for p in (s.get("spec") or {}).get("ports") or []
    }
    name = (obj.get("metadata") or {}).get("name", "")
    low, high = NODE_PORTS
    for i, port in enumerate(spec.get("ports") or []):
        if not isinstance(port, dict):
            continue
        requested = port.get("nodePort")
        if requested:
            if not is_int(requested) or not low <= requested <= high:
                raise errors.invalid(
                    "",
                    "Service",
                    name,
                    [
                        errors.invalid_value(
                            f"spec.ports[{i}].nodePort",
                            requested,
                            f"provided port is not in the valid range. The range of valid ports is {low}-{high}",
                        )
                    ],
                )
            if requested in used:
                raise errors.invalid(
                    "",
                    "Service",
                    name,
                    [
                        errors.invalid_value(
                            f"spec.ports[{i}].nodePort", requested, "provided port is already allocated"
                        )
                    ],
                )
        else:
            free = [p for p in range(low, high + 1) if p not in used]
            if not free:
                raise errors.internal("failed to allocate a nodePort: range is full")
            port["nodePort"] = random.choice(free)
        used.add(port["nodePort"])


def _validate_service(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    kind = spec.get("type")
    if kind not in _SERVICE_TYPES:
        causes.append(errors.unsupported_value("spec.type", kind, _SERVICE_TYPES))
    if kind == "ExternalName" and not spec.get("externalName"):
        causes.append(errors.required("spec.externalName", ""))
    affinity = spec.get("sessionAffinity")
    if affinity not in ("None", "ClientIP"):
        causes.append(errors.unsupported_value("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    ports = spec.get("ports") or []
    if not ports and spec.get("clusterIP") != "None" and kind != "ExternalName":
        causes.append(errors.required("spec.ports", ""))
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        causes += _service_port_causes(port, i, len(ports) > 1, names, seen, kind)
    return causes


def _service_port_causes(
    port: Obj, i: int, several: bool, names: set[str], seen: set[tuple[Any, Any]], kind: Any
) -> list[Cause]:
    path = f"spec.ports[{i}]"
    causes: list[Cause] = []
    name = port.get("name") or ""
    if several and not name:
        causes.append(errors.required(f"{path}.name", ""))
    elif name:
        if name in names:
            causes.append(errors.duplicate(f"{path}.name", name))
        elif len(name) > 63 or not _DNS1123_LABEL.match(name):
            causes.append(errors.invalid_value(f"{path}.name", name, _DNS_LABEL_MESSAGE))
        names.add(name)
    number = port.get("port")
    if not is_int(number) or not 1 <= number <= 65535:
        causes.append(errors.invalid_value(f"{path}.port", number, "must be between 1 and 65535, inclusive"))
    protocol = port.get("protocol")
    if protocol not in ("TCP", "UDP", "SCTP"):
        causes.append(errors.unsupported_value(f"{path}.protocol", protocol, ["SCTP", "TCP", "UDP"]))
    target = port.get("targetPort")
    if is_int(target):
        if not 1 <= target <= 65535:
            causes.append(
                errors.invalid_value(f"{path}.targetPort", target, "must be between 1 and 65535, inclusive")
            )
    elif isinstance(target, str):
        if len(target) > 15 or not IANA_SVC_NAME.match(target) or "--" in target:
            causes.append(
                errors.invalid_value(
                    f"{path}.targetPort",
                    target,
                    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                )
            )
        elif not re.search("[a-z]", target):
            causes.append(
                errors.invalid_value(f"{path}.targetPort", target, "must contain at least one letter (a-z)")
            )
    if port.get("nodePort") and kind == "ClusterIP":
        causes.append(
            errors.forbidden_field(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'")
        )
    key = (number, protocol)
    if key in seen:
        causes.append(invalid_rendered(path, json.dumps(port, sort_keys=True), "Duplicate value"))
    seen.add(key)
    return causes


_DNS_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def _validate_service_update(old: Obj, new: Obj) -> list[Cause]:
    o, n = old.get("spec") or {}, new.get("spec") or {}
    if "ExternalName" in (o.get("type"), n.get("type")) or not o.get("clusterIP"):
        return []
    return immutable(o, n, "clusterIP", "spec")


register(
    Strategy(
        ("", "services"),
        defaults=_service_defaults,
        validate=_validate_service,
        validate_update=_validate_service_update,
    )
)


# -- Secret and ConfigMap -------------------------------------------------------------------
def go_base64_error(value: Any) -> int | None:
    """The byte offset Go's base64 decoder reports for ``value``, or None if it decodes."""
    if not isinstance(value, str):
        return 0
    text = value.replace("\r", "").replace("\n", "")
    for i, ch in enumerate(text):
        if ch == "=":
            break
        if not (ch.isascii() and (ch.isalnum() or ch in "+/")):
            return i
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return len(text) - len(text) % 4 if len(text) % 4 else max(0, len(text) - 1)
    return None


def _decode_error(kind: str, offset: int) -> errors.ApiError:
    return errors.bad_request(
        f'{kind} in version "v1" cannot be handled as a {kind}: illegal base64 data at input byte {offset}'
    )


def _secret_defaults(obj: Obj, ctx: Any) -> None:
    for value in (obj.get("data") or {}).values():
        offset = go_base64_error(value)
        if offset is not None:
            raise _decode_error("Secret", offset)
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data") or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data
    obj.setdefault("type", "Opaque")


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.key", "tls.crt"),
}


def _validate_secret(obj: Obj) -> list[Cause]:
    data = obj.get("data") or {}
    causes = config_keys(data, "data")
    size = sum(len(base64.b64decode(v)) for v in data.values() if go_base64_error(v) is None)
    if size > MAX_DATA_BYTES:
        causes.append(errors.too_long("data", "", MAX_DATA_BYTES))
    kind = obj.get("type")
    for key in _SECRET_REQUIRED_KEYS.get(kind or "", ()):
        if key not in data:
            causes.append(errors.required(f"data[{key}]", ""))
    if kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        causes += [errors.required("data[username]", ""), errors.required("data[password]", "")]
    if kind == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            causes.append(errors.required("metadata.annotations[kubernetes.io/service-account.name]", ""))
    return causes


def _validate_immutable_data(old: Obj, new: Obj, keys: tuple[str, ...]) -> list[Cause]:
    causes: list[Cause] = []
    if old.get("immutable"):
        message = "field is immutable when `immutable` is set"
        for key in keys:
            if old.get(key) != new.get(key):
                causes.append(errors.forbidden_field(key, message))
        if not new.get("immutable"):
            causes.append(errors.forbidden_field("immutable", message))
    return causes


def _validate_secret_update(old: Obj, new: Obj) -> list[Cause]:
    causes = immutable(old, new, "type", "")
    for c in causes:
        c.field = c.field.lstrip(".")
    return causes + _validate_immutable_data(old, new, ("data",))


register(
    Strategy(
        ("", "secrets"),
        defaults=_secret_defaults,
        validate=_validate_secret,
        validate_update=_validate_secret_update,
    )
)


def _configmap_defaults(obj: Obj, ctx: Any) -> None:
    for value in (obj.get("binaryData") or {}).values():
        offset = go_base64_error(value)
        if offset is not None:
            raise _decode_error("ConfigMap", offset)


def _validate_configmap(obj: Obj) -> list[Cause]:
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    causes = config_keys(data, "data") + config_keys(binary, "binaryData")
    for key in data:
        if key in binary:
            causes.append(errors.invalid_value(f"data[{key}]", key, "duplicate of key present in binaryData"))
    size = sum(len(str(v).encode()) for v in data.values())
    size += sum(len(base64.b64decode(v)) for v in binary.values() if go_base64_error(v) is None)
    if size > MAX_DATA_BYTES:
        causes.append(
            Cause("FieldValueTooLong", "", f"Too long: may not be more than {MAX_DATA_BYTES} bytes")
        )
    return causes


def _validate_configmap_update(old: Obj, new: Obj) -> list[Cause]:
    return _validate_immutable_data(old, new, ("data", "binaryData"))


register(
    Strategy(
        ("", "configmaps"),
        defaults=_configmap_defaults,
        validate=_validate_configmap,
        validate_update=_validate_configmap_update,
    )
)


# -- ServiceAccount, Event, Node ------------------------------------------------------------
register(Strategy(("", "serviceaccounts")))


def _validate_event(obj: Obj) -> list[Cause]:
    """Legacy (core/v1) events: only the namespace must agree with the involved object's."""
    if obj.get("eventTime"):
        return []
    namespace = (obj.get("metadata") or {}).get("namespace", "")
    involved = (obj.get("involvedObject") or {}).get("namespace", "")
    if involved and involved != namespace:
        return [errors.invalid_value("involvedObject.namespace", involved, "does not match event.namespace")]
    return []


register(Strategy(("", "events"), validate=_validate_event))
register(Strategy(("", "nodes")))
