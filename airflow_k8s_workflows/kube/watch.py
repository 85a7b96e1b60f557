"""The project's one list+watch: a shared, self-healing stream per (cluster, collection, selectors).

Every wait in the project — the operators' sync path (through ``asyncio.run``) and the
triggers — goes through here. Inside one event loop, all subscribers of the same
:class:`WatchKey` share **one** stream:

* LIST (paginated with ``limit``/``continue``) fills a cache of the current objects at the
  list's resourceVersion, then WATCH from it with ``allowWatchBookmarks`` and a jittered
  ``timeoutSeconds``; a clean end re-watches from the last resourceVersion seen (BOOKMARKs
  advance it).
* ``410 Expired``/``Gone`` (an ``ERROR`` event or the HTTP status) relists and emits the
  difference as synthetic ``ADDED``/``MODIFIED``/``DELETED`` so no subscriber misses a
  transition.
* Connection errors, 5xx and 429 reconnect with exponential back-off and full jitter
  (``Retry-After`` honoured); 401/403 and other 4xx end the stream and raise in every
  subscriber with a message naming the verb, resource and namespace.
* The stream stops ``linger`` seconds after its last subscriber leaves.

A subscriber first gets the current snapshot (as ``ADDED`` events, also available as
:attr:`Subscription.snapshot`), then every change. Checking the current state and waiting for
the next change is therefore one atomic step: nothing that happened before the subscription
is lost, nothing after it is missed::

    ref = ResourceRef("batch/v1", "jobs", kind="Job", namespace="etl")
    async with shared_watch(cfg, ref, name="nightly") as sub:
        async for event_type, job in sub:
            ...

    job = await wait_for(cfg, ref, lambda j: j is not None and is_done(j), name="nightly", timeout=600)
    await wait_for(cfg, ref, lambda j: j is None, name="nightly", timeout=60)  # deleted

Prefer ``name=`` (filtered here) over a ``metadata.name`` field selector: a thousand waits for
a thousand Jobs in one namespace then share one stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .cluster import ClusterConfig
from .errors import (
    Expired,
    KubeConnectionError,
    KubeError,
    from_status,
    is_retryable,
)
from .resources import ResourceRef
from .rest import Call, aopen, arequest
from .retry import Backoff

__all__ = [
    "SETTINGS",
    "ClientSource",
    "Subscription",
    "WatchEvent",
    "WatchKey",
    "WatchMetrics",
    "WatchSettings",
    "active_streams",
    "as_source",
    "resolve_resource",
    "shared_watch",
    "wait_for",
    "watch_metrics",
]

log = logging.getLogger("airflow_k8s_workflows.kube.watch")

Obj = dict[str, Any]
ObjKey = tuple[str, str]


# -- public types ------------------------------------------------------------------------------------
@runtime_checkable
class ClientSource(Protocol):
    """Anything that names a cluster and hands out this loop's ``kubernetes_asyncio`` client."""

    @property
    def identity(self) -> str: ...

    async def api_client(self) -> Any: ...


class _ConfigSource:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        self.identity = cfg.identity

    async def api_client(self) -> Any:
        from .clients import async_client

        return await async_client(self.cfg)


ClusterLike = ClusterConfig | Mapping[str, Any] | ClientSource


def as_source(cluster: ClusterLike) -> ClientSource:
    """A :class:`ClientSource` for a ClusterConfig, its dict form, or a source (e.g. a hook)."""
    if isinstance(cluster, ClusterConfig):
        return _ConfigSource(cluster)
    if isinstance(cluster, Mapping):
        return _ConfigSource(ClusterConfig.from_dict(cluster))
    if isinstance(cluster, ClientSource):
        return cluster
    raise TypeError(f"not a cluster: {cluster!r}")


@dataclass(frozen=True)
class WatchKey:
    """What makes two watches the same stream."""

    cluster: str
    path: str
    label_selector: str | None = None
    field_selector: str | None = None


class WatchEvent(NamedTuple):
    """``(type, object)``: ADDED, MODIFIED or DELETED (with the object's last state)."""

    type: str
    object: Obj


@dataclass
class WatchSettings:
    """Process-wide knobs (tests shorten them)."""

    linger: float = 2.0
    page_size: int = 500
    timeout_seconds: int = 300
    timeout_jitter: float = 0.2
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_pending: int = 1000
    connect_timeout: float = 15.0
    read_slack: float = 60.0
    min_healthy_watch: float = 1.0


