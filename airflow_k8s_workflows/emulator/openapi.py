"""/openapi/v3: per group-version OpenAPI 3 documents built from the real Kubernetes schemas.

kubectl reads them to learn that the server validates fields itself (the ``fieldValidation``
query parameter on PATCH) and to compute strategic-merge patches for ``kubectl apply``.
CRDs contribute their ``openAPIV3Schema``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from .registry import Registry, ResourceType

Obj = dict[str, Any]
_REF_PREFIX = "#/$defs/"
_COMPONENT_PREFIX = "#/components/schemas/"

_PATCH_TYPES_BUILTIN = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_PATCH_TYPES_CUSTOM = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)


@functools.lru_cache(maxsize=1)
def _definitions() -> dict[str, Obj]:
    from .schema_files import definitions_path

    with open(definitions_path()) as f:
        return dict(json.load(f)["$defs"])


def _convert(node: Any) -> Any:
    """JSON-schema flavour (``type: [x, "null"]``, ``#/$defs/``) to OpenAPI 3 as the server serves it."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: Obj = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_REF_PREFIX):
            out["allOf"] = [{"$ref": _COMPONENT_PREFIX + value[len(_REF_PREFIX) :]}]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out["type"] = types[0] if len(types) == 1 else types
        elif key == "oneOf" and _is_scalar_union(value):
            out["type"] = "string"
            kinds = {t for alt in value for t in _types(alt)}
            out["format"] = "int-or-string" if "integer" in kinds else "quantity" if "number" in kinds else ""
            if not out["format"]:
                out.pop("format")
        else:
            out[key] = _convert(value)
    return out


def _types(alt: Any) -> list[str]:
    t = alt.get("type") if isinstance(alt, dict) else None
    return t if isinstance(t, list) else [t] if t else []


def _is_scalar_union(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(a, dict) and set(a) <= {"type"} for a in value)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_REF_PREFIX):
                yield value[len(_REF_PREFIX) :]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _closure(names: list[str]) -> list[str]:
    defs = _definitions()
    seen: set[str] = set()
    stack = [n for n in names if n in defs]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(r for r in _refs(defs[name]) if r not in seen and r in defs)
    return sorted(seen)


def _definition_name(rt: ResourceType) -> str | None:
    for name, schema in _definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            if (
                gvk.get("group") == rt.group
                and gvk.get("version") == rt.version
                and gvk.get("kind") == rt.kind
            ):
                return name
    return None


