"""``RolloutSensor``: until a Deployment, StatefulSet or DaemonSet has rolled out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_k8s_workflows.kube.rollout import rollout_status
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.sensors.base import KubernetesSensor
from airflow_k8s_workflows.triggers.rollout import RolloutTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context, PokeReturnValue

__all__ = ["RolloutSensor"]

_KINDS = RolloutTrigger.kinds


class RolloutSensor(KubernetesSensor):
    """Wait for a rollout to complete, with ``kubectl rollout status`` semantics.

    Poke mode judges a GET of the workload; deferrable mode waits on the shared watch in the
    triggerer (:class:`~airflow_k8s_workflows.triggers.rollout.RolloutTrigger`). A rollout that
    fails (ProgressDeadlineExceeded, another revision than ``revision``) fails the task with
    the failing pods' problems and recent Warning events. Returns the workload's summary
    (kind, name, namespace, revision, replicas, images).

    :param kind: ``Deployment`` (default), ``StatefulSet`` or ``DaemonSet``.
    :param name: the workload (templated).
    :param revision: Deployments only: the revision that must be rolling out.

    Example::

        RolloutSensor(task_id="web_rolled_out", name="web", namespace="prod",
                      deferrable=True, timeout=900)
    """

    template_fields: Sequence[str] = (*KubernetesSensor.template_fields, "kind", "name", "revision")

    def __init__(self, *, kind: str = "Deployment", name: str, revision: int | str | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.kind = kind
        self.name = name
        self.revision = revision
        self._last_message: str | None = None
        self._result: dict[str, Any] | None = None
        if "{{" not in str(kind) and "{{" not in str(name):
            self._checked()

    def _checked(self) -> tuple[str, str, int | None]:
        from airflow_k8s_workflows.kube.manifests import check_object_name
        from airflow_k8s_workflows.kube.scaling import parse_count

        if self.kind not in _KINDS:
            raise ValueError(f"kind: must be one of {list(_KINDS)}, got {self.kind!r}")
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"name: the {self.kind} to watch is required")
        check_object_name(self.name, "name", api_version="apps/v1", kind=self.kind)
        revision = (
            parse_count(self.revision, "revision", optional=True) if "{{" not in str(self.revision) else None
        )
        if revision is not None and self.kind != "Deployment":
            raise ValueError(f"revision: only Deployments have revisions, not {self.kind}")
        return self.kind, self.name, revision or None

    def trigger(self) -> RolloutTrigger:
        kind, name, revision = self._checked()
        return RolloutTrigger(kind=kind, name=name, revision=revision, namespace=self.resolved_namespace,
                              cluster=self.trigger_cluster())  # fmt: skip

    def execute(self, context: Context) -> Any:
        self._checked()
        return super().execute(context)

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow.sdk import PokeReturnValue

        from airflow_k8s_workflows.triggers.workload import workload_result

        kind, name, revision = self._checked()
        obj = self.hook.get("apps/v1", kind, name, self.resolved_namespace)
        verdict = rollout_status(obj, revision)
        if verdict.message != self._last_message:
            self.log.info("%s", verdict.message)
            self._last_message = verdict.message
        if verdict.failed:
            raise KubernetesTaskFailed(f"{verdict.message}\n{self._diagnosis(obj)}".rstrip())
        self._result = workload_result(obj) if verdict.done else None
        return PokeReturnValue(verdict.done, self._result)

    def poke_result(self, context: Context) -> Any:
        return self._result

    def _diagnosis(self, obj: dict[str, Any]) -> str:
        from airflow_k8s_workflows.hooks.kubernetes import AsyncClusterHook
        from airflow_k8s_workflows.triggers.workload import collect_diagnosis

        hook = AsyncClusterHook(cluster_config=self.hook.cluster_config)
        return asyncio.run(collect_diagnosis(hook, obj)).text()
