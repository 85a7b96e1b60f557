"""Rollout status and rollback, ported from kubectl's ``polymorphichelpers``.

:func:`rollout_status` is ``rollout_status.go``'s ``StatusViewer`` for Deployments, DaemonSets
and StatefulSets: same checks in the same order, same messages (without the trailing newline).
Where kubectl returns an error (wrong revision, progress deadline exceeded, an OnDelete
strategy) the status is ``failed`` with that error's text as the message.

:func:`rollback_plan` is ``rollback.go``'s ``DeploymentRollbacker``: it picks the ReplicaSet of
the wanted revision (default: the previous one) among those the Deployment controls, refuses a
paused Deployment, skips when the template already matches, and returns the JSON patch
(``application/json-patch+json``) kubectl would send.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_UNIQUE_LABEL",
    "REVISION_ANNOTATION",
    "RevisionInfo",
    "RollbackError",
    "RollbackPlan",
    "RolloutStatus",
    "controlled_replica_sets",
    "deployment_revision",
    "find_revision",
    "rollback_plan",
    "rollout_history",
    "rollout_status",
    "templates_equal_ignoring_hash",
]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
DEPRECATED_ROLLBACK_TO = "deprecated.deployment.rollback.to"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
DEFAULT_UNIQUE_LABEL = "pod-template-hash"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"

# rollback.go annotationsToSkip: kept from the Deployment, never copied from the ReplicaSet.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        DEPRECATED_ROLLBACK_TO,
    }
)

_INT64_RE = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True)
class RolloutStatus:
    """One look at a rollout. ``done`` and ``failed`` are never both true."""

    done: bool
    failed: bool
    message: str
    reason: str | None = None
    """Why it failed: ProgressDeadlineExceeded, RevisionMismatch, InvalidRevision,
    UnsupportedStrategy; None otherwise."""


def _int(mapping: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = mapping.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _opt_int(mapping: Mapping[str, Any], key: str) -> int | None:
    value = mapping.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def deployment_revision(obj: Mapping[str, Any]) -> int:
    """The ``deployment.kubernetes.io/revision`` annotation as an int (0 when absent), like
    ``deploymentutil.Revision``; works for ReplicaSets too. Raises ValueError when malformed."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(REVISION_ANNOTATION)
    if value is None:
        return 0
    if not isinstance(value, str) or not _INT64_RE.match(value):
        raise ValueError(f'strconv.ParseInt: parsing "{value}": invalid syntax')
    return int(value)


def rollout_status(obj: Mapping[str, Any], revision: int | None = None) -> RolloutStatus:
    """kubectl ``rollout status`` for one Deployment, DaemonSet or StatefulSet object.

    ``revision`` (Deployments only, like ``--revision``) makes a different running revision an
    error. Raises ValueError for other kinds.
    """
    kind = obj.get("kind")
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    if kind == "Deployment" and group in ("apps", "extensions", ""):
        return _deployment_status(obj, revision or 0)
    if kind == "DaemonSet" and group in ("apps", "extensions", ""):
        return _daemonset_status(obj)
    if kind == "StatefulSet" and group in ("apps", ""):
        return _statefulset_status(obj)
    raise ValueError(f"no status viewer has been implemented for {kind}{'.' + group if group else ''}")


def _deployment_status(obj: Mapping[str, Any], revision: int) -> RolloutStatus:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = meta.get("name", "")
    if revision > 0:
        try:
            running = deployment_revision(obj)
        except ValueError as exc:
            return RolloutStatus(
                False, True, f"cannot get the revision of deployment {_q(name)}: {exc}", "InvalidRevision"
            )
        if revision != running:
            return RolloutStatus(
                False,
                True,
                f"desired revision ({revision}) is different from the running revision ({running})",
                "RevisionMismatch",
            )
    if _int(meta, "generation") <= _int(status, "observedGeneration"):
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Progressing":
                if condition.get("reason") == TIMED_OUT_REASON:
                    return RolloutStatus(
                        False, True, f"deployment {_q(name)} exceeded its progress deadline", TIMED_OUT_REASON
                    )
                break
        replicas = _opt_int(spec, "replicas")
        updated = _int(status, "updatedReplicas")
        if replicas is not None and updated < replicas:
            return RolloutStatus(
                False,
                False,
                f"Waiting for deployment {_q(name)} rollout to finish: "
                f"{updated} out of {replicas} new replicas have been updated...",
            )
        total = _int(status, "replicas")
        if total > updated:
            return RolloutStatus(
                False,
                False,
                f"Waiting for deployment {_q(name)} rollout to finish: "
                f"{total - updated} old replicas are pending termination...",
            )
        available = _int(status, "availableReplicas")
        if available < updated:
            return RolloutStatus(
                False,
                False,
                f"Waiting for deployment {_q(name)} rollout to finish: "
                f"{available} of {updated} updated replicas are available...",
            )
        return RolloutStatus(True, False, f"deployment {_q(name)} successfully rolled out")
    return RolloutStatus(False, False, "Waiting for deployment spec update to be observed...")


