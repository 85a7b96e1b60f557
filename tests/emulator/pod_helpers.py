"""Helpers for kubelet and scheduler tests: build pods, wait for their states and read what a
client sees (status, logs, events) through the official ``kubernetes`` client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.helpers import wait_for

Obj = dict[str, Any]
NS = "default"


def pod(name: str, *command: str, restart: str = "Never", annotations: dict[str, str] | None = None,
        **container: Any) -> Obj:  # fmt: skip
    """A one-container pod running ``command`` (none: an idle container)."""
    spec: Obj = {
        "name": container.pop("container_name", "c"),
        "image": container.pop("image", "busybox:1.36"),
    }
    if command:
        spec["command"] = list(command)
    spec.update(container)
    meta: Obj = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"restartPolicy": restart, "containers": [spec]},
    }


def sh(name: str, script: str, **kwargs: Any) -> Obj:
    return pod(name, "sh", "-c", script, **kwargs)


def raw(core: client.CoreV1Api, name: str) -> Obj | None:
    """The pod as JSON (the client's models rename fields), or None once it is gone."""
    try:
        resp = core.read_namespaced_pod(name, NS, _preload_content=False)
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    return json.loads(resp.data)


def wait_pod(core: client.CoreV1Api, name: str, predicate: Callable[[Obj], Any], timeout: float = 20.0,
             what: str = "") -> Obj:  # fmt: skip
    def check() -> Obj | None:
        obj = raw(core, name)
        return obj if obj is not None and predicate(obj) else None

    result = wait_for(check, timeout=timeout, message=what or f"pod {name}")
    assert result is not None
    return result


def phase_is(*phases: str) -> Callable[[Obj], bool]:
    return lambda p: (p.get("status") or {}).get("phase") in phases


def container_status(p: Obj, name: str = "c", init: bool = False) -> Obj:
    key = "initContainerStatuses" if init else "containerStatuses"
    return next(s for s in (p.get("status") or {}).get(key) or [] if s["name"] == name)


def state_of(p: Obj, name: str = "c", init: bool = False) -> Obj:
    statuses = (p.get("status") or {}).get("initContainerStatuses" if init else "containerStatuses") or []
    found = next((s for s in statuses if s["name"] == name), None)
    return (found or {}).get("state") or {}


def waiting_reason(p: Obj, name: str = "c") -> str | None:
    return (state_of(p, name).get("waiting") or {}).get("reason")


def condition(p: Obj, kind: str) -> Obj:
    return next((c for c in (p.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def log(core: client.CoreV1Api, name: str, **params: Any) -> str:
    resp = core.read_namespaced_pod_log(name, NS, _preload_content=False, **params)
    return resp.data.decode()


def events(core: client.CoreV1Api, name: str) -> list[Any]:
    return list(core.list_namespaced_event(NS, field_selector=f"involvedObject.name={name}").items)


def event_reasons(core: client.CoreV1Api, name: str) -> list[str]:
    return [e.reason for e in sorted(events(core, name), key=lambda e: e.metadata.name)]


def wait_event(core: client.CoreV1Api, name: str, reason: str, timeout: float = 20.0) -> Any:
    return wait_for(lambda: next((e for e in events(core, name) if e.reason == reason), None), timeout=timeout,
                    message=f"event {reason} for {name}")  # fmt: skip


def watch_until(core: client.CoreV1Api, name: str, stop: Callable[[str, Obj], bool], timeout: int = 20,
                since: str | None = None, stamps: list[float] | None = None) -> list[Obj]:  # fmt: skip
    """Every version of the pod a watch delivers (from resourceVersion ``since`` when given) until
    ``stop(event_type, pod)``; the list includes that one. ``stamps`` gets each arrival time."""
    seen: list[Obj] = []
    w = watch.Watch()
    kwargs: dict[str, Any] = {"resource_version": since} if since else {}
    for event in w.stream(core.list_namespaced_pod, NS, field_selector=f"metadata.name={name}",
                          timeout_seconds=timeout, **kwargs):  # fmt: skip
        obj = event["raw_object"]
        seen.append(obj)
        if stamps is not None:
            stamps.append(time.monotonic())
        if stop(event["type"], obj):
            w.stop()
            return seen
    raise AssertionError(f"watch on pod {name} ended before the expected state; saw {len(seen)} versions")


def create(core: client.CoreV1Api, body: Obj) -> str:
    """Create the pod; its resourceVersion, to watch from."""
    return str(core.create_namespaced_pod(NS, body).metadata.resource_version)


def annotations_pod(name: str, annotations: dict[str, str], *command: str, restart: str = "Always",
                    **container: Any) -> Obj:  # fmt: skip
    return pod(name, *command, restart=restart, annotations=annotations, **container)
