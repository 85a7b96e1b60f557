"""Which changes of watched objects are news: transitions into a state, or a value that changed.

:class:`ChangeDetector` turns a watch (snapshot, then ADDED/MODIFIED/DELETED) into the changes
worth firing for, once each:

* no predicate: every ADDED / MODIFIED / DELETED after the start (of the listed types);
* ``fire_on="enter"`` with a ``kubectl wait`` predicate (``condition="Available=False"``,
  ``jsonpath="{.status.phase}=Failed"``): an object that *enters* the state — it did not hold
  before, or the object is new — never while the state merely holds, and never for objects
  already in the state at the start;
* ``fire_on="change"`` with a ``jsonpath`` (``{.data}``): the value differs from the one last
  seen for that object (new objects and deletions count when ADDED / DELETED are listed).

It remembers each object's last state as a short fingerprint (in memory for up to ``memory``
objects; the ``persisted`` most recently changed ones also go into :meth:`state`), plus the
stream position (:class:`~airflow_k8s_workflows.kube.cursor.StreamCursor`), so a relist or a
restart neither repeats nor loses a transition. For an object whose last state is unknown after
a restart, a condition whose ``lastTransitionTime`` is after the last save counts as entered;
anything else counts only if the object was created after the last save.

Example::

    detector = ChangeDetector(predicate=parse_wait_for(condition="Available=False"))
    detector.restore(saved)                    # None on the very first start
    for change in detector.start(snapshot): ...
    async for event_type, obj in watch:
        change = detector.feed(event_type, obj)
        if change is not None:
            fire(change)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from .conditions import ConditionWait, JSONPathWait, WaitFor, WaitForError
from .cursor import BoundedMap, StreamCursor, object_uid, resource_version
from .pods import parse_time

__all__ = ["EVENT_TYPES", "FIRE_ON", "Change", "ChangeDetector", "predicate_value"]

EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED")
FIRE_ON = ("enter", "change")
FireOn = Literal["enter", "change"]
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Change:
    """One change to fire for."""

    type: str
    """``ADDED``, ``MODIFIED`` or ``DELETED``."""
    object: Mapping[str, Any]
    """The object (its last known state for DELETED)."""
    value: Any
    """The predicate's value now (a condition dict, a jsonpath value), None without predicate."""


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def predicate_value(predicate: WaitFor | None, obj: Mapping[str, Any] | None, *, redact: bool = False) -> Any:
    """What the predicate looks at in ``obj``: the condition entry (type, status, reason,
    message, lastTransitionTime) or the jsonpath's value (a list when it matches several)."""
    if predicate is None or obj is None:
        return None
    if isinstance(predicate, ConditionWait):
        found = predicate._find(obj)
        if found is None:
            return None
        keys = ("type", "status", "reason", "message", "lastTransitionTime")
        return {k: found.get(k) for k in keys if found.get(k) is not None}
    if isinstance(predicate, JSONPathWait):
        values = predicate._values(obj)
        if redact and values:
            return REDACTED
        if not values:
            return None
        return _json_safe(values[0] if len(values) == 1 else values)
    return None