def _strategy_type(spec: Mapping[str, Any]) -> str:
    # A missing type is the API server's default, RollingUpdate (kubectl only sees defaulted objects).
    return str((spec.get("updateStrategy") or {}).get("type") or "RollingUpdate")


def _unsupported() -> RolloutStatus:
    return RolloutStatus(
        False, True, "rollout status is only available for RollingUpdate strategy type", "UnsupportedStrategy"
    )


def _daemonset_status(obj: Mapping[str, Any]) -> RolloutStatus:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = meta.get("name", "")
    if _strategy_type(spec) != "RollingUpdate":
        return _unsupported()
    if _int(meta, "generation") <= _int(status, "observedGeneration"):
        updated = _int(status, "updatedNumberScheduled")
        desired = _int(status, "desiredNumberScheduled")
        if updated < desired:
            return RolloutStatus(
                False,
                False,
                f"Waiting for daemon set {_q(name)} rollout to finish: "
                f"{updated} out of {desired} new pods have been updated...",
            )
        available = _int(status, "numberAvailable")
        if available < desired:
            return RolloutStatus(
                False,
                False,
                f"Waiting for daemon set {_q(name)} rollout to finish: "
                f"{available} of {desired} updated pods are available...",
            )
        return RolloutStatus(True, False, f"daemon set {_q(name)} successfully rolled out")
    return RolloutStatus(False, False, "Waiting for daemon set spec update to be observed...")


def _statefulset_status(obj: Mapping[str, Any]) -> RolloutStatus:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if _strategy_type(spec) != "RollingUpdate":
        return _unsupported()
    observed = _int(status, "observedGeneration")
    if observed == 0 or _int(meta, "generation") > observed:
        return RolloutStatus(False, False, "Waiting for statefulset spec update to be observed...")
    replicas = _opt_int(spec, "replicas")
    ready = _int(status, "readyReplicas")
    if replicas is not None and ready < replicas:
        return RolloutStatus(False, False, f"Waiting for {replicas - ready} pods to be ready...")
    updated = _int(status, "updatedReplicas")
    rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate")
    if isinstance(rolling, Mapping):
        partition = _opt_int(rolling, "partition")
        if replicas is not None and partition is not None and updated < replicas - partition:
            return RolloutStatus(
                False,
                False,
                f"Waiting for partitioned roll out to finish: {updated} out of "
                f"{replicas - partition} new pods have been updated...",
            )
        return RolloutStatus(
            True, False, f"partitioned roll out complete: {updated} new pods have been updated..."
        )
    update_revision = status.get("updateRevision") or ""
    current_revision = status.get("currentRevision") or ""
    if update_revision != current_revision:
        return RolloutStatus(
            False,
            False,
            f"waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}...",
        )
    return RolloutStatus(
        True,
        False,
        f"statefulset rolling update complete {_int(status, 'currentReplicas')} pods "
        f"at revision {current_revision}...",
    )


def _q(text: str) -> str:
    """Go's %q for the plain names Kubernetes allows."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- rollback -------------------------------------------------------------------------------------


class RollbackError(ValueError):
    """kubectl ``rollout undo`` would refuse (no such revision, no history, paused Deployment)."""


@dataclass(frozen=True)
class RollbackPlan:
    """What to do to roll a Deployment back. When ``skipped``, send nothing."""

    skipped: bool
    message: str
    """``rolled back`` or ``skipped rollback (current template already matches revision N)``."""
    revision: int
    """The revision rolled back to."""
    replica_set: str
    """Name of the ReplicaSet whose template is restored."""
    patch: list[dict[str, Any]] = field(default_factory=list)
    """JSON patch ops to send with ``application/json-patch+json``; empty when skipped."""


@dataclass(frozen=True)
class RevisionInfo:
    """One entry of ``kubectl rollout history``."""

    revision: int
    replica_set: str
    change_cause: str | None
    images: tuple[str, ...]


def _controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") is True:
            return ref
    return None


def controlled_replica_sets(
    deployment: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The ReplicaSets whose controller is ``deployment`` (by uid; by kind and name when the
    Deployment dict has no uid), like ``deploymentutil.GetAllReplicaSets``' ControllerRef filter."""
    meta = deployment.get("metadata") or {}
    uid, name, namespace = meta.get("uid"), meta.get("name"), meta.get("namespace")
    result = []
    for rs in replica_sets:
        rs_meta = rs.get("metadata") or {}
        if namespace and rs_meta.get("namespace") and rs_meta.get("namespace") != namespace:
            continue
        ref = _controller_ref(rs)
        if ref is None:
            continue
        if uid:
            if ref.get("uid") == uid:
                result.append(rs)
        elif ref.get("kind") == "Deployment" and ref.get("name") == name:
            result.append(rs)
    return result


