"""The Kubernetes OpenAPI schema, as the API server uses it to decode, patch and track objects.

Built-in kinds come from the strict JSON schemas that ``kubernetes_validate`` ships (loaded once,
lazily); custom resources wrap their CRD's ``openAPIV3Schema`` with :meth:`SchemaNode.from_openapi_v3`.

>>> index = SchemaIndex.default()
>>> index.root("apps/v1", "Deployment").field("spec").field("replicas").go_type
'int32'
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from airflow_k8s_workflows.emulator.errors import ApiError, bad_request

NodeKind = Literal["struct", "map", "list", "scalar", "any"]
ListType = Literal["atomic", "set", "map"]

_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
QUANTITY_FORMAT_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1), "int": (-(2**63), 2**63 - 1)}


class _Tree:
    """Resolves ``$ref``s and caches one node per raw schema dict of one schema document."""

    def __init__(self, defs: Mapping[str, Any], *, strategic: bool, builtin: bool) -> None:
        self.defs = defs
        self.strategic = strategic
        self.builtin = builtin
        self._nodes: dict[int, tuple[Mapping[str, Any], SchemaNode]] = {}

    def node(self, raw: Mapping[str, Any]) -> SchemaNode:
        cached = self._nodes.get(id(raw))
        if cached is None:
            cached = (raw, SchemaNode(self, raw))
            self._nodes[id(raw)] = cached
        return cached[1]


class SchemaNode:
    """One place in a schema: a struct, a map, a list, a scalar, or anything (untyped JSON)."""

    def __init__(
        self, tree: _Tree, raw: Mapping[str, Any], *, extra_fields: Mapping[str, SchemaNode] | None = None
    ) -> None:
        self._tree = tree
        self.def_name: str | None = None
        spec: dict[str, Any] = {}
        ref = raw.get("$ref")
        if isinstance(ref, str):
            self.def_name = ref.rsplit("/", 1)[-1]
            spec.update(tree.defs.get(self.def_name, {}))
        spec.update((k, v) for k, v in raw.items() if k not in ("$ref", "description"))
        self._spec = spec
        self._extra = dict(extra_fields or {})
        if spec.get("x-kubernetes-embedded-resource") and not tree.builtin and not self._extra:
            self._extra = _resource_fields()
        self.kind: NodeKind = self._classify()

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_openapi_v3(cls, schema: Mapping[str, Any]) -> SchemaNode:
        """A custom resource's root: its CRD ``openAPIV3Schema`` plus the implicit apiVersion/kind/metadata."""
        return cls(_Tree({}, strategic=False, builtin=False), schema, extra_fields=_resource_fields())

    # -- classification -----------------------------------------------------------------------

    def _classify(self) -> NodeKind:
        s = self._spec
        types = s.get("type")
        types = {types} if isinstance(types, str) else set(types or ())
        if self.def_name in (_INT_OR_STRING, _QUANTITY) or s.get("x-kubernetes-int-or-string"):
            return "scalar"
        if "properties" in s or self._extra:
            return "struct"
        if "object" in types:
            extra = s.get("additionalProperties")
            if isinstance(extra, Mapping) or extra is True:
                return "map"
            if s.get("x-kubernetes-preserve-unknown-fields"):
                return "any"
            if self._tree.builtin and extra is None:
                return "any"  # RawExtension, FieldsV1, JSON: free-form
            return "struct"
        if "array" in types:
            return "list"
        if types & {"string", "integer", "number", "boolean"}:
            return "scalar"
        return "any"

    # -- navigation ---------------------------------------------------------------------------

    @property
    def strategic(self) -> bool:
        """Whether strategic merge patch applies (built-in kinds only)."""
        return self._tree.strategic

    @property
    def preserve_unknown_fields(self) -> bool:
        return self.kind == "any" or bool(self._spec.get("x-kubernetes-preserve-unknown-fields"))

    def fields(self) -> list[str]:
        props = self._spec.get("properties") or {}
        return [*self._extra, *(name for name in props if name not in self._extra)]

    def declares(self, name: str) -> bool:
        return self.kind == "struct" and (name in self._extra or name in (self._spec.get("properties") or {}))

    def field(self, name: str) -> SchemaNode | None:
        """The schema of ``name`` inside this node; ``None`` when the field is unknown here."""
        if self.kind == "struct":
            if name in self._extra:
                return self._extra[name]
            raw = (self._spec.get("properties") or {}).get(name)
            if raw is not None:
                return self._tree.node(raw)
            return ANY if self._spec.get("x-kubernetes-preserve-unknown-fields") else None
        if self.kind == "map":
            return self.values()
        if self.kind == "any":
            return ANY
        return None

    def values(self) -> SchemaNode | None:
        """The schema of a map's values."""
        extra = self._spec.get("additionalProperties")
        if self.kind != "map":
            return None
        return self._tree.node(extra) if isinstance(extra, Mapping) else ANY

    def items(self) -> SchemaNode | None:
        """The schema of a list's elements."""
        if self.kind != "list":
            return None
        raw = self._spec.get("items")
        return self._tree.node(raw) if isinstance(raw, Mapping) else ANY

    # -- list and map semantics -----------------------------------------------------------------

    @property
    def patch_strategies(self) -> frozenset[str]:
        if not self.strategic:
            return frozenset()
        raw = self._spec.get("x-kubernetes-patch-strategy") or ""
        return frozenset(part.strip() for part in raw.split(",") if part.strip())

    @property
    def patch_merge_key(self) -> str | None:
        return self._spec.get("x-kubernetes-patch-merge-key") if self.strategic else None

    @property
    def list_type(self) -> ListType:
        """How server-side apply treats the list: explicit ``x-kubernetes-list-type``, else derived
        from the strategic-merge metadata like structured-merge-diff does."""
        explicit = self._spec.get("x-kubernetes-list-type")
        if explicit in ("atomic", "set", "map"):
            return explicit
        if "merge" in self.patch_strategies:
            return "map" if self.patch_merge_key else "set"
        return "atomic"

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        keys = self._spec.get("x-kubernetes-list-map-keys")
        if keys:
            return tuple(keys)
        key = self.patch_merge_key
        return (key,) if key else ()

    @property
    def atomic(self) -> bool:
        """Whether server-side apply owns this value as a whole (atomic list, atomic map, scalar)."""
        if self.kind == "scalar":
            return True
        if self.kind == "list":
            return self.list_type == "atomic"
        return self._spec.get("x-kubernetes-map-type") == "atomic"

    @property
    def default(self) -> Any:
        return self._spec.get("default")

    # -- scalar and Go type information ------------------------------------------------------------

    @property
    def scalar_type(self) -> str | None:
        """``int-or-string``, ``quantity``, ``date-time``, ``string``, ``integer``, ``number``, ``boolean``."""
        if self.kind != "scalar":
            return None
        if self.def_name == _INT_OR_STRING or self._spec.get("x-kubernetes-int-or-string"):
            return "int-or-string"
        if self.def_name == _QUANTITY:
            return "quantity"
        types = self._spec.get("type")
        types = [types] if isinstance(types, str) else [t for t in (types or ()) if t != "null"]
        base = types[0] if types else "string"
        if base == "string" and self._spec.get("format") == "date-time":
            return "date-time"
        return str(base)

    @property
    def go_type(self) -> str:
        """The Go type the API server decodes into, as ``encoding/json`` names it in errors."""
        if self.kind == "list":
            items = self.items()
            return "[]" + (items.go_type if items else "interface {}")
        if self.kind == "map":
            values = self.values()
            return "map[string]" + (values.go_type if values else "interface {}")
        if (self.def_name and self.kind != "scalar") or self.def_name in (_INT_OR_STRING, _QUANTITY):
            return _go_qualified(self.def_name or "")
        if self.kind == "any":
            return "interface {}"
        scalar = self.scalar_type
        fmt = self._spec.get("format")
        if scalar == "integer":
            return fmt if fmt in ("int32", "int64") else "int"
        if scalar == "number":
            return "float64"
        if scalar == "boolean":
            return "bool"
        if scalar == "date-time" and self.def_name:
            return _go_qualified(self.def_name)
        return "[]uint8" if fmt == "byte" else "string"

    @property
    def go_struct(self) -> str:
        """The bare Go struct name (``DeploymentSpec``) used as context in decoding errors."""
        return (self.def_name or "").rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        return f"SchemaNode({self.kind}, {self.def_name or '<inline>'})"


