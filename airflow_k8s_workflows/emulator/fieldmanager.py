"""Server-side apply and ``metadata.managedFields``, after sigs.k8s.io/structured-merge-diff.

Field sets are Python sets of paths; a path is a tuple of FieldsV1 path elements:
``f:<field>``, ``k:<json of the list-map keys>``, ``v:<json value>`` (set members), ``i:<index>``.

>>> sorted(decode_fields({"f:spec": {"f:replicas": {}}}))
[('f:spec', 'f:replicas')]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_workflows.emulator.errors import ApiError, bad_request
from airflow_k8s_workflows.emulator.schema import ANY, SchemaNode
from airflow_k8s_workflows.emulator.store import clone

Path = tuple[str, ...]

BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10
_KEY_DEFAULTS = {"protocol": "TCP"}  # the only defaulted list-map key among built-in kinds
_UNTRACKED: tuple[Path, ...] = (
    ("f:apiVersion",),
    ("f:kind",),
    *(
        ("f:metadata", f"f:{name}")
        for name in (
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "clusterName",
            "managedFields",
        )
    ),
)


# -- FieldsV1 ------------------------------------------------------------------------------------------


def decode_fields(fields: Mapping[str, Any]) -> set[Path]:
    """The paths a FieldsV1 trie owns (``{}`` leaves and ``"."`` markers)."""
    paths: set[Path] = set()

    def walk(node: Mapping[str, Any], prefix: Path) -> None:
        children = [k for k in node if k != "."]
        if prefix and ("." in node or not children):
            paths.add(prefix)
        for key in children:
            child = node[key]
            walk(child if isinstance(child, Mapping) else {}, (*prefix, key))

    walk(fields, ())
    return paths


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    """The FieldsV1 trie of a set of paths."""
    root: dict[str, Any] = {}
    members: set[Path] = set(paths)
    for path in members:
        node = root
        for element in path:
            node = node.setdefault(element, {})
    return _order_trie(root, (), members)


def _order_trie(node: dict[str, Any], prefix: Path, members: set[Path]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if node and prefix in members:
        out["."] = {}
    for key in sorted(node, key=_element_order):
        out[key] = _order_trie(node[key], (*prefix, key), members)
    return out


def _element_order(element: str) -> tuple[int, Any]:
    rank = "fkvi".find(element[:1])
    if element.startswith("i:") and element[2:].isdigit():
        return rank, int(element[2:])
    return rank, element


def path_string(path: Path) -> str:
    """A path as conflicts and errors print it: ``.spec.template.spec.containers[name="web"].image``."""
    out = []
    for element in path:
        kind, text = element[:2], element[2:]
        if kind == "f:":
            out.append("." + text)
        elif kind == "k:":
            keys = json.loads(text)
            out.append("[" + ",".join(f"{k}={_json(keys[k])}" for k in sorted(keys)) + "]")
        elif kind == "v:":
            out.append(f"[={text}]")
        else:
            out.append(f"[{text}]")
    return "".join(out)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- the typed walks: field sets, comparison, merge, removal -------------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


class _Errors:
    """Validation errors of an applied configuration, as structured-merge-diff words them."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.messages: list[str] = []

    def add(self, path: Path, message: str) -> None:
        if self.strict:
            self.messages.append(f"{path_string(path)}: {message}")


