"""Which Kubernetes Events are *new* matching occurrences, exactly once each.

:class:`NewEventDetector` sits between a watch on Events (snapshot, then changes) and whatever
fires: it says yes once per new matching Event, and no for

* Events that existed before the watcher first started (unless ``since`` reaches back to them:
  then those whose last occurrence is at or after ``since`` count);
* the same Event shown again by a reconnect, a 410 relist or a restart (the
  :class:`~airflow_k8s_workflows.kube.cursor.StreamCursor` position and fired-key window);
* a repeat of an Event (the producer bumped ``count``) unless ``fire_on_repeat``: then every
  new count of a matching Event is one occurrence.

With ``min_count=N`` an Event matches from its N-th occurrence on; the occurrence that reaches
N is its first matching one. An Event whose history is unknown counts as first matching when
this version is the one that reached ``min_count``; when it changed while the watcher was down,
also when it was created after the watcher first started. (While watching, an unknown Event
was seen before and forgotten — the match memory is bounded — so it is not news.)

Example::

    detector = NewEventDetector(EventFilter(reasons=["BackOff"], event_type="Warning"))
    detector.restore(saved_state)                         # None on the very first start
    for event in detector.start(snapshot_events):         # usually empty
        fire(event)
    async for event_type, event in watch:
        if detector.feed(event_type, event):
            fire(event)
    saved_state = detector.state()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from .cursor import BoundedMap, StreamCursor, object_uid, resource_version
from .events import EventFilter, event_count
from .pods import parse_time

__all__ = ["NewEventDetector", "event_created", "event_last_seen"]


def event_last_seen(event: Mapping[str, Any]) -> datetime | None:
    """When the Event last happened: series/lastTimestamp, eventTime, firstTimestamp, creation."""
    series = event.get("series") if isinstance(event.get("series"), Mapping) else None
    for value in (
        (series or {}).get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("deprecatedLastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return None


def event_created(event: Mapping[str, Any]) -> datetime | None:
    """When the Event object was first recorded."""
    for value in (
        (event.get("metadata") or {}).get("creationTimestamp"),
        event.get("firstTimestamp"),
        event.get("deprecatedFirstTimestamp"),
        event.get("eventTime"),
    ):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return None


def _rv_order(event: Mapping[str, Any]) -> int:
    rv = resource_version(event)
    return rv if rv is not None else -1


class NewEventDetector:
    """Exactly-once decisions over a stream of Events (see the module docstring).

    :param event_filter: which Events match.
    :param fire_on_repeat: a bumped ``count`` of a matching Event is a new occurrence.
    :param since: on the very first start, Events that last happened at or after this time
        count as new (a look-back); None: only Events after the start.
    :param window: how many fired keys are remembered (and persisted).
    :param memory: how many Events' last match state is kept in memory (least recent forgotten).
    """

    def __init__(
        self,
        event_filter: EventFilter,
        *,
        fire_on_repeat: bool = False,
        since: datetime | None = None,
        window: int = 500,
        memory: int = 20_000,
    ) -> None:
        self.filter = event_filter
        self.fire_on_repeat = fire_on_repeat
        self.since = since
        self.window = window
        self.cursor = StreamCursor(window=window)
        self._matched: BoundedMap[bool] = BoundedMap(memory)
        self._restored = False
        self.changed = False
        """Something worth persisting happened since the last :meth:`state`."""

    # -- persistence ---------------------------------------------------------------------------
    def restore(self, state: Mapping[str, Any] | None) -> bool:
        """Continue from a saved :meth:`state`; whether there was one."""
        if not state or not isinstance(state, Mapping):
            return False
        self.cursor = StreamCursor.from_state(state, window=self.window)
        self._restored = True
        return True

    def state(self, now: datetime | None = None) -> dict[str, Any]:
        self.changed = False
        return self.cursor.to_state(now)

    # -- decisions -------------------------------------------------------------------------------
    def start(
        self, snapshot: Iterable[Mapping[str, Any]], now: datetime | None = None
    ) -> list[Mapping[str, Any]]:
        """Take in the Events that exist when the watcher (re)starts; returns those to fire, oldest
        first. Call once, after :meth:`restore`, before :meth:`feed`."""
        now = now or datetime.now(timezone.utc)
        events = sorted(snapshot, key=_rv_order)
        fired: list[Mapping[str, Any]] = []
        if not self._restored:
            self.cursor.started_at = now
            self._restored = True
            self.changed = True
            for event in events:
                matched = self.filter.matches(event)
                self._matched[object_uid(event)] = matched
                self.cursor.advance(event)
                if matched and self.since is not None:
                    last = event_last_seen(event)
                    if last is not None and last >= self.since and self._fire(event):
                        fired.append(event)
            return fired
        for event in events:
            if self.cursor.seen_before(event):
                self._matched[object_uid(event)] = self.filter.matches(event)
                continue
            if self._consider(event, new_object=False, catching_up=True):
                fired.append(event)
        return fired

    def feed(self, event_type: str, event: Mapping[str, Any]) -> bool:
        """One watch event; True when it is a new matching occurrence to fire for."""
        if event_type == "DELETED":
            self._matched.pop(object_uid(event))
            return False
        if self.cursor.seen_before(event):
            return False
        return self._consider(event, new_object=event_type == "ADDED", catching_up=False)

    def _consider(self, event: Mapping[str, Any], *, new_object: bool, catching_up: bool) -> bool:
        uid = object_uid(event)
        matched = self.filter.matches(event)
        previous = self._matched.get(uid)
        self._matched[uid] = matched
        if self.cursor.advance(event):
            self.changed = True
        if not matched:
            return False
        if self.fire_on_repeat:
            return self._fire(event)
        if previous is True:
            return False  # a repeat of an occurrence that already matched
        if previous is None and not new_object and not self._first_match_is_new(event, catching_up):
            return False
        return self._fire(event)

    def _first_match_is_new(self, event: Mapping[str, Any], catching_up: bool) -> bool:
        """For an Event whose previous version is unknown: did its first matching occurrence
        happen after the watcher started?"""
        if event_count(event) <= self.filter.min_count:
            return True  # this very version reached min_count, and it is above our position
        if not catching_up:
            return False  # while watching we saw its earlier versions (and have since forgotten them)
        created = event_created(event)
        started = self.cursor.started_at
        return created is not None and started is not None and created > started

    def _key(self, event: Mapping[str, Any]) -> str:
        uid = object_uid(event)
        return f"{uid}#{event_count(event)}" if self.fire_on_repeat else uid

    def _fire(self, event: Mapping[str, Any]) -> bool:
        key = self._key(event)
        if key in self.cursor.recent:
            return False
        self.cursor.recent.add(key)
        self.changed = True
        return True
