"""Deploy decisions over plain dicts: which container gets the image, what to send, what a
manifest bundle holds, and when a ``ProgressDeadlineExceeded`` condition is left over.

A left-over deadline: when a Deployment goes back to a template it ran before (a rollback, or a
deploy of an earlier image) the controller re-adopts the old ReplicaSet instead of creating one,
and keeps the ``Progressing=False/ProgressDeadlineExceeded`` condition of the failed rollout
until the new one shows progress (``DeploymentTimedOut`` returns true for a timed-out condition).
``kubectl rollout status`` right after ``kubectl rollout undo`` can therefore report the old
failure. :func:`deadline_marker` remembers the condition seen before our write, and
:func:`without_stale_deadline` hides exactly that condition from the status viewer::

    marker = deadline_marker(live_before_write)
    status = rollout_status(without_stale_deadline(obj, marker))
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "choose_container",
    "container_image",
    "deadline_marker",
    "set_image_patch",
    "split_deploy_manifests",
    "without_stale_deadline",
]

_TIMED_OUT = "ProgressDeadlineExceeded"


def _containers(deployment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return list(spec.get("containers") or [])


def choose_container(deployment: Mapping[str, Any], container: str | None) -> str:
    """The container whose image changes: ``container`` if given (it must exist), else the only
    one. Raises ValueError naming ``container`` and the choices."""
    name = (deployment.get("metadata") or {}).get("name", "")
    names = [str(c.get("name")) for c in _containers(deployment)]
    if container is not None:
        if container not in names:
            raise ValueError(
                f"container: deployment {name!r} has no container {container!r}; choose one of {names}"
            )
        return container
    if len(names) == 1:
        return names[0]
    raise ValueError(
        f"container: deployment {name!r} has {len(names)} containers; name the one to update, one of {names}"
    )


def container_image(deployment: Mapping[str, Any], container: str) -> str | None:
    for item in _containers(deployment):
        if item.get("name") == container:
            return str(item["image"]) if item.get("image") is not None else None
    return None


def set_image_patch(container: str, image: str) -> dict[str, Any]:
    """The strategic merge patch ``kubectl set image deployment/x <container>=<image>`` sends."""
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}


def split_deploy_manifests(
    docs: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(deployment, others)`` from a manifest bundle holding exactly one apps/v1 Deployment
    (plus, e.g., its Service and ConfigMap). Raises ValueError naming ``manifest``."""
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    if len(deployments) != 1:
        kinds = [f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}" for d in docs]
        raise ValueError(f"manifest: must hold exactly one Deployment, got {len(deployments)} in {kinds}")
    [deployment] = deployments
    if deployment.get("apiVersion") != "apps/v1":
        raise ValueError(f"manifest: the Deployment must be apps/v1, got {deployment.get('apiVersion')!r}")
    others = [dict(d) for d in docs if d is not deployment]
    return dict(deployment), others


def _progressing(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Progressing":
            return condition
    return None


def deadline_marker(deployment: Mapping[str, Any] | None) -> str | None:
    """An identity for the Deployment's current ``ProgressDeadlineExceeded`` condition (None when
    it has none): its message (naming the ReplicaSet) and last update time."""
    condition = _progressing(deployment or {})
    if condition is None or condition.get("reason") != _TIMED_OUT:
        return None
    return f"{condition.get('lastUpdateTime')}|{condition.get('message')}"


def without_stale_deadline(obj: Mapping[str, Any], marker: str | None) -> Mapping[str, Any]:
    """``obj`` without its Progressing condition when that is still the deadline ``marker``
    identifies (left over from before our write); ``obj`` itself otherwise."""
    if marker is None or deadline_marker(obj) != marker:
        return obj
    out = copy.deepcopy(dict(obj))
    status = out.get("status") or {}
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "Progressing"]
    return out
