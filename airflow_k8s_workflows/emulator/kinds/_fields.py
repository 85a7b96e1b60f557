"""Field-error helpers shared by kind strategies: the API server's wording for common checks,
and Go's ``%#v`` rendering of the few composite values its messages print."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from airflow_k8s_workflows.emulator import errors
from airflow_k8s_workflows.emulator.errors import Cause

Obj = dict[str, Any]

CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
CONFIG_KEY_MESSAGE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def nonnegative(obj: Mapping[str, Any], key: str, path: str) -> list[Cause]:
    value = obj.get(key)
    if is_int(value) and value < 0:
        return [errors.invalid_value(f"{path}.{key}", value, "must be greater than or equal to 0")]
    return []


def go_string_map(labels: Mapping[str, Any] | None) -> str:
    """``map[string]string{"a":"b", "c":"d"}`` as Go's %#v prints it (keys sorted)."""
    if labels is None:
        return "map[string]string(nil)"
    inner = ", ".join(f"{json.dumps(k)}:{json.dumps(str(v))}" for k, v in sorted(labels.items()))
    return f"map[string]string{{{inner}}}"


def go_label_selector(sel: Mapping[str, Any] | None) -> str:
    """A metav1.LabelSelector as Go's %#v prints it in field errors."""
    if sel is None:
        return "null"
    labels = sel.get("matchLabels")
    exprs = sel.get("matchExpressions")
    if exprs is None:
        rendered = "[]v1.LabelSelectorRequirement(nil)"
    else:
        items = []
        for e in exprs:
            values = e.get("values")
            vals = (
                "[]string(nil)"
                if values is None
                else "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"
            )
            items.append(
                f"v1.LabelSelectorRequirement{{Key:{json.dumps(e.get('key', ''))}, "
                f"Operator:{json.dumps(e.get('operator', ''))}, Values:{vals}}}"
            )
        rendered = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    return f"v1.LabelSelector{{MatchLabels:{go_string_map(labels)}, MatchExpressions:{rendered}}}"


def invalid_rendered(field: str, rendered: str, detail: str) -> Cause:
    """An Invalid cause whose value is already rendered (composite values)."""
    return Cause("FieldValueInvalid", field, f"Invalid value: {rendered}: {detail}")


def immutable(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    key: str,
    path: str,
    render: Callable[[Any], str] | None = None,
) -> list[Cause]:
    """``field is immutable`` when ``key`` differs; composite values are shown as JSON."""
    if old.get(key) == new.get(key):
        return []
    value = new.get(key)
    if render is not None:
        return [invalid_rendered(f"{path}.{key}", render(value), "field is immutable")]
    if isinstance(value, (dict, list)):
        return [invalid_rendered(f"{path}.{key}", json.dumps(value, sort_keys=True), "field is immutable")]
    return [errors.invalid_value(f"{path}.{key}", value, "field is immutable")]


def config_keys(data: Mapping[str, Any] | None, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key in data or {}:
        if len(key) > 253:
            causes.append(errors.invalid_value(f"{path}[{key}]", key, "must be no more than 253 characters"))
        elif not CONFIG_KEY.match(key) or key in (".", ".."):
            detail = CONFIG_KEY_MESSAGE
            if key == ".":
                detail = "must not be '.'"
            elif key == "..":
                detail = "must not be '..'"
            causes.append(errors.invalid_value(f"{path}[{key}]", key, detail))
    return causes


def _pods_hook(name: str) -> Callable[..., Any] | None:
    """A function of the pods strategy module (written separately), if it is there yet."""
    try:
        module = importlib.import_module("airflow_k8s_workflows.emulator.kinds.pods")
    except ImportError:
        return None
    fn = getattr(module, name, None)
    return fn if callable(fn) else None


def pod_template_defaults(template: Obj) -> None:
    """Pod defaults inside a template, when the pods strategy module provides them."""
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return
    default_pod_spec = _pods_hook("default_pod_spec")
    if default_pod_spec is None:
        return
    result = default_pod_spec(spec)
    if isinstance(result, dict) and result is not spec:
        spec.clear()
        spec.update(result)


def pod_template_causes(template: Mapping[str, Any] | None, path: str) -> list[Cause]:
    """Validation of a pod template's spec (the pods strategy's, or a minimal fallback)."""
    spec = (template or {}).get("spec")
    if not isinstance(spec, dict):
        return [errors.required(f"{path}.spec.containers", "")]
    validate_pod_spec = _pods_hook("validate_pod_spec")
    if validate_pod_spec is None:
        return _minimal_pod_spec_causes(spec, f"{path}.spec")
    causes = list(validate_pod_spec(spec, f"{path}.spec"))
    # templates' restartPolicy is checked by the owning kind (Jobs allow only OnFailure/Never)
    return [c for c in causes if c.field != f"{path}.spec.restartPolicy"]


def _minimal_pod_spec_causes(spec: Mapping[str, Any], path: str) -> list[Cause]:
    containers = spec.get("containers")
    if not containers:
        return [errors.required(f"{path}.containers", "")]
    causes: list[Cause] = []
    for i, c in enumerate(containers):
        if not isinstance(c, dict):
            continue
        if not c.get("name"):
            causes.append(errors.required(f"{path}.containers[{i}].name", ""))
        if not c.get("image"):
            causes.append(errors.required(f"{path}.containers[{i}].image", ""))
    return causes
