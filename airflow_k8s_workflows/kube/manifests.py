"""Loading and checking Kubernetes manifests before anything is sent to a cluster.

* :func:`load_manifests` turns what a DAG author passes (a dict, a list, YAML text, a file or a
  folder) into a flat list of objects.
* :func:`validate_manifest` checks one object the way the API server would reject it: names per
  kind, namespace, labels, annotations, a few numeric ranges, container images and resource
  quantities, then the real OpenAPI schema of its kind (``kubernetes-validate``, strict:
  unknown fields are errors). A kind the package does not
  know (a custom resource) is not an error; the result says it needs the cluster's discovery.
* :func:`secret_values` / :func:`redact` tell callers what must never reach a log, XCom or a
  rendered template.

Errors are :class:`ManifestError` and read like
``Deployment/web (document 2): spec.replicas: Invalid value: -1: must be greater than or equal to 0``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_k8s_workflows.kube import naming

__all__ = [
    "ManifestCheck",
    "ManifestError",
    "check_object_name",
    "load_manifests",
    "name_errors",
    "needs_discovery",
    "object_ref",
    "redact",
    "secret_values",
    "validate_manifest",
    "validate_manifests",
]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
REDACTED = "***"


class ManifestError(ValueError):
    """A manifest that cannot be loaded or would be rejected.

    ``field`` is the path from the list of documents (``documents[1].spec.replicas``), ``path``
    the path inside the object (``spec.replicas``), ``reason`` what is wrong with it.
    ``document`` is the 1-based document number, ``source`` the file it came from, if any.
    ``parameter`` is the task argument that held the manifests (``manifests``); it leads the
    message when set (:meth:`in_parameter`).
    """

    def __init__(
        self,
        reason: str,
        *,
        field: str = "",
        path: str = "",
        document: int | None = None,
        kind: str | None = None,
        name: str | None = None,
        source: str | None = None,
        parameter: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.document = document
        self.kind = kind
        self.name = name
        self.source = source
        self.parameter = parameter
        if not field:
            field = f"documents[{document - 1}]" if document is not None else ""
            if path:
                field = f"{field}.{path}" if field else path
        self.field = field
        super().__init__(self._render())

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep every attribute across pickling (Airflow may ship exceptions between processes).
        kwargs = {
            "field": self.field,
            "path": self.path,
            "document": self.document,
            "kind": self.kind,
            "name": self.name,
            "source": self.source,
            "parameter": self.parameter,
        }
        return (_rebuild_manifest_error, (self.reason, kwargs))

    def in_parameter(self, parameter: str) -> ManifestError:
        """The same error, its message led by the task argument that held the manifests:
        ``manifests: Deployment/web (document 2): spec.replicas: ...``."""
        return ManifestError(
            self.reason, field=self.field, path=self.path, document=self.document, kind=self.kind,
            name=self.name, source=self.source, parameter=parameter,
        )  # fmt: skip

    def _render(self) -> str:
        where = ""
        if self.kind:
            where = f"{self.kind}/{self.name}" if self.name else self.kind
        if self.document is not None:
            where = f"{where} (document {self.document})" if where else f"document {self.document}"
        if self.source:
            where = f"{self.source}: {where}" if where else self.source
        body = f"{self.path}: {self.reason}" if self.path else self.reason
        text = f"{where}: {body}" if where else body
        if self.parameter and not text.startswith(self.parameter):
            text = f"{self.parameter}: {text}"
        return text


def _rebuild_manifest_error(reason: str, kwargs: dict[str, Any]) -> ManifestError:
    return ManifestError(reason, **kwargs)


@dataclass(frozen=True)
class ManifestCheck:
    """The outcome of :func:`validate_manifest` for a valid object."""

    api_version: str
    kind: str
    name: str | None
    namespace: str | None
    needs_discovery: bool
    """The schema package does not know this kind: check it against the cluster's discovery."""
    schema_version: str | None
    """The Kubernetes version whose schema the object was checked against, if any."""

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}" if self.name else self.kind


