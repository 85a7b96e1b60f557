"""Filtering Kubernetes Events and turning them into serializable payloads.

Works on both ``v1`` Events (``involvedObject``, ``message``, ``count``) and
``events.k8s.io/v1`` Events (``regarding``, ``note``, ``series.count``/``deprecatedCount``).

:class:`EventFilter` matches locally; :func:`field_selector_for` gives the part of the filter the
API server can apply itself (exact kind, exact name, a single reason, the type), so a watch
only receives candidates and :meth:`EventFilter.matches` decides the rest.

``involved_name`` is an exact name, a prefix when it ends with ``*`` (``web-*``), or a regular
expression after ``re:`` that must match the whole name (``re:web-[0-9]+``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = [
    "EVENT_TYPES",
    "EventFilter",
    "event_count",
    "event_dedup_key",
    "event_payload",
    "field_selector_for",
    "is_events_v1",
]

EVENT_TYPES = ("Normal", "Warning")


def is_events_v1(event: Mapping[str, Any]) -> bool:
    """An ``events.k8s.io`` Event (``regarding``/``note``) rather than a core ``v1`` one."""
    api_version = str(event.get("apiVersion") or "")
    if api_version.startswith("events.k8s.io/"):
        return True
    return "regarding" in event and "involvedObject" not in event


def _subject(event: Mapping[str, Any]) -> Mapping[str, Any]:
    subject = event.get("regarding") if is_events_v1(event) else event.get("involvedObject")
    return subject if isinstance(subject, Mapping) else {}


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def event_count(event: Mapping[str, Any]) -> int:
    """How often the event happened: the largest of ``count``/``deprecatedCount`` and
    ``series.count``; 1 when none is set."""
    series = event.get("series") if isinstance(event.get("series"), Mapping) else {}
    counts = [
        _positive_int(event.get("deprecatedCount" if is_events_v1(event) else "count")),
        _positive_int((series or {}).get("count")),
    ]
    return max([c for c in counts if c is not None], default=1)


def event_dedup_key(event: Mapping[str, Any]) -> str:
    """Identifies one occurrence: the uid (or namespace/name) plus the count, so a repeat that
    bumps ``count`` is a new occurrence but a re-delivered one is not."""
    meta = event.get("metadata") or {}
    ident = meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    return f"{ident}#{event_count(event)}"


@dataclass(frozen=True)
class EventFilter:
    """Which events count. ``None`` means "any" for every criterion."""

    reasons: tuple[str, ...] | None = None
    event_type: str | None = None
    involved_kind: str | None = None
    involved_name: str | None = None
    min_count: int = 1
    _name_regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __init__(
        self,
        reasons: str | Iterable[str] | None = None,
        event_type: str | None = None,
        involved_kind: str | None = None,
        involved_name: str | None = None,
        min_count: int = 1,
    ) -> None:
        if isinstance(reasons, str):
            normalized: tuple[str, ...] | None = (reasons,) if reasons else None
        elif reasons is None:
            normalized = None
        else:
            items = tuple(reasons)
            if any(not isinstance(r, str) or not r for r in items):
                raise ValueError(f"reasons must be non-empty strings, got {list(items)!r}")
            normalized = items or None
        if event_type is not None:
            canonical = {t.lower(): t for t in EVENT_TYPES}.get(str(event_type).lower())
            if canonical is None:
                raise ValueError(f"event_type must be one of {', '.join(EVENT_TYPES)}, got {event_type!r}")
            event_type = canonical
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an integer of at least 1, got {min_count!r}")
        regex: re.Pattern[str] | None = None
        if involved_name is not None and involved_name.startswith("re:"):
            try:
                regex = re.compile(involved_name[3:])
            except re.error as exc:
                raise ValueError(f"involved_name: invalid regular expression {involved_name[3:]!r}: {exc}")
        object.__setattr__(self, "reasons", normalized)
        object.__setattr__(self, "event_type", event_type)
        object.__setattr__(self, "involved_kind", involved_kind or None)
        object.__setattr__(self, "involved_name", involved_name or None)
        object.__setattr__(self, "min_count", min_count)
        object.__setattr__(self, "_name_regex", regex)

    def _name_matches(self, name: str) -> bool:
        pattern = self.involved_name
        if pattern is None:
            return True
        if self._name_regex is not None:
            return self._name_regex.fullmatch(name) is not None
        if pattern.endswith("*"):
            return name.startswith(pattern[:-1])
        return name == pattern

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` (either API's Event) passes every criterion."""
        if self.reasons is not None and event.get("reason") not in self.reasons:
            return False
        if self.event_type is not None and event.get("type") != self.event_type:
            return False
        subject = _subject(event)
        if self.involved_kind is not None and subject.get("kind") != self.involved_kind:
            return False
        if not self._name_matches(str(subject.get("name") or "")):
            return False
        return event_count(event) >= self.min_count

    @property
    def name_is_exact(self) -> bool:
        return (
            self.involved_name is not None
            and self._name_regex is None
            and not self.involved_name.endswith("*")
        )

    def describe(self) -> str:
        """``Warning BackOff events of Pod web-* (count >= 3)``."""
        parts = []
        if self.event_type:
            parts.append(self.event_type)
        parts.append("/".join(self.reasons) if self.reasons else "any")
        text = " ".join(parts) + " events"
        if self.involved_kind or self.involved_name:
            text += f" of {self.involved_kind or 'any kind'} {self.involved_name or '(any name)'}".rstrip()
        if self.min_count > 1:
            text += f" (count >= {self.min_count})"
        return text


