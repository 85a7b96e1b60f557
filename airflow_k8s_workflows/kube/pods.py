"""Why a pod is stuck or failed, in words a user acts on.

:func:`diagnose_pod` reads a pod's status (containers and init containers) and returns one
:class:`PodProblem` per thing that is wrong: image pulls (``ErrImagePull``,
``ImagePullBackOff``, ``InvalidImageName``), ``CrashLoopBackOff`` with the restart count and
the last exit, ``OOMKilled`` (current or last state) with the memory limit,
``CreateContainerConfigError`` and other container-creation errors, failed containers, the
scheduler's ``Unschedulable`` message, pod-level failures (``Evicted``, ``DeadlineExceeded``)
and pods pending for too long.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "PodProblem",
    "PodSummary",
    "diagnose_pod",
    "parse_time",
    "pod_ready",
    "pod_status_text",
    "summarize_pods",
]

# Waiting reasons that mean the container will not start without a change.
_IMAGE_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
_CREATE_REASONS = {
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "PreCreateHookError",
    "PreStartHookError",
    "PostStartHookError",
}

_HINTS = {
    "ErrImagePull": "check the image name and tag, and that the node can reach the registry "
    "(imagePullSecrets for a private one)",
    "ImagePullBackOff": "check the image name and tag, and that the node can reach the registry "
    "(imagePullSecrets for a private one)",
    "InvalidImageName": "fix the image reference",
    "ErrImageNeverPull": "the image is not on the node and imagePullPolicy is Never",
    "CreateContainerConfigError": "a Secret, ConfigMap or key the container refers to is missing",
    "CreateContainerError": "the container runtime could not create the container",
    "RunContainerError": "the container runtime could not start the container",
    "CrashLoopBackOff": "the container keeps exiting; read its logs (previous=True)",
    "OOMKilled": "the container used more memory than its limit; raise resources.limits.memory",
    "Unschedulable": "no node fits the pod; lower its requests, or fix its node selector, "
    "affinity or tolerations",
    "PendingTooLong": "look at the pod's events",
    "Evicted": "the node ran short of a resource; set requests that match real usage",
    "DeadlineExceeded": "the pod ran longer than activeDeadlineSeconds",
}


@dataclass(frozen=True)
class PodProblem:
    """One thing wrong with a pod."""

    pod: str
    """``namespace/name``."""
    container: str | None
    """Container name (``init:<name>`` for an init container), None for pod-level problems."""
    reason: str
    message: str
    restart_count: int = 0
    exit_code: int | None = None

    @property
    def hint(self) -> str | None:
        return _HINTS.get(self.reason)

    def describe(self) -> str:
        """``pod ns/p container c: ImagePullBackOff: Back-off pulling image "x" (check ...)``."""
        where = f"pod {self.pod}" + (f" container {self.container}" if self.container else "")
        text = f"{where}: {self.reason}"
        if self.message:
            text += f": {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp from the API (``2024-05-01T10:00:00Z``, optional fraction)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _pod_ref(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    name = meta.get("name", "")
    return f"{meta['namespace']}/{name}" if meta.get("namespace") else str(name)


def _condition(pod: Mapping[str, Any], condition_type: str) -> Mapping[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == condition_type:
            return condition
    return None


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """The pod's ``Ready`` condition is ``True`` (kubectl's ``podutil.IsPodReady``)."""
    condition = _condition(pod, "Ready")
    return condition is not None and condition.get("status") == "True"


def _memory_limit(pod: Mapping[str, Any], container: str, *, init: bool) -> str | None:
    spec = pod.get("spec") or {}
    for item in spec.get("initContainers" if init else "containers") or []:
        if item.get("name") == container:
            limit = ((item.get("resources") or {}).get("limits") or {}).get("memory")
            return str(limit) if limit is not None else None
    return None


def _exit_text(terminated: Mapping[str, Any]) -> str:
    parts = [f"exit code {terminated.get('exitCode')}"]
    if terminated.get("reason"):
        parts.append(f"reason {terminated['reason']}")
    if terminated.get("signal"):
        parts.append(f"signal {terminated['signal']}")
    return ", ".join(parts)


def _container_problems(pod: Mapping[str, Any], status: Mapping[str, Any], *, init: bool) -> list[PodProblem]:
    ref = _pod_ref(pod)
    name = str(status.get("name", ""))
    label = f"init:{name}" if init else name
    restarts = status.get("restartCount") or 0
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated") or {}
    problems: list[PodProblem] = []

    reason = waiting.get("reason")
    message = str(waiting.get("message") or "")
    if reason in _IMAGE_REASONS or reason in _CREATE_REASONS:
        problems.append(PodProblem(ref, label, reason, message, restart_count=restarts))
    elif reason == "CrashLoopBackOff":
        detail = f"restarted {restarts} time{'s' if restarts != 1 else ''}"
        if last:
            detail += f"; last exit: {_exit_text(last)}"
            if last.get("message"):
                detail += f": {str(last['message']).strip()}"
        exit_code = last.get("exitCode") if last else None
        problems.append(
            PodProblem(ref, label, "CrashLoopBackOff", detail, restart_count=restarts, exit_code=exit_code)
        )

    oom = terminated if terminated.get("reason") == "OOMKilled" else None
    if oom is None and last.get("reason") == "OOMKilled":
        oom = last
    if oom is not None:
        limit = _memory_limit(pod, name, init=init)
        text = f"killed for using more memory than its limit ({_exit_text(oom)}"
        text += f", memory limit {limit})" if limit else ", no memory limit set: the node ran out)"
        if oom is last and not terminated:
            text = "last run was " + text
        problems.append(
            PodProblem(ref, label, "OOMKilled", text, restart_count=restarts, exit_code=oom.get("exitCode"))
        )
    elif terminated and terminated.get("exitCode") not in (0, None):
        phase = (pod.get("status") or {}).get("phase")
        restart_policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        # A container that will not be restarted (pod failed, or restartPolicy Never) has failed.
        if phase == "Failed" or restart_policy == "Never" or (init and restart_policy != "Always"):
            reason = str(terminated.get("reason") or "Error")
            text = _exit_text(terminated)
            if terminated.get("message"):
                text += f": {str(terminated['message']).strip()}"
            problems.append(
                PodProblem(
                    ref, label, reason, text, restart_count=restarts, exit_code=terminated.get("exitCode")
                )
            )
    return problems


def diagnose_pod(
    pod: Mapping[str, Any],
    *,
    now: datetime | None = None,
    pending_timeout: timedelta = timedelta(minutes=10),
) -> list[PodProblem]:
    """Everything wrong with ``pod``; empty when it is healthy (or still starting normally).

    A pod Pending longer than ``pending_timeout`` (since its creation) is reported as
    ``PendingTooLong`` only when nothing more specific explains it.
    """
    ref = _pod_ref(pod)
    status = pod.get("status") or {}
    problems: list[PodProblem] = []

    if status.get("phase") == "Failed" and status.get("reason"):
        problems.append(PodProblem(ref, None, str(status["reason"]), str(status.get("message") or "")))

    scheduled = _condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        reason = str(scheduled.get("reason") or "Unschedulable")
        problems.append(PodProblem(ref, None, reason, str(scheduled.get("message") or "")))

    for container_status in status.get("initContainerStatuses") or []:
        problems.extend(_container_problems(pod, container_status, init=True))
    for container_status in status.get("containerStatuses") or []:
        problems.extend(_container_problems(pod, container_status, init=False))

    if not problems and status.get("phase", "Pending") == "Pending":
        created = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
        now = now or datetime.now(timezone.utc)
        if created is not None and now - created > pending_timeout:
            waited = _format_duration(now - created)
            detail = pod_status_text(pod)
            problems.append(
                PodProblem(ref, None, "PendingTooLong", f"Pending for {waited} (status {detail})")
            )
    return problems


def _format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60}m"


def pod_status_text(pod: Mapping[str, Any]) -> str:
    """The STATUS column of ``kubectl get pods`` (``Running``, ``Init:0/1``, ``CrashLoopBackOff``,
    ``Completed``, ``Terminating``...), after kubectl's ``printPod``."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    reason = str(status.get("reason") or status.get("phase") or "Unknown")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    initializing = False
    for index, container in enumerate(status.get("initContainerStatuses") or []):
        state = container.get("state") or {}
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if container.get("name") in sidecars and container.get("started") is True:
            continue
        if terminated:
            if terminated.get("reason"):
                reason = f"Init:{terminated['reason']}"
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode')}"
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing:
        has_running = False
        for container in reversed(status.get("containerStatuses") or []):
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif terminated:
                reason = (
                    f"Signal:{terminated['signal']}"
                    if terminated.get("signal")
                    else f"ExitCode:{terminated.get('exitCode')}"
                )
            elif state.get("running") and container.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running" if pod_ready(pod) else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        return "Unknown"
    if meta.get("deletionTimestamp"):
        return "Terminating"
    return reason


@dataclass(frozen=True)
class PodSummary:
    """Counts over a set of pods, for progress lines."""

    total: int
    ready: int
    phases: tuple[tuple[str, int], ...]
    """(phase, count), most common first."""
    statuses: tuple[tuple[str, int], ...]
    """(kubectl STATUS text, count), most common first."""

    def line(self) -> str:
        """``3 pods: 2 Running, 1 CrashLoopBackOff; 2/3 ready``."""
        if not self.total:
            return "no pods"
        parts = ", ".join(f"{count} {status}" for status, count in self.statuses)
        return f"{self.total} pod{'s' if self.total != 1 else ''}: {parts}; {self.ready}/{self.total} ready"


def summarize_pods(pods: Iterable[Mapping[str, Any]]) -> PodSummary:
    """Count pods by phase, by kubectl status text and by readiness."""
    pods = list(pods)
    phases: Counter[str] = Counter(str((p.get("status") or {}).get("phase") or "Unknown") for p in pods)
    statuses: Counter[str] = Counter(pod_status_text(p) for p in pods)
    return PodSummary(
        total=len(pods),
        ready=sum(1 for p in pods if pod_ready(p)),
        phases=tuple(phases.most_common()),
        statuses=tuple(statuses.most_common()),
    )