def find_revision(
    deployment: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]], to_revision: int = 0
) -> Mapping[str, Any]:
    """The ReplicaSet of ``to_revision`` (0: the previous revision), as rollback.go's
    ``deploymentRevision`` picks it. Raises :class:`RollbackError` like kubectl."""
    if to_revision < 0:
        raise RollbackError(f"unable to find specified revision {to_revision} in history")
    latest: Mapping[str, Any] | None = None
    latest_revision = -1
    previous: Mapping[str, Any] | None = None
    previous_revision = -1
    for rs in controlled_replica_sets(deployment, replica_sets):
        try:
            value = deployment_revision(rs)
        except ValueError:
            continue
        if to_revision == 0:
            if latest_revision < value:
                previous_revision, previous = latest_revision, latest
                latest_revision, latest = value, rs
            elif previous_revision < value:
                previous_revision, previous = value, rs
        elif to_revision == value:
            return rs
    if to_revision > 0:
        raise RollbackError(f"unable to find specified revision {to_revision} in history")
    if previous is None:
        name = (deployment.get("metadata") or {}).get("name", "")
        raise RollbackError(f"no rollout history found for deployment {_q(name)}")
    return previous


def _without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = copy.deepcopy(dict(template))
    meta = result.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("labels"), dict):
        meta["labels"].pop(DEFAULT_UNIQUE_LABEL, None)
        if not meta["labels"]:
            del meta["labels"]
    return result


def _normalized(value: Any) -> Any:
    # apiequality.Semantic.DeepEqual on typed objects: omitted, null and empty are the same.
    if isinstance(value, Mapping):
        out = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def templates_equal_ignoring_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """rollback.go's ``equalIgnoreHash``: pod templates equal apart from ``pod-template-hash``."""
    return bool(_normalized(_without_hash(a)) == _normalized(_without_hash(b)))


def rollback_plan(
    deployment: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]], to_revision: int = 0
) -> RollbackPlan:
    """What ``kubectl rollout undo deployment/x [--to-revision=N]`` would do.

    ``replica_sets``: the ReplicaSets in the Deployment's namespace (those it does not control
    are ignored). Raises :class:`RollbackError` for a negative or unknown revision, no history,
    or a paused Deployment — in kubectl's order and words.
    """
    meta = deployment.get("metadata") or {}
    name = meta.get("name", "")
    target = find_revision(deployment, replica_sets, to_revision)
    target_revision = deployment_revision(target)
    if (deployment.get("spec") or {}).get("paused") is True:
        raise RollbackError(
            "you cannot rollback a paused deployment; resume it first with "
            f"'kubectl rollout resume deployment/{name}' and try again"
        )
    target_meta = target.get("metadata") or {}
    target_template = (target.get("spec") or {}).get("template") or {}
    current_template = (deployment.get("spec") or {}).get("template") or {}
    if templates_equal_ignoring_hash(target_template, current_template):
        # kubectl prints the --to-revision value here (0 when omitted); we name the real revision.
        return RollbackPlan(
            skipped=True,
            message=f"skipped rollback (current template already matches revision {target_revision})",
            revision=target_revision,
            replica_set=str(target_meta.get("name", "")),
        )
    current_annotations = meta.get("annotations") or {}
    annotations = {k: v for k, v in current_annotations.items() if k in ANNOTATIONS_TO_SKIP}
    for key, value in (target_meta.get("annotations") or {}).items():
        if key not in ANNOTATIONS_TO_SKIP:
            annotations[key] = value
    patch: list[dict[str, Any]] = [
        {"op": "replace", "path": "/spec/template", "value": _without_hash(target_template)},
        {
            # kubectl always sends "replace"; "add" is the same operation when the key exists and
            # also works on a Deployment that has no annotations yet.
            "op": "replace" if "annotations" in meta else "add",
            "path": "/metadata/annotations",
            "value": annotations,
        },
    ]
    return RollbackPlan(
        skipped=False,
        message="rolled back",
        revision=target_revision,
        replica_set=str(target_meta.get("name", "")),
        patch=patch,
    )


def rollout_history(
    deployment: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]]
) -> list[RevisionInfo]:
    """The Deployment's revisions, oldest first (``kubectl rollout history``)."""
    entries = []
    for rs in controlled_replica_sets(deployment, replica_sets):
        try:
            revision = deployment_revision(rs)
        except ValueError:
            continue
        rs_meta = rs.get("metadata") or {}
        pod_spec = ((rs.get("spec") or {}).get("template") or {}).get("spec") or {}
        images = tuple(str(c.get("image", "")) for c in pod_spec.get("containers") or [])
        entries.append(
            RevisionInfo(
                revision=revision,
                replica_set=str(rs_meta.get("name", "")),
                change_cause=(rs_meta.get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION),
                images=images,
            )
        )
    return sorted(entries, key=lambda entry: entry.revision)
