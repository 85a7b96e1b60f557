"""One container of a pod as the kubelet tracks it: its state, restarts, back-offs, current
process and the output of its current and previous instance; rendered as a ``ContainerStatus``."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from airflow_k8s_workflows.emulator.clock import rfc3339
from airflow_k8s_workflows.emulator.kubelet import images
from airflow_k8s_workflows.emulator.kubelet.logs import LogBuffer
from airflow_k8s_workflows.emulator.kubelet.process import ContainerProcess

Obj = dict[str, Any]


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()`` for whole seconds and sub-second values: 10s, 1m20s, 5m0s, 500ms."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


class Backoff:
    """client-go's ``flowcontrol.Backoff`` for one container: the first retry is immediate, then
    the wait starts at ``base`` and doubles up to ``cap``; forgotten after ``2 × cap`` of calm."""

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap
        self.current: float | None = None
        self.updated = 0.0  # loop time of the last step, in controller seconds

    def step(self, now: float) -> float | None:
        """The wait before the next retry (None: retry now), advancing the back-off."""
        if self.current is not None and now - self.updated > 2 * self.cap:
            self.current = None
        self.updated = now
        if self.current is None:
            self.current = self.base
            return None
        delay = self.current
        self.current = min(self.current * 2, self.cap)
        return delay


class Container:
    def __init__(self, spec: Obj, *, init: bool, crash: Backoff, pull: Backoff) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.init = init
        self.sidecar = init and spec.get("restartPolicy") == "Always"
        self.field_path = f"spec.{'initContainers' if init else 'containers'}{{{self.name}}}"
        self.state: Obj = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: Obj = {}
        self.restart_count = 0
        self.instances = 0
        self.ready = False
        self.started = False
        self.container_id: str | None = None
        self.pulled_image: str | None = None
        self.process: ContainerProcess | None = None
        self.crash_backoff = crash
        self.pull_backoff = pull
        self.oom_killed = False
        self.stopping = False  # this container alone is being stopped (sidecars, restarts)
        self.restart_now = False  # its definition changed: restart without back-off
        self.logs: dict[str, LogBuffer] = {}
        self.tasks: list[asyncio.Task[Any]] = []

    # -- state transitions ------------------------------------------------------------------
    def waiting(self, reason: str, message: str | None = None) -> None:
        if "terminated" in self.state:
            self.last_state = {"terminated": self.state["terminated"]}
        self.state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        self.ready = False
        self.started = False

    def new_instance(self, image: str) -> LogBuffer:
        """A new container is created: the last terminated one becomes ``lastState``."""
        if self.instances:
            self.restart_count += 1
        self.instances += 1
        if "terminated" in self.state:
            self.last_state = {"terminated": self.state["terminated"]}
        self.container_id = f"emulator://{secrets.token_hex(32)}"
        self.pulled_image = image
        self.oom_killed = False
        buffer = LogBuffer()
        keep = {self.last_container_id(), self.container_id}
        self.logs = {k: v for k, v in self.logs.items() if k in keep}
        self.logs[self.container_id] = buffer
        return buffer

    def running(self, started: bool) -> None:
        self.state = {"running": {"startedAt": rfc3339()}}
        self.started = started

    def terminated(self, code: int, reason: str, message: str = "", started_at: str | None = None) -> None:
        started_at = started_at or (self.state.get("running") or {}).get("startedAt") or rfc3339()
        terminated: Obj = {"exitCode": code, "reason": reason, "startedAt": started_at, "finishedAt": rfc3339(),
                           "containerID": self.container_id}  # fmt: skip
        if message:
            terminated["message"] = message
        self.state = {"terminated": terminated}
        self.ready = False
        self.started = False
        self.process = None

    # -- reading ---------------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return "running" in self.state

    def exit_code(self) -> int | None:
        terminated = self.state.get("terminated")
        return None if terminated is None else int(terminated["exitCode"])

    def last_container_id(self) -> str | None:
        return ((self.last_state.get("terminated") or {}).get("containerID")) or None

    def log_buffer(self, previous: bool) -> LogBuffer | None:
        """The instance ``pods/log`` reads: the current one (the last terminated one while
        waiting to restart), or with ``previous`` the one in ``lastState``."""
        if previous or ("waiting" in self.state and self.last_container_id()):
            key = self.last_container_id()
        else:
            key = self.container_id
        return self.logs.get(key) if key else None

    def close_logs(self) -> None:
        for buffer in self.logs.values():
            buffer.close()

    def status(self) -> Obj:
        image = self.pulled_image or self.spec.get("image", "")
        out: Obj = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": images.normalize(image) if self.pulled_image else image,
            "imageID": images.image_id(image) if self.pulled_image else "",
            "started": self.started,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        mounts = [
            {"name": m.get("name"), "mountPath": m.get("mountPath"),
             **({"readOnly": True, "recursiveReadOnly": "Disabled"} if m.get("readOnly") else {})}
            for m in self.spec.get("volumeMounts") or []
        ]  # fmt: skip
        if mounts:
            out["volumeMounts"] = mounts
        return out