def _go_qualified(def_name: str) -> str:
    parts = def_name.split(".")
    return ".".join(parts[-2:])


ANY = SchemaNode(_Tree({}, strategic=False, builtin=False), {"x-kubernetes-preserve-unknown-fields": True})


def _resource_fields() -> dict[str, SchemaNode]:
    string = SchemaNode(_Tree({}, strategic=False, builtin=False), {"type": "string"})
    meta = SchemaIndex.default().definition(_OBJECT_META)
    return {"apiVersion": string, "kind": string, "metadata": meta or ANY}


class SchemaIndex:
    """All built-in definitions, addressable by name or by (apiVersion, kind)."""

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self._tree = _Tree(definitions, strategic=True, builtin=True)
        self._refs: dict[str, dict[str, str]] = {}
        self._by_gvk: dict[tuple[str, str], str] = {}
        for name, body in definitions.items():
            for gvk in body.get("x-kubernetes-group-version-kind") or ():
                group, version = gvk.get("group", ""), gvk.get("version", "")
                api_version = f"{group}/{version}" if group else version
                self._by_gvk.setdefault((api_version, gvk.get("kind", "")), name)

    @classmethod
    def default(cls) -> SchemaIndex:
        """The newest schema ``kubernetes_validate`` ships, loaded once per process."""
        return _default_index()

    def definition(self, name: str) -> SchemaNode | None:
        if name not in self._tree.defs:
            return None
        ref = self._refs.setdefault(name, {"$ref": f"#/$defs/{name}"})
        return self._tree.node(ref)

    def root(self, api_version: str, kind: str) -> SchemaNode | None:
        name = self._by_gvk.get((api_version, kind))
        return self.definition(name) if name else None