def _custom_definition_name(rt: ResourceType) -> str:
    reversed_group = ".".join(reversed(rt.group.split(".")))
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _gvk(rt: ResourceType) -> Obj:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _op(
    rt: ResourceType,
    action: str,
    schema_ref: str | None,
    params: list[Obj],
    patch_types: tuple[str, ...] = (),
) -> Obj:
    op: Obj = {
        "operationId": f"{action}{rt.kind}",
        "parameters": params,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rt),
    }
    if schema_ref:
        content = {"schema": {"$ref": _COMPONENT_PREFIX + schema_ref}}
        op["responses"]["200"]["content"] = {"application/json": content}
        if action in ("post", "put"):
            op["requestBody"] = {"content": {"*/*": content}, "required": True}
    if action == "patch":
        patch_schema = {"schema": {"$ref": _COMPONENT_PREFIX + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}
        op["requestBody"] = {"content": dict.fromkeys(patch_types, patch_schema), "required": True}
    return op


def _q(name: str, kind: str = "string") -> Obj:
    return {"name": name, "in": "query", "schema": {"type": kind, "uniqueItems": True}}


_WRITE_PARAMS = [_q("dryRun"), _q("fieldManager"), _q("fieldValidation")]
_LIST_PARAMS = [_q("labelSelector"), _q("fieldSelector"), _q("limit", "integer"), _q("continue"),
                _q("resourceVersion"), _q("resourceVersionMatch"), _q("sendInitialEvents", "boolean"),
                _q("timeoutSeconds", "integer"), _q("watch", "boolean"), _q("allowWatchBookmarks", "boolean")]  # fmt: skip


def _paths_for(rt: ResourceType, schema_ref: str | None) -> dict[str, Obj]:
    root = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    base = f"{root}/namespaces/{{namespace}}/{rt.resource}" if rt.namespaced else f"{root}/{rt.resource}"
    patch_types = _PATCH_TYPES_CUSTOM if rt.crd_schema is not None else _PATCH_TYPES_BUILTIN
    paths: dict[str, Obj] = {
        base: {
            "get": _op(rt, "list", None, _LIST_PARAMS),
            "post": _op(rt, "post", schema_ref, _WRITE_PARAMS),
            "delete": _op(rt, "deletecollection", None, [_q("dryRun"), _q("propagationPolicy")]),
        },
        base + "/{name}": {
            "get": _op(rt, "get", schema_ref, []),
            "put": _op(rt, "put", schema_ref, _WRITE_PARAMS),
            "patch": _op(rt, "patch", schema_ref, [*_WRITE_PARAMS, _q("force", "boolean")], patch_types),
            "delete": _op(
                rt,
                "delete",
                None,
                [_q("dryRun"), _q("gracePeriodSeconds", "integer"), _q("propagationPolicy")],
            ),
        },
    }
    for sub in rt.subresources:
        if sub.name == "status":
            paths[f"{base}/{{name}}/status"] = {
                "get": _op(rt, "get", schema_ref, []),
                "put": _op(rt, "put", schema_ref, _WRITE_PARAMS),
                "patch": _op(rt, "patch", schema_ref, [*_WRITE_PARAMS, _q("force", "boolean")], patch_types),
            }
    return paths


class OpenApiV3:
    """Serves ``/openapi/v3`` and ``/openapi/v3/{api|apis/group}/{version}``."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._cache: dict[tuple[str, str, tuple[int, ...]], tuple[Obj, str]] = {}

    def __call__(self, path: str) -> Obj | None:
        parts = [p for p in path.split("/") if p]
        if parts == ["openapi", "v3"]:
            return self.index()
        if parts[:2] != ["openapi", "v3"]:
            return None
        rest = parts[2:]
        if rest[:1] == ["api"] and len(rest) == 2:
            return self.document("", rest[1])
        if rest[:1] == ["apis"] and len(rest) == 3:
            return self.document(rest[1], rest[2])
        return None

    def index(self) -> Obj:
        paths = {}
        for group, versions in self.registry.group_versions().items():
            for version in versions:
                key = f"apis/{group}/{version}" if group else f"api/{version}"
                entry = self._entry(group, version)
                if entry is not None:
                    paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={entry[1]}"}
        return {"paths": paths}

    def document(self, group: str, version: str) -> Obj | None:
        entry = self._entry(group, version)
        return entry[0] if entry is not None else None

    def _entry(self, group: str, version: str) -> tuple[Obj, str] | None:
        types = self.registry.types_in(group, version)
        if not types:
            return None
        cache_key = (group, version, tuple(id(t) for t in types))
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        defs = _definitions()
        roots: list[str] = ["io.k8s.apimachinery.pkg.apis.meta.v1.Patch", "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                            "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]  # fmt: skip
        paths: dict[str, Obj] = {}
        schemas: dict[str, Obj] = {}
        for rt in types:
            if rt.crd_schema is not None:
                name = _custom_definition_name(rt)
                schema = _convert(rt.crd_schema)
                schema = {**schema, "x-kubernetes-group-version-kind": [_gvk(rt)]}
                props = dict(schema.get("properties") or {})
                props.setdefault(
                    "metadata",
                    {
                        "allOf": [
                            {"$ref": _COMPONENT_PREFIX + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
                        ]
                    },
                )
                schema["properties"] = props
                schemas[name] = schema
                roots.append("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
                paths.update(_paths_for(rt, name))
                continue
            builtin = _definition_name(rt)
            if builtin is not None:
                roots.append(builtin)
            paths.update(_paths_for(rt, builtin))
        for name in _closure(roots):
            schemas[name] = _convert(defs[name])
        doc = {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.37.0"},
            "paths": paths,
            "components": {"schemas": schemas},
        }
        digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()
        self._cache = {k: v for k, v in self._cache.items() if k[:2] != (group, version)}
        self._cache[cache_key] = (doc, digest)
        return doc, digest
