"""core/v1 Events as Kubernetes' event recorder writes them, aggregated across processes (pure).

client-go's recorder keeps an in-memory cache: a repeat of the same event (same source,
object, type, reason and message) bumps ``count`` and ``lastTimestamp`` of the existing Event
instead of creating another. Airflow callbacks run in a fresh process each time, so here the
Event's *name* carries the aggregation key (``<object name>.<16 hex digits of its hash>``): a
repeat finds the existing Event by name::

    ref = object_reference(deployment)              # from a GET of the object
    event = new_event(ref, event_type="Warning", reason="NightlyLoadFailed", message="...",
                      component="airflow", reporting_controller="airflow-k8s-workflows",
                      reporting_instance="etl.load", now=now)
    # create it; on 409 AlreadyExists read it back and apply repeat_patch(existing, now)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_REPORTING_INSTANCE",
    "aggregation_key",
    "event_name",
    "event_namespace",
    "new_event",
    "object_reference",
    "repeat_patch",
    "truncate_bytes",
]

MAX_MESSAGE_BYTES = 1024  # events.k8s.io/v1 caps the note at 1 kB; kubectl shows no more
MAX_REPORTING_INSTANCE = 128  # the API server's limit for reportingInstance
_MAX_NAME = 253


def object_reference(obj: Mapping[str, Any]) -> dict[str, str]:
    """The ``involvedObject`` of an object as read from the API (``kind`` and ``apiVersion`` set)."""
    meta = obj.get("metadata") or {}
    ref = {
        "kind": str(obj.get("kind") or ""),
        "namespace": str(meta.get("namespace") or ""),
        "name": str(meta.get("name") or ""),
        "uid": str(meta.get("uid") or ""),
        "apiVersion": str(obj.get("apiVersion") or ""),
        "resourceVersion": str(meta.get("resourceVersion") or ""),
    }
    if not ref["kind"] or not ref["name"]:
        raise ValueError("an involved object needs kind and metadata.name")
    return {k: v for k, v in ref.items() if v}


def event_namespace(ref: Mapping[str, str]) -> str:
    """Events of cluster-scoped objects (Nodes, Namespaces) live in ``default``, as the recorder puts them."""
    return ref.get("namespace") or "default"


def truncate_bytes(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - len("…".encode())].decode(errors="ignore") + "…"


def aggregation_key(
    ref: Mapping[str, str],
    *,
    event_type: str,
    reason: str,
    message: str,
    component: str,
    reporting_instance: str,
) -> str:
    """What makes two events "the same" (client-go's ``getEventKey``, the instance standing in for the host)."""
    parts = [
        component,
        reporting_instance,
        ref.get("kind", ""),
        ref.get("namespace", ""),
        ref.get("name", ""),
        ref.get("uid", ""),
        ref.get("apiVersion", ""),
        event_type,
        reason,
        message,
    ]
    return "\x00".join(parts)


def event_name(object_name: str, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{object_name[: _MAX_NAME - len(digest) - 1]}.{digest}"


def _timestamp(now: datetime) -> str:
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_event(
    ref: Mapping[str, str],
    *,
    event_type: str,
    reason: str,
    message: str,
    component: str,
    reporting_controller: str,
    reporting_instance: str,
    now: datetime,
) -> dict[str, Any]:
    """A first occurrence (``count: 1``); ``message`` is cut to 1 kB, the instance to 128 characters."""
    message = truncate_bytes(message, MAX_MESSAGE_BYTES)
    if len(reporting_instance) > MAX_REPORTING_INSTANCE:
        digest = hashlib.sha256(reporting_instance.encode()).hexdigest()[:8]
        reporting_instance = f"{reporting_instance[: MAX_REPORTING_INSTANCE - 9]}-{digest}"
    key = aggregation_key(ref, event_type=event_type, reason=reason, message=message, component=component,
                          reporting_instance=reporting_instance)  # fmt: skip
    stamp = _timestamp(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(ref["name"], key), "namespace": event_namespace(ref)},
        "involvedObject": dict(ref),
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": {"component": component},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "reportingComponent": reporting_controller,
        "reportingInstance": reporting_instance,
    }


def repeat_patch(existing: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A merge patch recording one more occurrence; it carries the read ``resourceVersion`` so a
    concurrent bump makes it fail with 409 (read again and retry) instead of losing a count."""
    count = existing.get("count")
    count = count if isinstance(count, int) and count > 0 else 1
    return {
        "metadata": {"resourceVersion": (existing.get("metadata") or {}).get("resourceVersion")},
        "count": count + 1,
        "lastTimestamp": _timestamp(now),
    }