def field_selector_for(event_filter: EventFilter, *, api_group: str = "") -> str:
    """The server-side field selector for what the server can filter exactly: the involved
    object's kind and exact name, a single reason, the type. ``api_group="events.k8s.io"`` uses
    that API's ``regarding.*`` labels. Empty string when nothing can be filtered server-side."""
    prefix = "regarding" if api_group == "events.k8s.io" else "involvedObject"
    terms = []
    if event_filter.involved_kind:
        terms.append(f"{prefix}.kind={event_filter.involved_kind}")
    if event_filter.name_is_exact:
        terms.append(f"{prefix}.name={event_filter.involved_name}")
    if event_filter.reasons is not None and len(event_filter.reasons) == 1:
        terms.append(f"reason={event_filter.reasons[0]}")
    if event_filter.event_type:
        terms.append(f"type={event_filter.event_type}")
    return ",".join(terms)


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def event_payload(event: Mapping[str, Any], cluster: str | None = None) -> dict[str, Any]:
    """A JSON-serializable summary of ``event`` with the same keys for both Event APIs.

    Keys: uid, name, namespace, reason, message, type, involvedObject (kind, name, namespace,
    uid, apiVersion, fieldPath), count, firstTimestamp, lastTimestamp, eventTime,
    reportingComponent, cluster.
    """
    meta = event.get("metadata") or {}
    subject = _subject(event)
    series = event.get("series") if isinstance(event.get("series"), Mapping) else {}
    series = series or {}
    if is_events_v1(event):
        message = event.get("note")
        first = event.get("deprecatedFirstTimestamp") or event.get("eventTime")
        last = (
            series.get("lastObservedTime") or event.get("deprecatedLastTimestamp") or event.get("eventTime")
        )
        component = event.get("reportingController") or (event.get("deprecatedSource") or {}).get("component")
    else:
        message = event.get("message")
        first = event.get("firstTimestamp") or event.get("eventTime")
        last = event.get("lastTimestamp") or series.get("lastObservedTime") or event.get("eventTime")
        component = event.get("reportingComponent") or (event.get("source") or {}).get("component")
    payload = {
        "uid": meta.get("uid"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "reason": event.get("reason"),
        "message": message,
        "type": event.get("type"),
        "involvedObject": {
            key: subject.get(key) for key in ("kind", "name", "namespace", "uid", "apiVersion", "fieldPath")
        },
        "count": event_count(event),
        "firstTimestamp": first,
        "lastTimestamp": last,
        "eventTime": event.get("eventTime"),
        "reportingComponent": component or None,
        "cluster": cluster,
    }
    result: dict[str, Any] = _json_safe(payload)
    return result
