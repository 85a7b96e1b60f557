"""A kind without an apiVersion → the API version the cluster serves it in, like kubectl's RESTMapper.

``kind`` may be a kind, plural, singular or short name (``Deployment``, ``deployments``,
``deploy``), optionally qualified with its group (``Deployment.apps``,
``servicemonitors.monitoring.coreos.com``). Every group is searched, its preferred version
first; the core group wins over others (``Event`` is ``v1``, as in kubectl); a kind served by
several other groups is ambiguous::

    resolve_api_version(hook.request, cfg.identity, "ServiceMonitor")  # ("monitoring.coreos.com/v1", "ServiceMonitor")
    await aresolve_api_version(ahook.request, ahook.identity, "deploy")  # ("apps/v1", "Deployment")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .discovery import adiscover, discover
from .errors import KubeError, UnknownKind
from .resources import ApiResource
from .rest import Call

__all__ = ["AmbiguousKind", "KindNotServed", "aresolve_api_version", "resolve_api_version", "split_kind"]


class KindNotServed(KubeError):
    """No API group of the cluster serves the kind."""

    def __init__(self, kind: str) -> None:
        super().__init__(
            f'kind "{kind}" is not served by the cluster (searched every API group); '
            "check the spelling, or install its CustomResourceDefinition"
        )
        self.kind = kind


class AmbiguousKind(KubeError):
    """Several API groups serve the kind: the caller must say which."""

    def __init__(self, kind: str, api_versions: list[str]) -> None:
        listed = ", ".join(api_versions)
        super().__init__(f'kind "{kind}" is served by several API groups ({listed}): give api_version')
        self.kind = kind
        self.api_versions = api_versions


def split_kind(text: str) -> tuple[str, str | None]:
    """``"Deployment.apps"`` → ``("Deployment", "apps")``; ``"Deployment"`` → ``("Deployment", None)``."""
    kind, dot, group = text.strip().partition(".")
    return kind, (group if dot else None)


def _candidates(core: Mapping[str, Any], apis: Mapping[str, Any], group: str | None) -> list[list[str]]:
    """Per group, its group versions to search, preferred first; the core group first."""
    found: list[list[str]] = []
    if group in (None, "", "core"):
        found.append([str(v) for v in core.get("versions") or ["v1"]])
    for entry in apis.get("groups") or []:
        name = entry.get("name")
        if group not in (None, name):
            continue
        preferred = (entry.get("preferredVersion") or {}).get("groupVersion")
        versions = [str(v.get("groupVersion")) for v in entry.get("versions") or [] if v.get("groupVersion")]
        ordered = ([preferred] if preferred else []) + [v for v in versions if v != preferred]
        if ordered:
            found.append(ordered)
    return found


def _choose(text: str, matches: list[ApiResource]) -> tuple[str, str]:
    if not matches:
        raise KindNotServed(text)
    core = [m for m in matches if "/" not in m.api_version]
    if len(matches) > 1 and not core:
        raise AmbiguousKind(text, [m.api_version for m in matches])
    chosen = core[0] if core else matches[0]  # the core group wins, as in kubectl
    return chosen.api_version, chosen.kind


def _core_call() -> Call:
    return Call("GET", "/api", verb="discover", resource="api")


def _groups_call() -> Call:
    return Call("GET", "/apis", verb="discover", resource="apis")


def resolve_api_version(fetch: Callable[[Call], Any], identity: str, kind: str) -> tuple[str, str]:
    """Sync: ``(apiVersion, Kind)`` serving ``kind``; raises :class:`KindNotServed` /
    :class:`AmbiguousKind`."""
    name, group = split_kind(kind)
    matches: list[ApiResource] = []
    for versions in _candidates(fetch(_core_call()), fetch(_groups_call()), group):
        for api_version in versions:
            try:
                matches.append(discover(fetch, identity, api_version, name))
            except UnknownKind:
                continue
            break
    return _choose(kind, matches)


async def aresolve_api_version(
    fetch: Callable[[Call], Awaitable[Any]], identity: str, kind: str
) -> tuple[str, str]:
    """Async twin of :func:`resolve_api_version`."""
    name, group = split_kind(kind)
    matches: list[ApiResource] = []
    for versions in _candidates(await fetch(_core_call()), await fetch(_groups_call()), group):
        for api_version in versions:
            try:
                matches.append(await adiscover(fetch, identity, api_version, name))
            except UnknownKind:
                continue
            break
    return _choose(kind, matches)