def _go_type(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    return "float64" if isinstance(value, float) else "string"


def _go_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return _json(value)


def _element(node: SchemaNode, item: Any, index: int, path: Path, errors: _Errors) -> str | None:
    """The path element of a list item; ``None`` (after recording why) when it has none."""
    list_type = node.list_type
    if list_type == "map" and node.list_map_keys:
        if not isinstance(item, dict):
            errors.add(path, f"element {index}: expected map, got {_go_value(item)}")
            return None
        items = node.items() or ANY
        keys: dict[str, Any] = {}
        for key in node.list_map_keys:
            if item.get(key) is not None:
                keys[key] = item[key]
                continue
            key_schema = items.field(key)
            default = key_schema.default if key_schema is not None else None
            if default is None and node.strategic:
                default = _KEY_DEFAULTS.get(key)
            if default is None:
                errors.add(
                    path,
                    f"element {index}: associative list with keys has an element that omits key field "
                    f'"{key}" (and doesn\'t have default value)',
                )
                if errors.strict:
                    return None
                continue
            keys[key] = default
        return "k:" + _json(dict(sorted(keys.items())))
    if list_type == "set":
        return "v:" + _json(item)
    return f"i:{index}"


def _list_elements(node: SchemaNode, values: list[Any], path: Path, errors: _Errors) -> list[str | None]:
    elements: list[str | None] = []
    seen: set[str] = set()
    for index, item in enumerate(values):
        element = _element(node, item, index, path, errors)
        if element is not None and element in seen and node.list_type != "atomic":
            errors.add(path, f"duplicate entries for key {path_string((element,))}")
        if element is not None:
            seen.add(element)
        elements.append(element)
    return elements


def _check_scalar(node: SchemaNode, value: Any, path: Path, errors: _Errors) -> None:
    if value is None or not errors.strict:
        return
    scalar = node.scalar_type
    if scalar in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.add(path, f"expected numeric (int or float), got {_go_type(value)}")
    elif scalar == "boolean":
        if not isinstance(value, bool):
            errors.add(path, f"expected boolean, got {_go_value(value)}")
    elif scalar in ("string", "date-time"):
        if not isinstance(value, str):
            errors.add(path, f"expected string, got {_go_value(value)}")
    elif isinstance(value, (dict, list)):
        errors.add(path, f"expected any scalar, got {_go_value(value)}")


def field_set(node: SchemaNode, value: Any, errors: _Errors | None = None, path: Path = ()) -> set[Path]:
    """``ToFieldSet``: every leaf, every list item and every map entry of ``value``."""
    errors = errors or _Errors(strict=False)
    out: set[Path] = set()
    _collect(node, value, path, out, errors)
    return out


def _collect(node: SchemaNode, value: Any, path: Path, out: set[Path], errors: _Errors) -> None:
    if node.kind == "any" and not isinstance(value, dict):
        out.add(path)
        return
    if node.kind == "scalar":
        _check_scalar(node, value, path, errors)
        out.add(path)
        return
    if node.kind == "list":
        if value is not None and not isinstance(value, list):
            errors.add(path, f"expected list, got {_go_value(value)}")
        if node.atomic or not isinstance(value, list):
            out.add(path)
            return
        items = node.items() or ANY
        for item, element in zip(value, _list_elements(node, value, path, errors), strict=True):
            if element is not None:
                _collect(items, item, (*path, element), out, errors)
                out.add((*path, element))
        return
    if value is not None and not isinstance(value, dict):
        errors.add(path, f"expected map, got {_go_value(value)}")
    if node.atomic or not isinstance(value, dict):
        out.add(path)
        return
    for key, child_value in value.items():
        child_path = (*path, f"f:{key}")
        child = node.field(key)
        if child is None:
            errors.add(child_path, "field not declared in schema")
            continue
        _collect(child, child_value, child_path, out, errors)
        if child_value is None or child_value == {} or not node.declares(key):
            out.add(child_path)


@dataclass
class Comparison:
    """What changed between two versions of an object (``typed.Comparison``)."""

    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    def changed(self) -> set[Path]:
        return self.added | self.modified


def compare(node: SchemaNode, lhs: Any, rhs: Any) -> Comparison:
    result = Comparison()
    _compare(node, lhs, rhs, (), result)
    return result


def _is_empty(value: Any) -> bool:
    return value is MISSING or value is None or value == {} or value == []


def _compare(node: SchemaNode, lhs: Any, rhs: Any, path: Path, result: Comparison) -> None:
    granular = _granular(node)
    fits = granular is not None and all(isinstance(v, (granular, _Missing, type(None))) for v in (lhs, rhs))
    if not fits or (_is_empty(lhs) and _is_empty(rhs)):
        if lhs is MISSING:
            result.added.add(path)
        elif rhs is MISSING:
            result.removed.add(path)
        elif lhs != rhs:
            result.modified.add(path)
        return
    if granular is list:
        _compare_items(node, _as_list(lhs), _as_list(rhs), path, result)
    else:
        left, right = _as_dict(lhs), _as_dict(rhs)
        for key in [*left, *(k for k in right if k not in left)]:
            child = node.field(key) or ANY
            _compare(child, left.get(key, MISSING), right.get(key, MISSING), (*path, f"f:{key}"), result)
    if lhs is MISSING:
        result.added.add(path)
    elif rhs is MISSING:
        result.removed.add(path)


def _granular(node: SchemaNode) -> type | None:
    """The container type whose items are tracked one by one at ``node``; ``None`` for a leaf."""
    if node.atomic:
        return None
    if node.kind == "list":
        return list
    return dict if node.kind in ("struct", "map", "any") else None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _index_items(node: SchemaNode, values: list[Any], path: Path) -> dict[str, list[Any]]:
    indexed: dict[str, list[Any]] = {}
    for item, element in zip(values, _list_elements(node, values, path, _Errors(False)), strict=True):
        if element is not None:
            indexed.setdefault(element, []).append(item)
    return indexed


def _compare_items(node: SchemaNode, lhs: list[Any], rhs: list[Any], path: Path, result: Comparison) -> None:
    items = node.items() or ANY
    left, right = _index_items(node, lhs, path), _index_items(node, rhs, path)
    for element in [*left, *(e for e in right if e not in left)]:
        lefts, rights = left.get(element, []), right.get(element, [])
        item_path = (*path, element)
        if len(lefts) <= 1 and len(rights) <= 1:
            _compare(
                items, lefts[0] if lefts else MISSING, rights[0] if rights else MISSING, item_path, result
            )
        elif lefts != rights:
            target = result.modified if lefts and rights else result.added if rights else result.removed
            target.add(item_path)


def merge(node: SchemaNode, lhs: Any, rhs: Any) -> Any:
    """Merge an applied configuration (``rhs``) into the live object: maps and list-maps merge,
    atomic values and scalars are replaced, a ``null`` in the configuration removes the field."""
    if rhs is MISSING:
        return lhs
    if node.kind == "list" and not node.atomic and isinstance(rhs, list):
        left_items = lhs if isinstance(lhs, list) else []
        if left_items or rhs:
            return _merge_items(node, left_items, rhs)
    if node.kind in ("struct", "map", "any") and not node.atomic and isinstance(rhs, dict):
        left = lhs if isinstance(lhs, dict) else {}
        out: dict[str, Any] = {}
        for key, value in left.items():
            out[key] = merge(node.field(key) or ANY, value, rhs.get(key, MISSING))
        for key, value in rhs.items():
            if key not in left:
                out[key] = merge(node.field(key) or ANY, MISSING, value)
        if node.kind != "any":
            out = {k: v for k, v in out.items() if v is not None or k not in rhs}
        return out
    return clone(rhs)


def _merge_items(node: SchemaNode, lhs: list[Any], rhs: list[Any]) -> list[Any]:
    """structured-merge-diff's list merge: configuration order for shared items, live-only items
    kept where they were, new items where the configuration puts them (after the live ones)."""
    items = node.items() or ANY
    errors = _Errors(strict=False)
    left_elements = _list_elements(node, lhs, (), errors)
    right_elements = _list_elements(node, rhs, (), errors)
    left = dict(zip(left_elements, lhs, strict=True))
    right = dict(zip(right_elements, rhs, strict=True))
    shared = iter([e for e in right_elements if e in left])
    next_shared = next(shared, None)
    out: list[Any] = []
    merged: set[str | None] = set()
    li = ri = 0
    while li < len(lhs) or ri < len(rhs):
        if li < len(lhs) and ri < len(rhs):
            element = left_elements[li]
            if element == right_elements[ri]:
                merged.add(element)
                out.append(merge(items, left[element], right[element]))
                li, ri = li + 1, ri + 1
                next_shared = next(shared, None)
                continue
            if element in right and next_shared is not None and next_shared != element:
                li += 1
                continue
        if li < len(lhs):
            element = left_elements[li]
            if element not in right:
                out.append(lhs[li])
                li += 1
                continue
            if element in merged:
                li += 1
                continue
        if ri < len(rhs):
            element = right_elements[ri]
            merged.add(element)
            out.append(merge(items, left.get(element, MISSING), right[element]))
            ri += 1
            if next_shared is not None and next_shared == element:
                next_shared = next(shared, None)
    return out


def remove_paths(node: SchemaNode, value: Any, paths: set[Path]) -> Any:
    """``RemoveItems``: drop every field, map entry and list item whose path is in ``paths``."""
    prefixes = {path[:i] for path in paths for i in range(1, len(path))}
    return _remove(node, value, (), paths, prefixes)


def _remove(node: SchemaNode, value: Any, path: Path, paths: set[Path], prefixes: set[Path]) -> Any:
    if isinstance(value, dict) and node.kind in ("struct", "map", "any"):
        out: dict[str, Any] = {}
        for key, child_value in value.items():
            child_path = (*path, f"f:{key}")
            if child_path in paths:
                continue
            if child_path in prefixes:
                child_value = _remove(node.field(key) or ANY, child_value, child_path, paths, prefixes)
            out[key] = child_value
        return out
    if isinstance(value, list) and node.kind == "list" and not node.atomic:
        items = node.items() or ANY
        kept = []
        for item, element in zip(value, _list_elements(node, value, path, _Errors(False)), strict=True):
            item_path = (*path, element) if element is not None else None
            if item_path in paths:
                continue
            if item_path is not None and item_path in prefixes:
                item = _remove(items, item, item_path, paths, prefixes)
            kept.append(item)
        return kept
    return value


def ensure_named_fields(node: SchemaNode, paths: Iterable[Path]) -> set[Path]:
    """``EnsureNamedFieldsAreMembers``: add every struct field on the way to an owned path."""
    out = set(paths)
    for path in list(out):
        current: SchemaNode | None = node
        for depth, element in enumerate(path):
            if current is None:
                break
            if element.startswith("f:"):
                name = element[2:]
                if current.declares(name):
                    out.add(path[: depth + 1])
                current = current.field(name)
            else:
                current = current.items()
    return out


# -- managers --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identity:
    manager: str
    operation: str
    api_version: str  # empty for appliers: one Apply entry per manager whatever the version
    subresource: str


@dataclass
class _Entry:
    paths: set[Path]
    api_version: str
    time: str | None


def _identity(manager: str, operation: str, api_version: str, subresource: str) -> _Identity:
    return _Identity(manager, operation, "" if operation == "Apply" else api_version, subresource)


def decode_managed_fields(entries: Any) -> dict[_Identity, _Entry] | None:
    """``None`` when ``entries`` is not a list of well-formed managedFields entries."""
    if not isinstance(entries, list):
        return None
    managers: dict[_Identity, _Entry] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("operation") not in ("Apply", "Update"):
            return None
        fields = entry.get("fieldsV1") or {}
        if not isinstance(fields, dict):
            return None
        api_version = str(entry.get("apiVersion") or "")
        identity = _identity(
            str(entry.get("manager") or ""),
            entry["operation"],
            api_version,
            str(entry.get("subresource") or ""),
        )
        managers[identity] = _Entry(decode_fields(fields), api_version, entry.get("time"))
    return managers


def encode_managed_fields(managers: Mapping[_Identity, _Entry]) -> list[dict[str, Any]]:
    entries = []
    for identity, entry in managers.items():
        if not entry.paths:
            continue
        encoded: dict[str, Any] = {
            "manager": identity.manager,
            "operation": identity.operation,
            "apiVersion": entry.api_version,
        }
        if entry.time:
            encoded["time"] = entry.time
        encoded["fieldsType"] = "FieldsV1"
        encoded["fieldsV1"] = encode_fields(entry.paths)
        if identity.subresource:
            encoded["subresource"] = identity.subresource
        entries.append(encoded)
    entries.sort(
        key=lambda e: (
            e["operation"],
            e.get("time") or "",
            e["manager"],
            e["apiVersion"],
            e.get("subresource", ""),
        )
    )
    return entries


def _print_manager(identity: _Identity, api_version: str) -> str:
    text = json.dumps(identity.manager, ensure_ascii=False)
    if identity.subresource:
        text += f" with subresource {json.dumps(identity.subresource)}"
    if identity.operation == "Update":
        text += f" using {api_version}"
    return text


def _conflict_error(conflicts: list[tuple[_Identity, str, Path]]) -> ApiError:
    """409 in the words of ``managedfields/internal.NewConflictError``."""
    conflicts.sort(key=lambda c: (c[0].manager, c[0].operation, c[0].subresource, c[2]))
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {_print_manager(who, version)}",
            "field": path_string(path),
        }
        for who, version, path in conflicts
    ]
    if len(conflicts) == 1:
        who, version, path = conflicts[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {_print_manager(who, version)}: {path_string(path)}"
        )
    else:
        lines: list[str] = []
        printed: list[str] = []
        by_manager: dict[str, list[Path]] = {}
        for who, version, path in conflicts:
            name = _print_manager(who, version)
            if name not in by_manager:
                printed.append(name)
            by_manager.setdefault(name, []).append(path)
        for name in printed:
            lines.append(f"conflicts with {name}:")
            lines.extend(f"- {path_string(p)}" for p in by_manager[name])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})


