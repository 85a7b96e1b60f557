"""What every controller shares: a de-duplicating work queue fed by store changes, and a run loop.

A controller lists the resource types it cares about; each change is mapped to the keys it
must reconcile (``keys_for``); ``reconcile`` brings one key to its desired state and may ask
to be called again after a delay in controller time (scaled by the emulator's speed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_workflows.emulator.api import ApiServer
from airflow_k8s_workflows.emulator.clock import Clock
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.events import EventRecorder
from airflow_k8s_workflows.emulator.registry import ResourceType
from airflow_k8s_workflows.emulator.store import Change, TypeKey

log = logging.getLogger("airflow_k8s_workflows.emulator")

Key = tuple[str, str]  # (namespace or "", name)
Obj = dict[str, Any]


@dataclass
class EmulatorConfig:
    """Cluster shape and behaviour shared by controllers and the kubelet."""

    nodes: int = 1
    node_cpu: str = "4"
    node_memory: str = "8Gi"
    node_pods: int = 110
    workdir: str = ""
    # real seconds between a Job pod failure and its replacement at speed 1 (k8s: 10 s doubling)
    job_backoff_base: float = 10.0
    job_backoff_max: float = 360.0
    crashloop_backoff_base: float = 10.0
    crashloop_backoff_max: float = 300.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ControllerContext:
    api: ApiServer
    clock: Clock
    recorder: EventRecorder
    config: EmulatorConfig

    def rt(self, group: str, resource: str) -> ResourceType:
        return self.api.rt(group, resource)


class WorkQueue:
    """Keys waiting to be reconciled; a key queued twice is reconciled once."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._pending: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}

    def add(self, key: Key) -> None:
        if key in self._pending:
            return
        self._pending.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        when = loop.time() + delay
        if existing is not None and existing.when() <= when:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> Key:
        key = await self._queue.get()
        self._pending.discard(key)
        return key

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


class Controller:
    """Base class. Subclasses set ``name`` and ``watches`` and implement ``reconcile``."""

    name = "controller"
    # (group, resource) pairs whose changes feed this controller; the first is its primary type
    watches: tuple[TypeKey, ...] = ()
    enabled = True
    start_order = 50

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.api = ctx.api
        self.clock = ctx.clock
        self.recorder = ctx.recorder
        self.queue = WorkQueue()
        self._unsubscribe: list[Any] = []
        self._task: asyncio.Task[None] | None = None

    # -- wiring ---------------------------------------------------------------------------
    def start(self) -> None:
        store = self.api.store
        for type_key in self.watches:
            self._unsubscribe.append(store.subscribe(type_key, self._make_listener(type_key)))
        self.resync()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"controller-{self.name}")

    def _make_listener(self, type_key: TypeKey) -> Any:
        def listener(change: Change) -> None:
            for key in self.keys_for(type_key, change):
                self.queue.add(key)

        return listener

    def resync(self) -> None:
        """Queue every object this controller owns (on start, and after a state restore)."""
        if not self.watches:
            return
        primary = self.watches[0]
        for stored in self.api.store.items(primary):
            meta = stored.obj["metadata"]
            self.queue.add((meta.get("namespace", ""), meta["name"]))

    async def stop(self) -> None:
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe.clear()
        self.queue.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    # -- to override ------------------------------------------------------------------------
    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        """Keys to reconcile after ``change``. Default: the primary object itself, or its owner."""
        meta = change.obj["metadata"]
        if type_key == self.watches[0]:
            return [(meta.get("namespace", ""), meta["name"])]
        return [
            (meta.get("namespace", ""), ref["name"]) for ref in owner_refs(change.obj, controller_only=True)
        ]

    async def reconcile(self, key: Key) -> float | None:
        """Bring ``key`` to its desired state; return a delay (controller seconds) to be called again."""
        raise NotImplementedError

    # -- loop --------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                again = await self.reconcile(key)
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                if e.code not in (404, 409):
                    log.warning("%s: reconcile %s: %s", self.name, key, e.message)
                again = 0.2 if e.code == 409 else None
            except Exception:
                log.exception("%s: reconcile %s failed", self.name, key)
                again = 1.0
            if again is not None:
                self.queue.add_after(key, self.clock.scaled(again) if again > 0 else 0)
            # let the other controllers (and the HTTP front) act on what this reconcile wrote before
            # this controller takes its next key, as concurrently running real controllers would
            await asyncio.sleep(0)


def owner_refs(obj: Obj, *, controller_only: bool = False) -> list[Obj]:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return [r for r in refs if r.get("controller")] if controller_only else list(refs)


def controller_ref(owner: Obj, *, block: bool = True) -> Obj:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": block,
    }


def is_owned_by(obj: Obj, owner: Obj) -> bool:
    uid = owner["metadata"]["uid"]
    return any(r.get("uid") == uid and r.get("controller") for r in owner_refs(obj))
