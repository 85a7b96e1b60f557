"""The namespace controller: a deleted (Terminating) namespace is emptied of every namespaced
resource, custom ones included; once nothing is left, the ``kubernetes`` finalizer is removed
through ``namespaces/{name}/finalize`` and the API server removes the namespace."""

from __future__ import annotations

from collections import Counter
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.clock import rfc3339
from airflow_k8s_workflows.emulator.controllers.base import Controller, ControllerContext, Key
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.registry import ResourceType
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]
NAMESPACES: TypeKey = ("", "namespaces")
FINALIZER = "kubernetes"
_RECHECK = 5.0  # controller seconds between passes while content remains


class NamespaceController(Controller):
    name = "namespace-controller"
    watches = (NAMESPACES,)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self._terminating: set[str] = set()
        self._listening = False

    def start(self) -> None:
        if not self._listening:
            self.api.store.subscribe_all(self._on_change)
        self._listening = True
        super().start()

    async def stop(self) -> None:
        self._listening = False
        await super().stop()

    def _on_change(self, type_key: TypeKey, change: Change) -> None:
        # content leaving a terminating namespace may let it finish
        if self._listening and change.type in ("DELETED", "MODIFIED"):
            ns = change.obj["metadata"].get("namespace")
            if ns in self._terminating:
                self.queue.add(("", ns))

    async def reconcile(self, key: Key) -> float | None:
        name = key[1]
        rt = self.api.rt(*NAMESPACES)
        ns = self.api.try_get(rt, None, name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            self._terminating.discard(name)
            return None
        finalizers = list((ns.get("spec") or {}).get("finalizers") or [])
        if FINALIZER not in finalizers:
            return None
        self._terminating.add(name)
        remaining, held = self._delete_content(name)
        self._set_conditions(name, remaining, held)
        if remaining:
            return _RECHECK
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name},
            "spec": {"finalizers": [f for f in finalizers if f != FINALIZER]},
        }
        self.api.replace(rt, None, name, body, CONTROLLER, subresource="finalize")
        return None

    def _content_types(self) -> list[ResourceType]:
        seen: dict[TypeKey, ResourceType] = {}
        for rt in self.api.registry:
            if rt.namespaced and "delete" in rt.verbs and rt.key not in seen:
                seen[rt.key] = self.api.registry.preferred(*rt.key) or rt
        return list(seen.values())

    def _delete_content(self, namespace: str) -> tuple[Counter[str], Counter[str]]:
        """Delete what is left; returns (instances remaining per resource, per finalizer)."""
        remaining: Counter[str] = Counter()
        held: Counter[str] = Counter()
        for rt in self._content_types():
            for stored in self.api.store.items(rt.key, namespace):
                meta = stored.obj["metadata"]
                if not meta.get("deletionTimestamp"):
                    try:
                        self.api.delete(rt, namespace, meta["name"], CONTROLLER, propagation="Background")
                    except ApiError as e:
                        if e.code not in (404, 409):
                            raise
            for stored in self.api.store.items(rt.key, namespace):
                remaining[f"{rt.resource}.{rt.group}" if rt.group else rt.resource] += 1
                for finalizer in stored.obj["metadata"].get("finalizers") or []:
                    held[finalizer] += 1
        return remaining, held

    def _set_conditions(self, name: str, remaining: Counter[str], held: Counter[str]) -> None:
        def cond(kind: str, status: str, reason: str, message: str) -> Obj:
            return {
                "type": kind,
                "status": status,
                "lastTransitionTime": rfc3339(),
                "reason": reason,
                "message": message,
            }

        wanted = [
            cond(
                "NamespaceDeletionDiscoveryFailure",
                "False",
                "ResourcesDiscovered",
                "All resources successfully discovered",
            ),
            cond(
                "NamespaceDeletionGroupVersionParsingFailure",
                "False",
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed",
            ),
            cond(
                "NamespaceDeletionContentFailure",
                "False",
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization",
            ),
        ]
        if remaining:
            listed = ", ".join(f"{r} has {n} resource instances" for r, n in sorted(remaining.items()))
            wanted.append(
                cond(
                    "NamespaceContentRemaining",
                    "True",
                    "SomeResourcesRemain",
                    f"Some resources are remaining: {listed}",
                )
            )
        else:
            wanted.append(
                cond(
                    "NamespaceContentRemaining", "False", "ContentRemoved", "All content successfully removed"
                )
            )
        if held:
            listed = ", ".join(f"{f} in {n} resource instances" for f, n in sorted(held.items()))
            wanted.append(
                cond(
                    "NamespaceFinalizersRemaining",
                    "True",
                    "SomeFinalizersRemain",
                    f"Some content in the namespace has finalizers remaining: {listed}",
                )
            )
        else:
            wanted.append(
                cond(
                    "NamespaceFinalizersRemaining",
                    "False",
                    "ContentHasNoFinalizers",
                    "All content-preserving finalizers finished",
                )
            )

        def put(ns: Obj) -> None:
            status = ns.setdefault("status", {})
            current = {c.get("type"): c for c in status.get("conditions") or []}
            merged = []
            for c in wanted:
                old = current.get(c["type"])
                same = old is not None and (old.get("status"), old.get("reason"), old.get("message")) == (
                    c["status"],
                    c["reason"],
                    c["message"],
                )
                merged.append(old if same else c)
            status["conditions"] = merged

        self.api.update_status(self.api.rt(*NAMESPACES), None, name, put)
