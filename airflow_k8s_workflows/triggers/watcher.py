"""The base of this provider's ``AssetWatcher`` triggers: follow a collection, fire exactly once
per new thing, loop forever, resume where the last run stopped.

A subclass says which collection (:meth:`WatcherTrigger._resource`, :meth:`_selectors`), how to
judge it (a detector from ``kube/`` with ``restore`` / ``state`` / ``start`` and a per-change
decision) and what to send (:meth:`_initial_events`, :meth:`_event_for`). This class does the
rest:

* **In the triggerer** (``shared_stream_key`` is set): ``open_shared_stream`` runs one
  ``kube.watch`` subscription per key and Airflow fans its changes out; each trigger's
  ``filter_shared_stream`` reads the current state once the poll is subscribed, then judges
  every change.
* **Standalone** (``run()``: ``dag.test()``, tests, a triggerer without shared streams): its own
  subscription, with the server-side selectors the subclass can use when not sharing.
* **State**: the detector's position is saved in ``self.asset_state_store`` (when the triggerer
  injected one) under a key derived from the trigger's identity, *before* each event is handed
  to Airflow (a crash between the two loses that one event instead of firing it twice) and at
  most every ``save_interval`` seconds otherwise.
* ``once=True`` ends after the first event (a task deferring to it); otherwise it never returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_k8s_workflows.triggers.base import DEFAULT_CONN_ID, KubernetesTrigger
from airflow_k8s_workflows.triggers.state_store import load_state, save_state, state_key

if TYPE_CHECKING:
    from airflow_k8s_workflows.kube.resources import ResourceRef

__all__ = ["Detector", "WatcherTrigger"]

log = logging.getLogger(__name__)


class Detector(Protocol):
    changed: bool

    def restore(self, state: Any) -> bool: ...

    def state(self) -> dict[str, Any]: ...


class WatcherTrigger(KubernetesTrigger, BaseEventTrigger):
    """Base class (not used directly); see the module docstring."""

    state_prefix: ClassVar[str] = "k8s-watch"
    stream_name: ClassVar[str] = "airflow-k8s-workflows/watch"
    save_interval: ClassVar[float] = 5.0

    def __init__(
        self,
        *,
        kubernetes_conn_id: str = DEFAULT_CONN_ID,
        namespace: str | None = None,
        all_namespaces: bool = False,
        once: bool = False,
        cluster: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(cluster=cluster, kubernetes_conn_id=kubernetes_conn_id, namespace=namespace)
        if all_namespaces and namespace:
            raise ValueError(f"namespace: give a namespace or all_namespaces=True, not both ({namespace!r})")
        self.all_namespaces = bool(all_namespaces)
        self.once = bool(once)
        self.watching = False
        """True once the current state is judged: every later change will be seen."""

    # -- identity ---------------------------------------------------------------------------------
    def _own_kwargs(self) -> dict[str, Any]:
        """The subclass's arguments, only those that differ from their defaults."""
        return {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Deterministic: sorted keys, defaults left out, no timestamps, and the cluster only as
        the connection id (plus the sealed config when a task passed one)."""
        cls = type(self)
        kwargs: dict[str, Any] = {"kubernetes_conn_id": self.kubernetes_conn_id, **self._own_kwargs()}
        if self.namespace:
            kwargs["namespace"] = self.namespace
        if self.all_namespaces:
            kwargs["all_namespaces"] = True
        if self.once:
            kwargs["once"] = True
        if self.cluster.get("sealed_cluster_config"):
            kwargs["cluster"] = dict(sorted(self.cluster.items()))
        return f"{cls.__module__}.{cls.__qualname__}", dict(sorted(kwargs.items()))

    def state_key(self) -> str:
        classpath, kwargs = self.serialize()
        kwargs = {k: v for k, v in kwargs.items() if k not in ("cluster", "once")}
        return state_key(self.state_prefix, classpath, kwargs)

    # -- subclass hooks ---------------------------------------------------------------------------
    def _stream_fields(self) -> tuple[Any, ...]:
        """What besides connection and namespace makes two triggers' streams the same."""
        return ()

    async def _resource(self, hook: Any) -> ResourceRef:
        raise NotImplementedError

    def _selectors(self, *, shared: bool) -> tuple[str | None, str | None]:
        """(label selector, field selector) for the watch; ``shared`` when the stream serves
        other triggers too (then only what they all share)."""
        return None, None

    def _detector(self) -> Detector:
        raise NotImplementedError

    def _initial_events(self, detector: Any, snapshot: Iterable[dict[str, Any]]) -> list[TriggerEvent]:
        raise NotImplementedError

    def _event_for(self, detector: Any, event_type: str, obj: dict[str, Any]) -> TriggerEvent | None:
        raise NotImplementedError

    def _describe(self) -> str:
        return type(self).__name__

    # -- Airflow shared streams -------------------------------------------------------------------
    def shared_stream_key(self) -> tuple[Any, ...]:
        return (
            self.stream_name,
            self.kubernetes_conn_id,
            "" if self.all_namespaces else (self.namespace or ""),
            self.all_namespaces,
            *self._stream_fields(),
        )

    async def _target(self, *, shared: bool) -> tuple[Any, ResourceRef, str | None, str | None]:
        hook = self.hook()
        await hook.get_cluster_config()
        ref = await self._resource(hook)
        label_selector, field_selector = self._selectors(shared=shared)
        return hook, ref, label_selector, field_selector

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        from airflow_k8s_workflows.triggers.shared_streams import stream_changes

        trigger = cls(**kwargs)
        hook, ref, label_selector, field_selector = await trigger._target(shared=True)
        async for change in stream_changes(
            hook, ref, label_selector=label_selector, field_selector=field_selector
        ):
            yield change

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        from airflow_k8s_workflows.triggers.shared_streams import snapshot_when_open

        hook, ref, label_selector, field_selector = await self._target(shared=True)
        snapshot = await snapshot_when_open(
            hook, ref, label_selector=label_selector, field_selector=field_selector
        )
        async for event in self._judge(ref, snapshot, shared_stream):
            yield event

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_k8s_workflows.kube.watch import shared_watch

        hook, ref, label_selector, field_selector = await self._target(shared=False)
        async with shared_watch(
            hook, ref, label_selector=label_selector, field_selector=field_selector, replay_snapshot=False
        ) as sub:
            async for event in self._judge(ref, list(sub.snapshot.values()), sub):
                yield event

    # -- the loop -------------------------------------------------------------------------------
    async def _judge(
        self, ref: ResourceRef, snapshot: list[dict[str, Any]], changes: AsyncIterator[Any]
    ) -> AsyncIterator[TriggerEvent]:
        store = self.asset_state_store
        key = self.state_key()
        detector = self._detector()
        resumed = detector.restore(await load_state(store, key))
        initial = self._initial_events(detector, snapshot)
        log.info(
            "%s: watching %s (%s; %d objects now, %d to report from them)",
            self._describe(), ref.describe(), "resumed from the saved position" if resumed else "new events only",
            len(snapshot), len(initial),
        )  # fmt: skip
        saved_at = await self._save(store, key, detector)
        self.watching = True
        for first in initial:
            yield first
            if self.once:
                return
        async for event_type, obj in changes:
            event = self._event_for(detector, event_type, obj)
            if event is not None:
                saved_at = await self._save(store, key, detector)
                yield event
                if self.once:
                    return
            elif detector.changed and store is not None and time.monotonic() - saved_at >= self.save_interval:
                saved_at = await self._save(store, key, detector)
        raise RuntimeError(f"the watch on {ref.describe()} ended")  # pragma: no cover - never ends by itself

    @staticmethod
    async def _save(store: Any, key: str, detector: Detector) -> float:
        if store is not None:
            await save_state(store, key, detector.state())
        return time.monotonic()
