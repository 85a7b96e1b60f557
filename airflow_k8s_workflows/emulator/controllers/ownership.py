"""``ControllerRefManager``: a controller claims the objects its selector matches — adopting
orphans, releasing owned objects whose labels no longer match."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_k8s_workflows.emulator.api import ApiServer
from airflow_k8s_workflows.emulator.controllers.base import controller_ref, owner_refs
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.registry import ResourceType
from airflow_k8s_workflows.emulator.selectors import LabelSelector

Obj = dict[str, Any]


def controller_of(obj: Obj) -> Obj | None:
    refs = owner_refs(obj, controller_only=True)
    return refs[0] if refs else None


def _adopt(api: ApiServer, rt: ResourceType, obj: Obj, owner: Obj) -> Obj | None:
    uid = obj["metadata"]["uid"]

    def add_ref(live: Obj) -> None:
        if live["metadata"]["uid"] != uid or controller_of(live) is not None:
            return
        live["metadata"].setdefault("ownerReferences", []).append(controller_ref(owner))

    try:
        updated = api.mutate(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"], add_ref)
    except ApiError:
        return None
    ref = controller_of(updated) if updated is not None else None
    return updated if ref is not None and ref.get("uid") == owner["metadata"]["uid"] else None


def _release(api: ApiServer, rt: ResourceType, obj: Obj, owner: Obj) -> None:
    owner_uid = owner["metadata"]["uid"]

    def drop_ref(live: Obj) -> None:
        refs = [r for r in live["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid]
        if refs:
            live["metadata"]["ownerReferences"] = refs
        else:
            live["metadata"].pop("ownerReferences", None)

    try:
        api.mutate(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"], drop_ref)
    except ApiError:
        pass


def claim(
    api: ApiServer, rt: ResourceType, owner: Obj, candidates: Iterable[Obj], selector: LabelSelector
) -> list[Obj]:
    """The objects ``owner`` controls after adopting matching orphans and releasing non-matching ones."""
    owner_uid = owner["metadata"]["uid"]
    owner_deleting = bool(owner["metadata"].get("deletionTimestamp"))
    claimed: list[Obj] = []
    for obj in candidates:
        ref = controller_of(obj)
        matches = selector.matches(obj["metadata"].get("labels"))
        if ref is not None:
            if ref.get("uid") != owner_uid:
                continue
            if matches:
                claimed.append(obj)
            elif not owner_deleting:
                _release(api, rt, obj, owner)
            continue
        if owner_deleting or not matches or obj["metadata"].get("deletionTimestamp"):
            continue
        adopted = _adopt(api, rt, obj, owner)
        if adopted is not None:
            claimed.append(adopted)
    return claimed


def owned_or_orphans(items: Iterable[Obj], owner: Obj) -> list[Obj]:
    """Candidates for ``claim``: owned by ``owner`` or by no controller at all."""
    uid = owner["metadata"]["uid"]
    out = []
    for obj in items:
        ref = controller_of(obj)
        if ref is None or ref.get("uid") == uid:
            out.append(obj)
    return out