# --- loading ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _loader() -> type:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class KubernetesLoader(base):  # type: ignore[valid-type,misc]
        """Safe loader that keeps timestamps and ``=`` as strings and refuses a key given twice
        in one mapping, like sigs.k8s.io/yaml (PyYAML would silently keep the last one)."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line)
                except TypeError:
                    continue  # an unhashable key: PyYAML reports it itself
                if first != key_node.start_mark.line:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f'duplicate key "{key}" (first given on line {first + 1})',
                        key_node.start_mark,
                    )
            return super().construct_mapping(node, deep=deep)

    KubernetesLoader.yaml_implicit_resolvers = {
        first: [
            (tag, regexp)
            for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return KubernetesLoader


def load_manifests(source: Any, *, base_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Return the objects in ``source`` as a flat list of (deep-copied) dicts.

    ``source`` may be a dict, a list of dicts, YAML text (several ``---`` documents; empty ones
    are skipped), or a path to a ``.yaml``/``.yml``/``.json`` file or a folder of them (read in
    name order). A relative path is taken against ``base_dir`` (e.g. the DAG's folder), else the
    working directory. ``kind: List`` (and ``<Kind>List``) documents are flattened into their items.

    Raises :class:`ManifestError` for unreadable files, broken YAML/JSON (naming the document and
    line) and documents that are not objects.
    """
    if isinstance(source, Mapping):
        return _flatten([copy.deepcopy(dict(source))], source_name=None, first_document=1)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source, base_dir)):
        return _load_path(Path(os.fspath(source).strip()), base_dir)
    if isinstance(source, str):
        return _flatten(_parse_yaml(source, source_name=None), source_name=None, first_document=1)
    if isinstance(source, Sequence) and not isinstance(source, bytes | bytearray):
        docs: list[Any] = []
        for item in source:
            if isinstance(item, Mapping) or item is None:
                docs.append(copy.deepcopy(dict(item)) if item is not None else None)
            else:
                docs.extend(load_manifests(item, base_dir=base_dir))
        return _flatten(docs, source_name=None, first_document=1)
    raise ManifestError(
        f"manifests must be a dict, a list of dicts, YAML text or a path, got {type(source).__name__}",
        field="manifests",
    )


def _looks_like_path(text: str, base_dir: str | os.PathLike[str] | None) -> bool:
    stripped = text.strip()
    if not stripped or "\n" in stripped or ": " in stripped:
        return False
    if stripped.lower().endswith(MANIFEST_SUFFIXES) or stripped.endswith("/"):
        return True
    candidate = Path(stripped).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = Path(base_dir) / candidate
    return candidate.is_dir()


def _load_path(path: Path, base_dir: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    path = path.expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if path.is_dir():
        result: list[dict[str, Any]] = []
        for child in sorted(path.iterdir()):
            if child.is_file() and child.name.lower().endswith(MANIFEST_SUFFIXES):
                result.extend(_load_path(child, None))
        return result
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"manifest file not found: {path}", field="manifests")
    except OSError as exc:
        raise ManifestError(f"cannot read manifest file {path}: {exc.strerror or exc}", field="manifests")
    if path.suffix.lower() == ".json":
        docs = _parse_json(text, source_name=str(path))
    else:
        docs = _parse_yaml(text, source_name=str(path))
    return _flatten(docs, source_name=str(path), first_document=1)


def _parse_yaml(text: str, *, source_name: str | None) -> list[Any]:
    import yaml

    docs: list[Any] = []
    try:
        for doc in yaml.load_all(text, Loader=_loader()):
            docs.append(doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{problem} ({exc.context})"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ManifestError(f"{where}{problem}", document=len(docs) + 1, source=source_name)
    except yaml.YAMLError as exc:
        raise ManifestError(f"invalid YAML: {exc}", document=len(docs) + 1, source=source_name)
    return docs


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f'duplicate key "{key}"')
        out[key] = value
    return out


