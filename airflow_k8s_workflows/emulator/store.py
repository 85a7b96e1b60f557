"""In-memory object storage with etcd's semantics: one global resourceVersion, per-type
history for watch replay (410 Expired past its window) and fan-out to watchers.

Everything here runs on the emulator's event loop thread, so no locks are needed. Stored
objects are never mutated after commit: writers build new dicts.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .selectors import Matcher

ObjKey = tuple[str, str]  # (namespace or "", name)
TypeKey = tuple[str, str]  # (group, resource)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(slots=True)
class Stored:
    obj: dict[str, Any]
    raw: bytes


@dataclass(slots=True, eq=False)
class Change:
    """One committed write: what watchers and in-process listeners are told."""

    type: str  # ADDED | MODIFIED | DELETED
    rv: int
    key: ObjKey
    obj: dict[str, Any]
    raw: bytes
    old: dict[str, Any] | None = None
    _lines: dict[str, bytes] = field(default_factory=dict)

    def line(self, event_type: str | None = None) -> bytes:
        """The JSON watch line for this change (serialized once, shared by all watchers)."""
        event_type = event_type or self.type
        cached = self._lines.get(event_type)
        if cached is None:
            if event_type == "DELETED" and self.type == "MODIFIED" and self.old is not None:
                # moved out of a watcher's selector: the previous object at the new rv
                prev = dict(self.old)
                prev["metadata"] = {**self.old.get("metadata", {}), "resourceVersion": str(self.rv)}
                body = dumps(prev)
            else:
                body = self.raw
            cached = b'{"type":"' + event_type.encode() + b'","object":' + body + b"}\n"
            self._lines[event_type] = cached
        return cached


WatchItem = tuple[str, Change | None, int]  # (event type, change, rv); BOOKMARK has no change


class Watcher:
    """One watch stream's filter and queue."""

    def __init__(self, namespace: str | None, matcher: Matcher, max_queue: int) -> None:
        self.namespace = namespace
        self.matcher = matcher
        self.max_queue = max_queue
        self.queue: asyncio.Queue[WatchItem | None] = asyncio.Queue()
        self.closed = False
        self.overflowed = False

    def _in_scope(self, key: ObjKey, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and key[0] != self.namespace:
            return False
        return self.matcher(obj)

    def offer(self, change: Change) -> None:
        if self.closed:
            return
        new_in = self._in_scope(change.key, change.obj)
        if change.type == "ADDED":
            event = "ADDED" if new_in else None
        elif change.type == "DELETED":
            event = "DELETED" if (new_in or self._in_scope(change.key, change.old)) else None
        else:
            old_in = self._in_scope(change.key, change.old)
            if new_in:
                event = "MODIFIED" if old_in else "ADDED"
            else:
                event = "DELETED" if old_in else None
        if event is not None:
            self.put((event, change, change.rv))

    def put(self, item: WatchItem) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= self.max_queue:
            # like the real watch cache: a watcher that cannot keep up is closed; it relists
            self.overflowed = True
            self.close()
            return
        self.queue.put_nowait(item)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


Listener = Callable[[Change], None]


class ResourceStore:
    """The objects of one (group, resource), their history and their watchers."""

    def __init__(self, key: TypeKey, history_size: int, compacted_rv: int) -> None:
        self.key = key
        self.objects: dict[ObjKey, Stored] = {}
        self.history: deque[Change] = deque()
        self.history_size = history_size
        # every change with rv > compacted_rv is still in history
        self.compacted_rv = compacted_rv
        self.watchers: set[Watcher] = set()
        self.listeners: list[Listener] = []

    def record(self, change: Change) -> None:
        self.history.append(change)
        while len(self.history) > self.history_size:
            self.compacted_rv = self.history.popleft().rv
        for w in tuple(self.watchers):
            w.offer(change)
        for fn in tuple(self.listeners):
            fn(change)

    def since(self, rv: int) -> Iterator[Change]:
        for ch in self.history:
            if ch.rv > rv:
                yield ch


class Store:
    """All objects of the emulated cluster."""

    def __init__(self, history_size: int = 10_000, start_rv: int = 1000) -> None:
        self.rv = start_rv
        self.history_size = history_size
        self._types: dict[TypeKey, ResourceStore] = {}
        self._global_listeners: list[Callable[[TypeKey, Change], None]] = []

    def resource(self, key: TypeKey) -> ResourceStore:
        rs = self._types.get(key)
        if rs is None:
            rs = ResourceStore(key, self.history_size, self.rv)
            self._types[key] = rs
        return rs

    def types(self) -> list[TypeKey]:
        return list(self._types)

    def get(self, key: TypeKey, obj_key: ObjKey) -> dict[str, Any] | None:
        stored = self.resource(key).objects.get(obj_key)
        return stored.obj if stored else None

    def get_stored(self, key: TypeKey, obj_key: ObjKey) -> Stored | None:
        return self.resource(key).objects.get(obj_key)

    def items(self, key: TypeKey, namespace: str | None = None) -> list[Stored]:
        objs = self.resource(key).objects
        if namespace is None:
            return list(objs.values())
        return [s for k, s in objs.items() if k[0] == namespace]

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def commit(self, key: TypeKey, obj_key: ObjKey, event_type: str, obj: dict[str, Any]) -> Change:
        """Store ``obj`` (already carrying its new resourceVersion) and tell every watcher."""
        rs = self.resource(key)
        old = rs.objects.get(obj_key)
        raw = dumps(obj)
        rv = int(obj["metadata"]["resourceVersion"])
        if event_type == "DELETED":
            rs.objects.pop(obj_key, None)
        else:
            rs.objects[obj_key] = Stored(obj, raw)
        change = Change(event_type, rv, obj_key, obj, raw, old.obj if old else None)
        rs.record(change)
        for fn in tuple(self._global_listeners):
            fn(key, change)
        return change

    def subscribe(self, key: TypeKey, listener: Listener) -> Callable[[], None]:
        rs = self.resource(key)
        rs.listeners.append(listener)
        return lambda: rs.listeners.remove(listener) if listener in rs.listeners else None

    def subscribe_all(self, listener: Callable[[TypeKey, Change], None]) -> None:
        self._global_listeners.append(listener)

    def compact(self, rv: int | None = None) -> int:
        """Forget history up to ``rv`` (default: now), as etcd compaction does."""
        rv = self.rv if rv is None else rv
        for rs in self._types.values():
            while rs.history and rs.history[0].rv <= rv:
                rs.history.popleft()
            rs.compacted_rv = max(rs.compacted_rv, rv)
        return rv

    # -- persistence (a restart that keeps state, as etcd would) -----------------------------
    def dump_state(self) -> dict[str, Any]:
        return {
            "rv": self.rv,
            "objects": [
                {"group": k[0], "resource": k[1], "object": s.obj}
                for k, rs in self._types.items()
                for s in rs.objects.values()
            ],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.rv = int(state["rv"])
        for entry in state["objects"]:
            obj = entry["object"]
            meta = obj["metadata"]
            rs = self.resource((entry["group"], entry["resource"]))
            rs.objects[(meta.get("namespace", ""), meta["name"])] = Stored(obj, dumps(obj))
        for rs in self._types.values():
            rs.compacted_rv = self.rv


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): ~2.5x faster than ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {k: clone(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    if kind is list:
        return [clone(v) if type(v) in _CONTAINERS else v for v in value]
    return value


_CONTAINERS = (dict, list)
