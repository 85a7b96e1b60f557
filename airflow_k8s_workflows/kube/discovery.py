"""Discovery: (api version, kind) → :class:`ApiResource`, cached per cluster.

CRDs work and plurals come from the server (``/api/v1``, ``/apis/{group}/{version}``)::

    res = await adiscover(lambda call: arequest(aclient, call), cfg.identity, "apps/v1", "Deployment")
    res.name, res.namespaced          # ("deployments", True)
    ref = res.ref("prod")             # ResourceRef for the namespace

A kind may also be given as its plural, singular or short name (``deploy``). An unknown kind
raises :class:`~airflow_k8s_workflows.kube.errors.UnknownKind`; a cached group version that
lacks the kind is fetched again (a CRD may just have been installed), at most every
``MISS_REFRESH`` seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import NotFound, UnknownKind
from .resources import ApiResource, group_version_path, parse_resource_list
from .rest import Call

__all__ = ["CACHE_TTL", "MISS_REFRESH", "adiscover", "clear_cache", "discover", "find_kind"]

CACHE_TTL = 600.0
MISS_REFRESH = 2.0

_Entry = tuple[float, dict[str, ApiResource]]
_cache: dict[tuple[str, str], _Entry] = {}
_lock = threading.Lock()
# per event loop: the discovery request in flight for (identity, api_version)
_inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], asyncio.Task[Any]]] = (
    weakref.WeakKeyDictionary()
)


def clear_cache(identity: str | None = None) -> None:
    with _lock:
        for key in [k for k in _cache if identity is None or k[0] == identity]:
            del _cache[key]


def find_kind(resources: dict[str, ApiResource], kind: str) -> ApiResource | None:
    """The resource a kind names: exact kind, then plural / singular / short name / kind, any case."""
    for res in resources.values():
        if res.kind == kind:
            return res
    low = kind.lower()
    for res in resources.values():
        if low in (res.name, res.singular, res.kind.lower()) or low in res.short_names:
            return res
    return None


def _cached(identity: str, api_version: str, kind: str) -> tuple[ApiResource | None, bool]:
    """(resource, fresh enough to trust a miss)."""
    entry = _cache.get((identity, api_version))
    if entry is None:
        return None, False
    fetched, resources = entry
    age = time.monotonic() - fetched
    if age > CACHE_TTL:
        return None, False
    return find_kind(resources, kind), age < MISS_REFRESH


def _store(identity: str, api_version: str, doc: Any) -> dict[str, ApiResource]:
    resources = parse_resource_list(doc if isinstance(doc, dict) else {})
    with _lock:
        _cache[(identity, api_version)] = (time.monotonic(), resources)
    return resources


def _call(api_version: str) -> Call:
    return Call("GET", group_version_path(api_version), verb="discover", resource=api_version)


def discover(fetch: Callable[[Call], Any], identity: str, api_version: str, kind: str) -> ApiResource:
    """Sync discovery; ``fetch`` sends a :class:`Call` (with the caller's retries)."""
    found, trust_miss = _cached(identity, api_version, kind)
    if found is not None:
        return found
    if not trust_miss:
        try:
            found = find_kind(_store(identity, api_version, fetch(_call(api_version))), kind)
        except NotFound:
            found = None
    if found is None:
        raise UnknownKind(api_version, kind)
    return found


async def adiscover(
    fetch: Callable[[Call], Awaitable[Any]], identity: str, api_version: str, kind: str
) -> ApiResource:
    """Async discovery; ``fetch`` sends a :class:`Call` (with the caller's retries)."""
    found, trust_miss = _cached(identity, api_version, kind)
    if found is not None:
        return found
    if not trust_miss:
        try:
            found = find_kind(await _fetch_once(fetch, identity, api_version), kind)
        except NotFound:
            found = None
    if found is None:
        raise UnknownKind(api_version, kind)
    return found


async def _fetch_once(
    fetch: Callable[[Call], Awaitable[Any]], identity: str, api_version: str
) -> dict[str, ApiResource]:
    """One request however many callers miss the cache at once (a triggerer starting a
    thousand triggers would otherwise send a thousand identical discovery requests)."""
    loop = asyncio.get_running_loop()
    pending = _inflight.setdefault(loop, {})
    key = (identity, api_version)
    task = pending.get(key)
    if task is None:

        async def fetch_and_store() -> dict[str, ApiResource]:
            return _store(identity, api_version, await fetch(_call(api_version)))

        task = loop.create_task(fetch_and_store())
        pending[key] = task
        task.add_done_callback(lambda t: (pending.pop(key, None), t.cancelled() or t.exception()))
    # shielded: one caller giving up must not cancel the request the others wait for
    return await asyncio.shield(task)
