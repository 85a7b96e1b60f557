"""kube.ordering and kube.crds: dependency order of a batch, and what a CRD in it vouches for."""

from __future__ import annotations

from typing import Any

from airflow_k8s_workflows.kube.crds import crd_namespaced, crd_serves, defining_crd
from airflow_k8s_workflows.kube.ordering import apply_order, delete_order


def doc(api_version: str, kind: str, name: str = "x") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}


BATCH = [
    doc("monitoring.coreos.com/v1", "ServiceMonitor"),
    doc("apps/v1", "Deployment"),
    doc("v1", "Service"),
    doc("v1", "ConfigMap", "a"),
    doc("rbac.authorization.k8s.io/v1", "Role"),
    doc("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    doc("v1", "Namespace"),
    doc("v1", "ConfigMap", "b"),
    doc("example.com/v1", "Service"),  # a custom kind named Service is not a Service
]


def test_apply_order_puts_dependencies_first_and_keeps_document_order_within_a_rank() -> None:
    kinds = [f"{BATCH[i]['kind']}/{BATCH[i]['metadata']['name']}" for i in apply_order(BATCH)]
    assert kinds == ["Namespace/x", "CustomResourceDefinition/x", "ConfigMap/a", "Role/x", "ConfigMap/b",
                     "Service/x", "Deployment/x", "ServiceMonitor/x", "Service/x"]  # fmt: skip
    assert [BATCH[i]["apiVersion"] for i in apply_order(BATCH)][-1] == "example.com/v1"


def test_delete_order_is_the_reverse_by_rank() -> None:
    kinds = [BATCH[i]["kind"] for i in delete_order(BATCH)]
    assert kinds[:3] == ["ServiceMonitor", "Service", "Deployment"]
    assert kinds[-2:] == ["CustomResourceDefinition", "Namespace"]


def test_defining_crd() -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget", "plural": "widgets"},
                    "versions": [{"name": "v1", "served": True}, {"name": "v0", "served": False}]}}  # fmt: skip
    batch = [doc("v1", "ConfigMap"), crd]
    assert defining_crd(batch, "example.com/v1", "Widget") is crd
    assert defining_crd(batch, "other.com/v1", "Widget") is None
    assert crd_serves(crd, "v1") and not crd_serves(crd, "v0")
    assert not crd_namespaced(crd)
