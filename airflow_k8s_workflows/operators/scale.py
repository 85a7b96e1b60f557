"""Scale a workload through its ``scale`` subresource; create or update its autoscaler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_k8s_workflows.kube.scaling import SCALE_KINDS, ReplicasRequest
from airflow_k8s_workflows.operators.base import KubernetesOperator, KubernetesTaskFailed, raise_for_event

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["AutoscaleOperator", "ScaleOperator"]

_CONFLICT_RETRIES = 5
_STATE_KEY = "scale"


def _templated(*values: Any) -> bool:
    return any(isinstance(v, str) and "{{" in v for v in values)


def _remembered_count(store: Any, kind: str, name: str, namespace: str) -> int | None:
    """The replicas an earlier try of this task instance found before it scaled (task state store)."""
    saved = store.get(_STATE_KEY, None) if store is not None else None
    if not isinstance(saved, dict) or (saved.get("kind"), saved.get("name"), saved.get("namespace")) != (
        kind, name, namespace,
    ):  # fmt: skip
        return None
    previous = saved.get("previous")
    return previous if isinstance(previous, int) else None


def _check_target(kind: Any, name: Any, verb: str) -> tuple[str, str]:
    from airflow_k8s_workflows.kube.manifests import check_object_name

    if kind not in SCALE_KINDS:
        raise ValueError(f"kind: must be one of {list(SCALE_KINDS)}, got {kind!r}")
    if not name or not isinstance(name, str):
        raise ValueError(f"name: the {kind} to {verb} is required, got {name!r}")
    return kind, check_object_name(name, "name", api_version="apps/v1", kind=kind)


class ScaleOperator(KubernetesOperator):
    """Scale a Deployment, StatefulSet or ReplicaSet (``kubectl scale``) and wait until it runs
    that many ready replicas.

    ``replicas`` is a count, or ``"+N"`` / ``"-N"`` relative to the current ``spec.replicas``;
    a relative change is clamped to ``min_replicas`` / ``max_replicas``. A negative, malformed or
    absurd count (above ``max_replicas``, or above 10,000 without it) fails before anything
    changes. Deployments are waited for with rollout semantics, the others until
    ``readyReplicas`` matches. Returns ``{"previous": n, "current": m}``, so a later task can
    scale back: ``replicas="{{ ti.xcom_pull('scale_up')['previous'] }}"``.

    :param kind: ``Deployment`` (default), ``StatefulSet`` or ``ReplicaSet``.
    :param name: the workload (templated).
    :param replicas: ``int``, ``"N"``, ``"+N"`` or ``"-N"`` (templated).
    :param min_replicas: lower bound for relative changes.
    :param max_replicas: upper bound.
    :param wait: wait for the replicas to be ready.

    Example::

        ScaleOperator(task_id="scale_up", name="worker", replicas="+2", max_replicas=20)
    """

    template_fields: Sequence[str] = (
        *KubernetesOperator.template_fields, "kind", "name", "replicas", "min_replicas", "max_replicas",
    )  # fmt: skip
    ui_color = "#e6dcff"

    def __init__(
        self,
        *,
        kind: str = "Deployment",
        name: str,
        replicas: int | str,
        min_replicas: int | str | None = None,
        max_replicas: int | str | None = None,
        wait: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.name = name
        self.replicas = replicas
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.wait_for_ready = wait
        if not _templated(kind, name, replicas, min_replicas, max_replicas):
            self._checked()

    def _checked(self) -> tuple[str, str, ReplicasRequest, int | None, int | None]:
        from airflow_k8s_workflows.kube.scaling import (
            MAX_UNBOUNDED_REPLICAS,
            check_bounds,
            parse_count,
            parse_replicas,
        )

        kind, name = _check_target(self.kind, self.name, "scale")
        low = parse_count(self.min_replicas, "min_replicas", optional=True)
        high = parse_count(self.max_replicas, "max_replicas", optional=True)
        check_bounds(low, high)
        request = parse_replicas(self.replicas)
        if request.relative and high is None and abs(request.value) > MAX_UNBOUNDED_REPLICAS:
            raise ValueError(
                f"replicas: a change of {request} is above {MAX_UNBOUNDED_REPLICAS}; set max_replicas"
            )
        if not request.relative and request.value > (high if high is not None else MAX_UNBOUNDED_REPLICAS):
            limit = f"max_replicas ({high})" if high is not None else f"{MAX_UNBOUNDED_REPLICAS}"
            raise ValueError(f"replicas: {request.value} is above {limit}")
        return kind, name, request, low, high

    def execute(self, context: Context) -> Any:
        from airflow_k8s_workflows.kube.errors import Conflict, NotFound
        from airflow_k8s_workflows.kube.scaling import target_replicas

        kind, name, request, low, high = self._checked()
        namespace = self.resolved_namespace
        store = context.get("task_state_store") if context else None
        remembered = _remembered_count(store, kind, name, namespace)
        for attempt in range(_CONFLICT_RETRIES):
            try:
                scale = self.hook.get("apps/v1", kind, name, namespace, subresource="scale")
            except NotFound:
                raise KubernetesTaskFailed(
                    f'name: {kind} "{name}" not found in namespace "{namespace}"'
                ) from None
            live = int((scale.get("spec") or {}).get("replicas") or 0)
            # A retry or a cleared task counts from the replicas before its first try: "+2" is
            # applied once, and "previous" stays the count to scale back to.
            current = remembered if remembered is not None else live
            target = target_replicas(request, current, low, high)
            if remembered is None and store is not None:
                store.set(
                    _STATE_KEY, {"kind": kind, "name": name, "namespace": namespace, "previous": current}
                )
                remembered = current
            if target == live:
                self.log.info('%s "%s" already has %d replicas', kind, name, live)
                break
            body = {"metadata": {"resourceVersion": scale["metadata"]["resourceVersion"]},
                    "spec": {"replicas": target}}  # fmt: skip
            try:
                self.hook.patch("apps/v1", kind, name, body, namespace, subresource="scale")
            except Conflict:
                if attempt == _CONFLICT_RETRIES - 1:
                    raise
                continue
            self.log.info('%s "%s" scaled from %d to %d replicas', kind, name, live, target)
            break
        result = {"previous": current, "current": target}
        if not self.wait_for_ready:
            return result
        return self._wait_ready(context, kind, name, namespace, result)

    def _wait_ready(self, context: Context, kind: str, name: str, namespace: str,
                    result: dict[str, int]) -> Any:  # fmt: skip
        from airflow_k8s_workflows.operators._waiting import trigger_cluster_for, wait_with_trigger_timeout
        from airflow_k8s_workflows.triggers.scale import ScaleTrigger

        cluster = trigger_cluster_for(self)

        def make(timeout: float | None) -> ScaleTrigger:
            return ScaleTrigger(kind=kind, name=name, namespace=namespace, cluster=cluster, timeout=timeout,
                                echo=result)  # fmt: skip

        return wait_with_trigger_timeout(self, context, make, "execute_complete")

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        raise_for_event(event)
        return event.get("echo")


class AutoscaleOperator(KubernetesOperator):
    """Create or update (server-side apply) the autoscaling/v2 HorizontalPodAutoscaler of a
    Deployment, StatefulSet or ReplicaSet; the HPA is named after its target.

    Give ``metrics`` (autoscaling/v2 metric specs) or ``target_cpu_utilization`` (percent of
    the pods' CPU requests). Everything is checked before anything is sent: ``min_replicas``
    >= 1, ``max_replicas`` >= ``min_replicas``, exactly one of the two metric arguments, each
    metric's shape, and that the target exists. Returns the HPA's reference
    ``{"apiVersion", "kind", "name", "namespace", "uid", "created"}``.

    Example::

        AutoscaleOperator(task_id="autoscale", name="web", min_replicas=2, max_replicas=10,
                          target_cpu_utilization=70)
    """

    template_fields: Sequence[str] = (
        *KubernetesOperator.template_fields, "kind", "name", "min_replicas", "max_replicas", "metrics",
        "target_cpu_utilization",
    )  # fmt: skip
    ui_color = "#e6dcff"

    def __init__(
        self,
        *,
        kind: str = "Deployment",
        name: str,
        min_replicas: int | str,
        max_replicas: int | str,
        metrics: list[dict[str, Any]] | None = None,
        target_cpu_utilization: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.name = name
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.metrics = metrics
        self.target_cpu_utilization = target_cpu_utilization
        if not _templated(kind, name, min_replicas, max_replicas, target_cpu_utilization) and not _templated(
            repr(metrics)
        ):
            self._manifest("default")

    def _manifest(self, namespace: str) -> dict[str, Any]:
        from airflow_k8s_workflows.kube.autoscaling import hpa_manifest
        from airflow_k8s_workflows.kube.scaling import parse_count

        kind, name = _check_target(self.kind, self.name, "autoscale")
        low = parse_count(self.min_replicas, "min_replicas")
        high = parse_count(self.max_replicas, "max_replicas")
        cpu = parse_count(self.target_cpu_utilization, "target_cpu_utilization", optional=True)
        assert low is not None and high is not None
        return hpa_manifest(kind, name, namespace, min_replicas=low, max_replicas=high, metrics=self.metrics,
                            target_cpu_utilization=cpu)  # fmt: skip

    def execute(self, context: Context) -> Any:
        from airflow_k8s_workflows.kube.manifests import validate_manifest

        namespace = self.resolved_namespace
        hpa = self._manifest(namespace)
        validate_manifest(hpa, position=0)
        if self.hook.get_or_none("apps/v1", self.kind, self.name, namespace) is None:
            raise KubernetesTaskFailed(
                f'name: {self.kind} "{self.name}" not found in namespace "{namespace}"'
            )
        existing = self.hook.get_or_none("autoscaling/v2", "HorizontalPodAutoscaler", self.name, namespace)
        applied = self.hook.apply(hpa, namespace, force=True)
        meta = applied["metadata"]
        self.log.info("horizontalpodautoscaler.autoscaling/%s %s: %s/%s, %d-%d replicas", meta["name"],
                      "configured" if existing else "created", self.kind, self.name,
                      hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])  # fmt: skip
        return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": meta["name"],
                "namespace": meta["namespace"], "uid": meta.get("uid"), "created": existing is None}  # fmt: skip
