"""The PATCH content types: JSON patch, JSON merge patch and strategic merge patch.

Strategic merge follows ``k8s.io/apimachinery/pkg/util/strategicpatch`` (``mergeMap`` and friends),
including its list ordering rules, so kubectl's 3-way patches land exactly as on a real cluster.
Server-side apply (``application/apply-patch+yaml``) lives in :mod:`.fieldmanager`.
"""

from __future__ import annotations

import json
from typing import Any

import jsonpatch
import jsonpointer

from airflow_k8s_workflows.emulator.errors import ApiError, bad_request
from airflow_k8s_workflows.emulator.schema import ANY, SchemaNode
from airflow_k8s_workflows.emulator.store import clone

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

BUILTIN_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
CUSTOM_RESOURCE_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)
MAX_JSON_PATCH_OPERATIONS = 10000

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER = "$setElementOrder"

_ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"


def unsupported_media_type(accepted: tuple[str, ...]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def media_type(content_type: str) -> str:
    """The media type of a ``Content-Type`` header, without its parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def patch_type(content_type: str, node: SchemaNode | None) -> str:
    """The patch type of a ``Content-Type`` header; 415 for anything the resource does not accept
    (strategic merge is refused for custom resources, i.e. when ``node`` is not a built-in kind)."""
    media = media_type(content_type)
    accepted = BUILTIN_PATCH_TYPES if node is not None and node.strategic else CUSTOM_RESOURCE_PATCH_TYPES
    if media not in accepted:
        raise unsupported_media_type(accepted)
    return media


def apply_patch(obj: dict[str, Any], body: Any, content_type: str, node: SchemaNode | None) -> Any:
    """Apply a JSON, merge or strategic merge patch body (already JSON-decoded) to ``obj``."""
    media = patch_type(content_type, node)
    if media == JSON_PATCH:
        return json_patch(obj, body)
    if media == MERGE_PATCH:
        return merge_patch(obj, body)
    if media == STRATEGIC_MERGE_PATCH and node is not None:
        return strategic_merge_patch(obj, body, node)
    raise ValueError(f"{media} is server-side apply: use fieldmanager.apply")


# -- RFC 6902 ------------------------------------------------------------------------------------------


def json_patch(obj: Any, ops: Any) -> Any:
    """RFC 6902. A failing operation answers what the API server answers: 422 ``Invalid`` with the
    generic message; the failing operation's own error is added as the single cause."""
    if ops is None:
        return clone(obj)
    if not isinstance(ops, list):
        raise bad_request(f"json: cannot unmarshal {_json_kind(ops)} into Go value of type jsonpatch.Patch")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise ApiError(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}",
        )
    result = clone(obj)
    for op in ops:
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
            raise ApiError(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request",
                {"causes": [{"message": _operation_error(op, exc)}]},
            ) from exc
    return result


def _operation_error(op: Any, exc: Exception) -> str:
    """evanphx/json-patch's wording for the failing operation."""
    if not isinstance(op, dict):
        return f"Unexpected kind: {_json_kind(op)}"
    kind, path = op.get("op", ""), op.get("path", "")
    if isinstance(exc, jsonpatch.JsonPatchTestFailed):
        return f"testing value {path} failed: test failed"
    if kind not in ("add", "remove", "replace", "move", "copy", "test"):
        return f"Unexpected kind: {kind}"
    if "path" not in op:
        return f"{kind} operation does not apply: missing path"
    return f'{kind} operation does not apply: doc is missing path: "{path}": missing value'


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else "null"


# -- RFC 7386 ------------------------------------------------------------------------------------------


