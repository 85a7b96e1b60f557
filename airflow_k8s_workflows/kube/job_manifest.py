"""Building and checking the batch/v1 Job a task runs, before anything is sent to a cluster.

A task describes its Job either as a whole manifest (:func:`load_job_manifest`) or with the
shorthand arguments (:func:`build_job`: image, command, env, resources, counts...). Either way
:func:`finalize_job` gives it its deterministic name, namespace and task-instance labels.
Every problem raises :class:`JobArgumentError`, whose message starts with the argument at
fault (``backoff_limit: must be >= 0, got -1``)::

    job = build_job({"image": "python:3.12", "cmds": ["python", "-c", "print(1)"], "backoff_limit": 2})
    job = finalize_job(job, name="etl-daily-1a2b3c4d5e", namespace="batch", identity=identity)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_k8s_workflows.kube import naming
from airflow_k8s_workflows.kube.quantities import QuantityError, parse_quantity

__all__ = [
    "CLEANUP_MODES",
    "COMPLETION_MODES",
    "MAIN_CONTAINER",
    "SHORTHAND_FIELDS",
    "JobArgumentError",
    "build_job",
    "check_cleanup",
    "check_job_name",
    "check_no_conflict",
    "finalize_job",
    "load_job_manifest",
    "main_container",
    "pod_selector",
]

SHORTHAND_FIELDS = (
    "image",
    "cmds",
    "arguments",
    "env_vars",
    "env_from",
    "container_resources",
    "node_selector",
    "tolerations",
    "service_account_name",
    "labels",
    "annotations",
    "backoff_limit",
    "active_deadline_seconds",
    "parallelism",
    "completions",
    "completion_mode",
    "ttl_seconds_after_finished",
)
"""Arguments that describe the Job piece by piece; none of them may come with a manifest."""

COMPLETION_MODES = ("NonIndexed", "Indexed")
CLEANUP_MODES = ("on_success", "always", "never")
MAIN_CONTAINER = "main"
"""The container name the shorthand gives its one container."""

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

# spec field -> (argument name, smallest allowed value), as the API server validates them
_COUNTS = {
    "backoffLimit": ("backoff_limit", 0),
    "activeDeadlineSeconds": ("active_deadline_seconds", 1),
    "parallelism": ("parallelism", 0),
    "completions": ("completions", 0),
    "ttlSecondsAfterFinished": ("ttl_seconds_after_finished", 0),
}


class JobArgumentError(ValueError):
    """An argument that cannot make a valid Job; ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.reason))


def _given(value: Any) -> bool:
    return value is not None and value != [] and value != {} and value != ""


def check_no_conflict(job_manifest: Any, shorthand: Mapping[str, Any]) -> None:
    """A manifest describes the whole Job: refuse shorthand arguments next to it."""
    if job_manifest is None:
        return
    clashing = [field for field in SHORTHAND_FIELDS if _given(shorthand.get(field))]
    if clashing:
        raise JobArgumentError(
            clashing[0],
            "cannot be combined with job_manifest (the manifest describes the whole Job); "
            f"put it into the manifest instead (also given: {', '.join(clashing[1:])})"
            if len(clashing) > 1
            else "cannot be combined with job_manifest (the manifest describes the whole Job); "
            "put it into the manifest instead",
        )


def check_cleanup(cleanup: Any) -> str:
    if cleanup not in CLEANUP_MODES:
        raise JobArgumentError("cleanup", f"must be one of {', '.join(CLEANUP_MODES)}, got {cleanup!r}")
    return str(cleanup)


def check_job_name(name: Any, field: str = "name") -> str:
    """A Job name: a DNS-1123 subdomain of at most 63 characters (it is its pods' label value)."""
    if not isinstance(name, str) or not name.strip():
        raise JobArgumentError(field, f"must be a non-empty string, got {name!r}")
    name = name.strip()
    errors = naming.dns1123_subdomain_errors(name)
    if len(name) > naming.LABEL_VALUE_MAX and not errors:
        errors = [f"must be no more than {naming.LABEL_VALUE_MAX} characters"]
    if errors:
        raise JobArgumentError(field, f"invalid Job name {name!r}: {errors[0]}")
    return name


# -- shorthand -----------------------------------------------------------------------------------


