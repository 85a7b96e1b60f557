"""Where a watcher trigger keeps its position: the asset state store, or memory.

In an ``AssetWatcher`` the triggerer injects ``self.asset_state_store`` (per asset, persisted in
the metadata DB, surviving triggerer restarts). Anywhere else (a task deferring to the trigger,
``dag.test()``, unit tests) there is none and the state lives in the trigger instance only.

Keys are prefixed with a stable id of the trigger's filter (classpath + serialized kwargs), so
several watchers on one asset do not overwrite each other::

    key = state_key("k8s-events", classpath, kwargs)   # "k8s-events:3f2a9c0d1e4b5a6c"
    state = await load_state(trigger.asset_state_store, key)
    await save_state(trigger.asset_state_store, key, {"rv": "42", ...})
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["MemoryStateStore", "StateStore", "load_state", "save_state", "state_key"]

STATE_VERSION = 1


class StateStore(Protocol):
    """What the triggers need from ``asset_state_store``."""

    async def aget(self, key: str, default: Any = None) -> Any: ...

    async def aset(self, key: str, value: Any) -> None: ...


class MemoryStateStore:
    """A dict with the asset state store's async interface (tests, benchmarks).

    Example::

        store = MemoryStateStore()
        trigger.asset_state_store = store   # what the triggerer does for a watcher
    """

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key, default)
        return json.loads(json.dumps(value)) if value is not None else default

    async def aset(self, key: str, value: Any) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.data[key] = json.loads(json.dumps(value))
        self.writes += 1


def state_key(prefix: str, classpath: str, kwargs: Mapping[str, Any]) -> str:
    """``prefix:<16 hex>`` from the trigger's identity (deterministic across parses)."""
    text = json.dumps([classpath, kwargs], sort_keys=True, separators=(",", ":"), default=str)
    return f"{prefix}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _accessors(store: Any) -> list[Any]:
    """One accessor per watched asset: a watcher shared by several assets writes to each."""
    by_name = getattr(store, "_by_name", None)
    by_uri = getattr(store, "_by_uri", None)
    if isinstance(by_name, dict) and isinstance(by_uri, dict) and len(by_name) + len(by_uri) > 1:
        return [*by_name.values(), *by_uri.values()]
    return [store]


async def load_state(store: Any | None, key: str) -> dict[str, Any] | None:
    """The saved state, or None (no store, nothing saved, or saved by an incompatible version)."""
    if store is None:
        return None
    for accessor in _accessors(store):
        value = await accessor.aget(key, None)
        if isinstance(value, dict) and value.get("version") == STATE_VERSION:
            return value
    return None


async def save_state(store: Any | None, key: str, state: Mapping[str, Any]) -> None:
    if store is None:
        return
    value = {**state, "version": STATE_VERSION}
    for accessor in _accessors(store):
        await accessor.aset(key, value)
