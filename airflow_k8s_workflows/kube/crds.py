"""What a CustomResourceDefinition manifest says about the kind it defines.

Used when a batch applies a CRD together with resources of its kind: those cannot be checked
against discovery before the CRD exists, so the CRD in the batch vouches for them::

    crd = defining_crd(batch, "monitoring.coreos.com/v1", "ServiceMonitor")
    crd_serves(crd, "v1"), crd_namespaced(crd)      # (True, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .resources import split_api_version

__all__ = ["crd_namespaced", "crd_serves", "crd_versions", "defining_crd", "is_crd"]

CRD_API_GROUP = "apiextensions.k8s.io"


def is_crd(doc: Mapping[str, Any]) -> bool:
    return (
        doc.get("kind") == "CustomResourceDefinition"
        and split_api_version(str(doc.get("apiVersion") or ""))[0] == CRD_API_GROUP
    )


def _spec(crd: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = crd.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def defining_crd(docs: Iterable[Mapping[str, Any]], api_version: str, kind: str) -> Mapping[str, Any] | None:
    """The CRD among ``docs`` whose group and kind are ``api_version``'s group and ``kind``."""
    group = split_api_version(api_version)[0]
    for doc in docs:
        if not is_crd(doc):
            continue
        spec = _spec(doc)
        names = spec.get("names")
        if spec.get("group") == group and isinstance(names, Mapping) and names.get("kind") == kind:
            return doc
    return None


def crd_versions(crd: Mapping[str, Any]) -> list[str]:
    """The versions the CRD serves."""
    versions = _spec(crd).get("versions")
    if not isinstance(versions, list):
        return []
    return [str(v.get("name")) for v in versions if isinstance(v, Mapping) and v.get("served", True)]


def crd_serves(crd: Mapping[str, Any], version: str) -> bool:
    return version in crd_versions(crd)


def crd_namespaced(crd: Mapping[str, Any]) -> bool:
    return _spec(crd).get("scope", "Namespaced") == "Namespaced"
