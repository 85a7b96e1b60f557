"""``ValidatePodSpec`` and ``ValidatePodUpdate``: the API server's causes, word for word, for the
checks clients commonly trip over (not the whole of ``k8s.io/kubernetes/pkg/apis/core/validation``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeGuard

from airflow_k8s_workflows.emulator import errors
from airflow_k8s_workflows.emulator.errors import Cause
from airflow_k8s_workflows.kube.quantities import QuantityError, parse_quantity

Obj = dict[str, Any]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_ENV_NAME_MESSAGE = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and "
    "must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for "
    "validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)
UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)
_MAX_INT32 = 2**31 - 1
_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def required(field: str) -> Cause:
    return errors.required(field)


def not_found(field: str, value: Any) -> Cause:
    return Cause("FieldValueNotFound", field, f"Not found: {errors._go_repr(value)}")


def _dns_label(value: Any, field: str) -> list[Cause]:
    if not value:
        return [required(field)]
    if not isinstance(value, str) or len(value) > 63 or not _DNS1123_LABEL.match(value):
        if isinstance(value, str) and len(value) > 63:
            return [errors.invalid_value(field, value, "must be no more than 63 characters")]
        return [errors.invalid_value(field, value, _DNS1123_LABEL_MESSAGE)]
    return []


def _supported(value: Any, field: str, allowed: list[str]) -> list[Cause]:
    if value is None or value in allowed:
        return []
    if value == "":
        return [required(field)]
    return [errors.unsupported_value(field, value, allowed)]


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_pod_spec(spec: Obj, path: str = "spec") -> list[Cause]:
    """Causes for a pod spec at ``path`` (``spec`` for a pod, ``spec.template.spec`` for a template)."""
    causes: list[Cause] = []
    volumes = spec.get("volumes") or []
    volume_names = _validate_volumes(volumes, f"{path}.volumes", causes)
    containers = spec.get("containers") or []
    if not containers:
        causes.append(required(f"{path}.containers"))
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(key) or []):
            where = f"{path}.{key}[{i}]"
            if not isinstance(container, dict):
                causes.append(required(where))
                continue
            name = container.get("name")
            name_causes = _dns_label(name, f"{where}.name")
            causes.extend(name_causes)
            if not name_causes and name in seen:
                causes.append(errors.duplicate(f"{where}.name", name))
            if isinstance(name, str):
                seen.add(name)
            causes.extend(_validate_container(container, where, volume_names, init=key == "initContainers"))
    causes.extend(
        _supported(spec.get("restartPolicy"), f"{path}.restartPolicy", ["Always", "OnFailure", "Never"])
    )
    causes.extend(_supported(spec.get("dnsPolicy"), f"{path}.dnsPolicy",
                             ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]))  # fmt: skip
    deadline = spec.get("activeDeadlineSeconds")
    if _int(deadline) and not 1 <= deadline <= _MAX_INT32:
        causes.append(errors.invalid_value(f"{path}.activeDeadlineSeconds", deadline,
                                           f"must be between 1 and {_MAX_INT32}, inclusive"))  # fmt: skip
    grace = spec.get("terminationGracePeriodSeconds")
    if _int(grace) and grace < 0:
        causes.append(errors.invalid_value(f"{path}.terminationGracePeriodSeconds", grace,
                                           "must be greater than or equal to 0"))  # fmt: skip
    return causes


def _validate_volumes(volumes: Iterable[Any], path: str, causes: list[Cause]) -> set[str]:
    names: set[str] = set()
    for i, volume in enumerate(volumes):
        if not isinstance(volume, dict):
            continue
        name = volume.get("name")
        name_causes = _dns_label(name, f"{path}[{i}].name")
        causes.extend(name_causes)
        if not name_causes and name in names:
            causes.append(errors.duplicate(f"{path}[{i}].name", name))
        if isinstance(name, str):
            names.add(name)
    return names


def _validate_container(container: Obj, where: str, volumes: set[str], *, init: bool) -> list[Cause]:
    causes: list[Cause] = []
    if not container.get("image"):
        causes.append(required(f"{where}.image"))
    causes.extend(_supported(container.get("imagePullPolicy"), f"{where}.imagePullPolicy",
                             ["Always", "IfNotPresent", "Never"]))  # fmt: skip
    causes.extend(_supported(container.get("terminationMessagePolicy"), f"{where}.terminationMessagePolicy",
                             ["File", "FallbackToLogsOnError"]))  # fmt: skip
    for i, port in enumerate(container.get("ports") or []):
        number = (port or {}).get("containerPort")
        if number is None or number == 0:
            causes.append(required(f"{where}.ports[{i}].containerPort"))
        elif _int(number) and not 1 <= number <= 65535:
            causes.append(errors.invalid_value(f"{where}.ports[{i}].containerPort", number,
                                               "must be between 1 and 65535, inclusive"))  # fmt: skip
        causes.extend(
            _supported((port or {}).get("protocol"), f"{where}.ports[{i}].protocol", ["SCTP", "TCP", "UDP"])
        )
    for i, env in enumerate(container.get("env") or []):
        name = (env or {}).get("name")
        if not name:
            causes.append(required(f"{where}.env[{i}].name"))
        elif not _ENV_NAME.match(name):
            causes.append(errors.invalid_value(f"{where}.env[{i}].name", name, _ENV_NAME_MESSAGE))
    mount_paths: set[str] = set()
    for i, mount in enumerate(container.get("volumeMounts") or []):
        mount = mount or {}
        name = mount.get("name")
        if not name:
            causes.append(required(f"{where}.volumeMounts[{i}].name"))
        elif name not in volumes:
            causes.append(not_found(f"{where}.volumeMounts[{i}].name", name))
        mount_path = mount.get("mountPath")
        if not mount_path:
            causes.append(required(f"{where}.volumeMounts[{i}].mountPath"))
        elif mount_path in mount_paths:
            causes.append(
                errors.invalid_value(f"{where}.volumeMounts[{i}].mountPath", mount_path, "must be unique")
            )
        else:
            mount_paths.add(mount_path)
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(probe_name)
        if isinstance(probe, dict):
            causes.extend(_validate_probe(probe, f"{where}.{probe_name}", probe_name))
    causes.extend(_validate_resources(container.get("resources") or {}, f"{where}.resources"))
    return causes


def _validate_probe(probe: Obj, where: str, kind: str) -> list[Cause]:
    handlers = [h for h in _HANDLERS if probe.get(h) is not None]
    causes: list[Cause] = []
    if not handlers:
        causes.append(errors.required(where, "must specify a handler type"))
    elif len(handlers) > 1:
        causes.append(
            errors.forbidden_field(f"{where}.{handlers[1]}", "may not specify more than 1 handler type")
        )
    success = probe.get("successThreshold")
    if kind != "readinessProbe" and _int(success) and success != 1:
        causes.append(errors.invalid_value(f"{where}.successThreshold", success, "must be 1"))
    for field in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        value = probe.get(field)
        if _int(value) and value < 0:
            causes.append(
                errors.invalid_value(f"{where}.{field}", value, "must be greater than or equal to 0")
            )
    return causes


def _validate_resources(resources: Obj, where: str) -> list[Cause]:
    causes: list[Cause] = []
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    for name, value in requests.items():
        if name not in limits:
            continue
        try:
            request, limit = parse_quantity(value), parse_quantity(limits[name])
        except QuantityError:
            continue
        if request > limit:
            causes.append(errors.invalid_value(f"{where}.requests", str(value),
                                               f"must be less than or equal to {name} limit of {limits[name]}"))  # fmt: skip
    return causes


# -- updates ----------------------------------------------------------------------------------------


def validate_pod_spec_update(old: Obj, new: Obj) -> list[Cause]:
    """``spec: Forbidden: pod updates may not change fields other than ...`` unless only the
    mutable fields changed (images, activeDeadlineSeconds, added tolerations, removed scheduling gates)."""
    causes: list[Cause] = []
    comparable = dict(new)
    for key in ("containers", "initContainers"):
        old_list, new_list = old.get(key) or [], new.get(key) or []
        if key in new and len(old_list) == len(new_list):
            comparable[key] = [
                {**n, "image": o.get("image")} if isinstance(n, dict) and isinstance(o, dict) else n
                for o, n in zip(old_list, new_list, strict=True)
            ]
    if new.get("activeDeadlineSeconds") is not None:
        if "activeDeadlineSeconds" in old:
            comparable["activeDeadlineSeconds"] = old["activeDeadlineSeconds"]
        else:
            comparable.pop("activeDeadlineSeconds", None)
    old_tolerations = old.get("tolerations") or []
    new_tolerations = new.get("tolerations") or []
    if all(t in new_tolerations for t in old_tolerations):
        comparable["tolerations"] = old.get("tolerations")
        if "tolerations" not in old:
            comparable.pop("tolerations", None)
    old_gates = old.get("schedulingGates") or []
    new_gates = new.get("schedulingGates") or []
    if all(g in old_gates for g in new_gates):
        comparable["schedulingGates"] = old.get("schedulingGates")
        if "schedulingGates" not in old:
            comparable.pop("schedulingGates", None)
    old_grace, new_grace = old.get("terminationGracePeriodSeconds"), new.get("terminationGracePeriodSeconds")
    if _int(old_grace) and old_grace < 0 and new_grace == 1:
        comparable["terminationGracePeriodSeconds"] = old_grace
    if comparable != old:
        causes.append(errors.forbidden_field("spec", UPDATE_FORBIDDEN))
    return causes
