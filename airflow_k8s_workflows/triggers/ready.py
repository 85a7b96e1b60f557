"""Wait until applied objects are ready, each judged by its kind (``kube.readiness``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_k8s_workflows.kube.readiness import Readiness, judge
from airflow_k8s_workflows.kube.resources import split_api_version
from airflow_k8s_workflows.triggers._watching import Judge, Target, all_ready, resolve, watch_until
from airflow_k8s_workflows.triggers.base import KubernetesTrigger, error, failed, success


class ResourcesReadyTrigger(KubernetesTrigger):
    """Wait until every object in ``objects`` is ready; fail at the first that cannot become so.

    Deployments, StatefulSets and DaemonSets: rollout complete; Jobs: complete; Pods: Ready;
    CustomResourceDefinitions: Established; Services: at least one ready endpoint (list a
    Service only when that is wanted); anything else: ready at once. ``objects`` are refs
    ``{"apiVersion", "kind", "namespace", "name", "uid"}``; an object deleted (or replaced by
    another uid) while waiting fails the wait. ``result`` is handed back in the event as it is
    (default: the refs)::

        ResourcesReadyTrigger(objects=[{"apiVersion": "apps/v1", "kind": "Deployment",
                                        "namespace": "prod", "name": "web", "uid": uid}],
                              cluster=hook.trigger_kwargs())
    """

    def __init__(
        self,
        *,
        objects: list[dict[str, Any]],
        result: Any = None,
        cluster: dict[str, Any] | None = None,
        kubernetes_conn_id: str = "kubernetes_default",
        namespace: str | None = None,
    ) -> None:
        super().__init__(cluster=cluster, kubernetes_conn_id=kubernetes_conn_id, namespace=namespace)
        self.objects = [dict(o) for o in objects]
        self.result = result
        self.pending: dict[str, str] = {}
        """Last progress message per object still waited for (for a timeout message)."""

    def _kwargs(self) -> dict[str, Any]:
        return {"objects": self.objects, "result": self.result}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_k8s_workflows.kube.errors import KubeError

        hook = self.hook()
        result = self.result if self.result is not None else self.objects
        try:
            targets = [await resolve(hook, Target.from_ref(o), self.namespace) for o in self.objects]
            verdicts = await all_ready([self._wait_one(hook, t) for t in targets], lambda v: v.failed)
        except KubeError as e:
            yield error(str(e), result=result)
            return
        if len(verdicts) == 1 and verdicts[0].failed:
            yield failed(verdicts[0].message, result=result)
            return
        yield success(f"{len(targets)} object(s) ready", result=result)

    async def _wait_one(self, hook: Any, target: Target) -> Readiness:
        assert target.api_version is not None
        if split_api_version(target.api_version)[0] == "" and target.kind == "Service":
            watched = Target("Endpoints", target.name, "v1", target.namespace)
            check = endpoints_judge()
        else:
            watched = target
            check = object_judge(target)
        self.pending[target.label] = f"{target.label}: not looked at yet"

        def log(message: str) -> None:
            self.pending[target.label] = message
            self.log.info("%s", message)

        verdict, _ = await watch_until(hook, watched, check, log)
        if verdict.ready:
            self.pending.pop(target.label, None)
        return verdict


def object_judge(target: Target) -> Judge:
    """Readiness of the object itself; gone or replaced fails."""
    assert target.api_version is not None
    api_version = target.api_version

    def check(obj: Mapping[str, Any] | None) -> Readiness:
        uid = (obj.get("metadata") or {}).get("uid") if obj is not None else None
        if obj is None or (target.uid and uid and uid != target.uid):
            return Readiness("failed", f"{target.label} was deleted while waiting for it to become ready")
        verdict = judge(api_version, target.kind, obj)
        return Readiness(verdict.state, f"{target.label}: {verdict.message}")

    return check


def endpoints_judge() -> Judge:
    def check(obj: Mapping[str, Any] | None) -> Readiness:
        if obj is None:
            return Readiness("waiting", "no Endpoints object yet")
        return judge("v1", "Endpoints", obj)

    return check
