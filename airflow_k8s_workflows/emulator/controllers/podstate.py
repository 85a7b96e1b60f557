"""What workload controllers read off pods (``podutil`` and ``controller`` helpers): activity,
readiness, availability after ``minReadySeconds``, and which pods to delete first."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from airflow_k8s_workflows.emulator.clock import Clock, parse_time, rfc3339
from airflow_k8s_workflows.emulator.selectors import LabelSelector

Obj = dict[str, Any]

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """``controller.IsPodActive``: not finished and not being deleted."""
    return not is_terminal(pod) and not is_terminating(pod)


def condition(obj: Mapping[str, Any], kind: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def is_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def ready_since(pod: Obj) -> datetime | None:
    c = condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime"))


def is_running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)


def is_available(pod: Obj, min_ready_seconds: int, clock: Clock) -> bool:
    """``podutil.IsPodAvailable``: ready for at least ``minReadySeconds`` (controller time)."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = ready_since(pod)
    return since is not None and clock.elapsed_scaled(since) > min_ready_seconds


def seconds_until_available(pods: Iterable[Obj], min_ready_seconds: int, clock: Clock) -> float | None:
    """Controller seconds until the next ready-but-not-yet-available pod becomes available."""
    waits = []
    for pod in pods:
        since = ready_since(pod)
        if since is None or not min_ready_seconds:
            continue
        remaining = min_ready_seconds - clock.elapsed_scaled(since)
        if remaining >= 0:
            waits.append(remaining + 1)
    return min(waits) if waits else None


def selector_of(obj: Obj) -> LabelSelector:
    return LabelSelector.from_label_selector((obj.get("spec") or {}).get("selector"))


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def new_condition(kind: str, status: str, reason: str, message: str) -> Obj:
    return {
        "type": kind,
        "status": status,
        "lastTransitionTime": rfc3339(),
        "reason": reason,
        "message": message,
    }


def _restarts(pod: Obj) -> int:
    return max((int(s.get("restartCount", 0)) for s in (pod.get("status") or {}).get("containerStatuses") or []),
               default=0)  # fmt: skip


def _cost(pod: Obj) -> int:
    try:
        return int(((pod["metadata"].get("annotations") or {}).get(DELETION_COST)) or 0)
    except ValueError:
        return 0


def _after_or_zero(a: str | None, b: str | None) -> bool:
    """``afterOrZero``: an unset time sorts first, then the later one."""
    if not a or not b:
        return not a
    return a > b


def _compare(ranks: Mapping[str, int]) -> Any:
    def cmp(p: Obj, q: Obj) -> int:
        def less(x: Obj, y: Obj) -> bool | None:
            xn, yn = (x.get("spec") or {}).get("nodeName") or "", (y.get("spec") or {}).get("nodeName") or ""
            if xn != yn and (not xn or not yn):
                return not xn
            xp = _PHASE_ORDINAL.get((x.get("status") or {}).get("phase", ""), 0)
            yp = _PHASE_ORDINAL.get((y.get("status") or {}).get("phase", ""), 0)
            if xp != yp:
                return xp < yp
            if is_ready(x) != is_ready(y):
                return not is_ready(x)
            if _cost(x) != _cost(y):
                return _cost(x) < _cost(y)
            xr, yr = ranks.get(x["metadata"]["name"], 0), ranks.get(y["metadata"]["name"], 0)
            if xr != yr:
                return xr > yr
            if is_ready(x) and is_ready(y):
                xt = (condition(x, "Ready") or {}).get("lastTransitionTime")
                yt = (condition(y, "Ready") or {}).get("lastTransitionTime")
                if xt != yt:
                    return _after_or_zero(xt, yt)
            if _restarts(x) != _restarts(y):
                return _restarts(x) > _restarts(y)
            xc, yc = x["metadata"].get("creationTimestamp"), y["metadata"].get("creationTimestamp")
            if xc != yc:
                return _after_or_zero(xc, yc)
            return None

        first = less(p, q)
        if first is None:
            return 0
        return -1 if first else 1

    return functools.cmp_to_key(cmp)


def pods_to_delete(pods: list[Obj], related: list[Obj], count: int) -> list[Obj]:
    """``getPodsToDelete``: the ``count`` pods a ReplicaSet gives up first (``ActivePodsWithRanks``),
    ranked down when other pods of the same owner share their node."""
    if count >= len(pods):
        return list(pods)
    on_node: dict[str, int] = {}
    for pod in related:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and is_active(pod):
            on_node[node] = on_node.get(node, 0) + 1
    ranks = {p["metadata"]["name"]: on_node.get((p.get("spec") or {}).get("nodeName") or "", 0) for p in pods}
    return sorted(pods, key=_compare(ranks))[:count]