def _fingerprint_value(value: Any) -> str:
    if value is None:
        return "-"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class ChangeDetector:
    """Exactly-once transitions / changes over a watch (see the module docstring).

    :param predicate: a ``kube.conditions`` predicate (condition or jsonpath), or None.
    :param fire_on: ``"enter"`` (transition into the predicate) or ``"change"`` (the jsonpath's
        value changed).
    :param event_types: which kinds of change may fire.
    :param redact: keep values out of payloads (Secrets); fingerprints still detect changes.
    """

    def __init__(
        self,
        *,
        predicate: WaitFor | None = None,
        fire_on: FireOn = "enter",
        event_types: Sequence[str] = EVENT_TYPES,
        redact: bool = False,
        window: int = 200,
        persisted: int = 300,
        memory: int = 100_000,
    ) -> None:
        if fire_on not in FIRE_ON:
            raise ValueError(f"fire_on: must be one of {', '.join(FIRE_ON)}, got {fire_on!r}")
        if fire_on == "change" and not isinstance(predicate, JSONPathWait):
            raise ValueError('fire_on="change" needs a jsonpath (the value whose changes count)')
        self.predicate = predicate
        self.fire_on = fire_on
        self.event_types = frozenset(event_types)
        self.redact = redact
        self.window = window
        self.persisted_size = persisted
        self.cursor = StreamCursor(window=window)
        self._memory: BoundedMap[str] = BoundedMap(memory)
        self._persisted: BoundedMap[list[str]] = BoundedMap(persisted)
        self._restored = False
        self.changed = False

    # -- fingerprints -------------------------------------------------------------------------
    def _fingerprint(self, obj: Mapping[str, Any]) -> str:
        if self.predicate is None:
            return ""
        if self.fire_on == "enter":
            try:
                return "1" if self.predicate.matches(obj) else "0"
            except WaitForError:
                return "0"
        assert isinstance(self.predicate, JSONPathWait)
        values = self.predicate._values(obj)
        return _fingerprint_value(values or None)

    def _remember(self, uid: str, obj: Mapping[str, Any], fingerprint: str) -> None:
        self._memory[uid] = fingerprint
        meta = obj.get("metadata") or {}
        entry = [str(meta.get("namespace") or ""), str(meta.get("name") or ""), fingerprint]
        if self._persisted.get(uid) != entry:
            self._persisted[uid] = entry
            self.changed = True

    # -- persistence --------------------------------------------------------------------------
    def restore(self, state: Mapping[str, Any] | None) -> bool:
        if not state or not isinstance(state, Mapping):
            return False
        self.cursor = StreamCursor.from_state(state, window=self.window)
        for uid, entry in (state.get("objects") or {}).items():
            if isinstance(entry, list) and len(entry) == 3:
                self._persisted[str(uid)] = [str(x) for x in entry]
                self._memory[str(uid)] = str(entry[2])
        self._restored = True
        return True

    def state(self, now: datetime | None = None) -> dict[str, Any]:
        self.changed = False
        out = self.cursor.to_state(now)
        out["objects"] = dict(self._persisted.items())
        return out

    # -- decisions ------------------------------------------------------------------------------
    def start(self, snapshot: Iterable[Mapping[str, Any]], now: datetime | None = None) -> list[Change]:
        """Take in the objects that exist at (re)start; returns the changes that happened while
        the watcher was down (nothing on the very first start)."""
        now = now or datetime.now(timezone.utc)
        objects = sorted(snapshot, key=lambda o: resource_version(o) or -1)
        if not self._restored:
            self._restored = True
            self.cursor.started_at = now
            self.changed = True
            for obj in objects:
                self._remember(object_uid(obj), obj, self._fingerprint(obj))
                self.cursor.advance(obj)
            return []
        present = {object_uid(o) for o in objects}
        gone = [(uid, entry) for uid, entry in self._persisted.items() if uid not in present]
        changes: list[Change] = []
        for obj in objects:
            if self.cursor.seen_before(obj):
                self._remember(object_uid(obj), obj, self._fingerprint(obj))
                continue
            change = self._consider(obj, new_object=self._created_while_down(obj))
            if change is not None:
                changes.append(change)
        for uid, (namespace, name, _fp) in gone:
            stub = {"metadata": {"uid": uid, "name": name, "namespace": namespace or None}}
            change = self.feed("DELETED", stub)
            if change is not None:
                changes.append(change)
        return changes

    def feed(self, event_type: str, obj: Mapping[str, Any]) -> Change | None:
        """One watch event; the change to fire for, if any."""
        if event_type == "DELETED":
            uid = object_uid(obj)
            known = self._memory.pop(uid) is not None
            if self._persisted.pop(uid) is not None:
                self.changed = True
            if self.cursor.advance(obj):
                self.changed = True
            if not known or (self.fire_on == "enter" and self.predicate is not None):
                return None  # never seen, or a deleted object cannot enter a state
            return self._fire("DELETED", obj, None)
        if event_type not in ("ADDED", "MODIFIED") or self.cursor.seen_before(obj):
            return None
        return self._consider(obj, new_object=event_type == "ADDED")

    def _created_while_down(self, obj: Mapping[str, Any]) -> bool:
        created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
        since = self.cursor.saved_at or self.cursor.started_at
        return created is not None and since is not None and created > since

    def _entered_while_down(self, obj: Mapping[str, Any]) -> bool:
        if not isinstance(self.predicate, ConditionWait):
            return False
        condition = self.predicate._find(obj)
        changed_at = parse_time((condition or {}).get("lastTransitionTime"))
        since = self.cursor.saved_at or self.cursor.started_at
        return changed_at is not None and since is not None and changed_at > since

    def _consider(self, obj: Mapping[str, Any], *, new_object: bool) -> Change | None:
        uid = object_uid(obj)
        previous = self._memory.get(uid)
        current = self._fingerprint(obj)
        self._remember(uid, obj, current)
        if self.cursor.advance(obj):
            self.changed = True
        unknown = previous is None
        kind = "ADDED" if unknown and new_object else "MODIFIED"
        if self.predicate is None:
            return self._fire(kind, obj, None)
        if self.fire_on == "enter":
            if current != "1" or previous == "1":
                return None
            if unknown and not new_object and not self._entered_while_down(obj):
                return None  # already in the state when we first saw it
            return self._fire(kind, obj, predicate_value(self.predicate, obj, redact=self.redact))
        if unknown and not new_object:
            return None  # nothing to compare with
        if not unknown and current == previous:
            return None
        return self._fire(kind, obj, predicate_value(self.predicate, obj, redact=self.redact))

    def _fire(self, kind: str, obj: Mapping[str, Any], value: Any) -> Change | None:
        if kind not in self.event_types:
            return None
        rv = (obj.get("metadata") or {}).get("resourceVersion") or ""
        key = f"{object_uid(obj)}@{rv}:{kind}"
        if key in self.cursor.recent:
            return None
        self.cursor.recent.add(key)
        self.changed = True
        return Change(kind, obj, value)