def _parse_json(text: str, *, source_name: str | None) -> list[Any]:
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"line {exc.lineno}, column {exc.colno}: {exc.msg}", document=1, source=source_name
        )
    except ValueError as exc:
        raise ManifestError(str(exc), document=1, source=source_name)
    return data if isinstance(data, list) else [data]


def _flatten(docs: list[Any], *, source_name: str | None, first_document: int) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for offset, doc in enumerate(docs):
        number = first_document + offset
        if doc is None or doc == {}:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(
                f"expected a Kubernetes object (a mapping), got {type(doc).__name__}: {_preview(doc)}",
                document=number,
                source=source_name,
            )
        result.extend(_flatten_list(doc, number=number, source_name=source_name))
    return result


def _flatten_list(doc: dict[str, Any], *, number: int, source_name: str | None) -> list[dict[str, Any]]:
    kind = doc.get("kind")
    items = doc.get("items")
    if not (isinstance(kind, str) and kind.endswith("List") and isinstance(items, list)):
        return [doc]
    item_kind = kind[: -len("List")] or None
    result: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if item is None:
            continue
        if not isinstance(item, dict):
            raise ManifestError(
                f"expected a Kubernetes object, got {type(item).__name__}: {_preview(item)}",
                path=f"items[{index}]",
                document=number,
                kind=kind,
                source=source_name,
            )
        if item_kind and "kind" not in item:
            item = {"kind": item_kind, **item}
        if "apiVersion" not in item and "apiVersion" in doc and item_kind:
            item = {"apiVersion": doc["apiVersion"], **item}
        result.extend(_flatten_list(item, number=number, source_name=source_name))
    return result


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- validation ---------------------------------------------------------------------------------


def object_ref(doc: Mapping[str, Any]) -> str:
    """``Kind/name`` (or ``Kind/generateName*``) for messages."""
    kind = doc.get("kind") if isinstance(doc.get("kind"), str) else "object"
    raw_meta = doc.get("metadata")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else None)
    return f"{kind}/{name}" if name else str(kind)


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def _name_errors(doc: Mapping[str, Any], name: str, *, prefix: bool) -> list[str]:
    """The API server's name rule for the object's kind (defaults to a DNS-1123 subdomain)."""
    group, kind = _group(str(doc.get("apiVersion", ""))), doc.get("kind")
    if (group, kind) in (("", "Namespace"), ("", "Service"), ("apps", "StatefulSet")):
        # Services: a DNS-1035 label (leading letter) unless the RelaxedServiceNameValidation
        # gate (alpha in 1.34) allows any DNS-1123 label. A pre-check must not reject what a
        # cluster may accept, so only the label rule is enforced here; a strict server answers
        # 422 with its own message for a leading digit.
        return naming.dns1123_label_errors(name, prefix=prefix)
    if group == "rbac.authorization.k8s.io" and kind in (
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    ):
        return naming.path_segment_errors(name, prefix=prefix)
    if (group, kind) in (("policy", "PodDisruptionBudget"), ("networking.k8s.io", "IPAddress")):
        return naming.path_segment_errors(name, prefix=prefix)
    errors = naming.dns1123_subdomain_errors(name, prefix=prefix)
    if (group, kind) == ("batch", "CronJob") and len(name) > 52:
        errors.append("must be no more than 52 characters")
    if (group, kind) == ("batch", "Job") and not prefix and len(name) > naming.LABEL_VALUE_MAX:
        errors.append(
            "must be no more than 63 characters (the name is the value of the pods' "
            "batch.kubernetes.io/job-name label)"
        )
    if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition") and not prefix:
        raw_spec = doc.get("spec")
        spec: Mapping[str, Any] = raw_spec if isinstance(raw_spec, Mapping) else {}
        raw_names = spec.get("names")
        names: Mapping[str, Any] = raw_names if isinstance(raw_names, Mapping) else {}
        if name != f"{names.get('plural', '')}.{spec.get('group', '')}":
            errors.append('must be spec.names.plural+"."+spec.group')
    return errors