def merge_patch(obj: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        raise bad_request("Invalid JSON Patch")
    return _merge_patch_value(obj, patch)


def _merge_patch_value(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch_value(result.get(key), value)
    return result


# -- strategic merge patch ---------------------------------------------------------------------------------


class _PatchError(Exception):
    """A strategicpatch error; ``code`` is what the API server turns it into."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def api_error(self) -> ApiError:
        if self.code == 400:
            return bad_request(self.message)
        if self.code == 422:
            return ApiError(
                422, "Invalid", "the server rejected our request due to an error in our request", {}
            )
        # a plain Go error: ErrorToAPIStatus makes it a 500 with reason StatusReasonUnknown ("")
        return ApiError(500, "", self.message)


def strategic_merge_patch(obj: dict[str, Any], patch: Any, node: SchemaNode) -> dict[str, Any]:
    """Apply a strategic merge patch the way ``strategicpatch.StrategicMergeMapPatch`` does."""
    if not node.strategic:
        raise unsupported_media_type(CUSTOM_RESOURCE_PATCH_TYPES)
    if patch is None:
        return clone(obj)
    if not isinstance(patch, dict):
        raise bad_request(
            f"json: cannot unmarshal {_json_kind(patch)} into Go value of type map[string]interface {{}}"
        )
    try:
        return _merge_map(clone(obj), clone(patch), node)
    except _PatchError as exc:
        raise exc.api_error() from exc


def _merge_map(original: dict[str, Any], patch: dict[str, Any], node: SchemaNode) -> dict[str, Any]:
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            return {k: v for k, v in patch.items() if k != _DIRECTIVE}
        if directive == "delete":
            return {}
        raise _PatchError(f"unknown patch type: {_go(directive)} in map: {_go(patch)}")
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, node)
    for key, patch_value in patch.items():
        field, is_delete_list = key, False
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            field, is_delete_list = (
                _directive_target(key, _DELETE_FROM_PRIMITIVE_LIST, _ERR_PRIMITIVE_LIST),
                True,
            )
        if patch_value is None:
            original.pop(field, None)
            continue
        if is_delete_list:
            _delete_from_primitive_list(original, field, patch_value)
            continue
        child = _child(node, field)
        if field not in original:
            _set_fresh(original, field, patch_value, child)
            continue
        current = original[field]
        if _container(current) != _container(patch_value):
            original[field] = _fresh(patch_value, child)
        elif isinstance(current, dict):
            if "replace" in child.patch_strategies:
                original[field] = patch_value
            else:
                original[field] = _merge_map(current, patch_value, child)
        elif isinstance(current, list) and "merge" in child.patch_strategies:
            original[field] = _merge_list(current, patch_value, child)
        else:
            original[field] = patch_value
    return original


def _child(node: SchemaNode, field: str) -> SchemaNode:
    return node.field(field) or ANY


def _container(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    return "list" if isinstance(value, list) else "scalar"


def _set_fresh(original: dict[str, Any], field: str, value: Any, node: SchemaNode) -> None:
    if isinstance(value, dict) and value.get(_DIRECTIVE) == "delete":
        return
    original[field] = _fresh(value, node)


def _fresh(value: Any, node: SchemaNode) -> Any:
    """A patch value for a field the object lacks, with its directives resolved against nothing.
    (apimachinery copies it verbatim and lets decoding drop the directive keys.)"""
    if isinstance(value, dict):
        return _merge_map({}, value, node)
    if isinstance(value, list):
        items = node.items() or ANY
        return [_fresh(v, items) for v in value if not (isinstance(v, dict) and _DIRECTIVE in v)]
    return value


def _delete_from_primitive_list(original: dict[str, Any], field: str, deletions: Any) -> None:
    """``$deleteFromPrimitiveList/<field>``: drop those values from the list, whatever its patch
    strategy; a list the object lacks stays absent (recent apimachinery, see its test fixtures)."""
    if not isinstance(deletions, list):
        raise _PatchError(_ERR_PRIMITIVE_LIST, 400)
    current = original.get(field)
    if isinstance(current, list):
        original[field] = [v for v in current if not any(_same(v, d) for d in deletions)]


def _directive_target(key: str, prefix: str, error: str) -> str:
    head, sep, tail = key.partition("/")
    if not sep or head != prefix:
        raise _PatchError(error, 400)
    return tail


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise _PatchError(_ERR_RETAIN_KEYS, 400)
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
            continue
        if key not in retain:
            raise _PatchError(_ERR_RETAIN_KEYS, 400)
    for key in [k for k in original if k not in retain]:
        del original[key]


# -- lists -------------------------------------------------------------------------------------------------


def _merge_list(original: list[Any], patch: list[Any], node: SchemaNode) -> list[Any]:
    return _merge_list_raw(original, patch, node)[0]


def _merge_list_raw(original: list[Any], patch: list[Any], node: SchemaNode) -> tuple[list[Any], list[Any]]:
    """``mergeSlice``: the ordered result, and the unordered merge of the surviving original
    items followed by the appended patch items (needed by ``$setElementOrder``, see there)."""
    if not original and not patch:
        return original, original
    element = _element_kind(original, patch)
    if element != "map":
        merged = _dedupe(original + patch)
        patch_items, server_only = _partition(merged, patch, None)
        return _normalize_order(patch_items, server_only, patch, original, None), original
    merge_key = node.patch_merge_key
    if not merge_key:
        raise _PatchError("cannot merge lists without merge key for type map")
    original, patch, replaced = _special_elements(original, patch, merge_key)
    items = node.items() or ANY
    merged = list(original)
    for element_patch in patch:
        if merge_key not in element_patch:
            raise _no_merge_key(element_patch, merge_key)
        index = _find(merged, merge_key, element_patch[merge_key])
        if index is None:
            merged.append(_merge_map({}, element_patch, items))
        else:
            merged[index] = _merge_map(merged[index], element_patch, items)
    if replaced:
        merged = [_merge_map({}, v, items) for v in original]
    patch_items, server_only = _partition(merged, patch, merge_key)
    return _normalize_order(patch_items, server_only, patch, original, merge_key), merged


def _special_elements(
    original: list[Any], patch: list[Any], merge_key: str
) -> tuple[list[Any], list[Any], bool]:
    plain: list[Any] = []
    replace = False
    for element in patch:
        if _DIRECTIVE not in element:
            plain.append(element)
            continue
        directive = element[_DIRECTIVE]
        if directive == "delete":
            if merge_key not in element:
                raise _no_merge_key(element, merge_key)
            original = [
                o
                for o in original
                if not (merge_key in _map_item(o) and _same(o[merge_key], element[merge_key]))
            ]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise _PatchError(f"unknown patch type: {_go(directive)} in map: {_go(element)}")
    if replace:
        return plain, [], True
    return original, plain, False


class _Missing:
    pass


_MISSING = _Missing()


def _map_item(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _PatchError("value for key is not a map.")
    return value


def _find(items: list[Any], merge_key: str, value: Any) -> int | None:
    for index, item in enumerate(items):
        if merge_key in _map_item(item) and _same(item[merge_key], value):
            return index
    return None


def _no_merge_key(element: dict[str, Any], merge_key: str) -> _PatchError:
    return _PatchError(f"map: {_go(element)} does not contain declared merge key: {merge_key}")


def _element_kind(*lists: list[Any]) -> str:
    """``sliceElementType``: every element must have the same (non-list) kind."""
    kinds = {_scalar_kind(v) for values in lists for v in values}
    if "slice" in kinds:
        raise _PatchError("lists of lists are not supported", 422)
    if len(kinds) > 1:
        raise _PatchError(f"list element types are not identical: {_go(list(lists))}")
    return kinds.pop() if kinds else "map"


def _scalar_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string" if isinstance(value, str) else "nil"


def _same(a: Any, b: Any) -> bool:
    return _scalar_kind(a) == _scalar_kind(b) and a == b


def _dedupe(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if not any(_same(value, seen) for seen in out):
            out.append(value)
    return out


def _key_of(item: Any, merge_key: str | None) -> Any:
    if merge_key is None:
        return item
    return item.get(merge_key, _MISSING) if isinstance(item, dict) else _MISSING


def _index(order: list[Any], item: Any, merge_key: str | None) -> int:
    wanted = _key_of(item, merge_key)
    for position, candidate in enumerate(order):
        if _same(_key_of(candidate, merge_key), wanted):
            return position
    return -1


def _partition(merged: list[Any], by: list[Any], merge_key: str | None) -> tuple[list[Any], list[Any]]:
    """Split ``merged`` into the items present in ``by`` and the server-only ones."""
    present: list[Any] = []
    server_only: list[Any] = []
    for item in merged:
        if merge_key is not None and merge_key not in _map_item(item):
            raise _no_merge_key(item, merge_key)
        (present if _index(by, item, merge_key) >= 0 else server_only).append(item)
    return present, server_only


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str | None,
) -> list[Any]:
    """``normalizeElementOrder``: patch items in patch order, server-only items in live order,
    interleaved by ``mergeSortedSlice`` (a server-only item goes first only when it precedes the
    next patch item in the live list, so new patch items land before the remaining live ones)."""
    patch_items = sorted(patch_items, key=lambda item: _index(patch_order, item, merge_key))
    server_only = sorted(server_only, key=lambda item: _index(server_order, item, merge_key))
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if j >= len(patch_items):
            out.append(server_only[i])
            i += 1
            continue
        if i < len(server_only):
            left = _index(server_order, server_only[i], merge_key)
            right = _index(server_order, patch_items[j], merge_key)
            if left >= 0 and right >= 0 and left < right:
                out.append(server_only[i])
                i += 1
                continue
        out.append(patch_items[j])
        j += 1
    return out


def _merge_ordered_lists(original: dict[str, Any], patch: dict[str, Any], node: SchemaNode) -> None:
    """``mergePatchIntoOriginal``: merge every list that has a ``$setElementOrder/<field>`` and
    order it by that list first, the patch second, the live object last."""
    for key in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise _PatchError(f"expected a []interface {{}}, but received a {_go_type_name(order)}")
        field = _directive_target(key, _SET_ELEMENT_ORDER, _ERR_SET_ELEMENT_ORDER)
        child = _child(node, field)
        merge_key = child.patch_merge_key if "merge" in child.patch_strategies else None
        current = original.get(field, _MISSING)
        incoming = patch.get(field, _MISSING)
        for value in (current, incoming):
            if not isinstance(value, (list, _Missing)):
                raise _PatchError(f"expected a []interface {{}}, but received a {_go_type_name(value)}")
        _check_order(incoming if isinstance(incoming, list) else [], order, merge_key)
        server_order: list[Any]
        if isinstance(current, list) and isinstance(incoming, list):
            if "merge" in child.patch_strategies:
                merged, raw = _merge_list_raw(current, incoming, child)
                # apimachinery deletes and appends in the live list's own backing array, so the
                # "live order" it sorts server-only items by is that array: survivors, then appended.
                server_order = raw[: len(current)]
            else:
                merged, server_order = incoming, current
        elif isinstance(current, list):
            merged, server_order = current, current
        elif isinstance(incoming, list):
            merged, server_order = _fresh(incoming, child), []
        else:
            continue
        patch.pop(field, None)
        if not merged:
            original[field] = merged
            continue
        element_key = merge_key if isinstance(merged[0], dict) else None
        patch_items, server_only = _partition(merged, order, element_key)
        original[field] = _normalize_order(patch_items, server_only, order, server_order, element_key)


def _check_order(patch_list: list[Any], order: list[Any], merge_key: str | None) -> None:
    """``validatePatchWithSetOrderList``: the patch list must follow ``$setElementOrder``."""
    if not order or not patch_list:
        return
    candidates = patch_list
    if merge_key:
        candidates = [p for p in patch_list if not (isinstance(p, dict) and p.get(_DIRECTIVE) == "delete")]
    p = s = 0
    while p < len(candidates) and s < len(order):
        item = candidates[p]
        if isinstance(item, dict) and _DIRECTIVE in item:
            p += 1
            continue
        if _same(_key_value(item, merge_key), _key_value(order[s], merge_key)):
            p += 1
        s += 1
    if p < len(candidates) and s >= len(order):
        raise _PatchError(
            f"The order in patch list:\n{_go(patch_list)}\n doesn't match {_SET_ELEMENT_ORDER} list:\n{_go(order)}\n"
        )


def _key_value(item: Any, merge_key: str | None) -> Any:
    if not merge_key:
        return item
    if not isinstance(item, dict) or merge_key not in item:
        raise _no_merge_key(item if isinstance(item, dict) else {}, merge_key)
    return item[merge_key]


# -- Go formatting for error messages ------------------------------------------------------------------------


def _go(value: Any) -> str:
    """``fmt.Sprintf("%v", v)`` of a decoded JSON value."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return json.dumps(value) if not value.is_integer() else str(int(value))
    return str(value)


def _go_type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    kind = _scalar_kind(value)
    return {"slice": "[]interface {}", "nil": "<nil>"}.get(kind, kind)