@functools.cache
def _default_index() -> SchemaIndex:
    return SchemaIndex(json.loads(_definitions_path().read_text(encoding="utf-8"))["$defs"])


def _definitions_path() -> Path:
    import kubernetes_validate

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    candidates = [p for p in base.glob("v*-local-strict") if (p / "_definitions.json").is_file()]
    if not candidates:
        raise FileNotFoundError(f"no strict Kubernetes schema under {base}")
    newest = max(candidates, key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.name)[:3]))
    return newest / "_definitions.json"


# -- unknown fields --------------------------------------------------------------------------------


def unknown_fields(node: SchemaNode, obj: Any) -> list[str]:
    """Paths of fields the schema does not declare, as strict decoding names them
    (``spec.template.spec.containers[0].imagee``): in document order for built-in kinds, sorted
    for custom resources (whose pruning reports them that way)."""
    found: list[str] = []
    _collect_unknown(node, obj, "", found)
    return found if node.strategic else sorted(found)


def _collect_unknown(node: SchemaNode, value: Any, path: str, found: list[str]) -> None:
    if node.kind == "any":
        return
    if node.kind == "list" and isinstance(value, list):
        items = node.items()
        for i, item in enumerate(value):
            if items is not None:
                _collect_unknown(items, item, f"{path}[{i}]", found)
        return
    if node.kind not in ("struct", "map") or not isinstance(value, dict):
        return
    for key, child_value in value.items():
        child_path = f"{path}.{key}" if path else key
        child = node.field(key)
        if child is None:
            found.append(child_path)
        else:
            _collect_unknown(child, child_value, child_path, found)


def strict_decoding_message(paths: Iterable[str]) -> str:
    """``strict decoding error: unknown field "a", unknown field "b"``."""
    return "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in paths)


def strict_decoding_error(paths: Iterable[str], kind: str, version: str) -> ApiError:
    """The 400 a create/update with ``fieldValidation=Strict`` (kubectl's default) answers."""
    return bad_request(cannot_be_handled(kind, version, strict_decoding_message(paths)))


def cannot_be_handled(kind: str, version: str, reason: str) -> str:
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {reason}'


def prune_unknown(node: SchemaNode, obj: Any) -> Any:
    """A copy of ``obj`` without the fields the schema does not declare (``fieldValidation=Ignore``)."""
    if node.kind == "any":
        return obj
    if node.kind == "list" and isinstance(obj, list):
        items = node.items()
        return [prune_unknown(items, item) if items else item for item in obj]
    if node.kind in ("struct", "map") and isinstance(obj, dict):
        pruned: dict[str, Any] = {}
        for key, value in obj.items():
            child = node.field(key)
            if child is not None:
                pruned[key] = prune_unknown(child, value)
        return pruned
    return obj


# -- JSON type errors --------------------------------------------------------------------------------