# (group, kind) -> fields that must be >= 0, as the API server's ValidateNonnegativeField says.
_NON_NEGATIVE: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): (
        "spec.replicas",
        "spec.minReadySeconds",
        "spec.revisionHistoryLimit",
        "spec.progressDeadlineSeconds",
    ),
    ("apps", "ReplicaSet"): ("spec.replicas", "spec.minReadySeconds"),
    ("apps", "StatefulSet"): ("spec.replicas", "spec.minReadySeconds"),
    ("apps", "DaemonSet"): ("spec.minReadySeconds", "spec.revisionHistoryLimit"),
    ("", "ReplicationController"): ("spec.replicas", "spec.minReadySeconds"),
    ("batch", "Job"): (
        "spec.parallelism",
        "spec.completions",
        "spec.backoffLimit",
        "spec.activeDeadlineSeconds",
        "spec.ttlSecondsAfterFinished",
    ),
}


INT32_MAX = 2**31 - 1

# (group, kind) -> where its pod spec is
_POD_SPECS: dict[tuple[str, str], str] = {
    ("", "Pod"): "spec",
    ("", "PodTemplate"): "template.spec",
    ("", "ReplicationController"): "spec.template.spec",
    ("apps", "Deployment"): "spec.template.spec",
    ("apps", "ReplicaSet"): "spec.template.spec",
    ("apps", "StatefulSet"): "spec.template.spec",
    ("apps", "DaemonSet"): "spec.template.spec",
    ("batch", "Job"): "spec.template.spec",
    ("batch", "CronJob"): "spec.jobTemplate.spec.template.spec",
}


def name_errors(api_version: str, kind: str, name: str) -> list[str]:
    """The API server's name rule for an object of ``kind`` (empty when ``name`` is valid)."""
    return _name_errors({"apiVersion": api_version, "kind": kind}, name, prefix=False)