SETTINGS = WatchSettings()


@dataclass
class WatchMetrics:
    """Counters since process start; ``open_streams`` is the live number of shared streams."""

    open_streams: int = 0
    streams_started: int = 0
    list_requests: int = 0
    watch_requests: int = 0
    relists: int = 0
    reconnects: int = 0
    events: int = 0
    bookmarks: int = 0
    synthetic_events: int = 0
    coalesced: int = 0
    fatal_errors: int = 0
    subscribers: int = 0


_METRICS = WatchMetrics()


def watch_metrics() -> WatchMetrics:
    """A copy of the counters."""
    return WatchMetrics(**vars(_METRICS))


def _obj_key(obj: Mapping[str, Any]) -> ObjKey:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _rv_sort_key(obj: Mapping[str, Any]) -> tuple[int, int]:
    """resourceVersion order (etcd's are integers); a non-numeric one after them, as listed."""
    rv = _rv(obj)
    return (0, int(rv)) if rv.isdigit() else (1, 0)


def _resource_version_too_large(exc: KubeError) -> bool:
    causes = getattr(exc, "causes", None) or []
    return getattr(exc, "code", 0) == 504 and (
        any(c.get("reason") == "ResourceVersionTooLarge" for c in causes)
        or "too large resource version" in str(getattr(exc, "message", "")).lower()
    )


def _merge_types(earlier: str, later: str) -> str:
    if later == "DELETED":
        return "DELETED"
    if earlier == "ADDED":
        return "ADDED"
    if earlier == "DELETED":
        return "MODIFIED"
    return later


# -- subscription ---------------------------------------------------------------------------------
class Subscription:
    """One subscriber's view of a shared stream: the snapshot, then changes, in order.

    The queue is bounded in effect: past ``SETTINGS.max_pending`` undelivered events it is
    coalesced to the latest state per object, so a slow subscriber costs at most one entry
    per object however stormy the cluster is.
    """

    def __init__(self, stream: _SharedStream, name: str | None, replay_snapshot: bool) -> None:
        self._stream = stream
        self.name = name
        self._replay = replay_snapshot
        self.snapshot: dict[ObjKey, Obj] = {}
        self._queue: deque[WatchEvent] = deque()
        self._threshold = SETTINGS.max_pending
        self._wake = asyncio.Event()
        self._primed = asyncio.Event()
        self._error: BaseException | None = None
        self._closed = False

    @property
    def key(self) -> WatchKey:
        return self._stream.key

    @property
    def resource(self) -> ResourceRef:
        return self._stream.resource

    def wants(self, obj: Mapping[str, Any]) -> bool:
        return self.name is None or (obj.get("metadata") or {}).get("name") == self.name

    # called by the stream (same loop, synchronous)
    def _prime(self, cache: Mapping[ObjKey, Obj]) -> None:
        if self._primed.is_set():
            return
        self.snapshot = {k: v for k, v in cache.items() if self.wants(v)}
        if self._replay:
            self._queue.extend(WatchEvent("ADDED", obj) for obj in self.snapshot.values())
        self._primed.set()
        self._wake.set()

    def _push(self, event: WatchEvent) -> None:
        if self._closed or not self._primed.is_set():
            return
        self._queue.append(event)
        if len(self._queue) > self._threshold:
            self._coalesce()
        self._wake.set()

    def _coalesce(self) -> None:
        before = len(self._queue)
        merged: OrderedDict[ObjKey, WatchEvent] = OrderedDict()
        for ev in self._queue:
            k = _obj_key(ev.object)
            prev = merged.pop(k, None)
            merged[k] = WatchEvent(_merge_types(prev.type, ev.type) if prev else ev.type, ev.object)
        self._queue = deque(merged.values())
        _METRICS.coalesced += before - len(self._queue)
        self._threshold = max(SETTINGS.max_pending, 2 * len(self._queue))

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self._primed.set()
        self._wake.set()

    # consumer side
    async def wait_synced(self) -> None:
        """Until the snapshot is in (raises the stream's fatal error, if any)."""
        await self._primed.wait()
        if self._error is not None and not self._queue:
            raise self._error

    @property
    def pending(self) -> int:
        return len(self._queue)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> WatchEvent:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._error is not None:
                raise self._error
            if self._closed:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.clear()
            self._wake.set()
            self._stream.remove(self)


# -- the shared stream ------------------------------------------------------------------------------
class _Relist(Exception):
    """The watch said 410: list again."""


