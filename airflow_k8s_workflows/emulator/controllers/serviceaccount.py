"""The service account controller: every active namespace has a ``default`` ServiceAccount
(re-created if deleted)."""

from __future__ import annotations

from collections.abc import Iterable

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.controllers.base import Controller, Key
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.store import Change, TypeKey

NAMESPACES: TypeKey = ("", "namespaces")
SERVICE_ACCOUNTS: TypeKey = ("", "serviceaccounts")
DEFAULT = "default"


class ServiceAccountController(Controller):
    name = "serviceaccount-controller"
    watches = (NAMESPACES, SERVICE_ACCOUNTS)

    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        meta = change.obj["metadata"]
        if type_key == NAMESPACES:
            return [("", meta["name"])]
        if change.type == "DELETED" and meta["name"] == DEFAULT:
            return [("", meta.get("namespace", ""))]
        return []

    async def reconcile(self, key: Key) -> float | None:
        namespace = key[1]
        ns = self.api.try_get(self.api.rt(*NAMESPACES), None, namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return None
        rt = self.api.rt(*SERVICE_ACCOUNTS)
        if self.api.try_get(rt, namespace, DEFAULT) is not None:
            return None
        try:
            self.api.create(rt, namespace, {"metadata": {"name": DEFAULT}}, CONTROLLER)
        except ApiError as e:
            if e.code not in (403, 409):
                raise
        return None