def _int(field: str, value: Any, minimum: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = int(value)  # a rendered template
    if isinstance(value, bool) or not isinstance(value, int):
        raise JobArgumentError(field, f"must be an integer, got {value!r}")
    if value < minimum:
        raise JobArgumentError(field, f"must be >= {minimum}, got {value}")
    return value


def _str_list(field: str, value: Any, *, single_ok: bool) -> list[str]:
    if isinstance(value, str):
        if single_ok:
            return [value]
        raise JobArgumentError(
            field, f"must be a list of strings (e.g. ['sh', '-c', 'echo hi']), got the string {value!r}"
        )
    if not isinstance(value, Sequence):
        raise JobArgumentError(field, f"must be a list of strings, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            out.append(str(item))
        else:
            raise JobArgumentError(f"{field}[{i}]", f"must be a string, got {item!r}")
    return out


def _camel(key: str) -> str:
    head, *rest = key.lstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _plain(value: Any) -> Any:
    """A ``kubernetes.client`` model (``V1EnvVar``...) or a dict as the API's JSON shape."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, Mapping):
        value = _camelize(to_dict())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _camelize(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_camel(str(k)): _camelize(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_camelize(v) for v in value]
    return value


def _env_vars(value: Any) -> list[dict[str, Any]]:
    field = "env_vars"
    if isinstance(value, Mapping):
        items: list[Any] = []
        for name, spec in value.items():
            if isinstance(spec, Mapping) or hasattr(spec, "to_dict"):
                items.append({"name": name, **_plain(spec)})
            else:
                items.append({"name": name, "value": spec})
    elif isinstance(value, Sequence) and not isinstance(value, str):
        items = [_plain(item) for item in value]
    else:
        raise JobArgumentError(
            field, f"must be a dict of name: value or a list of env var dicts, got {type(value).__name__}"
        )
    out = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]" if not isinstance(value, Mapping) else f"{field}.{item.get('name')}"
        if not isinstance(item, Mapping):
            raise JobArgumentError(where, f"must be a dict with name and value or valueFrom, got {item!r}")
        name = item.get("name")
        if not isinstance(name, str) or not name or "=" in name:
            raise JobArgumentError(where, f"invalid environment variable name {name!r}")
        env = dict(item)
        if "value" in env:
            raw = env["value"]
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise JobArgumentError(where, f"value must be a string, got {raw!r}")
            env["value"] = str(raw)
        elif "valueFrom" not in env:
            raise JobArgumentError(where, "needs a value or a valueFrom")
        out.append(env)
    return out


def _dict_list(field: str, value: Any) -> list[dict[str, Any]]:
    if isinstance(value, Mapping | str) or not isinstance(value, Sequence):
        raise JobArgumentError(field, f"must be a list of dicts, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        plain = _plain(item)
        if not isinstance(plain, Mapping):
            raise JobArgumentError(f"{field}[{i}]", f"must be a dict, got {item!r}")
        out.append(dict(plain))
    return out


def _str_map(field: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise JobArgumentError(field, f"must be a dict of strings, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise JobArgumentError(f"{field}.{key}", f"must be a string, got {item!r}")
    return dict(value)


def _resources(value: Any) -> dict[str, Any]:
    field = "container_resources"
    plain = _plain(value)
    if not isinstance(plain, Mapping):
        raise JobArgumentError(
            field, f"must be a dict with requests and/or limits, got {type(value).__name__}"
        )
    unknown = sorted(set(plain) - {"requests", "limits", "claims"})
    if unknown:
        raise JobArgumentError(f"{field}.{unknown[0]}", "unknown key; use requests, limits (and claims)")
    out: dict[str, Any] = {}
    for section in ("requests", "limits"):
        quantities = plain.get(section)
        if quantities is None:
            continue
        if not isinstance(quantities, Mapping):
            raise JobArgumentError(
                f"{field}.{section}", "must be a dict such as {'cpu': '500m', 'memory': '1Gi'}"
            )
        checked = {}
        for resource, quantity in quantities.items():
            try:
                amount = parse_quantity(quantity)
            except (QuantityError, TypeError, ValueError) as exc:
                raise JobArgumentError(
                    f"{field}.{section}.{resource}", f"invalid quantity {quantity!r}: {exc}"
                )
            if amount < 0:
                raise JobArgumentError(
                    f"{field}.{section}.{resource}", f"must be greater than or equal to 0, got {quantity!r}"
                )
            checked[str(resource)] = str(quantity)
        out[section] = checked
    if plain.get("claims") is not None:
        out["claims"] = plain["claims"]
    return out


def build_job(args: Mapping[str, Any]) -> dict[str, Any]:
    """A Job manifest (no name yet) from the shorthand arguments (``SHORTHAND_FIELDS``).

    One container named ``main`` runs ``image`` with ``cmds`` as its command and ``arguments``
    as its args, ``restartPolicy: Never`` (a failed pod is replaced, and counts against
    ``backoff_limit``). Unset counts keep the API server's defaults.
    """
    image = args.get("image")
    for problem in naming.image_reference_errors(image):
        raise JobArgumentError("image", problem)
    container: dict[str, Any] = {"name": MAIN_CONTAINER, "image": image}
    if _given(args.get("cmds")):
        container["command"] = _str_list("cmds", args["cmds"], single_ok=False)
    if _given(args.get("arguments")):
        container["args"] = _str_list("arguments", args["arguments"], single_ok=True)
    if _given(args.get("env_vars")):
        container["env"] = _env_vars(args["env_vars"])
    if _given(args.get("env_from")):
        container["envFrom"] = _dict_list("env_from", args["env_from"])
    if _given(args.get("container_resources")):
        container["resources"] = _resources(args["container_resources"])

    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if _given(args.get("node_selector")):
        pod_spec["nodeSelector"] = _str_map("node_selector", args["node_selector"])
    if _given(args.get("tolerations")):
        pod_spec["tolerations"] = _dict_list("tolerations", args["tolerations"])
    account = args.get("service_account_name")
    if _given(account):
        errors = (
            naming.dns1123_subdomain_errors(account) if isinstance(account, str) else ["must be a string"]
        )
        if errors:
            raise JobArgumentError("service_account_name", f"invalid name {account!r}: {errors[0]}")
        pod_spec["serviceAccountName"] = account

    labels = _str_map("labels", args["labels"]) if _given(args.get("labels")) else {}
    annotations = _str_map("annotations", args["annotations"]) if _given(args.get("annotations")) else {}
    meta: dict[str, Any] = {}
    template_meta: dict[str, Any] = {}
    if labels:
        meta["labels"] = dict(labels)
        template_meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
        template_meta["annotations"] = dict(annotations)

    spec: dict[str, Any] = {}
    for key, (field, minimum) in _COUNTS.items():
        if args.get(field) is not None:
            spec[key] = _int(field, args[field], minimum)
    mode = args.get("completion_mode")
    if mode is not None:
        if mode not in COMPLETION_MODES:
            raise JobArgumentError(
                "completion_mode", f"must be one of {', '.join(COMPLETION_MODES)}, got {mode!r}"
            )
        spec["completionMode"] = mode
        if mode == "Indexed" and spec.get("completions") is None:
            raise JobArgumentError("completions", "is required when completion_mode is Indexed")
    spec["template"] = {"metadata": template_meta, "spec": pod_spec} if template_meta else {"spec": pod_spec}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


# -- manifest ------------------------------------------------------------------------------------


def load_job_manifest(source: Any, *, base_dir: str | None = None) -> dict[str, Any]:
    """The one batch/v1 Job in ``source`` (dict, YAML/JSON text or a file path)."""
    from airflow_k8s_workflows.kube.manifests import ManifestError, load_manifests

    try:
        docs = load_manifests(source, base_dir=base_dir)
    except ManifestError as exc:
        raise JobArgumentError("job_manifest", str(exc))
    if len(docs) != 1:
        raise JobArgumentError("job_manifest", f"must hold exactly one Job, found {len(docs)} objects")
    doc = docs[0]
    if doc.get("kind") != "Job" or doc.get("apiVersion") != "batch/v1":
        raise JobArgumentError(
            "job_manifest", f"must be a batch/v1 Job, got {doc.get('apiVersion')!r} {doc.get('kind')!r}"
        )
    meta = doc.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise JobArgumentError("job_manifest.metadata", "must be a dict")
    if meta.get("generateName") and not meta.get("name"):
        raise JobArgumentError(
            "job_manifest.metadata.generateName",
            "is not supported: the Job is named deterministically so that a retry adopts it instead of "
            "starting a twin; set metadata.name (or the name argument), or leave both out",
        )
    return doc


def finalize_job(
    body: Mapping[str, Any],
    *,
    name: str | None,
    namespace: str,
    identity: naming.TaskIdentity,
) -> dict[str, Any]:
    """``body`` named, placed in ``namespace`` and stamped with the task instance's labels.

    The name is ``name``, else the manifest's ``metadata.name``, else the deterministic
    :func:`~airflow_k8s_workflows.kube.naming.resource_name` of the task instance.
    """
    meta = body.get("metadata") or {}
    declared = meta.get("name")
    if name and declared and name != declared:
        raise JobArgumentError(
            "name", f"{name!r} differs from the manifest's metadata.name {declared!r}; give only one"
        )
    declared_ns = meta.get("namespace")
    if declared_ns and declared_ns != namespace:
        raise JobArgumentError(
            "namespace",
            f"{namespace!r} differs from the manifest's metadata.namespace {declared_ns!r}; give only one",
        )
    if name:
        final_name = check_job_name(name, "name")
    elif declared:
        final_name = check_job_name(declared, "job_manifest.metadata.name")
    else:
        final_name = identity.name()
    job = naming.stamp(body, identity)
    job["metadata"].pop("generateName", None)
    job["metadata"]["name"] = final_name
    job["metadata"]["namespace"] = namespace
    return job


def main_container(job: Mapping[str, Any]) -> str | None:
    """The container whose output is the Job's result: the pod template's
    ``kubectl.kubernetes.io/default-container``, else the first container."""
    template = (job.get("spec") or {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    preferred = annotations.get(DEFAULT_CONTAINER_ANNOTATION)
    containers = (template.get("spec") or {}).get("containers") or []
    names = [c.get("name") for c in containers if isinstance(c, Mapping)]
    if preferred in names:
        return str(preferred)
    return str(names[0]) if names and names[0] else None


def pod_selector(job: Mapping[str, Any]) -> str:
    """The label selector of the Job's pods (its ``spec.selector``, else its controller uid)."""
    selector = (job.get("spec") or {}).get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    if parts:
        return ",".join(parts)
    uid = (job.get("metadata") or {}).get("uid")
    return f"batch.kubernetes.io/controller-uid={uid}"