class _TypeErrors:
    """Mimics Go's ``encoding/json``: a plain type mismatch is remembered (the first one wins) and
    decoding goes on; an error from a custom unmarshaler (IntOrString, Quantity, Time) stops it."""

    def __init__(self) -> None:
        self.saved: str | None = None
        self.fatal: str | None = None

    def mismatch(
        self, json_kind: str, go_type: str, struct: str, path: list[str], fatal: bool = False
    ) -> None:
        if struct:
            text = f"json: cannot unmarshal {json_kind} into Go struct field {struct}.{'.'.join(path)} of type {go_type}"
        else:
            text = f"json: cannot unmarshal {json_kind} into Go value of type {go_type}"
        self.record(text, fatal)

    def record(self, text: str, fatal: bool) -> None:
        if fatal:
            self.fatal = self.fatal or text
        else:
            self.saved = self.saved or text


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _number_literal(value: float) -> str:
    return json.dumps(value)


def type_errors(node: SchemaNode, obj: Any, kind: str, version: str) -> ApiError | None:
    """The 400 BadRequest a built-in kind answers when a value has the wrong JSON type, e.g.
    ``Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string
    into Go struct field DeploymentSpec.spec.replicas of type int32``. ``None`` when the types fit
    (and always for custom resources, whose values are checked by schema validation instead)."""
    if not node.strategic:
        return None
    errors = _TypeErrors()
    if isinstance(obj, dict):
        _check_fields(node, obj, [], errors)
    else:
        errors.mismatch(_json_kind(obj), node.go_type, "", [])
    message = errors.fatal or errors.saved
    return bad_request(cannot_be_handled(kind, version, message)) if message else None


def _check_fields(node: SchemaNode, obj: dict[str, Any], path: list[str], errors: _TypeErrors) -> None:
    for key, value in obj.items():
        child = node.field(key) if node.kind == "struct" else None
        if child is not None:
            _check_value(child, value, [*path, key], node.go_struct, errors)


def _check_value(node: SchemaNode, value: Any, path: list[str], struct: str, errors: _TypeErrors) -> None:
    if value is None or node.kind == "any":
        return
    if node.kind == "scalar":
        _check_scalar(node, value, path, struct, errors)
    elif node.kind == "struct":
        if isinstance(value, dict):
            _check_fields(node, value, path, errors)
        else:
            errors.mismatch(_json_kind(value), node.go_type, struct, path)
    elif node.kind == "map":
        values = node.values()
        if not isinstance(value, dict):
            errors.mismatch(_json_kind(value), node.go_type, struct, path)
        elif values is not None:
            for item in value.values():
                _check_value(values, item, path, struct, errors)
    elif node.kind == "list":
        items = node.items()
        if not isinstance(value, list):
            errors.mismatch(_json_kind(value), node.go_type, struct, path)
        elif items is not None:
            for item in value:
                _check_value(items, item, path, struct, errors)


def _check_scalar(node: SchemaNode, value: Any, path: list[str], struct: str, errors: _TypeErrors) -> None:
    scalar = node.scalar_type
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if scalar == "quantity":
        text = str(value).strip() if is_number or isinstance(value, str) else json.dumps(value)
        if not _QUANTITY_RE.match(text):
            errors.record(QUANTITY_FORMAT_ERROR, fatal=True)
    elif scalar == "int-or-string":
        if isinstance(value, str):
            return
        _check_integer(value, "int32", path, struct, errors, fatal=True)
    elif scalar == "date-time":
        if not isinstance(value, str):
            errors.mismatch(_json_kind(value), "string", struct, path, fatal=True)
    elif scalar == "integer":
        _check_integer(value, node.go_type, path, struct, errors)
    elif scalar == "number":
        if not is_number:
            errors.mismatch(_json_kind(value), node.go_type, struct, path)
    elif scalar == "boolean":
        if not isinstance(value, bool):
            errors.mismatch(_json_kind(value), node.go_type, struct, path)
    elif not isinstance(value, str):
        errors.mismatch(_json_kind(value), node.go_type, struct, path)


def _check_integer(
    value: Any, go_type: str, path: list[str], struct: str, errors: _TypeErrors, fatal: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.mismatch(_json_kind(value), go_type, struct, path, fatal)
        return
    low, high = _INT_RANGES.get(go_type, _INT_RANGES["int64"])
    if isinstance(value, float) or not low <= value <= high:
        errors.mismatch(f"number {_number_literal(value)}", go_type, struct, path, fatal)
