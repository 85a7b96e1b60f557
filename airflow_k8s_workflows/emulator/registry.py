"""The resource types the emulator serves: built-in kinds plus those CRDs add at run time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    name: str  # "status", "scale", "log"
    kind: str  # kind of the subresource's body
    group: str = ""
    version: str = ""
    verbs: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    """One served resource, e.g. ``apps/v1 deployments``.

    Objects are stored per (group, resource); a CRD's several versions share one store
    (no conversion: the emulator rewrites ``apiVersion`` only).
    """

    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # generation is bumped on spec changes (not for ConfigMaps, Secrets, ...)
    has_generation: bool = False
    # default propagation of a DELETE without one (batch/v1 Jobs orphan their pods)
    default_propagation: str = "Background"
    # extra field selectors beyond metadata.name / metadata.namespace
    field_selectors: tuple[str, ...] = ()
    # a CRD's structural schema (openAPIV3Schema) for validation/apply, if any
    crd_schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    # scale subresource paths for CRDs
    scale_paths: tuple[str, str, str] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.resource)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def is_custom(self) -> bool:
        return self.crd_schema is not None or self.scale_paths is not None or _is_crd_group(self.group)

    def has_subresource(self, name: str) -> bool:
        return any(s.name == name for s in self.subresources)

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    def base_path(self, namespace: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{root}/namespaces/{namespace}/{self.resource}"
        return f"{root}/{self.resource}"


_BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "autoscaling",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
    "events.k8s.io",
    "authorization.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "policy",
    "networking.k8s.io",
}


def _is_crd_group(group: str) -> bool:
    return group not in _BUILTIN_GROUPS


def _status() -> Subresource:
    return Subresource("status", "")


def _scale() -> Subresource:
    return Subresource("scale", "Scale", "autoscaling", "v1")


_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_EVENTS_V1_FIELDS = (
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "type",
    "deprecatedSource",
)

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",),
                 subresources=(_status(), Subresource("finalize", "Namespace", verbs=("update",))),
                 field_selectors=("status.phase",)),
    ResourceType("", "v1", "nodes", "Node", namespaced=False, short_names=("no",),
                 subresources=(_status(),), field_selectors=("spec.unschedulable",)),
    ResourceType("", "v1", "pods", "Pod", short_names=("po",), categories=("all",),
                 subresources=(_status(), Subresource("log", "Pod", verbs=("get",)),
                               Subresource("binding", "Binding", verbs=("create",)),
                               Subresource("eviction", "Eviction", "policy", "v1", verbs=("create",))),
                 has_generation=True, field_selectors=_POD_FIELDS),
    ResourceType("", "v1", "services", "Service", short_names=("svc",), categories=("all",),
                 subresources=(_status(),)),
    ResourceType("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    ResourceType("", "v1", "secrets", "Secret", field_selectors=("type",)),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    ResourceType("", "v1", "events", "Event", short_names=("ev",), field_selectors=_EVENT_FIELDS),
    ResourceType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",),
                 subresources=(_status(),)),
    ResourceType("", "v1", "resourcequotas", "ResourceQuota", short_names=("quota",), subresources=(_status(),)),
    ResourceType("", "v1", "limitranges", "LimitRange", short_names=("limits",)),
    ResourceType("events.k8s.io", "v1", "events", "Event", short_names=("ev",), field_selectors=_EVENTS_V1_FIELDS),
    ResourceType("apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=("all",),
                 subresources=(_status(), _scale()), has_generation=True),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=("all",),
                 subresources=(_status(), _scale()), has_generation=True, field_selectors=("status.replicas",)),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), categories=("all",),
                 subresources=(_status(), _scale()), has_generation=True),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=("all",),
                 subresources=(_status(),), has_generation=True),
    ResourceType("apps", "v1", "controllerrevisions", "ControllerRevision"),
    ResourceType("batch", "v1", "jobs", "Job", categories=("all",), subresources=(_status(),),
                 has_generation=True, default_propagation="Orphan", field_selectors=("status.successful",)),
    ResourceType("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), categories=("all",),
                 subresources=(_status(),), has_generation=True),
    ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
                 short_names=("hpa",), categories=("all",), subresources=(_status(),), has_generation=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                 namespaced=False, short_names=("crd", "crds"), subresources=(_status(),), has_generation=True),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",),
                 subresources=(_status(),), has_generation=True),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
                 namespaced=False, verbs=("create",)),
    ResourceType("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview",
                 namespaced=False, verbs=("create",)),
)  # fmt: skip


class Registry:
    """Looks resource types up by path, kind or short name; CRDs register and unregister here."""

    def __init__(self, types: Iterable[ResourceType] = BUILTIN_TYPES) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self._crd_types: dict[str, list[ResourceType]] = {}
        for rt in types:
            self._add(rt)

    def _add(self, rt: ResourceType) -> None:
        self._by_gvr[(rt.group, rt.version, rt.resource)] = rt

    def get(self, group: str, version: str, resource: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, resource))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self._by_gvr.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def by_key(self, group: str, resource: str) -> list[ResourceType]:
        return [rt for rt in self._by_gvr.values() if rt.group == group and rt.resource == resource]

    def preferred(self, group: str, resource: str) -> ResourceType | None:
        found = self.by_key(group, resource)
        return found[0] if found else None

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._by_gvr.values()))

    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first ("" is the core group)."""
        out: dict[str, list[str]] = {}
        for rt in self._by_gvr.values():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def types_in(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._by_gvr.values() if rt.group == group and rt.version == version]

    # -- CustomResourceDefinitions ---------------------------------------------------------
    def register_crd(self, crd: dict[str, Any]) -> list[ResourceType]:
        """Serve the custom resources a CRD defines (all its served versions)."""
        name = crd["metadata"]["name"]
        self.unregister_crd(name)
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        added: list[ResourceType] = []
        versions = [v for v in spec.get("versions", []) if v.get("served", True)]
        # storage version first so it is the preferred one in discovery
        versions.sort(key=lambda v: not v.get("storage", False))
        for v in versions:
            subs: list[Subresource] = []
            sub_spec = v.get("subresources") or {}
            scale_paths = None
            if "status" in sub_spec:
                subs.append(_status())
            if "scale" in sub_spec:
                subs.append(_scale())
                sc = sub_spec["scale"] or {}
                scale_paths = (
                    sc.get("specReplicasPath", ".spec.replicas"),
                    sc.get("statusReplicasPath", ".status.replicas"),
                    sc.get("labelSelectorPath", ""),
                )
            schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
            }
            rt = ResourceType(
                group=spec["group"],
                version=v["name"],
                resource=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple(subs),
                has_generation=True,
                crd_schema=schema,
                scale_paths=scale_paths,
            )
            self._add(rt)
            added.append(rt)
        self._crd_types[name] = added
        return added

    def unregister_crd(self, crd_name: str) -> list[ResourceType]:
        removed = self._crd_types.pop(crd_name, [])
        for rt in removed:
            self._by_gvr.pop((rt.group, rt.version, rt.resource), None)
        return removed
