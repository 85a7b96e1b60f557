"""Which pods and events explain a workload's failed rollout, in words a user acts on.

Pure functions over plain dicts (the I/O lives with the callers)::

    rs = new_replica_set(deployment, replica_sets)          # kubectl's FindNewReplicaSet
    pods = controlled_pods(rs or deployment, all_pods)
    report = diagnose(pods, events, involved={"web", rs_name, *pod_names})
    report.text()    # "pod default/web-x container main: ImagePullBackOff: ... \\n Warning Failed pod/..."
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .events import event_payload
from .pods import diagnose_pod, parse_time
from .rollout import controlled_replica_sets, templates_equal_ignoring_hash

__all__ = [
    "Diagnosis",
    "controlled_pods",
    "diagnose",
    "kind_noun",
    "label_selector_text",
    "new_replica_set",
    "warning_lines",
]

_NOUNS = {
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemon set",
    "ReplicaSet": "replicaset",
}


def kind_noun(kind: str) -> str:
    """How kubectl's messages name a kind (``daemon set``, ``statefulset``...)."""
    return _NOUNS.get(kind, kind.lower())


def label_selector_text(selector: Mapping[str, Any] | None) -> str:
    """A ``LabelSelector`` object as the query-string form (``app=web,tier in (a,b)``)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def _created(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")


def new_replica_set(
    deployment: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The ReplicaSet running the Deployment's current template (oldest first on ties), as
    ``deploymentutil.FindNewReplicaSet`` picks it; None before the controller created it."""
    template = (deployment.get("spec") or {}).get("template") or {}
    for rs in sorted(controlled_replica_sets(deployment, replica_sets), key=_created):
        if templates_equal_ignoring_hash((rs.get("spec") or {}).get("template") or {}, template):
            return rs
    return None


def controlled_pods(owner: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pods whose controller is ``owner`` (by uid), in name order."""
    uid = (owner.get("metadata") or {}).get("uid")
    out = []
    for pod in pods:
        for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("controller") is True and uid and ref.get("uid") == uid:
                out.append(pod)
                break
    return sorted(out, key=lambda p: str((p.get("metadata") or {}).get("name") or ""))


def warning_lines(events: Iterable[Mapping[str, Any]], involved: set[str], *, limit: int = 8) -> list[str]:
    """The newest Warning events about the named objects, oldest first, one line each:
    ``Warning BackOff pod/web-x: Back-off pulling image "x" (x3)``."""
    rows = []
    for event in events:
        payload = event_payload(event)
        subject = payload["involvedObject"]
        if payload["type"] != "Warning" or subject.get("name") not in involved:
            continue
        when = parse_time(payload["lastTimestamp"]) or parse_time(payload["eventTime"])
        rows.append((when.timestamp() if when else 0.0, payload))
    rows.sort(key=lambda row: row[0])
    lines: list[str] = []
    for _, payload in rows[-limit:]:
        subject = payload["involvedObject"]
        line = f"Warning {payload['reason']} {str(subject.get('kind') or '').lower()}/{subject.get('name')}: "
        line += str(payload["message"] or "").strip()
        if payload["count"] > 1:
            line += f" (x{payload['count']})"
        if line not in lines:
            lines.append(line)
    return lines


@dataclass(frozen=True)
class Diagnosis:
    """The failing pods' problems and recent Warning events."""

    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def text(self) -> str:
        """Lines to append to an error message (empty when nothing is known)."""
        parts = []
        if self.problems:
            parts.append("pod problems:\n" + "\n".join(f"  {p}" for p in self.problems))
        if self.warnings:
            parts.append("recent Warning events:\n" + "\n".join(f"  {w}" for w in self.warnings))
        return "\n".join(parts)


def diagnose(
    pods: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    involved: Iterable[str],
    *,
    max_problems: int = 10,
) -> Diagnosis:
    """:func:`~airflow_k8s_workflows.kube.pods.diagnose_pod` over ``pods`` (duplicates of the
    same problem on several pods are kept once per pod, up to ``max_problems``) plus the
    Warning events about ``involved`` names (the workload, its ReplicaSet, the pods)."""
    pods = list(pods)
    names = set(involved) | {str((p.get("metadata") or {}).get("name") or "") for p in pods}
    problems: list[str] = []
    for pod in pods:
        for problem in diagnose_pod(pod):
            text = problem.describe()
            if text not in problems:
                problems.append(text)
    return Diagnosis(tuple(problems[:max_problems]), tuple(warning_lines(events, names)))
