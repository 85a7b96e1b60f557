"""The garbage collector: owner references across every resource type, custom ones included.

Like kube-controller-manager's, it keeps a graph of owners and dependents (by uid) and
- deletes dependents whose owners are all gone (Background, the default),
- for an owner with ``deletionTimestamp`` and the ``foregroundDeletion`` finalizer, deletes its
  dependents (recursively in the foreground when they have dependents of their own) and removes
  the finalizer once no dependent with ``blockOwnerDeletion`` is left,
- for an owner with the ``orphan`` finalizer, removes the owner reference from its dependents,
  then the finalizer.
Work items are object uids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.controllers.base import Controller, ControllerContext, Key
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.registry import ResourceType
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


@dataclass(frozen=True, slots=True)
class Node:
    type_key: TypeKey
    namespace: str
    name: str
    uid: str
    owners: tuple[Obj, ...]
    deleting: bool
    finalizers: tuple[str, ...]

    @classmethod
    def of(cls, type_key: TypeKey, obj: Obj) -> Node:
        meta = obj["metadata"]
        return cls(
            type_key,
            meta.get("namespace", ""),
            meta["name"],
            meta.get("uid", ""),
            tuple(meta.get("ownerReferences") or ()),
            bool(meta.get("deletionTimestamp")),
            tuple(meta.get("finalizers") or ()),
        )

    @property
    def waiting_for_dependents(self) -> bool:
        return self.deleting and FOREGROUND in self.finalizers


class GarbageCollector(Controller):
    name = "garbage-collector-controller"
    watches = ()
    start_order = 10

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self._nodes: dict[str, Node] = {}
        self._dependents: dict[str, set[str]] = {}
        self._listening = False

    # -- the graph --------------------------------------------------------------------------
    def start(self) -> None:
        store = self.api.store
        if not self._listening:
            store.subscribe_all(self._on_change)
        self._listening = True
        for type_key in store.types():
            for stored in store.items(type_key):
                self._observe(type_key, stored.obj)
        super().start()

    async def stop(self) -> None:
        self._listening = False  # the store has no unsubscribe for global listeners
        await super().stop()

    def _on_change(self, type_key: TypeKey, change: Change) -> None:
        if not self._listening:
            return
        if change.type == "DELETED":
            self._forget(change.obj)
        else:
            self._observe(type_key, change.obj)

    def _observe(self, type_key: TypeKey, obj: Obj) -> None:
        node = Node.of(type_key, obj)
        if not node.uid:
            return
        old = self._nodes.get(node.uid)
        self._nodes[node.uid] = node
        old_owners = {r.get("uid") for r in old.owners} if old else set()
        new_owners = {r.get("uid") for r in node.owners}
        for gone in old_owners - new_owners:
            self._unlink(gone, node.uid)
        for owner in new_owners - old_owners:
            if owner:
                self._dependents.setdefault(owner, set()).add(node.uid)
        if node.deleting and (FOREGROUND in node.finalizers or ORPHAN in node.finalizers):
            self._enqueue(node.uid)
        if node.owners and any(self._owner_state(node, r) != "solid" for r in node.owners):
            self._enqueue(node.uid)

    def _forget(self, obj: Obj) -> None:
        uid = obj["metadata"].get("uid", "")
        node = self._nodes.pop(uid, None)
        if node is not None:
            for ref in node.owners:
                self._unlink(ref.get("uid"), uid)
        for dependent in self._dependents.get(uid, ()):
            self._enqueue(dependent)

    def _unlink(self, owner_uid: Any, dependent_uid: str) -> None:
        deps = self._dependents.get(owner_uid)
        if deps is None:
            return
        deps.discard(dependent_uid)
        if not deps and owner_uid not in self._nodes:
            del self._dependents[owner_uid]
        owner = self._nodes.get(owner_uid)
        if owner is not None and owner.waiting_for_dependents:
            self._enqueue(owner_uid)

    def _enqueue(self, uid: str) -> None:
        self.queue.add(("", uid))

    def resync(self) -> None:
        """Nothing to add: building the graph in ``start`` queued what needs attention."""

    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        return ()

    def _owner_state(self, node: Node, ref: Obj) -> str:
        """solid (exists), waiting (deleting in the foreground) or dangling (gone)."""
        owner = self._nodes.get(ref.get("uid", ""))
        if owner is None or owner.name != ref.get("name") or not self._same_scope(node, owner):
            return "dangling" if self._resolvable(ref) else "solid"
        return "waiting" if owner.waiting_for_dependents else "solid"

    def _same_scope(self, node: Node, owner: Node) -> bool:
        return not owner.namespace or owner.namespace == node.namespace

    def _resolvable(self, ref: Obj) -> bool:
        # an owner of a kind this server does not serve cannot be looked up: leave the dependent alone
        return self.api.registry.by_kind(ref.get("apiVersion", ""), ref.get("kind", "")) is not None

    # -- the work ---------------------------------------------------------------------------
    async def reconcile(self, key: Key) -> float | None:
        node = self._nodes.get(key[1])
        if node is None:
            return None
        rt = self.api.registry.preferred(*node.type_key)
        if rt is None:
            return None
        if node.deleting:
            if ORPHAN in node.finalizers:
                self._orphan_dependents(node)
                self._remove_finalizer(rt, node, ORPHAN)
            elif FOREGROUND in node.finalizers:
                self._delete_dependents(rt, node)
            return None
        self._attempt_to_delete(rt, node)
        return None

    def _dependent_nodes(self, owner: Node) -> list[tuple[Node, Obj]]:
        found = []
        for uid in sorted(self._dependents.get(owner.uid, ())):
            dep = self._nodes.get(uid)
            ref = next((r for r in dep.owners if r.get("uid") == owner.uid), None) if dep else None
            if dep is not None and ref is not None:
                found.append((dep, ref))
        return found

    def _orphan_dependents(self, owner: Node) -> None:
        for dep, _ in self._dependent_nodes(owner):
            dep_rt = self.api.registry.preferred(*dep.type_key)
            if dep_rt is None:
                continue

            def drop(obj: Obj, uid: str = owner.uid) -> None:
                meta = obj["metadata"]
                refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != uid]
                if refs:
                    meta["ownerReferences"] = refs
                else:
                    meta.pop("ownerReferences", None)

            self._write(
                lambda rt=dep_rt, d=dep, fn=drop: self.api.mutate(rt, d.namespace or None, d.name, fn)
            )

    def _delete_dependents(self, rt: ResourceType, owner: Node) -> None:
        blocking = 0
        for dep, ref in self._dependent_nodes(owner):
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            if not dep.deleting:
                self.queue.add(("", dep.uid))
        if blocking == 0:
            self._remove_finalizer(rt, owner, FOREGROUND)

    def _attempt_to_delete(self, rt: ResourceType, node: Node) -> None:
        states = [(ref, self._owner_state(node, ref)) for ref in node.owners]
        if not states:
            return
        if any(state == "solid" for _, state in states):
            stale = {ref.get("uid") for ref, state in states if state != "solid"}
            if stale:
                self._drop_owner_refs(rt, node, stale)
            return
        if any(state == "waiting" for _, state in states) and self._dependents.get(node.uid):
            policy = "Foreground"
        elif ORPHAN in node.finalizers:
            policy = "Orphan"
        elif FOREGROUND in node.finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        self._write(
            lambda: self.api.delete(
                rt,
                node.namespace or None,
                node.name,
                CONTROLLER,
                propagation=policy,
                preconditions={"uid": node.uid},
            )
        )

    def _drop_owner_refs(self, rt: ResourceType, node: Node, uids: set[Any]) -> None:
        def drop(obj: Obj) -> None:
            meta = obj["metadata"]
            refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") not in uids]
            if refs:
                meta["ownerReferences"] = refs
            else:
                meta.pop("ownerReferences", None)

        self._write(lambda: self.api.mutate(rt, node.namespace or None, node.name, drop))

    def _remove_finalizer(self, rt: ResourceType, node: Node, finalizer: str) -> None:
        def remove(obj: Obj) -> None:
            meta = obj["metadata"]
            if meta.get("uid") != node.uid:
                return
            meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != finalizer]
            if not meta["finalizers"]:
                meta.pop("finalizers")

        self._write(lambda: self.api.mutate(rt, node.namespace or None, node.name, remove))

    @staticmethod
    def _write(fn: Any) -> None:
        try:
            fn()
        except ApiError as e:
            if e.code not in (404, 409):
                raise