class _SharedStream:
    def __init__(
        self, registry: _Registry, key: WatchKey, source: ClientSource, resource: ResourceRef
    ) -> None:
        self.registry = registry
        self.key = key
        self.source = source
        self.resource = resource
        self.cache: dict[ObjKey, Obj] = {}
        self.rv = ""
        self.synced = False
        self.fatal: BaseException | None = None
        self.subs_all: set[Subscription] = set()
        self.subs_by_name: dict[str, set[Subscription]] = {}
        self.count = 0
        self.task: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._item_kind = resource.kind

    # subscribers ---------------------------------------------------------------------------
    def add(self, sub: Subscription) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if sub.name is None:
            self.subs_all.add(sub)
        else:
            self.subs_by_name.setdefault(sub.name, set()).add(sub)
        self.count += 1
        _METRICS.subscribers += 1
        if self.fatal is not None:
            sub._fail(self.fatal)
        elif self.synced:
            sub._prime(self.cache)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(
                self._run(), name=f"kube-watch {self.key.path}"
            )

    def remove(self, sub: Subscription) -> None:
        if sub.name is None:
            found = sub in self.subs_all
            self.subs_all.discard(sub)
        else:
            group = self.subs_by_name.get(sub.name, set())
            found = sub in group
            group.discard(sub)
            if not group:
                self.subs_by_name.pop(sub.name, None)
        if not found:
            return
        self.count -= 1
        _METRICS.subscribers -= 1
        if self.count == 0:
            if SETTINGS.linger <= 0:
                self.stop()
            else:
                self._linger = asyncio.get_running_loop().call_later(SETTINGS.linger, self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        self._linger = None
        if self.count == 0:
            self.stop()

    def stop(self) -> None:
        self.registry.forget(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def _subscribers_for(self, obj: Mapping[str, Any]) -> list[Subscription]:
        name = (obj.get("metadata") or {}).get("name")
        named = self.subs_by_name.get(name) if isinstance(name, str) else None
        if not named:
            return list(self.subs_all)
        return [*self.subs_all, *named]

    def _emit(self, event_type: str, obj: Obj) -> None:
        for sub in self._subscribers_for(obj):
            sub._push(WatchEvent(event_type, obj))

    def _all_subscribers(self) -> list[Subscription]:
        subs = list(self.subs_all)
        for group in self.subs_by_name.values():
            subs.extend(group)
        return subs

    def _fail(self, exc: BaseException) -> None:
        self.fatal = exc
        _METRICS.fatal_errors += 1
        self.registry.forget(self)
        for sub in self._all_subscribers():
            sub._fail(exc)

    # the loop --------------------------------------------------------------------------------
    def _call(self, verb: str, query: list[tuple[str, str]]) -> Call:
        if self.key.label_selector:
            query.append(("labelSelector", self.key.label_selector))
        if self.key.field_selector:
            query.append(("fieldSelector", self.key.field_selector))
        return Call(
            "GET",
            self.key.path,
            query,
            verb=verb,
            resource=self.resource.qualified,
            namespace=self.resource.namespace,
        )

    async def _run(self) -> None:
        _METRICS.open_streams += 1
        _METRICS.streams_started += 1
        backoff = Backoff(SETTINGS.backoff_base, SETTINGS.backoff_cap)
        need_list = True
        relists_in_a_row = 0
        try:
            while True:
                try:
                    client = await self.source.api_client()
                    if need_list:
                        await self._list(client)
                        need_list = False
                    started = time.monotonic()
                    delivered = await self._watch(client)
                    relists_in_a_row = 0
                    if delivered or time.monotonic() - started >= SETTINGS.min_healthy_watch:
                        backoff.reset()
                    else:
                        # the server keeps ending watches at once: never spin
                        await asyncio.sleep(backoff.next_delay())
                except (_Relist, Expired) as e:
                    _METRICS.relists += 1
                    log.info("watch on %s: %s; listing again", self.resource.describe(), e or "410 Expired")
                    if need_list or relists_in_a_row:
                        # expired again before a watch got going: do not hammer the server
                        await asyncio.sleep(backoff.next_delay())
                    relists_in_a_row += 1
                    need_list = True
                except KubeError as e:
                    if not is_retryable(e):
                        raise
                    if _resource_version_too_large(e):
                        # the server is behind the resourceVersion we hold (e.g. restored from a
                        # backup): resuming from it would fail forever, list afresh instead
                        need_list = True
                    _METRICS.reconnects += 1
                    delay = backoff.next_delay(getattr(e, "retry_after", None))
                    log.warning(
                        "watch on %s failed (%s); retrying in %.1fs", self.resource.describe(), e, delay
                    )
                    await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            log.error("watch on %s stopped: %s", self.resource.describe(), e)
            self._fail(e)
        finally:
            _METRICS.open_streams -= 1
            self.registry.forget(self)

    async def _list(self, client: Any) -> None:
        items: dict[ObjKey, Obj] = {}
        cont: str | None = None
        list_rv = ""
        while True:
            query = [("limit", str(SETTINGS.page_size))]
            if cont:
                query.append(("continue", cont))
            doc = await arequest(client, self._call("list", query), timeout=120)
            _METRICS.list_requests += 1
            if not isinstance(doc, dict):
                raise KubeConnectionError(f"LIST {self.key.path} answered with a non-object")
            meta = doc.get("metadata") or {}
            if not list_rv:
                list_rv = str(meta.get("resourceVersion") or "")
            kind = self._item_kind or str(doc.get("kind", "")).removesuffix("List")
            api_version = str(doc.get("apiVersion") or self.resource.api_version)
            for obj in doc.get("items") or []:
                # list items carry no kind/apiVersion; watch events do: make them alike
                obj.setdefault("kind", kind)
                obj.setdefault("apiVersion", api_version)
                items[_obj_key(obj)] = obj
            cont = meta.get("continue") or None
            if not cont:
                break
        self.rv = list_rv
        if not self.synced:
            self.cache = items
            self.synced = True
            for sub in self._all_subscribers():
                sub._prime(self.cache)
            return
        old, self.cache = self.cache, items
        for k, obj in old.items():
            if k not in items:
                self._synthetic("DELETED", obj)
        changed: list[tuple[str, Obj]] = []
        for k, obj in items.items():
            prev = old.get(k)
            if prev is None:
                changed.append(("ADDED", obj))
            elif _rv(prev) != _rv(obj):
                changed.append(("MODIFIED", obj))
        # A LIST is ordered by name; a watch shows changes in resourceVersion order, and
        # subscribers that keep a position (kube.cursor.StreamCursor) treat anything at or below
        # the highest resourceVersion they saw as seen: emit the missed changes in that order.
        changed.sort(key=lambda change: _rv_sort_key(change[1]))
        for event_type, obj in changed:
            self._synthetic(event_type, obj)

    def _synthetic(self, event_type: str, obj: Obj) -> None:
        _METRICS.synthetic_events += 1
        self._emit(event_type, obj)

    async def _watch(self, client: Any) -> bool:
        """One WATCH request until it ends; whether it delivered anything."""
        import aiohttp

        from .rest import _aiohttp_error

        timeout_s = int(SETTINGS.timeout_seconds * (1 + random.uniform(0, SETTINGS.timeout_jitter)))
        query = [
            ("watch", "true"),
            ("resourceVersion", self.rv),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_s)),
        ]
        call = self._call("watch", query)
        ct = aiohttp.ClientTimeout(
            total=None, sock_connect=SETTINGS.connect_timeout, sock_read=timeout_s + SETTINGS.read_slack
        )
        resp = await aopen(client, call, timeout=ct)
        _METRICS.watch_requests += 1
        delivered = False
        complete = False
        try:
            buf = bytearray()
            async for chunk in resp.content.iter_any():
                buf.extend(chunk)
                start = 0
                while True:
                    nl = buf.find(b"\n", start)
                    if nl < 0:
                        break
                    line = bytes(buf[start:nl])
                    start = nl + 1
                    if line.strip():
                        self._on_line(line)
                        delivered = True
                del buf[:start]
            if buf.strip():
                self._on_line(bytes(buf))
                delivered = True
            complete = True
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise _aiohttp_error(e, call, getattr(client.configuration, "host", ""))
        finally:
            if complete:
                resp.release()
            else:
                resp.close()
        return delivered

    def _on_line(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            raise KubeConnectionError(
                f"watch on {self.key.path} sent a line that is not JSON: {line[:200]!r}"
            )
        event_type = event.get("type")
        obj = event.get("object") or {}
        if event_type == "ERROR":
            err = from_status(
                obj, verb="watch", resource=self.resource.qualified, namespace=self.resource.namespace
            )
            if err.code == 410:
                raise _Relist(err.message)
            raise err
        rv = _rv(obj)
        if event_type == "BOOKMARK":
            _METRICS.bookmarks += 1
            if rv:
                self.rv = rv
            return
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            return
        _METRICS.events += 1
        if rv:
            self.rv = rv
        k = _obj_key(obj)
        prev = self.cache.get(k)
        if event_type == "DELETED":
            if prev is None:
                return
            del self.cache[k]
        else:
            if prev is not None and _rv(prev) == rv:
                return  # already known (replayed after a relist): no duplicate
            self.cache[k] = obj
            if event_type == "ADDED" and prev is not None:
                event_type = "MODIFIED"
        self._emit(event_type, obj)


# -- registry -----------------------------------------------------------------------------------------
class _Registry:
    def __init__(self) -> None:
        self.streams: dict[WatchKey, _SharedStream] = {}

    def stream(self, source: ClientSource, resource: ResourceRef, key: WatchKey) -> _SharedStream:
        stream = self.streams.get(key)
        if stream is None:
            stream = _SharedStream(self, key, source, resource)
            self.streams[key] = stream
        return stream

    def forget(self, stream: _SharedStream) -> None:
        if self.streams.get(stream.key) is stream:
            del self.streams[stream.key]


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Registry] = weakref.WeakKeyDictionary()


