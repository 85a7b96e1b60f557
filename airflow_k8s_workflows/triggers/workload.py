"""The wait shared by rollouts and scaling: watch one workload, judge every state, explain failures.

:class:`WorkloadTrigger` checks the current state first, then follows the shared watch on the
object (``name=``), judging each change with a ``kube/`` function (subclasses pick it). It logs
the judgement's message whenever it changes ("Waiting for deployment "web" rollout to finish: 2 of
4 updated replicas are available...") and yields one event:

``{"status": "success"|"failed"|"timeout"|"error", "message", "reason", "kind", "name",
"namespace", "result", "problems", "warnings", "echo"}`` — ``problems`` and ``warnings`` say why
(the failing pods' problems and recent Warning events), ``echo`` is what the operator asked to
get back (Airflow drops defer kwargs in some paths; the payload always arrives).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from airflow.triggers.base import TriggerEvent

from airflow_k8s_workflows.kube.rollout import RolloutStatus, deployment_revision
from airflow_k8s_workflows.kube.workloads import (
    Diagnosis,
    controlled_pods,
    diagnose,
    kind_noun,
    label_selector_text,
    new_replica_set,
)
from airflow_k8s_workflows.triggers.base import KubernetesTrigger

__all__ = ["WorkloadTrigger", "collect_diagnosis", "workload_result"]


def workload_result(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a finished wait reports about the workload (JSON-safe)."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    try:
        revision: int | None = deployment_revision(obj) or None
    except ValueError:
        revision = None
    return {
        "kind": obj.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "generation": meta.get("generation"),
        "revision": revision if obj.get("kind") == "Deployment" else None,
        "replicas": spec.get("replicas"),
        "ready_replicas": status.get("readyReplicas", status.get("numberReady", 0)),
        "images": [
            c.get("image") for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        ],
    }


async def collect_diagnosis(hook: Any, obj: Mapping[str, Any]) -> Diagnosis:
    """Why ``obj`` (a Deployment, StatefulSet, DaemonSet or ReplicaSet) is not progressing:
    :func:`~airflow_k8s_workflows.kube.workloads.diagnose` over the pods of its new ReplicaSet
    (Deployments) or its own pods, and the Warning events about them. ``hook``: an
    ``AsyncClusterHook``. Best effort: a failed lookup yields what was found."""
    meta = obj.get("metadata") or {}
    namespace, name, kind = meta.get("namespace"), str(meta.get("name") or ""), str(obj.get("kind") or "")
    selector = label_selector_text((obj.get("spec") or {}).get("selector"))
    owner: Mapping[str, Any] = obj
    involved = {name}
    pods: list[Mapping[str, Any]] = []
    events: list[Mapping[str, Any]] = []
    try:
        if kind == "Deployment":
            rss = await hook.list("apps/v1", "ReplicaSet", namespace, label_selector=selector or None)
            rs = new_replica_set(obj, rss)
            if rs is not None:
                owner = rs
                involved.add(str((rs.get("metadata") or {}).get("name")))
        all_pods = await hook.list("v1", "Pod", namespace, label_selector=selector or None)
        pods = controlled_pods(owner, all_pods)
        events = await hook.list("v1", "Event", namespace, field_selector="type=Warning")
    except Exception as e:  # diagnosis must never hide the failure it explains
        return Diagnosis(warnings=(f"(could not look at {kind_noun(kind)} {name!r}'s pods and events: {e})",))
    return diagnose(pods, events, involved)


class WorkloadTrigger(KubernetesTrigger):
    """Base of :class:`RolloutTrigger` and :class:`ScaleTrigger` (not used directly).

    :param kind: the workload's kind (apps/v1); subclasses list the ones they judge.
    :param name: the workload's name.
    :param timeout: seconds to wait before a ``timeout`` event (None: until an outcome).
    :param echo: JSON-safe values returned unchanged in the event (``payload["echo"]``).
    """

    kinds: ClassVar[tuple[str, ...]] = ()
    api_version: ClassVar[str] = "apps/v1"

    def __init__(
        self,
        *,
        kind: str,
        name: str,
        timeout: float | None = None,
        echo: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if kind not in self.kinds:
            raise ValueError(f"kind: must be one of {list(self.kinds)}, got {kind!r}")
        if not name:
            raise ValueError(f"name: the {kind} to wait for is required")
        self.kind = kind
        self.name = name
        self.timeout = timeout
        self.echo = echo

    def _kwargs(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "timeout": self.timeout, "echo": self.echo}

    def judge(self, obj: Mapping[str, Any]) -> RolloutStatus:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        return f'{kind_noun(self.kind)} "{self.name}"'

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_k8s_workflows.kube.errors import KubeError

        try:
            payload = await self._wait()
        except KubeError as e:
            payload = self._payload("error", f"{self.describe()}: {e}")
        yield TriggerEvent(payload)

    def _payload(
        self,
        status: str,
        message: str,
        *,
        obj: Mapping[str, Any] | None = None,
        reason: str | None = None,
        diagnosis: Diagnosis | None = None,
    ) -> dict[str, Any]:
        diagnosis = diagnosis or Diagnosis()
        details = diagnosis.text()
        return {
            "status": status,
            "message": f"{message}\n{details}" if details else message,
            "reason": reason,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "result": workload_result(obj) if obj is not None else None,
            "problems": list(diagnosis.problems),
            "warnings": list(diagnosis.warnings),
            "echo": self.echo,
        }

    async def _wait(self) -> dict[str, Any]:
        from airflow_k8s_workflows.kube.watch import shared_watch

        hook = self.hook()
        self.namespace = await self.resolved_namespace()
        ref = await hook.resource(self.api_version, self.kind, self.namespace)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        last_message: str | None = None
        async with shared_watch(hook, ref, name=self.name, replay_snapshot=False) as sub:
            obj: Mapping[str, Any] | None = sub.snapshot.get((self.namespace, self.name))
            if obj is None:
                return self._payload("error", f"{self.describe()} not found in namespace {self.namespace!r}")
            while True:
                verdict = self.judge(obj)
                if verdict.message != last_message:
                    self.log.info("%s", verdict.message)
                    last_message = verdict.message
                if verdict.done:
                    return self._payload("success", verdict.message, obj=obj)
                if verdict.failed:
                    diagnosis = await collect_diagnosis(hook, obj)
                    return self._payload(
                        "failed", verdict.message, obj=obj, reason=verdict.reason, diagnosis=diagnosis
                    )
                left = None if deadline is None else deadline - time.monotonic()
                try:
                    if left is not None and left <= 0:
                        raise asyncio.TimeoutError
                    event_type, changed = await asyncio.wait_for(sub.__anext__(), left)
                except asyncio.TimeoutError:
                    diagnosis = await collect_diagnosis(hook, obj)
                    message = (
                        f"timed out after {self.timeout:g}s waiting for {self.describe()}: {verdict.message}"
                    )
                    return self._payload("timeout", message, obj=obj, reason="Timeout", diagnosis=diagnosis)
                if event_type == "DELETED":
                    return self._payload("error", f"{self.describe()} was deleted while waiting", obj=changed)
                obj = changed
