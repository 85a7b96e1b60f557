"""Is an applied object ready? One judgement per kind, over the object as the API returns it.

* Deployment, StatefulSet, DaemonSet: ``kubectl rollout status`` (:func:`kube.rollout.rollout_status`);
  a progress deadline exceeded fails.
* Job: complete (:func:`kube.jobs.job_outcome`); a failed Job fails.
* Pod: ``Ready`` (or finished successfully); a failed pod fails, with what is wrong with it.
* CustomResourceDefinition: ``Established``; names not accepted fail.
* Service: only when asked (``wait_for_endpoints``) and only with a selector: its Endpoints
  list at least one ready address.
* Anything else is ready once applied.

::

    source = watched_kind(manifest, wait_for_endpoints=True)   # ("v1", "Endpoints") for a Service
    verdict = judge("apps/v1", "Deployment", live_object)
    verdict.state, verdict.message    # ("waiting", 'Waiting for deployment "web" rollout to finish: ...')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .jobs import job_outcome
from .pods import diagnose_pod, pod_ready, pod_status_text
from .resources import split_api_version
from .rollout import rollout_status

__all__ = ["Readiness", "judge", "watched_kind"]

ReadinessState = Literal["ready", "waiting", "failed"]

_SELF = {
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("", "Pod"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
}


@dataclass(frozen=True)
class Readiness:
    state: ReadinessState
    message: str

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def failed(self) -> bool:
        return self.state == "failed"


def watched_kind(doc: Mapping[str, Any], *, wait_for_endpoints: bool = False) -> tuple[str, str] | None:
    """``(apiVersion, kind)`` of the object whose state tells whether ``doc`` is ready: the
    object itself, a Service's Endpoints, or None when there is nothing to wait for."""
    api_version, kind = str(doc.get("apiVersion") or ""), str(doc.get("kind") or "")
    group = split_api_version(api_version)[0]
    if (group, kind) in _SELF:
        return api_version, kind
    if (group, kind) == ("", "Service") and wait_for_endpoints:
        spec = doc.get("spec") or {}
        if spec.get("selector") and spec.get("type") != "ExternalName":
            return "v1", "Endpoints"
    return None


def judge(api_version: str, kind: str, obj: Mapping[str, Any]) -> Readiness:
    """The readiness of ``obj`` (of the kind :func:`watched_kind` named)."""
    group = split_api_version(api_version)[0]
    if group == "apps" and kind in ("Deployment", "StatefulSet", "DaemonSet"):
        status = rollout_status({**obj, "apiVersion": api_version, "kind": kind})
        state: ReadinessState = "ready" if status.done else "failed" if status.failed else "waiting"
        return Readiness(state, status.message)
    if (group, kind) == ("batch", "Job"):
        outcome = job_outcome(obj)
        if outcome.state == "succeeded":
            return Readiness("ready", outcome.describe())
        if outcome.state == "failed":
            return Readiness("failed", outcome.describe())
        return Readiness("waiting", outcome.progress_line())
    if (group, kind) == ("", "Pod"):
        return _pod(obj)
    if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        return _crd(obj)
    if (group, kind) == ("", "Endpoints"):
        return _endpoints(obj)
    return Readiness("ready", "applied")


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return (
        f"{meta['namespace']}/{meta.get('name', '')}" if meta.get("namespace") else str(meta.get("name", ""))
    )


def _pod(pod: Mapping[str, Any]) -> Readiness:
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return Readiness("ready", f"pod {_name(pod)} completed")
    if pod_ready(pod):
        return Readiness("ready", f"pod {_name(pod)} is ready")
    problems = "; ".join(p.describe() for p in diagnose_pod(pod))
    if phase == "Failed":
        return Readiness("failed", problems or f"pod {_name(pod)} failed ({pod_status_text(pod)})")
    text = f"pod {_name(pod)} is not ready yet ({pod_status_text(pod)})"
    return Readiness("waiting", f"{text}: {problems}" if problems else text)


def _condition(obj: Mapping[str, Any], condition_type: str) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == condition_type:
            return condition
    return None


def _crd(crd: Mapping[str, Any]) -> Readiness:
    name = _name(crd)
    established = _condition(crd, "Established")
    if established is not None and established.get("status") == "True":
        return Readiness("ready", f"CustomResourceDefinition {name} is established")
    names = _condition(crd, "NamesAccepted")
    if names is not None and names.get("status") == "False":
        why = ": ".join(str(p) for p in (names.get("reason"), names.get("message")) if p)
        return Readiness("failed", f"CustomResourceDefinition {name}: names not accepted: {why}")
    return Readiness("waiting", f"CustomResourceDefinition {name} is not established yet")


def _endpoints(endpoints: Mapping[str, Any]) -> Readiness:
    ready = not_ready = 0
    for subset in endpoints.get("subsets") or []:
        ready += len(subset.get("addresses") or [])
        not_ready += len(subset.get("notReadyAddresses") or [])
    name = _name(endpoints)
    if ready:
        return Readiness("ready", f"service {name} has {ready} ready endpoint{'s' if ready != 1 else ''}")
    return Readiness("waiting", f"service {name} has no ready endpoints yet ({not_ready} not ready)")
