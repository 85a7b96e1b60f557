"""Pod templates as the workload controllers use them: the names they hash into, template
comparison, and pods stamped from a template.

Hashes follow ``controller.ComputeHash`` (FNV-32a, then ``rand.SafeEncodeString`` of the decimal
sum) and ``history.HashControllerRevision`` (FNV-32 of the revision data). The bytes hashed are
the template's canonical JSON rather than Go's ``spew`` dump of the struct, so names look like
a real cluster's (``web-7d4b9c8f5d``) without being the same values.
"""

from __future__ import annotations

import copy
import json
import struct
from typing import Any

Obj = dict[str, Any]

_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 2166136261
_FNV32_PRIME = 16777619
POD_TEMPLATE_HASH = "pod-template-hash"


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: every character mapped onto consonants and digits (no words)."""
    return "".join(_SAFE_ALPHANUMS[ord(ch) % len(_SAFE_ALPHANUMS)] for ch in text)


def fnv32a(data: bytes, h: int = _FNV32_OFFSET) -> int:
    for byte in data:
        h ^= byte
        h = (h * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def fnv32(data: bytes, h: int = _FNV32_OFFSET) -> int:
    for byte in data:
        h = (h * _FNV32_PRIME) & 0xFFFFFFFF
        h ^= byte
    return h


def normalized(value: Any) -> Any:
    """Drop nulls and empty maps/lists: apimachinery's semantic equality treats them as absent."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            nv = normalized(v)
            if nv is None or nv == {} or nv == []:
                continue
            out[k] = nv
        return out
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    return json.dumps(normalized(value), sort_keys=True, separators=(",", ":")).encode()


def compute_hash(template: Obj, collision_count: int | None) -> str:
    """``controller.ComputeHash``: the pod-template-hash of a Deployment's or DaemonSet's template."""
    h = fnv32a(canonical_json(template))
    if collision_count is not None:
        # Go writes the uint32 into an 8-byte little-endian buffer and hashes all 8 bytes
        h = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF) + b"\0\0\0\0", h)
    return safe_encode(str(h))


def hash_revision_data(data: Obj, probe: int | None) -> str:
    """``history.HashControllerRevision``: FNV-32 of the revision's raw data, plus the collision probe."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    h = fnv32(raw)
    if probe is not None:
        h = fnv32(str(probe).encode(), h)
    return safe_encode(str(h))


def without_hash_label(template: Obj) -> Obj:
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return out


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """``EqualIgnoreHash``: the same template once the pod-template-hash label is set aside."""
    return normalized(without_hash_label(a or {})) == normalized(without_hash_label(b or {}))


def template_labels(template: Obj | None) -> dict[str, str]:
    return dict(((template or {}).get("metadata") or {}).get("labels") or {})


def pod_from_template(
    template: Obj,
    namespace: str,
    controller_ref: Obj,
    *,
    generate_name: str | None = None,
    name: str | None = None,
    extra_labels: dict[str, str] | None = None,
) -> Obj:
    """``controller.GetPodFromTemplate``: labels, annotations and finalizers of the template, its spec,
    and the owner's controller reference."""
    tmeta = template.get("metadata") or {}
    meta: Obj = {"namespace": namespace, "ownerReferences": [dict(controller_ref)]}
    labels = {**(tmeta.get("labels") or {}), **(extra_labels or {})}
    if labels:
        meta["labels"] = labels
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    if name:
        meta["name"] = name
    elif generate_name:
        meta["generateName"] = generate_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }
