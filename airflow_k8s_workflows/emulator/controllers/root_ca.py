"""The root CA publisher: a ``kube-root-ca.crt`` ConfigMap in every active namespace with the
certificate clients use to verify the API server (the emulator's own when it serves TLS)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.controllers.base import Controller, ControllerContext, Key
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]
NAMESPACES: TypeKey = ("", "namespaces")
CONFIGMAPS: TypeKey = ("", "configmaps")
NAME = "kube-root-ca.crt"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as "
    "the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of "
    "Kubernetes clusters."
)


class RootCAPublisher(Controller):
    name = "root-ca-certificate-publisher-controller"
    watches = (NAMESPACES, CONFIGMAPS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self._pem: str | None = None

    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        meta = change.obj["metadata"]
        if type_key == NAMESPACES:
            return [("", meta["name"])]
        return [("", meta.get("namespace", ""))] if meta["name"] == NAME else []

    async def reconcile(self, key: Key) -> float | None:
        namespace = key[1]
        ns = self.api.try_get(self.api.rt(*NAMESPACES), None, namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return None
        rt = self.api.rt(*CONFIGMAPS)
        data = {"ca.crt": self._certificate()}
        annotations = {"kubernetes.io/description": DESCRIPTION}
        current = self.api.try_get(rt, namespace, NAME)
        try:
            if current is None:
                body = {"metadata": {"name": NAME, "annotations": annotations}, "data": data}
                self.api.create(rt, namespace, body, CONTROLLER)
            elif current.get("data") != data:

                def put(cm: Obj) -> None:
                    cm["data"] = dict(data)
                    cm["metadata"].setdefault("annotations", {}).update(annotations)

                self.api.mutate(rt, namespace, NAME, put)
        except ApiError as e:
            if e.code not in (403, 404, 409):
                raise
        return None

    def _certificate(self) -> str:
        if self._pem is None:
            workdir = Path(self.ctx.config.workdir or ".")
            serving = workdir / "tls" / "tls.crt"
            if not serving.exists():
                from airflow_k8s_workflows.emulator.tls import make_self_signed

                serving, _ = make_self_signed(workdir / "root-ca")
            self._pem = serving.read_text()
        return self._pem
