"""Pure helpers of the Deployment controller (``pkg/controller/deployment/util``): revisions and
their annotations, surge/unavailability fenceposts, proportions, conditions and status."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from airflow_k8s_workflows.emulator.clock import Clock, parse_time, rfc3339

Obj = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SKIPPED_ANNOTATIONS = frozenset(
    {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}
)
MAX_REV_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1

# Progressing / Available condition reasons
RS_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


# -- replica counts -----------------------------------------------------------------------------
def replicas(obj: Obj | None) -> int:
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_count(obj: Obj | None, field: str) -> int:
    if obj is None:
        return 0
    return int((obj.get("status") or {}).get(field) or 0)


def total_replicas(rss: Iterable[Obj | None]) -> int:
    return sum(replicas(rs) for rs in rss if rs is not None)


def total_status(rss: Iterable[Obj | None], field: str) -> int:
    return sum(status_count(rs, field) for rs in rss if rs is not None)


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    """``FilterActiveReplicaSets``: those with replicas wanted."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


# -- fenceposts ---------------------------------------------------------------------------------
def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: ``"25%"`` of ``total``, rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        fraction = int(text[:-1]) * total / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return int(text)


def is_rolling(d: Obj) -> bool:
    return ((d["spec"].get("strategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"


def fenceposts(d: Obj) -> tuple[int, int]:
    """``ResolveFenceposts``: (maxSurge, maxUnavailable); both 0 resolves unavailability to 1."""
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas(d)
    surge = scaled_value(rolling.get("maxSurge", 0), desired, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", 0), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], replicas(d))


def new_rs_new_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
    """``NewRSNewReplicas``: how far the new ReplicaSet may grow now."""
    if not is_rolling(d):
        return replicas(d)
    max_total = replicas(d) + max_surge(d)
    current = total_replicas(all_rss)
    if current >= max_total:
        return replicas(new_rs)
    scale_up = min(max_total - current, replicas(d) - replicas(new_rs))
    return replicas(new_rs) + scale_up


# -- annotations --------------------------------------------------------------------------------
def annotations_of(obj: Obj) -> dict[str, str]:
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta.get("annotations"), dict):
        meta["annotations"] = {}
    result: dict[str, str] = meta["annotations"]
    return result


def revision(obj: Obj | None) -> int:
    if obj is None:
        return 0
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def max_revision(rss: Iterable[Obj]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def copy_deployment_annotations(d: Obj, rs: Obj) -> bool:
    changed = False
    target = annotations_of(rs)
    for k, v in ((d.get("metadata") or {}).get("annotations") or {}).items():
        if k in SKIPPED_ANNOTATIONS or target.get(k) == v:
            continue
        target[k] = v
        changed = True
    return changed


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    target = annotations_of(rs)
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if target.get(key) != value:
            target[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    current = (rs.get("metadata") or {}).get("annotations") or {}
    return current.get(DESIRED_REPLICAS) != str(desired) or current.get(MAX_REPLICAS) != str(maximum)


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
    """``SetNewReplicaSetAnnotations``: copy the Deployment's annotations, raise the revision (keeping
    the previous ones in revision-history, as a rollback does) and, on creation, the replica counts."""
    changed = copy_deployment_annotations(d, rs)
    target = annotations_of(rs)
    old_text = target.get(REVISION)
    try:
        old = int(old_text) if old_text is not None else 0
    except ValueError:
        return False
    if old < new_revision:
        target[REVISION] = str(new_revision)
        changed = True
        if old_text is not None:
            history = target.get(REVISION_HISTORY, "")
            if not history:
                target[REVISION_HISTORY] = old_text
            else:
                revisions = history.split(",")
                total = len(history) + len(old_text) + 1
                start = 0
                while total > MAX_REV_HISTORY_CHARS and start < len(revisions):
                    total -= len(revisions[start]) + 1
                    start += 1
                if total <= MAX_REV_HISTORY_CHARS:
                    target[REVISION_HISTORY] = ",".join([*revisions[start:], old_text])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    try:
        desired = int(((rs.get("metadata") or {}).get("annotations") or {}).get(DESIRED_REPLICAS, ""))
    except ValueError:
        return False
    return (
        replicas(rs) == replicas(d)
        and desired == replicas(d)
        and status_count(rs, "availableReplicas") == replicas(d)
    )


def _round(x: float) -> int:
    """Go's ``math.Round``: half away from zero."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """``GetReplicaSetProportion``: this ReplicaSet's share of a scaling event during a rollout."""
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if replicas(d) == 0:
        fraction = -replicas(rs)
    else:
        deployment_replicas = replicas(d) + max_surge(d)
        try:
            annotated = int(((rs.get("metadata") or {}).get("annotations") or {}).get(MAX_REPLICAS, ""))
        except ValueError:
            annotated = status_count(d, "replicas")
        fraction = _round(replicas(rs) * deployment_replicas / annotated) - replicas(rs) if annotated else 0
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# -- conditions ---------------------------------------------------------------------------------
def get_condition(status: Obj, kind: str) -> Obj | None:
    for c in status.get("conditions") or []:
        if c.get("type") == kind:
            return c
    return None


def new_condition(kind: str, status: str, reason: str, message: str) -> Obj:
    now = rfc3339()
    return {"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}  # fmt: skip


def set_condition(status: Obj, cond: Obj) -> None:
    """``SetDeploymentCondition``: same status and reason → unchanged; same status → keep the transition time."""
    current = get_condition(status, cond["type"])
    if (
        current is not None
        and current.get("status") == cond["status"]
        and current.get("reason") == cond["reason"]
    ):
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, kind: str) -> None:
    kept = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: Obj) -> bool:
    value = d["spec"].get("progressDeadlineSeconds")
    return value is not None and value != MAX_INT32


def has_revision_history_limit(d: Obj) -> bool:
    value = d["spec"].get("revisionHistoryLimit")
    return value is not None and value != MAX_INT32


# -- status -------------------------------------------------------------------------------------
def deployment_complete(d: Obj, status: Obj) -> bool:
    want = replicas(d)
    return (
        int(status.get("updatedReplicas") or 0) == want
        and int(status.get("replicas") or 0) == want
        and int(status.get("availableReplicas") or 0) == want
        and int(status.get("observedGeneration") or 0) >= int(d["metadata"].get("generation") or 0)
    )


def deployment_progressing(d: Obj, new: Obj) -> bool:
    old = d.get("status") or {}

    def n(s: Obj, f: str) -> int:
        return int(s.get(f) or 0)

    old_old = n(old, "replicas") - n(old, "updatedReplicas")
    new_old = n(new, "replicas") - n(new, "updatedReplicas")
    return (
        n(new, "updatedReplicas") > n(old, "updatedReplicas")
        or new_old < old_old
        or n(new, "readyReplicas") > n(old, "readyReplicas")
        or n(new, "availableReplicas") > n(old, "availableReplicas")
    )


def deployment_timed_out(d: Obj, new: Obj, clock: Clock) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(new, "Progressing")
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and clock.elapsed_scaled(since) > int(d["spec"]["progressDeadlineSeconds"])


def terminating_replicas(rss: Iterable[Obj | None]) -> int | None:
    """``GetTerminatingReplicaCountForReplicaSets``: unknown (None) if a ReplicaSet does not report it."""
    total = 0
    for rs in rss:
        if rs is None:
            continue
        value = (rs.get("status") or {}).get("terminatingReplicas")
        if value is None:
            return None
        total += int(value)
    return total


def calculate_status(all_rss: list[Obj], new_rs: Obj | None, d: Obj) -> Obj:
    """``calculateStatus``: counts summed over the ReplicaSets, and the Available condition."""
    available = total_status(all_rss, "availableReplicas")
    unavailable = max(total_replicas(all_rss) - available, 0)
    old = d.get("status") or {}
    status: Obj = {}
    counts = (
        ("observedGeneration", int(d["metadata"].get("generation") or 0)),
        ("replicas", total_status(all_rss, "replicas")),
        ("updatedReplicas", total_status([new_rs] if new_rs else [], "replicas")),
        ("readyReplicas", total_status(all_rss, "readyReplicas")),
        ("availableReplicas", available),
        ("unavailableReplicas", unavailable),
    )
    for field, value in counts:
        if value:
            status[field] = value
    terminating = terminating_replicas(all_rss)
    if terminating is not None:
        status["terminatingReplicas"] = terminating
    if old.get("conditions"):
        status["conditions"] = [dict(c) for c in old["conditions"]]
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= replicas(d) - max_unavailable(d):
        set_condition(
            status, new_condition("Available", "True", MIN_AVAILABLE, "Deployment has minimum availability.")
        )
    else:
        set_condition(
            status,
            new_condition(
                "Available", "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability."
            ),
        )
    return status