def _registry() -> _Registry:
    loop = asyncio.get_running_loop()
    reg = _registries.get(loop)
    if reg is None:
        reg = _registries[loop] = _Registry()
    return reg


def active_streams() -> list[WatchKey]:
    """Keys of the streams open on the running loop."""
    return list(_registry().streams)


# -- API ----------------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def shared_watch(
    cluster: ClusterLike,
    resource: ResourceRef,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    name: str | None = None,
    replay_snapshot: bool = True,
) -> AsyncIterator[Subscription]:
    """Subscribe to the shared stream for ``resource`` (+ selectors) on ``cluster``.

    Entering waits for the snapshot (raising ``Forbidden``/``Unauthorized`` if the stream
    cannot start); iterating yields the snapshot as ``ADDED`` (unless ``replay_snapshot`` is
    false) and then every change. ``name`` restricts the subscription to one object.
    """
    source = as_source(cluster)
    key = WatchKey(
        source.identity, resource.collection_path(), label_selector or None, field_selector or None
    )
    stream = _registry().stream(source, resource, key)
    sub = Subscription(stream, name, replay_snapshot)
    stream.add(sub)
    try:
        await sub.wait_synced()
        yield sub
    finally:
        sub.close()


async def wait_for(
    cluster: ClusterLike,
    resource: ResourceRef,
    predicate: Callable[[Obj | None], bool],
    *,
    name: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout: float | None = None,
    on_event: Callable[[str, Obj], None] | None = None,
) -> Obj | None:
    """The first object (current or future) for which ``predicate`` holds.

    ``predicate(None)`` is asked whenever nothing is left in scope (no object matches, or the
    named object is absent or was deleted); if it holds, ``None`` is returned — that is how
    to wait for a deletion. ``on_event(type, obj)`` sees every event (for progress logs).
    Raises ``TimeoutError`` after ``timeout`` seconds.
    """

    async def run() -> Obj | None:
        async with shared_watch(
            cluster,
            resource,
            name=name,
            label_selector=label_selector,
            field_selector=field_selector,
            replay_snapshot=False,
        ) as sub:
            present: dict[ObjKey, Obj] = dict(sub.snapshot)
            for obj in present.values():
                if predicate(obj):
                    return obj
            if not present and predicate(None):
                return None
            async for event_type, obj in sub:
                if on_event is not None:
                    on_event(event_type, obj)
                k = _obj_key(obj)
                if event_type == "DELETED":
                    present.pop(k, None)
                    if not present and predicate(None):
                        return None
                    continue
                present[k] = obj
                if predicate(obj):
                    return obj
        raise RuntimeError("watch ended")  # pragma: no cover - a subscription never ends by itself

    if timeout is None:
        return await run()
    return await asyncio.wait_for(run(), timeout)


async def resolve_resource(
    cluster: ClusterLike, api_version: str, kind: str, namespace: str | None = None
) -> ResourceRef:
    """The :class:`ResourceRef` of a kind via (cached) discovery; raises ``UnknownKind``."""
    from .discovery import adiscover

    source = as_source(cluster)
    client = await source.api_client()
    res = await adiscover(lambda call: arequest(client, call), source.identity, api_version, kind)
    return res.ref(namespace)
