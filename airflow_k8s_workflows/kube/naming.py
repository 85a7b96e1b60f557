"""Names and labels: the syntax the API server enforces, and deterministic names for task instances.

A task that creates an object names it from ``(dag_id, task_id, run_id, map_index)`` and
labels it with the same values, so that a retry, a re-run after a worker crash, or a
deferrable resume finds (adopts) what exists instead of creating a twin.

* :func:`resource_name` — a DNS-1123 label: a readable prefix from the DAG and task ids plus a
  stable hash of all four values. Default length limit 57, so that Job pods
  (``generateName: <job>-`` cut to 58 characters + 5 random ones) are ``<job>-xxxxx`` and an
  Indexed Job's pod hostnames ``<job>-<index>`` fit in 63 characters.
* :func:`task_labels` — ``airflow-k8s-workflows.io/{dag-id,task-id,run-id,map-index,try-number}``
  (no map-index for an unmapped task: ``-1`` is not a valid label value)
  as valid label values (sanitised, with a hash suffix when they had to change) and
  ``airflow-k8s-workflows.io/ti-hash``, the exact key :func:`selector_for` selects on.
* :func:`task_annotations` — the raw, unsanitised values (annotations take any string).

The syntax checks (``dns1123_label_errors`` and friends) return the API server's own
messages (``k8s.io/apimachinery/pkg/util/validation``) so that callers can report them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANNOTATION_PREFIX",
    "LABEL_PREFIX",
    "MANAGED_BY",
    "TaskIdentity",
    "check_namespace",
    "dns1035_label_errors",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "identity_from_object",
    "image_reference_errors",
    "label_value_errors",
    "path_segment_errors",
    "qualified_name_errors",
    "resource_name",
    "sanitize_label_value",
    "selector_for",
    "stamp",
    "task_annotations",
    "task_labels",
]

LABEL_PREFIX = "airflow-k8s-workflows.io/"
ANNOTATION_PREFIX = "airflow-k8s-workflows.io/"
MANAGED_BY = "airflow-k8s-workflows"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"

DAG_ID_KEY = LABEL_PREFIX + "dag-id"
TASK_ID_KEY = LABEL_PREFIX + "task-id"
RUN_ID_KEY = LABEL_PREFIX + "run-id"
MAP_INDEX_KEY = LABEL_PREFIX + "map-index"
TRY_NUMBER_KEY = LABEL_PREFIX + "try-number"
HASH_KEY = LABEL_PREFIX + "ti-hash"

# --- the API server's syntax rules (apimachinery/pkg/util/validation/validation.go) -------------

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
QUALIFIED_NAME_MAX = 63

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"

_DNS1123_LABEL_RE = re.compile("^" + _DNS1123_LABEL_FMT + "$")
_DNS1123_SUBDOMAIN_RE = re.compile("^" + _DNS1123_SUBDOMAIN_FMT + "$")
_DNS1035_LABEL_RE = re.compile("^" + _DNS1035_LABEL_FMT + "$")
_QUALIFIED_NAME_RE = re.compile("^" + _QUALIFIED_NAME_FMT + "$")
_LABEL_VALUE_RE = re.compile("^" + _LABEL_VALUE_FMT + "$")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Go's validation.RegexError, double blanks included.
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    parts = [f"'{example}', " for example in examples]
    return f"{msg} (e.g. {' or '.join(parts)}regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _mask_trailing_dash(name: str) -> str:
    # apimachinery's maskTrailingDash: a generateName prefix may end with '-'.
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def dns1123_label_errors(value: str, *, prefix: bool = False) -> list[str]:
    """Errors for a DNS-1123 label (Namespace, Service, StatefulSet names); empty when valid.

    ``prefix=True`` checks a ``generateName`` prefix, which may end with ``-``.
    """
    if prefix:
        value = _mask_trailing_dash(value)
    errors = []
    if len(value) > DNS1123_LABEL_MAX:
        errors.append(_max_len_error(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL_RE.match(value):
        errors.append(
            _regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                _DNS1123_LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return errors


def dns1123_subdomain_errors(value: str, *, prefix: bool = False) -> list[str]:
    """Errors for a DNS-1123 subdomain (the name rule of most kinds); empty when valid."""
    if prefix:
        value = _mask_trailing_dash(value)
    errors = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errors.append(_max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errors.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                "'-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errors


def dns1035_label_errors(value: str, *, prefix: bool = False) -> list[str]:
    """Errors for a DNS-1035 label (starts with a letter); empty when valid."""
    if prefix:
        value = _mask_trailing_dash(value)
    errors = []
    if len(value) > DNS1123_LABEL_MAX:
        errors.append(_max_len_error(DNS1123_LABEL_MAX))
    if not _DNS1035_LABEL_RE.match(value):
        errors.append(
            _regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character",
                _DNS1035_LABEL_FMT,
                "my-name",
                "abc-123",
            )
        )
    return errors


def path_segment_errors(value: str, *, prefix: bool = False) -> list[str]:
    """Errors for a name that must only be a valid URL path segment (RBAC objects, PDBs)."""
    errors = []
    if not prefix and value in (".", ".."):
        errors.append(f"may not be '{value}'")
    for forbidden in ("/", "%"):
        if forbidden in value:
            errors.append(f"may not contain '{forbidden}'")
    return errors


def qualified_name_errors(value: str) -> list[str]:
    """Errors for a label or annotation key (``[prefix/]name``); empty when valid."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        key_prefix, name = parts
        if not key_prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + msg for msg in dns1123_subdomain_errors(key_prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character",
                _QUALIFIED_NAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errors.append("name part " + _max_len_error(QUALIFIED_NAME_MAX))
    if name and not _QUALIFIED_NAME_RE.match(name):
        errors.append(
            "name part "
            + _regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character",
                _QUALIFIED_NAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """Errors for a label value (≤63, alphanumerics plus ``-_.`` inside, may be empty)."""
    errors = []
    if len(value) > LABEL_VALUE_MAX:
        errors.append(_max_len_error(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.match(value):
        errors.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errors


def check_namespace(value: Any, field: str = "namespace") -> str | None:
    """``value`` when it is None/empty (use the default) or a valid namespace (a DNS-1123
    label); else ``ValueError("namespace: invalid namespace 'x': ...")``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field}: must be a namespace name (a string), got {value!r}")
    for message in dns1123_label_errors(value):
        raise ValueError(f"{field}: invalid namespace {value!r}: {message}")
    return value


def image_reference_errors(value: Any) -> list[str]:
    """What is wrong with a container image reference as a task argument (empty when usable):
    it must be a non-empty string without whitespace (the registry tells about the rest)."""
    if not isinstance(value, str) or not value.strip():
        return [f"must be a non-empty image reference, got {value!r}"]
    if any(ch.isspace() for ch in value):
        return [f"must not contain whitespace, got {value!r}"]
    return []


# --- deterministic names and labels for task instances ------------------------------------------

_NAME_HASH_LEN = 10
_LABEL_HASH_LEN = 8
DEFAULT_NAME_MAX = 57


def _digest(*values: object) -> str:
    payload = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _dns_chunk(value: str) -> str:
    chunk = re.sub(r"[^a-z0-9]+", "-", value.lower())
    return chunk.strip("-")


def resource_name(
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int = -1,
    *,
    max_length: int = DEFAULT_NAME_MAX,
) -> str:
    """A deterministic DNS-1123 (and DNS-1035) label for the objects one task instance creates.

    ``"<dag>-<task>-<hash>"``, lowercase, cut so it never exceeds ``max_length`` (≤63) and never
    ends with ``-``; the 10-hex-digit hash covers all four values, so two runs or two mapped
    indexes never share a name while every try of one task instance does. The name starts with
    a letter, so it is also a valid Service name on clusters that still require DNS-1035.
    """
    if not 16 <= max_length <= DNS1123_LABEL_MAX:
        raise ValueError(f"max_length must be between 16 and {DNS1123_LABEL_MAX}, got {max_length}")
    digest = _digest(dag_id, task_id, run_id, map_index)[:_NAME_HASH_LEN]
    readable = "-".join(part for part in (_dns_chunk(dag_id), _dns_chunk(task_id)) if part)
    if not readable or not readable[0].isalpha():
        readable = ("af-" + readable).rstrip("-")
    readable = readable[: max_length - _NAME_HASH_LEN - 1].rstrip("-")
    return f"{readable}-{digest}"


def sanitize_label_value(value: str) -> str:
    """``value`` itself when it is a valid label value, else a valid one that stays unique.

    Runs of invalid characters become ``-``, the ends are trimmed to alphanumerics, and when
    anything had to change (or the value was too long) an 8-hex-digit hash of the original is
    appended, so two different raw values never map to the same label value.
    """
    if not label_value_errors(value):
        return value
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)
    cleaned = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)
    suffix = _digest(value)[:_LABEL_HASH_LEN]
    cleaned = cleaned[: LABEL_VALUE_MAX - _LABEL_HASH_LEN - 1]
    cleaned = re.sub(r"[^A-Za-z0-9]+$", "", cleaned)
    return f"{cleaned}-{suffix}" if cleaned else suffix


@dataclass(frozen=True)
class TaskIdentity:
    """The Airflow task instance an object belongs to."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int | None = None

    @property
    def ti_hash(self) -> str:
        """A 16-hex-digit hash of (dag_id, task_id, run_id, map_index); the selection key."""
        return _digest(self.dag_id, self.task_id, self.run_id, self.map_index)[:16]

    def name(self, *, max_length: int = DEFAULT_NAME_MAX) -> str:
        """See :func:`resource_name`."""
        return resource_name(self.dag_id, self.task_id, self.run_id, self.map_index, max_length=max_length)

    def labels(self) -> dict[str, str]:
        """See :func:`task_labels`."""
        labels = {
            MANAGED_BY_LABEL: MANAGED_BY,
            DAG_ID_KEY: sanitize_label_value(self.dag_id),
            TASK_ID_KEY: sanitize_label_value(self.task_id),
            RUN_ID_KEY: sanitize_label_value(self.run_id),
            HASH_KEY: self.ti_hash,
        }
        if self.map_index >= 0:
            # "-1" is no valid label value; an unmapped task simply has no map-index label
            labels[MAP_INDEX_KEY] = str(self.map_index)
        if self.try_number is not None:
            labels[TRY_NUMBER_KEY] = str(self.try_number)
        return labels

    def annotations(self) -> dict[str, str]:
        """See :func:`task_annotations`."""
        annotations = {
            DAG_ID_KEY: self.dag_id,
            TASK_ID_KEY: self.task_id,
            RUN_ID_KEY: self.run_id,
            MAP_INDEX_KEY: str(self.map_index),
        }
        if self.try_number is not None:
            annotations[TRY_NUMBER_KEY] = str(self.try_number)
        return annotations

    def selector(self) -> str:
        """See :func:`selector_for`."""
        return ",".join(
            f"{key}={value}"
            for key, value in self.labels().items()
            if key in (DAG_ID_KEY, TASK_ID_KEY, HASH_KEY)
        )

    def owns(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` carries this task instance's hash label (any try)."""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return bool(labels.get(HASH_KEY) == self.ti_hash)


def task_labels(
    dag_id: str, task_id: str, run_id: str, map_index: int = -1, try_number: int | None = None
) -> dict[str, str]:
    """Labels identifying a task instance; every value is a valid label value.

    ``app.kubernetes.io/managed-by: airflow-k8s-workflows`` is included; :func:`stamp` only sets
    it when the object does not already say who manages it.
    """
    return TaskIdentity(dag_id, task_id, run_id, map_index, try_number).labels()


def task_annotations(
    dag_id: str, task_id: str, run_id: str, map_index: int = -1, try_number: int | None = None
) -> dict[str, str]:
    """The raw identity values (annotations accept any string)."""
    return TaskIdentity(dag_id, task_id, run_id, map_index, try_number).annotations()


def selector_for(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """The label selector that matches exactly the objects of one task instance (all tries)."""
    return TaskIdentity(dag_id, task_id, run_id, map_index).selector()


_POD_TEMPLATE_KINDS = {"Job", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}


def stamp(obj: Mapping[str, Any], identity: TaskIdentity, *, pod_template: bool = True) -> dict[str, Any]:
    """A deep copy of ``obj`` labelled and annotated with ``identity``.

    Existing labels win for ``app.kubernetes.io/managed-by``; our own keys are overwritten. With
    ``pod_template`` (default) the pod template of a Job/Deployment/StatefulSet/DaemonSet/ReplicaSet
    gets the same labels (not the try number, which would roll a Deployment on every retry),
    so its pods can be found by task instance too. Selectors are never touched.
    """
    result: dict[str, Any] = copy.deepcopy(dict(obj))
    _stamp_meta(result.setdefault("metadata", {}), identity.labels(), identity.annotations())
    if pod_template and result.get("kind") in _POD_TEMPLATE_KINDS:
        template = result.setdefault("spec", {}).setdefault("template", {})
        labels = identity.labels()
        labels.pop(TRY_NUMBER_KEY, None)
        annotations = identity.annotations()
        annotations.pop(TRY_NUMBER_KEY, None)
        _stamp_meta(template.setdefault("metadata", {}), labels, annotations)
    return result


def _stamp_meta(meta: dict[str, Any], labels: dict[str, str], annotations: dict[str, str]) -> None:
    existing = meta.get("labels") or {}
    merged = dict(existing)
    for key, value in labels.items():
        if key == MANAGED_BY_LABEL:
            merged.setdefault(key, value)
        else:
            merged[key] = value
    meta["labels"] = merged
    meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}


def identity_from_object(obj: Mapping[str, Any]) -> TaskIdentity | None:
    """Read back the task instance from an object's annotations, or ``None`` if it has none."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        dag_id = annotations[DAG_ID_KEY]
        task_id = annotations[TASK_ID_KEY]
        run_id = annotations[RUN_ID_KEY]
        map_index = int(annotations.get(MAP_INDEX_KEY, "-1"))
    except (KeyError, ValueError):
        return None
    try_raw = annotations.get(TRY_NUMBER_KEY)
    try_number = int(try_raw) if try_raw is not None and try_raw.lstrip("-").isdigit() else None
    return TaskIdentity(dag_id, task_id, run_id, map_index, try_number)