def check_object_name(name: Any, field: str, *, api_version: str, kind: str) -> str:
    """``name`` when it is a valid name for ``kind``; else ``ValueError("field: ...")``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{field}: must be a {kind} name, got {name!r}")
    for message in name_errors(api_version, kind, name):
        raise ValueError(f"{field}: invalid {kind} name {name!r}: {message}")
    return name


def _check_pod_spec(doc: Mapping[str, Any], group: str, kind: str, *, err: Any) -> None:
    """What the API server requires of every container beyond the schema: an image, and
    resource quantities that parse and are not negative."""
    from airflow_k8s_workflows.kube.quantities import QuantityError, parse_quantity

    where = _POD_SPECS.get((group, kind))
    spec = _get_path(doc, where) if where else None
    if not isinstance(spec, Mapping):
        return
    for key in ("initContainers", "containers"):
        containers = spec.get(key)
        if not isinstance(containers, list):
            continue
        for index, container in enumerate(containers):
            if not isinstance(container, Mapping):
                continue
            path = f"{where}.{key}[{index}]"
            image = container.get("image")
            if image is None or (isinstance(image, str) and not image.strip()):
                raise err(f"{path}.image", "Required value: every container needs an image")
            if isinstance(image, str) and image != image.strip():
                raise err(
                    f"{path}.image",
                    f"Invalid value: {json.dumps(image)}: must not have leading or trailing whitespace",
                )
            resources = container.get("resources")
            if not isinstance(resources, Mapping):
                continue
            for section in ("requests", "limits"):
                quantities = resources.get(section)
                if not isinstance(quantities, Mapping):
                    continue
                for resource, quantity in quantities.items():
                    qpath = f"{path}.resources.{section}.{resource}"
                    try:
                        value = parse_quantity(quantity)
                    except QuantityError as exc:
                        raise err(qpath, f"Invalid value: {json.dumps(_jsonable(quantity))}: {exc}")
                    if value < 0:
                        raise err(
                            qpath,
                            f"Invalid value: {json.dumps(_jsonable(quantity))}: "
                            "must be greater than or equal to 0",
                        )


def _get_path(doc: Mapping[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _check_basics(doc: Mapping[str, Any], *, err: Any) -> tuple[str, str, str | None, str | None]:
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not api_version:
        raise err("apiVersion", "Required value: every object needs apiVersion (e.g. apps/v1)")
    if not isinstance(api_version, str):
        raise err("apiVersion", f"must be a string, got {api_version!r}")
    if not kind:
        raise err("kind", "Required value: every object needs kind (e.g. Deployment)")
    if not isinstance(kind, str):
        raise err("kind", f"must be a string, got {kind!r}")
    meta = doc.get("metadata")
    if meta is None:
        raise err("metadata", "Required value: name or generateName is required")
    if not isinstance(meta, Mapping):
        raise err("metadata", f"must be an object, got {type(meta).__name__}")

    name, generate_name = meta.get("name"), meta.get("generateName")
    if name is not None and not isinstance(name, str):
        raise err("metadata.name", f"must be a string, got {name!r}")
    if generate_name is not None and not isinstance(generate_name, str):
        raise err("metadata.generateName", f"must be a string, got {generate_name!r}")
    if generate_name:
        for message in _name_errors(doc, generate_name, prefix=True):
            raise err("metadata.generateName", f"Invalid value: {json.dumps(generate_name)}: {message}")
    if not name and not generate_name:
        raise err("metadata.name", "Required value: name or generateName is required")
    if name:
        for message in _name_errors(doc, name, prefix=False):
            raise err("metadata.name", f"Invalid value: {json.dumps(name)}: {message}")

    namespace = meta.get("namespace")
    if namespace is not None:
        if not isinstance(namespace, str):
            raise err("metadata.namespace", f"must be a string, got {namespace!r}")
        if namespace:
            for message in naming.dns1123_label_errors(namespace):
                raise err("metadata.namespace", f"Invalid value: {json.dumps(namespace)}: {message}")
    return api_version, kind, name or None, namespace or None


def _check_labels(labels: Any, path: str, *, err: Any) -> None:
    if labels is None:
        return
    if not isinstance(labels, Mapping):
        raise err(path, f"must be a map of strings, got {type(labels).__name__}")
    for key, value in labels.items():
        if not isinstance(key, str):
            raise err(path, f"Invalid value: {key!r}: label keys must be strings")
        for message in naming.qualified_name_errors(key):
            raise err(path, f"Invalid value: {json.dumps(key)}: {message}")
        if not isinstance(value, str):
            raise err(
                f"{path}.{key}",
                f"must be a string, got {type(value).__name__} {value!r} (quote it in YAML)",
            )
        for message in naming.label_value_errors(value):
            raise err(path, f"Invalid value: {json.dumps(value)}: {message}")


def _check_annotations(annotations: Any, path: str, *, err: Any) -> None:
    if annotations is None:
        return
    if not isinstance(annotations, Mapping):
        raise err(path, f"must be a map of strings, got {type(annotations).__name__}")
    total = 0
    for key, value in annotations.items():
        if not isinstance(key, str):
            raise err(path, f"Invalid value: {key!r}: annotation keys must be strings")
        for message in naming.qualified_name_errors(key.lower()):
            raise err(path, f"Invalid value: {json.dumps(key)}: {message}")
        if not isinstance(value, str):
            raise err(
                f"{path}.{key}",
                f"must be a string, got {type(value).__name__} {value!r} (quote it in YAML)",
            )
        total += len(key.encode()) + len(value.encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        raise err(path, f"Too long: may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes (got {total})")


def validate_manifest(
    doc: Mapping[str, Any],
    *,
    position: int,
    kubernetes_version: str | None = None,
    source: str | None = None,
) -> ManifestCheck:
    """Check one object as the API server would; raise :class:`ManifestError` on the first problem.

    ``position`` is the 0-based index of ``doc`` in its list (errors say ``documents[1]`` and
    "document 2"). ``kubernetes_version`` (e.g. the cluster's ``1.31``) picks the schema
    version; default and anything newer than the package knows: its latest.

    Checks, in order: apiVersion and kind present; name or generateName, with the kind's name
    rule (DNS-1123 subdomain for most; DNS-1123 label for Namespace, Service and StatefulSet;
    path segment for RBAC objects and PodDisruptionBudget; ≤52 for CronJob, ≤63 for Job);
    namespace a DNS-1123 label; label keys and values; annotation keys and total size (256 KiB);
    non-negative 32-bit replicas and Job counts; every container of a pod template has an image
    and valid, non-negative resource quantities; then the kind's OpenAPI schema in strict mode.
    """
    if not isinstance(doc, Mapping):
        raise ManifestError(
            f"expected a Kubernetes object (a mapping), got {type(doc).__name__}",
            document=position + 1,
            source=source,
        )
    kind_hint = doc.get("kind") if isinstance(doc.get("kind"), str) else None
    raw_meta = doc.get("metadata")
    meta_hint: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    name_hint = meta_hint.get("name") if isinstance(meta_hint.get("name"), str) else None

    def err(path: str, reason: str) -> ManifestError:
        return ManifestError(
            reason, path=path, document=position + 1, kind=kind_hint, name=name_hint, source=source
        )

    api_version, kind, name, namespace = _check_basics(doc, err=err)
    meta = doc["metadata"]
    _check_labels(meta.get("labels"), "metadata.labels", err=err)
    _check_annotations(meta.get("annotations"), "metadata.annotations", err=err)
    template = _get_path(doc, "spec.template.metadata")
    if isinstance(template, Mapping):
        _check_labels(template.get("labels"), "spec.template.metadata.labels", err=err)
        _check_annotations(template.get("annotations"), "spec.template.metadata.annotations", err=err)
    for dotted in _NON_NEGATIVE.get((_group(api_version), kind), ()):
        value = _get_path(doc, dotted)
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise err(dotted, f"Invalid value: {value}: must be greater than or equal to 0")
        if isinstance(value, int) and not isinstance(value, bool) and value > INT32_MAX:
            raise err(dotted, f"Invalid value: {value}: must fit a 32-bit integer (at most {INT32_MAX})")
    _check_pod_spec(doc, _group(api_version), kind, err=err)

    if not _schema_known(api_version, kind, _schema_version(kubernetes_version)):
        return ManifestCheck(api_version, kind, name, namespace, needs_discovery=True, schema_version=None)
    schema_version = _validate_schema(doc, kubernetes_version, err=err)
    return ManifestCheck(
        api_version, kind, name, namespace, needs_discovery=False, schema_version=schema_version
    )


def validate_manifests(
    docs: Sequence[Mapping[str, Any]], *, kubernetes_version: str | None = None
) -> list[ManifestCheck]:
    """:func:`validate_manifest` for every document, in order; raises on the first problem."""
    return [
        validate_manifest(doc, position=index, kubernetes_version=kubernetes_version)
        for index, doc in enumerate(docs)
    ]


def needs_discovery(doc: Mapping[str, Any], *, kubernetes_version: str | None = None) -> bool:
    """True when the bundled schemas do not know ``doc``'s apiVersion and kind (a custom resource).

    Such an object must be checked against the cluster's discovery (``/apis``) instead: the
    kind may exist there, or the cluster will answer that it does not.
    """
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return False
    return not _schema_known(api_version, kind, _schema_version(kubernetes_version))


@functools.lru_cache(maxsize=64)
def _schema_version(requested: str | None) -> str:
    import kubernetes_validate

    latest: str = kubernetes_validate.latest_version()
    if not requested:
        return latest
    wanted = requested.lstrip("v").split("+")[0]
    parts = wanted.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise ValueError(f"kubernetes_version must look like 1.31, got {requested!r}")
    latest_major, latest_minor = (int(p) for p in latest.split(".")[:2])
    if (major, minor) > (latest_major, latest_minor):
        return latest
    return f"{major}.{minor}"


@functools.lru_cache(maxsize=512)
def _schema_known(api_version: str, kind: str, version: str) -> bool:
    import kubernetes_validate

    try:
        kubernetes_validate.validate({"apiVersion": api_version, "kind": kind}, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return False
    except kubernetes_validate.ValidationError as exc:
        path = list(exc.path)
        if path == ["apiVersion"] and exc.validator == "enum":
            return False  # same kind name in a built-in group: a custom resource of another group
        if not path and exc.validator == "additionalProperties":
            unexpected = set(exc.instance) - set((exc.schema or {}).get("properties", {}))
            if unexpected & {"apiVersion", "kind"}:
                return False  # a schema of a nested type (e.g. v1 Affinity), not a resource
    return True


def _validate_schema(doc: Mapping[str, Any], kubernetes_version: str | None, *, err: Any) -> str | None:
    import kubernetes_validate

    version = _schema_version(kubernetes_version)
    try:
        result: str = kubernetes_validate.validate(_jsonable(doc), version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as exc:
        raise _schema_error(exc, err=err)
    return result


def _format_path(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _schema_error(exc: Any, *, err: Any) -> ManifestError:
    parts = list(exc.path)
    path = _format_path(parts)
    if exc.validator == "additionalProperties" and isinstance(exc.instance, Mapping):
        known = set((exc.schema or {}).get("properties", {}))
        unknown = sorted(str(key) for key in exc.instance if key not in known)
        if len(unknown) == 1:
            full = _format_path([*parts, unknown[0]])
            return err(full, f'unknown field "{full}"')
        if unknown:
            listed = ", ".join(f'"{_format_path([*parts, key])}"' for key in unknown)
            return err(path, f"unknown fields {listed}")
    if exc.validator == "required" and isinstance(exc.instance, Mapping):
        missing = [key for key in exc.validator_value if key not in exc.instance]
        if missing:
            return err(_format_path([*parts, missing[0]]), "Required value")
    return err(path, str(exc.message))


def _jsonable(value: Any) -> Any:
    """YAML may give dates, sets or bytes; the API only sees JSON: compare what it would see."""
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, str) else k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# --- sensitive values ---------------------------------------------------------------------------


def _is_secret(doc: Mapping[str, Any]) -> bool:
    return doc.get("kind") == "Secret" and doc.get("apiVersion") in ("v1", None)


def secret_values(doc: Mapping[str, Any]) -> list[str]:
    """Every string in ``doc`` that must be masked: a Secret's ``data`` (both the base64 text and
    its decoded value), ``stringData``, and its last-applied-configuration annotation (which
    repeats them). Empty for other kinds. Pass each to Airflow's ``mask_secret``.
    """
    if not _is_secret(doc):
        return []
    values: list[str] = []
    for value in (doc.get("stringData") or {}).values():
        if isinstance(value, str) and value:
            values.append(value)
    for value in (doc.get("data") or {}).values():
        if not isinstance(value, str) or not value:
            continue
        values.append(value)
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if decoded:
            values.append(decoded)
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    if isinstance(annotations.get(LAST_APPLIED), str):
        values.append(annotations[LAST_APPLIED])
    return values


def redact(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``doc`` safe to log: a Secret's data/stringData values and its
    last-applied-configuration become ``***`` (keys are kept, so the shape stays readable).
    Other kinds are returned as an unchanged copy.
    """
    result: dict[str, Any] = copy.deepcopy(dict(doc))
    if not _is_secret(result):
        return result
    for field in ("data", "stringData"):
        if isinstance(result.get(field), dict):
            result[field] = dict.fromkeys(result[field], REDACTED)
    annotations = (result.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        annotations[LAST_APPLIED] = REDACTED
    return result
