"""What the Job controller needs to know about pods: their state, completion indexes, the
pod failure policy, conditions, and the pod it creates from a Job's template."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_k8s_workflows.emulator.clock import rfc3339
from airflow_k8s_workflows.emulator.controllers.base import controller_ref

Obj = dict[str, Any]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
INDEX_IGNORED_FAILURE_COUNT = "batch.kubernetes.io/job-index-ignored-failure-count"
MAX_GENERATED_NAME = 58


# -- pod state ------------------------------------------------------------------------------
def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def uid(pod: Obj) -> str:
    return str(pod["metadata"].get("uid", ""))


def is_terminal(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def is_deleting(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_active(pod: Obj) -> bool:
    return not is_terminal(pod) and not is_deleting(pod)


def is_terminating(pod: Obj) -> bool:
    return not is_terminal(pod) and is_deleting(pod)


def is_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def has_tracking_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or [])


def only_replace_failed(job: Obj) -> bool:
    spec = job.get("spec") or {}
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_failed(pod: Obj, job: Obj) -> bool:
    """Failed, or (unless only failed pods are replaced) deleted before it could succeed."""
    if phase(pod) == "Failed":
        return True
    if only_replace_failed(job):
        return False
    return is_deleting(pod) and phase(pod) != "Succeeded"


def completion_index(pod: Obj) -> int | None:
    text = (pod["metadata"].get("annotations") or {}).get(COMPLETION_INDEX)
    if text is None or not str(text).isdigit():
        return None
    return int(text)


def annotation_int(pod: Obj, key: str) -> int:
    text = (pod["metadata"].get("annotations") or {}).get(key, "0")
    return int(text) if str(text).isdigit() else 0


def restart_count(pod: Obj) -> int:
    status = pod.get("status") or {}
    statuses = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def sort_for_removal(pods: list[Obj]) -> list[Obj]:
    """controller.ActivePods order: unscheduled < scheduled, pending < running, not ready < ready."""
    rank = {"Pending": 0, "Unknown": 1, "Running": 2}

    def key(p: Obj) -> tuple[int, int, int, str]:
        scheduled = 1 if (p.get("spec") or {}).get("nodeName") else 0
        return (
            scheduled,
            rank.get(phase(p), 1),
            1 if is_ready(p) else 0,
            p["metadata"].get("creationTimestamp", ""),
        )

    return sorted(pods, key=key)


# -- pod failure policy ---------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyMatch:
    fail_job_message: str | None  # set when a FailJob rule matched
    counts: bool  # False for Ignore
    action: str | None


NO_MATCH = PolicyMatch(None, True, None)


def match_pod_failure_policy(policy: Obj | None, pod: Obj) -> PolicyMatch:
    if not policy:
        return NO_MATCH
    status = pod.get("status") or {}
    meta = pod["metadata"]
    for index, rule in enumerate(policy.get("rules") or []):
        action = rule.get("action")
        if rule.get("onExitCodes") is not None:
            container = _match_exit_codes(status, rule["onExitCodes"])
            if container is None:
                continue
            if action == "FailJob":
                code = container["state"]["terminated"].get("exitCode")
                message = (
                    f"Container {container.get('name')} for pod {meta.get('namespace')}/{meta.get('name')} "
                    f"failed with exit code {code} matching FailJob rule at index {index}"
                )
                return PolicyMatch(message, True, action)
        elif rule.get("onPodConditions"):
            condition = _match_conditions(status, rule["onPodConditions"])
            if condition is None:
                continue
            if action == "FailJob":
                message = (
                    f"Pod {meta.get('namespace')}/{meta.get('name')} has condition {condition.get('type')} "
                    f"matching FailJob rule at index {index}"
                )
                return PolicyMatch(message, True, action)
        else:
            continue
        if action == "Ignore":
            return PolicyMatch(None, False, action)
        if action in ("Count", "FailIndex"):
            return PolicyMatch(None, True, action)
    return NO_MATCH


def _match_exit_codes(status: Obj, requirement: Obj) -> Obj | None:
    for statuses in (status.get("containerStatuses") or [], status.get("initContainerStatuses") or []):
        for cs in statuses:
            terminated = (cs.get("state") or {}).get("terminated")
            if not terminated:
                continue
            if requirement.get("containerName") not in (None, cs.get("name")):
                continue
            code = terminated.get("exitCode", 0)
            if code == 0:
                continue
            values = requirement.get("values") or []
            operator = requirement.get("operator")
            if (operator == "In" and code in values) or (operator == "NotIn" and code not in values):
                return dict(cs)
    return None


def _match_conditions(status: Obj, patterns: Iterable[Obj]) -> Obj | None:
    for condition in status.get("conditions") or []:
        for pattern in patterns:
            if condition.get("type") == pattern.get("type") and condition.get("status") == pattern.get(
                "status", "True"
            ):
                return dict(condition)
    return None


# -- indexes --------------------------------------------------------------------------------
def parse_indexes(text: str | None, completions: int) -> set[int]:
    """``"0-2,4"`` -> {0, 1, 2, 4}, keeping indexes below ``completions``."""
    found: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            continue
        found.update(i for i in range(lo, min(hi, completions - 1) + 1))
    return found


def format_indexes(indexes: Iterable[int]) -> str:
    """Ordered intervals as the Job status shows them: ``0-2,4`` (two in a row: ``5,6``)."""
    ordered = sorted(set(indexes))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        first, last = ordered[i], ordered[j]
        if last == first:
            parts.append(str(first))
        elif last == first + 1:
            parts.append(f"{first},{last}")
        else:
            parts.append(f"{first}-{last}")
        i = j + 1
    return ",".join(parts)


# -- conditions -----------------------------------------------------------------------------
def condition(type_: str, status: str, reason: str, message: str) -> Obj:
    now = rfc3339()
    return {
        "type": type_,
        "status": status,
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def find_condition(conditions: list[Obj], type_: str) -> Obj | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def is_true(conditions: list[Obj], type_: str) -> bool:
    found = find_condition(conditions, type_)
    return found is not None and found.get("status") == "True"


def ensure_condition(conditions: list[Obj], type_: str, status: str, reason: str, message: str) -> bool:
    """ensureJobConditionStatus: replace a differing condition, append a new non-False one."""
    found = find_condition(conditions, type_)
    if found is not None:
        if (found.get("status"), found.get("reason"), found.get("message")) != (status, reason, message):
            found.clear()
            found.update(condition(type_, status, reason, message))
            return True
        return False
    if status != "False":
        conditions.append(condition(type_, status, reason, message))
        return True
    return False


def is_finished(job: Obj) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return is_true(conditions, "Complete") or is_true(conditions, "Failed")


# -- pods from the template -----------------------------------------------------------------
def pod_from_template(job: Obj, index: int | None, extra_annotations: dict[str, str] | None = None) -> Obj:
    meta = job["metadata"]
    template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    labels = dict(tmeta.get("labels") or {})
    annotations = dict(tmeta.get("annotations") or {})
    finalizers = list(tmeta.get("finalizers") or [])
    if TRACKING_FINALIZER not in finalizers:
        finalizers.append(TRACKING_FINALIZER)
    name = meta["name"]
    generate_name = f"{name}-"
    if index is not None:
        _add_index_env(spec)
        annotations[COMPLETION_INDEX] = str(index)
        labels[COMPLETION_INDEX] = str(index)
        spec["hostname"] = f"{name}-{index}"
        suffix = f"-{index}-"
        generate_name = (
            (name + suffix)
            if len(name + suffix) <= MAX_GENERATED_NAME
            else (name[: MAX_GENERATED_NAME - len(suffix)] + suffix)
        )
    annotations.update(extra_annotations or {})
    pod_meta: Obj = {
        "generateName": generate_name,
        "namespace": meta.get("namespace"),
        "labels": labels,
        "finalizers": finalizers,
        "ownerReferences": [controller_ref(job)],
    }
    if annotations:
        pod_meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _add_index_env(spec: Obj) -> None:
    env_var = {
        "name": "JOB_COMPLETION_INDEX",
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{COMPLETION_INDEX}']"}},
    }
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            env = container.setdefault("env", [])
            if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
                env.append(copy.deepcopy(env_var))
