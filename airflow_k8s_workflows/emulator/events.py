"""The event recorder controllers and the kubelet use: core/v1 Events, aggregated like the
real recorder (a repeat bumps ``count`` and ``lastTimestamp``)."""

from __future__ import annotations

import time
from typing import Any

from .api import CONTROLLER, ApiServer
from .clock import rfc3339
from .errors import ApiError

Obj = dict[str, Any]


class EventRecorder:
    def __init__(self, api: ApiServer) -> None:
        self.api = api
        # (namespace, uid, reason, message, type, component) -> event name
        self._seen: dict[tuple[str, ...], str] = {}

    def record(
        self,
        obj: Obj,
        event_type: str,
        reason: str,
        message: str,
        component: str,
        host: str | None = None,
        field_path: str | None = None,
    ) -> None:
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        rt = self.api.rt("", "events")
        key = (namespace, meta.get("uid", ""), reason, message, event_type, component)
        now = rfc3339()
        existing = self._seen.get(key)
        if existing is not None:

            def bump(ev: Obj) -> None:
                ev["count"] = int(ev.get("count", 1)) + 1
                ev["lastTimestamp"] = now

            if self.api.mutate(rt, namespace, existing, bump, CONTROLLER) is not None:
                return
        involved: Obj = {
            "kind": obj.get("kind", ""),
            "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if not involved["namespace"]:
            involved.pop("namespace")
        if field_path:
            involved["fieldPath"] = field_path
        source: Obj = {"component": component}
        if host:
            source["host"] = host
        name = f"{meta.get('name', 'object')}.{time.time_ns():x}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": event_type,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host or "",
        }
        try:
            self.api.create(rt, namespace, event, CONTROLLER)
        except ApiError:
            return  # e.g. the namespace is being deleted: the real recorder drops it too
        self._seen[key] = name
        if len(self._seen) > 50_000:
            self._seen.clear()
