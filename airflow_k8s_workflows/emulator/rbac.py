"""Authentication by bearer token and RBAC authorization over the stored Roles and bindings.

The kubeconfig's token belongs to ``system:admin`` (group ``system:masters``: allowed
everything, like a cluster admin certificate). Other tokens are issued for a user or a
ServiceAccount and are authorized by the stored ``Role``/``ClusterRole``/``RoleBinding``/
``ClusterRoleBinding`` objects, exactly as the RBAC authorizer does; a denial is the real 403.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .registry import ResourceType
from .store import Store

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
# paths every authenticated user may read (the system:discovery and public-info-viewer roles)
DISCOVERY_PREFIXES = ("/api", "/apis", "/version", "/openapi", "/healthz", "/livez", "/readyz")


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()

    @property
    def superuser(self) -> bool:
        return MASTERS in self.groups


ADMIN = UserInfo("system:admin", (MASTERS, "system:authenticated"))


@dataclass
class TokenAuthenticator:
    """Bearer tokens to users; ``issue()`` makes new ones."""

    tokens: dict[str, UserInfo] = field(default_factory=dict)

    def add(self, token: str, user: UserInfo) -> str:
        self.tokens[token] = user
        return token

    def issue(self, user: str, groups: Iterable[str] = ()) -> str:
        return self.add(secrets.token_urlsafe(24), UserInfo(user, (*groups, "system:authenticated")))

    def issue_for_service_account(self, namespace: str, name: str) -> str:
        return self.issue(
            f"system:serviceaccount:{namespace}:{name}",
            ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"),
        )

    def authenticate(self, header: str) -> UserInfo | None:
        if not header.startswith("Bearer "):
            return None
        return self.tokens.get(header[len("Bearer ") :].strip())


def _matches(values: Iterable[str], wanted: str) -> bool:
    values = list(values or [])
    return "*" in values or wanted in values


def _rule_allows(rule: Obj, verb: str, group: str, resource: str, subresource: str, name: str) -> bool:
    if not _matches(rule.get("verbs") or [], verb):
        return False
    if not _matches(rule.get("apiGroups") or [], group):
        return False
    resources = rule.get("resources") or []
    target = f"{resource}/{subresource}" if subresource else resource
    if not (
        "*" in resources
        or target in resources
        or (subresource and f"*/{subresource}" in resources)
        or (subresource and f"{resource}/*" in resources)
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or (name != "" and name in names)


def _subject_matches(subject: Obj, user: UserInfo, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return bool(subject.get("name") == user.name)
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{ns}:{subject.get('name')}"
    return False


class RbacAuthorizer:
    """Decides a request from the Roles and bindings in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _role_rules(self, ref: Obj, namespace: str) -> list[Obj]:
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "ClusterRole":
            role = self.store.get((RBAC, "clusterroles"), ("", name))
        else:
            role = self.store.get((RBAC, "roles"), (namespace, name))
        return list((role or {}).get("rules") or [])

    def allowed(self, user: UserInfo, verb: str, group: str, resource: str, subresource: str,
                namespace: str | None, name: str) -> bool:  # fmt: skip
        if user.superuser:
            return True
        for stored in self.store.items((RBAC, "clusterrolebindings")):
            binding = stored.obj
            if any(_subject_matches(s, user, "") for s in binding.get("subjects") or []):
                rules = self._role_rules(binding.get("roleRef") or {}, "")
                if any(_rule_allows(r, verb, group, resource, subresource, name) for r in rules):
                    return True
        if namespace:
            for stored in self.store.items((RBAC, "rolebindings"), namespace):
                binding = stored.obj
                if any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
                    rules = self._role_rules(binding.get("roleRef") or {}, namespace)
                    if any(_rule_allows(r, verb, group, resource, subresource, name) for r in rules):
                        return True
        return False

    def check(self, user: UserInfo, verb: str, rt: ResourceType, namespace: str | None, name: str,
              subresource: str) -> None:  # fmt: skip
        ns = namespace if rt.namespaced else None
        if self.allowed(user, verb, rt.group, rt.resource, subresource, ns, name):
            return
        raise errors.forbidden(user.name, verb, rt.group, rt.resource, ns, name, subresource)


def default_cluster_roles() -> list[Obj]:
    """The bootstrap roles users bind to: cluster-admin, admin, edit, view."""
    read = ["get", "list", "watch"]
    write = ["create", "delete", "deletecollection", "patch", "update"]
    workloads = [
        {"apiGroups": [""], "resources": ["pods", "pods/log", "pods/status", "services", "endpoints", "configmaps",
                                          "persistentvolumeclaims", "serviceaccounts", "events"]},
        {"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale", "deployments/status", "replicasets",
                                              "replicasets/scale", "statefulsets", "statefulsets/scale", "daemonsets"]},
        {"apiGroups": ["batch"], "resources": ["jobs", "jobs/status", "cronjobs"]},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"]},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"]},
    ]  # fmt: skip
    view = [{**r, "verbs": read} for r in workloads]
    edit = [{**r, "verbs": read + write} for r in workloads] + [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": read + write}
    ]
    admin = [*edit, {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": read + write}]
    everything = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]

    def role(name: str, rules: list[Obj]) -> Obj:
        return {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": rules,
        }

    basic = [{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
              "verbs": ["create"]}]  # fmt: skip
    return [role("cluster-admin", everything), role("admin", admin), role("edit", edit), role("view", view),
            role("system:basic-user", basic)]  # fmt: skip


def default_cluster_role_bindings() -> list[Obj]:
    """Every authenticated user may ask what it may do (``kubectl auth can-i``)."""
    return [
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {
                "name": "system:basic-user",
                "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            },
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "system:basic-user"},
            "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": "system:authenticated"}],
        }
    ]
