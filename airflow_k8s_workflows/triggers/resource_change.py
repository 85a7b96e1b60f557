"""Changes of any Kubernetes resource as Airflow trigger events: a Deployment became unavailable,
a Job failed, a ConfigMap's data changed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from airflow.triggers.base import TriggerEvent

from airflow_k8s_workflows.kube.conditions import JSONPathWait, WaitFor, parse_wait_for
from airflow_k8s_workflows.kube.resources import ResourceRef
from airflow_k8s_workflows.kube.selectors import check_field_selector, check_label_selector
from airflow_k8s_workflows.kube.transitions import EVENT_TYPES, FIRE_ON, Change, ChangeDetector
from airflow_k8s_workflows.triggers.base import DEFAULT_CONN_ID
from airflow_k8s_workflows.triggers.watcher import WatcherTrigger

__all__ = ["BUILTIN_API_VERSIONS", "ResourceChangeTrigger"]

BUILTIN_API_VERSIONS: dict[str, str] = {
    **dict.fromkeys(
        ("Pod", "Service", "ConfigMap", "Secret", "Namespace", "Node", "PersistentVolumeClaim",
         "PersistentVolume", "ServiceAccount", "Endpoints", "ResourceQuota", "LimitRange",
         "ReplicationController", "Event"),
        "v1",
    ),
    **dict.fromkeys(("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ControllerRevision"), "apps/v1"),
    **dict.fromkeys(("Job", "CronJob"), "batch/v1"),
    "HorizontalPodAutoscaler": "autoscaling/v2",
    **dict.fromkeys(("Ingress", "NetworkPolicy"), "networking.k8s.io/v1"),
    "PodDisruptionBudget": "policy/v1",
    "Lease": "coordination.k8s.io/v1",
    "StorageClass": "storage.k8s.io/v1",
    **dict.fromkeys(("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"), "rbac.authorization.k8s.io/v1"),
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
}  # fmt: skip
"""Kinds whose ``api_version`` may be left out."""


class ResourceChangeTrigger(WatcherTrigger):
    """Fires once per change of a watched collection of any resource (core, apps, batch, CRDs).

    Without a predicate every ADDED / MODIFIED / DELETED (of ``event_types``) after the start
    fires. With ``condition`` or ``jsonpath`` (``kubectl wait`` syntax, ``kube.conditions``):

    * ``fire_on="enter"`` (default): an object *entering* the state fires once — not while the
      state merely holds, and not for objects already in it when the trigger first started;
    * ``fire_on="change"`` (``jsonpath`` without ``=value``): the value at the path differs from
      the one last seen for that object.

    Persistence and de-duplication as for :class:`KubernetesEventTrigger`: position and each
    object's last state in the asset state store (in memory outside a watcher), no repeat across
    reconnects, relists and restarts.

    Payload: ``type`` (ADDED / MODIFIED / DELETED), ``object`` {apiVersion, kind, name,
    namespace, uid}, ``resourceVersion``, ``predicate`` (its description), ``value`` (the
    condition entry or the jsonpath value; ``<redacted>`` for Secrets), ``cluster``.

    Examples::

        ResourceChangeTrigger(kind="Deployment", namespace="prod", condition="Available=False")
        ResourceChangeTrigger(kind="Job", namespace="batch", condition="Failed")
        ResourceChangeTrigger(kind="ConfigMap", namespace="prod", label_selector="app=web",
                              jsonpath="{.data}", fire_on="change", event_types=["MODIFIED"])
    """

    state_prefix: ClassVar[str] = "k8s-changes"
    stream_name: ClassVar[str] = "airflow-k8s-workflows/resources"

    def __init__(
        self,
        *,
        kind: str,
        api_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        event_types: Sequence[str] = EVENT_TYPES,
        condition: str | None = None,
        jsonpath: str | None = None,
        fire_on: str = "enter",
        namespace: str | None = None,
        all_namespaces: bool = False,
        once: bool = False,
        kubernetes_conn_id: str = DEFAULT_CONN_ID,
        cluster: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(kubernetes_conn_id=kubernetes_conn_id, namespace=namespace,
                         all_namespaces=all_namespaces, once=once, cluster=cluster)  # fmt: skip
        if not isinstance(kind, str) or not kind.strip():
            raise ValueError(f"kind: must be a non-empty string, got {kind!r}")
        self.kind = kind.strip()
        self.api_version = api_version or BUILTIN_API_VERSIONS.get(self.kind)
        self.label_selector = check_label_selector(label_selector)
        self.field_selector = check_field_selector(field_selector)
        types = [event_types] if isinstance(event_types, str) else list(event_types)
        unknown = [t for t in types if t not in EVENT_TYPES]
        if not types or unknown:
            raise ValueError(
                f"event_types: must be a non-empty subset of {', '.join(EVENT_TYPES)}, got {types!r}"
            )
        self.event_types = [t for t in EVENT_TYPES if t in types]
        if condition is not None and jsonpath is not None:
            raise ValueError("give condition or jsonpath, not both")
        if fire_on not in FIRE_ON:
            raise ValueError(f"fire_on: must be one of {', '.join(FIRE_ON)}, got {fire_on!r}")
        self.condition = condition
        self.jsonpath = jsonpath
        self.fire_on = fire_on
        self.predicate: WaitFor | None = None
        if condition is not None or jsonpath is not None:
            self.predicate = parse_wait_for(condition=condition, jsonpath=jsonpath)
        if fire_on == "change" and not (
            isinstance(self.predicate, JSONPathWait) and self.predicate.value is None
        ):
            raise ValueError(
                'fire_on="change" needs jsonpath without "=value" (the value whose changes count)'
            )

    def _own_kwargs(self) -> dict[str, Any]:
        given = {
            "kind": self.kind,
            "api_version": self.api_version,
            "label_selector": self.label_selector,
            "field_selector": self.field_selector,
            "event_types": self.event_types if self.event_types != list(EVENT_TYPES) else None,
            "condition": self.condition,
            "jsonpath": self.jsonpath,
            "fire_on": self.fire_on if self.fire_on != "enter" else None,
        }
        return {k: v for k, v in given.items() if v is not None}

    def _stream_fields(self) -> tuple[Any, ...]:
        return (self.api_version or "", self.kind, self.label_selector or "", self.field_selector or "")

    def _describe(self) -> str:
        what = f" {self.predicate.description}" if self.predicate else ""
        return f"ResourceChangeTrigger({self.kind}{what})"

    async def _resource(self, hook: Any) -> ResourceRef:
        api_version = self.api_version
        kind = self.kind
        if api_version is None:
            from airflow_k8s_workflows.kube.kinds import aresolve_api_version

            api_version, kind = await aresolve_api_version(hook.request, hook.identity, kind)
        namespace = None if self.all_namespaces else await hook.aget_namespace(self.namespace)
        ref: ResourceRef = await hook.resource(
            api_version, kind, namespace, all_namespaces=self.all_namespaces
        )
        return ref

    def _selectors(self, *, shared: bool) -> tuple[str | None, str | None]:
        return self.label_selector, self.field_selector

    def _detector(self) -> ChangeDetector:
        return ChangeDetector(
            predicate=self.predicate,
            fire_on="change" if self.fire_on == "change" else "enter",
            event_types=self.event_types,
            redact=self.kind == "Secret",
        )

    def _payload(self, change: Change) -> TriggerEvent:
        obj = change.object
        meta = obj.get("metadata") or {}
        return TriggerEvent(
            {
                "type": change.type,
                "object": {
                    "apiVersion": obj.get("apiVersion") or self.api_version,
                    "kind": obj.get("kind") or self.kind,
                    "name": meta.get("name"),
                    "namespace": meta.get("namespace"),
                    "uid": meta.get("uid"),
                },
                "resourceVersion": meta.get("resourceVersion"),
                "predicate": self.predicate.description if self.predicate else None,
                "value": change.value,
                "cluster": self.kubernetes_conn_id,
            }
        )

    def _initial_events(
        self, detector: ChangeDetector, snapshot: Iterable[dict[str, Any]]
    ) -> list[TriggerEvent]:
        return [self._payload(change) for change in detector.start(snapshot)]

    def _event_for(
        self, detector: ChangeDetector, event_type: str, obj: dict[str, Any]
    ) -> TriggerEvent | None:
        change = detector.feed(event_type, obj)
        return self._payload(change) if change is not None else None
