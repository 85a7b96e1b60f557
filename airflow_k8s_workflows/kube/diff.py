"""A readable diff between a live object and what an apply would make of it.

``kubectl diff`` for the task log: both sides as YAML with sorted keys, the noise the server
adds (``managedFields``, ``resourceVersion``, ``uid``, ``generation``, timestamps, ``status``)
removed, and a Secret's values replaced by ``***`` on both sides. A Secret value that changes
shows as ``*** (changed)``, so the diff says *that* it changes but never *what* it was or
becomes::

    text = manifest_diff(live, dry_run_result, label="Deployment default/web")
    # --- live Deployment default/web
    # +++ dry-run Deployment default/web
    # @@ -9,7 +9,7 @@
    # -  replicas: 1
    # +  replicas: 3
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

from .manifests import LAST_APPLIED, REDACTED

__all__ = ["comparable", "manifest_diff", "redact_pair"]

_METADATA_NOISE = (
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionGracePeriodSeconds",
)
_ANNOTATION_NOISE = (LAST_APPLIED, "deployment.kubernetes.io/revision")
CHANGED = f"{REDACTED} (changed)"


def comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``obj`` without what the server maintains on its own."""
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in _METADATA_NOISE:
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in _ANNOTATION_NOISE:
                annotations.pop(key, None)
            if not annotations:
                del meta["annotations"]
    return out


def _is_secret(obj: Mapping[str, Any] | None) -> bool:
    return obj is not None and obj.get("kind") == "Secret" and obj.get("apiVersion") in ("v1", None)


def _secret_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """``data`` and ``stringData`` of a Secret, by key (stringData wins, as on the server)."""
    merged: dict[str, Any] = {}
    for field in ("data", "stringData"):
        values = obj.get(field)
        if isinstance(values, dict):
            merged.update({str(k): (field, v) for k, v in values.items()})
    return merged


def redact_pair(
    live: Mapping[str, Any] | None, proposed: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Copies of both sides with Secret values masked; a value that differs between the sides
    is ``*** (changed)`` on the proposed side. Other kinds are copied unchanged."""
    left = copy.deepcopy(dict(live)) if live is not None else None
    right = copy.deepcopy(dict(proposed)) if proposed is not None else None
    if not (_is_secret(left) or _is_secret(right)):
        return left, right
    before = _secret_fields(left) if left is not None else {}
    after = _secret_fields(right) if right is not None else {}
    for side, values, other in ((left, before, after), (right, after, before)):
        if side is None:
            continue
        for field in ("data", "stringData"):
            if isinstance(side.get(field), dict):
                side[field] = {
                    key: CHANGED
                    if side is right and key in other and _differs(values[str(key)], other[str(key)])
                    else REDACTED
                    for key in side[field]
                }
        annotations = (side.get("metadata") or {}).get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            annotations[LAST_APPLIED] = REDACTED
    return left, right


def _differs(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    return _plain(a) != _plain(b)


def _plain(entry: tuple[str, Any]) -> Any:
    import base64
    import binascii

    field, value = entry
    if field == "data" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value
    return value.encode() if isinstance(value, str) else value


def _yaml(obj: Mapping[str, Any] | None) -> list[str]:
    import yaml

    if obj is None:
        return []
    text = yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, allow_unicode=True)
    return text.splitlines(keepends=True)


def manifest_diff(
    live: Mapping[str, Any] | None,
    proposed: Mapping[str, Any] | None,
    *,
    label: str,
    source: str = "dry-run",
    context: int = 3,
) -> str:
    """Unified diff from ``live`` (None: does not exist) to ``proposed`` (None: would be gone);
    empty when they are the same once the server's own fields are ignored. ``source`` names
    where ``proposed`` comes from in the header (the server's dry run, or the manifest)."""
    left, right = redact_pair(
        comparable(live) if live is not None else None,
        comparable(proposed) if proposed is not None else None,
    )
    lines = difflib.unified_diff(
        _yaml(left),
        _yaml(right),
        fromfile=f"live {label}" if live is not None else f"(absent) {label}",
        tofile=f"{source} {label}" if proposed is not None else f"(deleted) {label}",
        n=context,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
