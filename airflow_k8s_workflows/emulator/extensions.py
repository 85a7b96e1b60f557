"""Wiring that reacts to the API's own objects: CRDs become served resource types."""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Any

from .clock import rfc3339
from .registry import ResourceType

if TYPE_CHECKING:
    from .core import KubeEmulator

Obj = dict[str, Any]
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")


def install(emu: KubeEmulator) -> None:
    api = emu.api
    # types of CRDs restored from a state file
    for stored in emu.store.items(CRD_KEY):
        emu.registry.register_crd(stored.obj)

    def on_commit(rt: ResourceType, event: str, obj: Obj) -> None:
        if rt.key != CRD_KEY:
            return
        if event == "DELETED":
            _drop_custom_resources(emu, obj)
            emu.registry.unregister_crd(obj["metadata"]["name"])
            return
        emu.registry.register_crd(obj)
        if not _established(obj):
            asyncio.get_running_loop().call_soon(_mark_established, emu, obj["metadata"]["name"])

    api.after_commit.append(on_commit)


def _established(crd: Obj) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])  # fmt: skip


def _mark_established(emu: KubeEmulator, name: str) -> None:
    rt = emu.api.rt(*CRD_KEY)
    now = rfc3339()

    def set_status(crd: Obj) -> None:
        names = copy.deepcopy(crd.get("spec", {}).get("names", {}))
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in crd["spec"].get("versions", []) if v.get("storage")],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
        }  # fmt: skip

    emu.api.update_status(rt, None, name, set_status)


def _drop_custom_resources(emu: KubeEmulator, crd: Obj) -> None:
    spec = crd.get("spec", {})
    key = (spec.get("group", ""), spec.get("names", {}).get("plural", ""))
    for stored in emu.store.items(key):
        meta = stored.obj["metadata"]
        gone = copy.deepcopy(stored.obj)
        gone["metadata"]["resourceVersion"] = str(emu.store.next_rv())
        emu.store.commit(key, (meta.get("namespace", ""), meta["name"]), "DELETED", gone)