# -- what is tracked ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    subresource: str
    status_is_subresource: bool

    def tracks(self, path: Path) -> bool:
        if not path or path == ("f:metadata",):
            return False
        if any(path[: len(u)] == u for u in _UNTRACKED):
            return False
        under_status = path[0] == "f:status"
        if self.subresource == "status":
            return under_status
        return not (under_status and self.status_is_subresource)

    def filter(self, paths: Iterable[Path]) -> set[Path]:
        return {p for p in paths if self.tracks(p)}


def _without_managed_fields(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """A shallow view of ``obj`` without ``metadata.managedFields`` (clone it before mutating)."""
    out = dict(obj or {})
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def _meta(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, Mapping) else {}


# -- update -------------------------------------------------------------------------------------------------


def update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    operation: str = "Update",
    subresource: str = "",
    node: SchemaNode | None,
    api_version: str,
    now: str,
    status_is_subresource: bool = True,
) -> list[dict[str, Any]]:
    """managedFields after a create, PUT or non-apply PATCH: what the write set or changed is now
    owned by ``manager`` alone; fields it removed are no longer owned by anyone.

    A client may send managedFields itself: a non-empty list replaces the tracked ownership,
    ``[{}]`` resets it; an empty or missing list keeps what ``old`` had.
    """
    node = node or ANY
    scope = _Scope(subresource, status_is_subresource)
    sent = _meta(new).get("managedFields")
    managers: dict[_Identity, _Entry]
    if sent == [{}]:
        managers = {}
    else:
        managers = (
            (decode_managed_fields(sent) if sent else None)
            or decode_managed_fields(_meta(old).get("managedFields") or [])
            or {}
        )
    diff = compare(node, _without_managed_fields(old), _without_managed_fields(new))
    changed, removed = scope.filter(diff.changed()), scope.filter(diff.removed)
    me = _identity(manager, operation, api_version, subresource)
    for entry in managers.values():
        entry.paths -= changed | removed
    if changed:
        previous = managers.get(me)
        managers[me] = _Entry((previous.paths if previous else set()) | changed, api_version, now)
    _cap_update_managers(managers)
    return encode_managed_fields(managers)


