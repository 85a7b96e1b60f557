"""Where a long-running watcher stands in a stream, in a form small enough to persist.

A watcher that must never fire twice for the same change, across watch reconnects, 410 relists
and process restarts, keeps three things:

* ``position``: the highest ``resourceVersion`` it has processed. Object versions at or below it
  were seen before (a relist or a restart shows them again); anything above it is news.
  resourceVersions are compared as integers, as every etcd-backed API server issues them; a
  non-numeric one is treated as news and left to the other two checks.
* ``recent``: a bounded window of keys it fired for (oldest forgotten first), never an
  unbounded set.
* ``started_at``: when it first started, to tell objects that existed before it from new ones
  when their history is unknown, and ``saved_at``: when the state was last persisted.

Example::

    cursor = StreamCursor(window=500)
    if not cursor.seen_before(obj):
        cursor.advance(obj)
    state = cursor.to_state()            # JSON, e.g. for an asset state store
    again = StreamCursor.from_state(state, window=500)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

from .pods import parse_time

__all__ = ["BoundedKeys", "BoundedMap", "StreamCursor", "object_uid", "resource_version"]

V = TypeVar("V")


def resource_version(obj: Mapping[str, Any]) -> int | None:
    """``metadata.resourceVersion`` as an int; None when absent or not numeric."""
    value = (obj.get("metadata") or {}).get("resourceVersion")
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def object_uid(obj: Mapping[str, Any]) -> str:
    """The uid, or ``namespace/name`` for an object that has none."""
    meta = obj.get("metadata") or {}
    uid = meta.get("uid")
    if uid:
        return str(uid)
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


class BoundedMap(Generic[V]):
    """A dict that forgets its least recently written keys beyond ``size``."""

    def __init__(self, size: int, items: Iterable[tuple[str, V]] = ()) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size = size
        self._data: OrderedDict[str, V] = OrderedDict()
        for key, value in items:
            self[key] = value

    def __setitem__(self, key: str, value: V) -> None:
        data = self._data
        if key in data:
            data.move_to_end(key)
        data[key] = value
        if len(data) > self.size:
            data.popitem(last=False)

    def get(self, key: str) -> V | None:
        return self._data.get(key)

    def pop(self, key: str) -> V | None:
        return self._data.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> list[tuple[str, V]]:
        """Oldest first."""
        return list(self._data.items())

    def keys(self) -> Iterator[str]:
        return iter(self._data)


class BoundedKeys:
    """An insertion-ordered set that forgets its oldest keys beyond ``size``."""

    def __init__(self, size: int, keys: Iterable[str] = ()) -> None:
        self._map: BoundedMap[None] = BoundedMap(size, ((k, None) for k in keys))

    def add(self, key: str) -> None:
        self._map[key] = None

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def __len__(self) -> int:
        return len(self._map)

    def __iter__(self) -> Iterator[str]:
        return self._map.keys()


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


class StreamCursor:
    """Position, recent fired keys and start time of one watcher (see the module docstring)."""

    def __init__(
        self,
        *,
        window: int = 500,
        position: int | None = None,
        recent: Iterable[str] = (),
        started_at: datetime | None = None,
        saved_at: datetime | None = None,
    ) -> None:
        self.position = position
        self.recent = BoundedKeys(window, recent)
        self.started_at = started_at
        self.saved_at = saved_at

    def seen_before(self, obj: Mapping[str, Any]) -> bool:
        """This version of ``obj`` is at or below the position: processed already."""
        rv = resource_version(obj)
        return rv is not None and self.position is not None and rv <= self.position

    def advance(self, obj: Mapping[str, Any]) -> bool:
        """Move the position up to ``obj``'s resourceVersion; whether it moved."""
        rv = resource_version(obj)
        if rv is not None and (self.position is None or rv > self.position):
            self.position = rv
            return True
        return False

    def to_state(self, now: datetime | None = None) -> dict[str, Any]:
        """A JSON-serializable dict; records ``now`` as ``saved_at``."""
        self.saved_at = now or datetime.now(timezone.utc)
        return {
            "rv": str(self.position) if self.position is not None else None,
            "recent": list(self.recent),
            "started_at": _iso(self.started_at),
            "saved_at": _iso(self.saved_at),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *, window: int = 500) -> StreamCursor:
        rv = state.get("rv")
        recent = state.get("recent") or []
        return cls(
            window=window,
            position=int(rv) if isinstance(rv, str) and rv.isdigit() else None,
            recent=[str(k) for k in recent if isinstance(k, str)],
            started_at=parse_time(state.get("started_at")),
            saved_at=parse_time(state.get("saved_at")),
        )
