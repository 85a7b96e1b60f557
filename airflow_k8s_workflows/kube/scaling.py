"""Scaling decisions over plain values: what ``replicas`` means, and when a scale is done.

::

    request = parse_replicas("+2")                       # ReplicasRequest(relative=True, value=2)
    target = target_replicas(request, current=3, min_replicas=1, max_replicas=4)   # 4 (clamped)
    scale_status(statefulset).done
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .rollout import RolloutStatus, rollout_status

__all__ = [
    "MAX_UNBOUNDED_REPLICAS",
    "SCALE_KINDS",
    "ReplicasRequest",
    "check_bounds",
    "parse_count",
    "parse_replicas",
    "scale_status",
    "target_replicas",
]

SCALE_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")
MAX_UNBOUNDED_REPLICAS = 10_000
"""Above this, a replica count without ``max_replicas`` is taken for a mistake."""

_INT = re.compile(r"^-?[0-9]+$")
_RELATIVE = re.compile(r"^([+-])([0-9]+)$")


@dataclass(frozen=True)
class ReplicasRequest:
    """``replicas`` as asked: an absolute count, or a change of the current one."""

    relative: bool
    value: int

    def __str__(self) -> str:
        return f"{self.value:+d}" if self.relative else str(self.value)


def parse_count(value: Any, field: str, *, optional: bool = False) -> int | None:
    """A non-negative int from an int or its decimal text (templates render to text)."""
    if value is None and optional:
        return None
    text = value.strip() if isinstance(value, str) else None
    if isinstance(value, bool) or not (isinstance(value, int) or (text is not None and _INT.match(text))):
        raise ValueError(f"{field}: must be a whole number, got {value!r}")
    number = int(text) if text is not None else int(value)
    if number < 0:
        raise ValueError(f"{field}: must be >= 0, got {number}")
    return number


def parse_replicas(value: Any) -> ReplicasRequest:
    """An int (or its text) is absolute; ``"+N"`` / ``"-N"`` is relative to the current count."""
    if isinstance(value, str):
        match = _RELATIVE.match(value.strip())
        if match:
            sign, digits = match.groups()
            return ReplicasRequest(True, int(digits) * (-1 if sign == "-" else 1))
        if not _INT.match(value.strip()):
            raise ValueError(f'replicas: must be a whole number or "+N" / "-N", got {value!r}')
    count = parse_count(value, "replicas")
    assert count is not None
    return ReplicasRequest(False, count)


def check_bounds(min_replicas: int | None, max_replicas: int | None) -> None:
    if min_replicas is not None and max_replicas is not None and max_replicas < min_replicas:
        raise ValueError(f"max_replicas: must be >= min_replicas ({min_replicas}), got {max_replicas}")


def target_replicas(
    request: ReplicasRequest,
    current: int,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
) -> int:
    """The replica count to set. A relative change is clamped to the bounds (and to >= 0); an
    absolute count outside them is an error, as is anything above
    :data:`MAX_UNBOUNDED_REPLICAS` when no ``max_replicas`` is given."""
    check_bounds(min_replicas, max_replicas)
    low = min_replicas or 0
    if request.relative:
        target = max(low, current + request.value)
        if max_replicas is not None:
            target = min(target, max_replicas)
    else:
        target = request.value
        if max_replicas is not None and target > max_replicas:
            raise ValueError(f"replicas: {target} is above max_replicas ({max_replicas})")
        if target < low:
            raise ValueError(f"replicas: {target} is below min_replicas ({low})")
    if max_replicas is None and target > MAX_UNBOUNDED_REPLICAS:
        raise ValueError(
            f"replicas: {request} gives {target}, above {MAX_UNBOUNDED_REPLICAS}; "
            "set max_replicas if you really mean it"
        )
    return target


def _int(mapping: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = mapping.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def scale_status(obj: Mapping[str, Any]) -> RolloutStatus:
    """Is ``obj`` at its ``spec.replicas``? Deployments: ``kubectl rollout status``. StatefulSets
    and ReplicaSets: the spec is observed, that many pods are ready and no extra pod is left."""
    kind = str(obj.get("kind") or "")
    if kind == "Deployment":
        return rollout_status(obj)
    if kind not in SCALE_KINDS:
        raise ValueError(f"kind: cannot scale {kind!r}; one of {list(SCALE_KINDS)}")
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    noun = "statefulset" if kind == "StatefulSet" else "replica set"
    name = meta.get("name", "")
    if _int(meta, "generation") > _int(status, "observedGeneration"):
        return RolloutStatus(False, False, f"Waiting for {noun} spec update to be observed...")
    want = _int(spec, "replicas", 1)
    ready = _int(status, "readyReplicas")
    if ready < want:
        return RolloutStatus(
            False,
            False,
            f'Waiting for {noun} "{name}" to scale to {want}: {ready} of {want} replicas are ready...',
        )
    extra = _int(status, "replicas") - want
    if extra > 0:
        return RolloutStatus(
            False,
            False,
            f'Waiting for {noun} "{name}" to scale to {want}: {extra} extra replicas are pending termination...',
        )
    return RolloutStatus(True, False, f'{noun} "{name}" scaled to {want} ready replicas')