def _cap_update_managers(managers: dict[_Identity, _Entry]) -> None:
    """Past ten Update entries the oldest ones are folded, per API version, into one
    ``ancient-changes`` entry (``managedfields/internal/capmanagers.go``)."""
    updaters = [i for i, e in managers.items() if i.operation == "Update" and e.paths]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda i: (managers[i].time or "", i.manager))
    first_of_version: dict[str, _Identity] = {}
    remaining = len(updaters)
    for identity in updaters:
        if remaining <= MAX_UPDATE_MANAGERS:
            break
        entry = managers[identity]
        bucket = _Identity(ANCIENT_CHANGES, "Update", entry.api_version, "")
        first = first_of_version.get(entry.api_version)
        if first is None:
            first_of_version[entry.api_version] = identity
            continue
        if bucket not in managers:
            managers[bucket] = managers.pop(first)
        managers[bucket] = _Entry(managers[bucket].paths | entry.paths, entry.api_version, entry.time)
        del managers[identity]
        remaining -= 1


# -- apply --------------------------------------------------------------------------------------------------


def apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    node: SchemaNode | None,
    api_version: str,
    now: str,
    subresource: str = "",
    status_is_subresource: bool = True,
) -> dict[str, Any]:
    """Server-side apply: the new object, with ``metadata.managedFields`` updated.

    ``live`` is ``None`` when the object does not exist yet (apply creates it). Fields the same
    manager applied before and leaves out now are removed unless someone else owns them; changing
    a field another manager owns is a 409 unless ``force``. As on a real server, the caller still
    resets what the endpoint may not change (status on the main resource, the rest on ``/status``).
    """
    node = node or ANY
    scope = _Scope(subresource, status_is_subresource)
    applied_meta = _meta(applied)
    if applied_meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    sent_version = applied.get("apiVersion")
    if sent_version and sent_version != api_version:
        raise bad_request(
            "Incorrect version specified in apply patch. "
            f"Specified patch version: {sent_version}, expected: {api_version}"
        )
    errors = _Errors(strict=True)
    applied_paths = scope.filter(field_set(node, applied, errors))
    if errors.messages:
        raise _typed_patch_error(applied, live, api_version, errors.messages)

    current = clone(_without_managed_fields(live))
    managers = _live_managers(node, live, current, scope, api_version)
    me = _identity(manager, "Apply", api_version, subresource)
    last = managers.get(me)
    managers[me] = _Entry(applied_paths, api_version, last.time if last else None)
    merged = merge(node, current, applied)
    if last is not None and last.paths:
        merged = _prune(node, merged, last.paths, managers)

    diff = compare(node, current, merged)
    changed, removed = scope.filter(diff.changed()), scope.filter(diff.removed)
    conflicts = [
        (identity, entry.api_version, path)
        for identity, entry in managers.items()
        if identity != me
        for path in sorted(entry.paths & changed)
    ]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for identity, entry in managers.items():
        if identity != me:
            entry.paths -= changed | removed
    if live is None or changed or removed or managers[me].time is None:
        managers[me].time = now
    _cap_update_managers(managers)
    encoded = encode_managed_fields(managers)
    meta = merged.setdefault("metadata", {})
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
    return merged


def _live_managers(
    node: SchemaNode, live: dict[str, Any] | None, current: dict[str, Any], scope: _Scope, api_version: str
) -> dict[_Identity, _Entry]:
    if live is None:
        return {}
    managers = decode_managed_fields(_meta(live).get("managedFields") or [])
    if managers:
        return managers
    # an object nobody tracked yet: its current content belongs to "before-first-apply"
    owned = scope.filter(compare(node, {}, current).changed())
    identity = _identity(BEFORE_FIRST_APPLY, "Update", api_version, "")
    return {identity: _Entry(owned, api_version, None)} if owned else {}


def _prune(node: SchemaNode, merged: Any, last: set[Path], managers: Mapping[_Identity, _Entry]) -> Any:
    """Remove what the applier owned last time and no longer applies, unless anyone (including
    the applier's new configuration) still owns it or something below it."""
    owned: set[Path] = set()
    for entry in managers.values():
        owned |= entry.paths
    keep = ensure_named_fields(node, owned)
    drop = {
        path
        for path in ensure_named_fields(node, last)
        if path not in keep and not any(path[: len(u)] == u for u in _UNTRACKED) and path != ("f:metadata",)
    }
    return remove_paths(node, merged, drop)


def _typed_patch_error(
    applied: Mapping[str, Any], live: Mapping[str, Any] | None, api_version: str, messages: list[str]
) -> ApiError:
    meta = _meta(applied) or _meta(live)
    group, _, version = api_version.rpartition("/")
    where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {group}/{version}, Kind={applied.get('kind', '')}"
    detail = messages[0] if len(messages) == 1 else "errors:\n  " + "\n  ".join(messages)
    return ApiError(500, "", f"failed to create typed patch object ({where}): {detail}")
