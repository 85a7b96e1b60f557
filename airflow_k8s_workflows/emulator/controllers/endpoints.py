"""The endpoints controller: for every Service with a selector, an Endpoints object of the same
name listing the matching pods' IPs (ready ones under ``addresses``, others under
``notReadyAddresses``) and the resolved target ports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.controllers import job_pods as jp
from airflow_k8s_workflows.emulator.controllers.base import Controller, Key
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.selectors import LabelSelector
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]
SERVICES: TypeKey = ("", "services")
PODS: TypeKey = ("", "pods")
ENDPOINTS: TypeKey = ("", "endpoints")


class EndpointsController(Controller):
    name = "endpoint-controller"
    watches = (SERVICES, PODS, ENDPOINTS)

    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        meta = change.obj["metadata"]
        ns = meta.get("namespace", "")
        if type_key != PODS:
            return [(ns, meta["name"])]
        labels = [meta.get("labels") or {}]
        if change.old is not None:
            labels.append(change.old["metadata"].get("labels") or {})
        keys = []
        for stored in self.api.store.items(SERVICES, ns):
            selector = (stored.obj.get("spec") or {}).get("selector")
            if selector and any(
                LabelSelector.from_label_selector({"matchLabels": selector}).matches(found)
                for found in labels
            ):
                keys.append((ns, stored.obj["metadata"]["name"]))
        return keys

    async def reconcile(self, key: Key) -> float | None:
        ns, name = key
        service = self.api.try_get(self.api.rt(*SERVICES), ns, name)
        rt = self.api.rt(*ENDPOINTS)
        current = self.api.try_get(rt, ns, name)
        if service is None:
            if current is not None:
                self._write(lambda: self.api.delete(rt, ns, name, CONTROLLER))
            return None
        spec = service.get("spec") or {}
        if not spec.get("selector"):
            return None  # endpoints of a selector-less Service are the user's
        subsets = self._subsets(service)
        labels = dict(service["metadata"].get("labels") or {})
        if spec.get("clusterIP") == "None":
            labels["service.kubernetes.io/headless"] = ""
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}}
        if labels:
            body["metadata"]["labels"] = labels
        if subsets:
            body["subsets"] = subsets
        if current is None:
            self._write(lambda: self.api.create(rt, ns, body, CONTROLLER))
        elif (
            current.get("subsets") != body.get("subsets")
            or (current["metadata"].get("labels") or {}) != labels
        ):

            def put(ep: Obj) -> None:
                if labels:
                    ep["metadata"]["labels"] = labels
                else:
                    ep["metadata"].pop("labels", None)
                if subsets:
                    ep["subsets"] = subsets
                else:
                    ep.pop("subsets", None)

            self._write(lambda: self.api.mutate(rt, ns, name, put))
        return None

    def _subsets(self, service: Obj) -> list[Obj]:
        spec = service.get("spec") or {}
        ns = service["metadata"]["namespace"]
        selector = LabelSelector.from_label_selector({"matchLabels": spec["selector"]})
        publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
        groups: dict[str, tuple[list[Obj], list[Obj], list[Obj]]] = {}
        for stored in self.api.select(self.api.rt(*PODS), ns, label_selector=selector):
            pod = stored.obj
            ip = (pod.get("status") or {}).get("podIP")
            if not ip or jp.is_terminal(pod) or (jp.is_deleting(pod) and not publish_not_ready):
                continue
            ports = [p for p in (_endpoint_port(sp, pod) for sp in spec.get("ports") or []) if p is not None]
            address = _address(pod, ip, service["metadata"]["name"])
            key = repr(sorted(ports, key=lambda p: (p.get("name", ""), p["port"])))
            ready, not_ready, _ = groups.setdefault(key, ([], [], ports))
            (ready if publish_not_ready or jp.is_ready(pod) else not_ready).append(address)
        subsets = []
        for ready, not_ready, ports in groups.values():
            subset: Obj = {}
            if ready:
                subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
            if not_ready:
                subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
            if ports:
                subset["ports"] = ports
            subsets.append(subset)
        return subsets

    @staticmethod
    def _write(fn: Any) -> None:
        try:
            fn()
        except ApiError as e:
            if e.code not in (403, 404, 409):
                raise


def _address(pod: Obj, ip: str, service_name: str) -> Obj:
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    address: Obj = {"ip": ip}
    if spec.get("hostname") and spec.get("subdomain") == service_name:
        address["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = {
        "kind": "Pod",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
    }
    return address


def _endpoint_port(service_port: Obj, pod: Obj) -> Obj | None:
    target = service_port.get("targetPort", service_port.get("port"))
    number: Any = target
    if isinstance(target, str):
        number = None
        for container in (pod.get("spec") or {}).get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("name") == target and port.get("protocol", "TCP") == service_port.get(
                    "protocol", "TCP"
                ):
                    number = port.get("containerPort")
        if number is None:
            return None
    found: Obj = {"port": number, "protocol": service_port.get("protocol", "TCP")}
    if service_port.get("name"):
        found["name"] = service_port["name"]
    if service_port.get("appProtocol"):
        found["appProtocol"] = service_port["appProtocol"]
    return found
