"""``ResourceConditionSensor``: ``kubectl wait`` for any kind, poking or deferred."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from airflow_k8s_workflows.kube.conditions import WaitFor, parse_wait_for
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.sensors.base import KubernetesSensor
from airflow_k8s_workflows.triggers._watching import Target
from airflow_k8s_workflows.triggers.condition import ResourceConditionTrigger, condition_judge

if TYPE_CHECKING:
    from airflow.sdk import Context


class ResourceConditionSensor(KubernetesSensor):
    """Wait until an object meets a condition, like ``kubectl wait``.

    Exactly one of ``condition`` (``"Available"``, ``"Ready=False"``), ``jsonpath``
    (``"{.status.phase}=Running"``; without ``=value`` the path only has to exist) or
    ``deleted=True``. Any kind, custom resources included; ``api_version`` may be left out (the
    kind's preferred version is looked up; ``kind="Deployment.apps"`` picks a group). An object
    deleted while waiting for a condition fails the task at once; one that does not exist yet
    is waited for (``kubectl wait`` would fail). Returns the object's ref
    ``{"apiVersion", "kind", "namespace", "name", "uid"}``::

        ResourceConditionSensor(task_id="web_available", kind="Deployment", name="web",
                                condition="Available", namespace="prod", deferrable=True,
                                timeout=600)
        ResourceConditionSensor(task_id="db_gone", kind="StatefulSet", name="db", deleted=True)
    """

    template_fields: Sequence[str] = (
        *KubernetesSensor.template_fields,
        "kind",
        "name",
        "api_version",
        "condition",
        "jsonpath",
    )

    def __init__(
        self,
        *,
        kind: str,
        name: str,
        api_version: str | None = None,
        condition: str | None = None,
        jsonpath: str | None = None,
        deleted: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not kind:
            raise ValueError("kind: required (e.g. 'Deployment')")
        if not name:
            raise ValueError("name: required")
        given = [n for n, v in (("condition", condition), ("jsonpath", jsonpath), ("deleted", deleted)) if v]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of condition, jsonpath or deleted=True "
                f"(got {', '.join(given) if given else 'none'})"
            )
        if not any("{{" in str(v) for v in (condition, jsonpath) if v):
            parse_wait_for(condition, jsonpath, deleted)  # malformed: fail at parse time, not at run
        self.kind = kind
        self.name = name
        self.api_version = api_version
        self.condition = condition
        self.jsonpath = jsonpath
        self.deleted = deleted
        self._target: Target | None = None
        self._seen: dict[str, str | None] = {"uid": None}

    @property
    def wait_for(self) -> WaitFor:
        return parse_wait_for(self.condition, self.jsonpath, self.deleted)

    def _resolved_target(self) -> Target:
        """The object with its apiVersion, kind and namespace settled (discovery, once per try)."""
        if self._target is None:
            from airflow_k8s_workflows.kube.kinds import resolve_api_version

            api_version, kind = self.api_version, self.kind
            if not api_version:
                api_version, kind = resolve_api_version(
                    self.hook.request, self.hook.cluster_config.identity, self.kind
                )
            resource = self.hook.discover(api_version, kind)
            namespace = self.resolved_namespace if resource.namespaced else None
            self._target = Target(resource.kind, self.name, api_version, namespace)
        return self._target

    def poke(self, context: Context) -> PokeReturnValue:
        target = self._resolved_target()
        assert target.api_version is not None
        obj = self.hook.get_or_none(target.api_version, target.kind, target.name, target.namespace)
        verdict = condition_judge(self.wait_for, target, self._seen)(obj)
        self.log.info("%s", verdict.message)
        if verdict.failed:
            raise KubernetesTaskFailed(verdict.message)
        return PokeReturnValue(verdict.ready, self.poke_result(context) if verdict.ready else None)

    def poke_result(self, context: Context) -> Any:
        target = self._resolved_target()
        return {**target.to_ref(), "uid": self._seen["uid"]}

    def trigger(self) -> ResourceConditionTrigger:
        target = self._resolved_target()
        return ResourceConditionTrigger(
            kind=target.kind,
            name=target.name,
            api_version=target.api_version,
            condition=self.condition,
            jsonpath=self.jsonpath,
            deleted=self.deleted,
            uid=self._seen["uid"],
            cluster=self.trigger_cluster(),
            namespace=target.namespace,
        )
