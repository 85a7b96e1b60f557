"""Where a kind lives in the API: :class:`ResourceRef` and the REST paths built from it.

A ``ResourceRef`` names a collection (api version + plural from discovery, never ``kind + "s"``)
optionally inside a namespace; ``namespace=None`` on a namespaced resource means all namespaces::

    ref = ResourceRef("apps/v1", "deployments", kind="Deployment", namespace="prod")
    ref.collection_path()           # /apis/apps/v1/namespaces/prod/deployments
    ref.item_path("web", "scale")   # /apis/apps/v1/namespaces/prod/deployments/web/scale

:func:`parse_resource_list` reads a discovery ``APIResourceList``; the I/O around it lives in
``kube.discovery``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

__all__ = ["ApiResource", "ResourceRef", "group_version_path", "parse_resource_list", "split_api_version"]


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` → ``("apps", "v1")``; ``"v1"`` → ``("", "v1")``."""
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def group_version_path(api_version: str) -> str:
    group, version = split_api_version(api_version)
    return f"/api/{version}" if not group else f"/apis/{group}/{version}"


@dataclass(frozen=True)
class ApiResource:
    """One entry of a discovery ``APIResourceList``."""

    api_version: str
    name: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ()
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = field(default=())

    def ref(self, namespace: str | None = None) -> ResourceRef:
        return ResourceRef(
            self.api_version,
            self.name,
            kind=self.kind,
            namespace=namespace if self.namespaced else None,
            namespaced=self.namespaced,
        )


def parse_resource_list(doc: Mapping[str, Any]) -> dict[str, ApiResource]:
    """Main resources of an ``APIResourceList`` by plural, with their subresource names."""
    api_version = str(doc.get("groupVersion", ""))
    main: dict[str, dict[str, Any]] = {}
    subs: dict[str, list[str]] = {}
    for entry in doc.get("resources") or []:
        name = str(entry.get("name", ""))
        if "/" in name:
            parent, sub = name.split("/", 1)
            subs.setdefault(parent, []).append(sub)
        else:
            main[name] = entry
    out: dict[str, ApiResource] = {}
    for name, entry in main.items():
        out[name] = ApiResource(
            api_version=api_version,
            name=name,
            kind=str(entry.get("kind", "")),
            namespaced=bool(entry.get("namespaced", False)),
            verbs=tuple(entry.get("verbs") or ()),
            singular=str(entry.get("singularName") or ""),
            short_names=tuple(entry.get("shortNames") or ()),
            subresources=tuple(subs.get(name, ())),
        )
    return out


@dataclass(frozen=True)
class ResourceRef:
    """A collection in the API: api version, plural, and a namespace (or all / cluster scope)."""

    api_version: str
    plural: str
    kind: str = ""
    namespace: str | None = None
    namespaced: bool = True

    @property
    def group(self) -> str:
        return split_api_version(self.api_version)[0]

    @property
    def version(self) -> str:
        return split_api_version(self.api_version)[1]

    @property
    def qualified(self) -> str:
        """``deployments.apps`` / ``pods``: how the API names it in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def in_namespace(self, namespace: str | None) -> ResourceRef:
        return replace(self, namespace=namespace if self.namespaced else None)

    def collection_path(self) -> str:
        base = group_version_path(self.api_version)
        if self.namespaced and self.namespace:
            return f"{base}/namespaces/{quote(self.namespace, safe='')}/{self.plural}"
        return f"{base}/{self.plural}"

    def item_path(self, name: str, subresource: str | None = None) -> str:
        if self.namespaced and not self.namespace:
            raise ValueError(f"{self.qualified} is namespaced: name a namespace to address {name!r}")
        path = f"{self.collection_path()}/{quote(name, safe='')}"
        return f"{path}/{subresource}" if subresource else path

    def describe(self) -> str:
        where = f' in namespace "{self.namespace}"' if self.namespace else ""
        scope = "" if where or not self.namespaced else " in all namespaces"
        return f"{self.qualified}{where}{scope}"
