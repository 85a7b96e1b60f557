"""Airflow 3.3 shared streams on top of ``kube.watch``: one WATCH feeds many watcher triggers.

In the triggerer, watchers with the same ``shared_stream_key`` share one
``open_shared_stream`` poll whose raw events are fanned out to every trigger's
``filter_shared_stream``. Airflow fans out only the events broadcast *after* a trigger joined,
so each filter also needs the current state of the collection at a moment when the poll is
already subscribed: :func:`snapshot_when_open` waits for :func:`stream_changes` to be
subscribed (same loop, same ``kube.watch`` stream) and then reads the stream's cache. Every
change after that moment reaches the filter through Airflow's fan-out; changes that are in both
the snapshot and the fan-out are told apart by resourceVersion.

Example (inside a ``BaseEventTrigger``)::

    @classmethod
    async def open_shared_stream(cls, kwargs):
        async for change in stream_changes(hook, ref):           # forever
            yield change

    async def filter_shared_stream(self, shared_stream):
        snapshot = await snapshot_when_open(hook, ref)
        ...  # judge the snapshot, then every (type, object) of shared_stream
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any

from airflow_k8s_workflows.kube.resources import ResourceRef
from airflow_k8s_workflows.kube.watch import ClientSource, WatchEvent, shared_watch

__all__ = ["snapshot_when_open", "stream_changes"]

log = logging.getLogger(__name__)

OPEN_WAIT_SECONDS = 30.0


class _OpenStreams:
    """How many ``stream_changes`` are subscribed per stream id, on one event loop."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self.wake: dict[str, asyncio.Event] = {}

    def event(self, stream_id: str) -> asyncio.Event:
        found = self.wake.get(stream_id)
        if found is None:
            found = self.wake[stream_id] = asyncio.Event()
        return found


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _OpenStreams] = weakref.WeakKeyDictionary()


def _registry() -> _OpenStreams:
    loop = asyncio.get_running_loop()
    found = _registries.get(loop)
    if found is None:
        found = _registries[loop] = _OpenStreams()
    return found


def _stream_id(
    source: ClientSource, ref: ResourceRef, label_selector: str | None, field_selector: str | None
) -> str:
    return f"{source.identity}|{ref.collection_path()}|{label_selector or ''}|{field_selector or ''}"


async def stream_changes(
    source: ClientSource,
    ref: ResourceRef,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> AsyncIterator[WatchEvent]:
    """Every change of the collection from now on, forever (``kube.watch`` relists on 410 and
    reconnects on drops); raises when the watch cannot go on (Forbidden, ...)."""
    registry = _registry()
    sid = _stream_id(source, ref, label_selector, field_selector)
    wake = registry.event(sid)
    try:
        async with shared_watch(
            source, ref, label_selector=label_selector, field_selector=field_selector, replay_snapshot=False
        ) as sub:
            registry.count[sid] = registry.count.get(sid, 0) + 1
            wake.set()
            try:
                async for change in sub:
                    yield change
            finally:
                registry.count[sid] -= 1
                if registry.count[sid] <= 0:
                    registry.count.pop(sid, None)
                    wake.clear()
    except Exception:
        wake.set()  # let snapshot takers go on (they hit the same error on their own subscription)
        raise
    raise RuntimeError(f"watch on {ref.describe()} ended")  # pragma: no cover - subscriptions never end


async def snapshot_when_open(
    source: ClientSource,
    ref: ResourceRef,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    wait: float = OPEN_WAIT_SECONDS,
) -> list[dict[str, Any]]:
    """The collection's current objects, read once :func:`stream_changes` for the same stream is
    subscribed on this loop (so nothing falls between the snapshot and the fan-out)."""
    registry = _registry()
    sid = _stream_id(source, ref, label_selector, field_selector)
    if not registry.count.get(sid):
        try:
            await asyncio.wait_for(registry.event(sid).wait(), wait)
        except asyncio.TimeoutError:
            log.warning("the shared watch on %s did not open within %.0fs; reading the state anyway",
                        ref.describe(), wait)  # fmt: skip
    async with shared_watch(
        source, ref, label_selector=label_selector, field_selector=field_selector, replay_snapshot=False
    ) as sub:
        return list(sub.snapshot.values())
