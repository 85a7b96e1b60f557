"""``kubectl wait`` as a trigger: a condition, a JSONPath value, or deletion, for any kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_k8s_workflows.kube.conditions import DeletedWait, WaitFor, WaitForError, parse_wait_for
from airflow_k8s_workflows.kube.readiness import Readiness
from airflow_k8s_workflows.triggers._watching import Judge, Target, all_ready, resolve, watch_until
from airflow_k8s_workflows.triggers.base import KubernetesTrigger, error, failed, success


class ResourceConditionTrigger(KubernetesTrigger):
    """Wait until an object (or several) meets a ``kubectl wait`` condition.

    Exactly one of ``condition`` (``"Available"``, ``"Ready=False"``), ``jsonpath``
    (``"{.status.phase}=Running"``) or ``deleted=True``. Any kind, custom resources included
    (plural from discovery); without ``api_version`` the kind's preferred version is looked up.
    The current state is checked first, then the shared watch follows the object. An object
    that disappears while waiting for a condition fails the wait at once; one that does not
    exist yet is waited for. ``objects`` (``[{"apiVersion", "kind", "name", "namespace",
    "uid"}]``) waits for several objects at once (like ``kubectl wait a b c``); ``uid`` pins
    the object (a replacement with another uid counts as deleted)::

        ResourceConditionTrigger(kind="Deployment", name="web", condition="Available",
                                 namespace="prod", cluster=hook.trigger_kwargs())

    Event: ``{"status": "success" | "failed" | "error", "message", "result"}``; ``result`` is
    the object's ref (a list of refs with ``objects``).
    """

    def __init__(
        self,
        *,
        kind: str | None = None,
        name: str | None = None,
        api_version: str | None = None,
        condition: str | None = None,
        jsonpath: str | None = None,
        deleted: bool = False,
        uid: str | None = None,
        objects: list[dict[str, Any]] | None = None,
        cluster: dict[str, Any] | None = None,
        kubernetes_conn_id: str = "kubernetes_default",
        namespace: str | None = None,
    ) -> None:
        super().__init__(cluster=cluster, kubernetes_conn_id=kubernetes_conn_id, namespace=namespace)
        if objects is None and not (kind and name):
            raise ValueError("kind and name: both are required (or objects)")
        if objects is not None and (kind or name):
            raise ValueError("give either kind and name or objects, not both")
        if objects is not None and not objects:
            raise ValueError("objects: must list at least one object")
        self.kind = kind
        self.name = name
        self.api_version = api_version
        self.condition = condition
        self.jsonpath = jsonpath
        self.deleted = bool(deleted)
        self.uid = uid
        self.objects = [dict(o) for o in objects] if objects is not None else None
        self.wait_for = parse_wait_for(condition, jsonpath, self.deleted)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "api_version": self.api_version,
            "condition": self.condition,
            "jsonpath": self.jsonpath,
            "deleted": self.deleted,
            "uid": self.uid,
            "objects": self.objects,
        }

    def targets(self) -> list[Target]:
        if self.objects is not None:
            return [Target.from_ref(o) for o in self.objects]
        assert self.kind and self.name
        return [Target(self.kind, self.name, self.api_version, self.namespace, self.uid)]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_k8s_workflows.kube.errors import KubeError

        hook = self.hook()
        try:
            targets = [await resolve(hook, t, self.namespace) for t in self.targets()]
            outcomes = await all_ready(
                [self._wait_one(hook, t) for t in targets], failed=lambda o: o[0].state == "failed"
            )
        except (KubeError, WaitForError) as e:
            yield error(str(e))
            return
        if len(outcomes) == 1 and outcomes[0][0].state == "failed":
            yield failed(outcomes[0][0].message, result=outcomes[0][1].to_ref())
            return
        refs = [target.to_ref() for _, target in outcomes]
        description = self.wait_for.description + ("" if self.deleted else " met")
        if self.objects is None:
            yield success(f"{targets[0].label}: {description}", result=refs[0])
        else:
            yield success(f"{len(refs)} object(s): {description}", result=refs)

    async def _wait_one(self, hook: Any, target: Target) -> tuple[Readiness, Target]:
        seen: dict[str, str | None] = {"uid": target.uid}
        judge = condition_judge(self.wait_for, target, seen)
        verdict, _ = await watch_until(hook, target, judge, self.log.info)
        return verdict, Target(target.kind, target.name, target.api_version, target.namespace, seen["uid"])


def condition_judge(wait: WaitFor, target: Target, seen: dict[str, str | None]) -> Judge:
    """The kubectl-wait judgement for ``target``; ``seen["uid"]`` tracks the object's uid.

    For a condition or JSONPath: absent before it was ever seen is "not yet"; absent (or
    replaced by another uid) after it was seen fails, as ``kubectl wait`` does.
    """
    deleted = parse_wait_for(deleted=True, uid=target.uid) if isinstance(wait, DeletedWait) else None

    def judge(obj: Mapping[str, Any] | None) -> Readiness:
        if deleted is not None:
            done = deleted.matches(obj)
            return Readiness("ready" if done else "waiting", f"{target.label}: {deleted.current(obj)}")
        if obj is None:
            if seen["uid"]:
                return Readiness("failed", f"{target.label} was deleted while waiting for {wait.description}")
            return Readiness("waiting", f"{target.label} not found yet; waiting for it to be created")
        uid = (obj.get("metadata") or {}).get("uid")
        if seen["uid"] and uid and uid != seen["uid"]:
            return Readiness(
                "failed",
                f"{target.label} was deleted and re-created (uid {seen['uid']} is now {uid}) "
                f"while waiting for {wait.description}",
            )
        seen["uid"] = uid or seen["uid"]
        try:
            met = wait.matches(obj)
        except WaitForError as e:
            return Readiness("failed", f"{target.label}: {e}")
        if met:
            return Readiness("ready", f"{target.label}: {wait.description} met")
        return Readiness("waiting", f"{target.label}: waiting for {wait.description} ({wait.current(obj)})")

    return judge
