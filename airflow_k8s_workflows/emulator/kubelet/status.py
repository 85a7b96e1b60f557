"""The pod status the kubelet writes: phase (``getPhase``), conditions (``Generate*Condition``)
and container statuses, merged into the live status without touching what others own
(``PodScheduled``, readiness-gate conditions, ``nominatedNodeName``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_workflows.emulator.clock import rfc3339
from airflow_k8s_workflows.emulator.kinds.pods import qos_class
from airflow_k8s_workflows.emulator.kubelet.container import Container

Obj = dict[str, Any]
OWN_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")


@dataclass
class PodState:
    """What the kubelet knows about one pod, beyond its containers."""

    spec: Obj
    generation: int | None
    host_ip: str
    pod_ip: str
    start_time: str
    init: Sequence[Container]
    containers: Sequence[Container]
    sandbox_ready: bool = True
    terminal: bool = False  # stopped for good: every container is done
    reason: str | None = None
    message: str | None = None
    readiness_gates: dict[str, str] = field(default_factory=dict)


def phase(state: PodState) -> str:
    policy = state.spec.get("restartPolicy", "Always")
    pending_init = failed_init = 0
    for c in state.init:
        if c.sidecar:
            if not c.started and not _any_regular_started(state):
                pending_init += 1
            continue
        code = c.exit_code()
        last = (c.last_state.get("terminated") or {}).get("exitCode")
        if code == 0:
            continue
        if code is not None or ("waiting" in c.state and last not in (None, 0)):
            failed_init += 1
        else:
            pending_init += 1
    if failed_init and policy == "Never":
        return "Failed"
    running = waiting = stopped = succeeded = 0
    for c in state.containers:
        if c.is_running:
            running += 1
        elif "terminated" in c.state:
            stopped += 1
            succeeded += c.exit_code() == 0
        elif c.last_state.get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if state.terminal and state.reason:
        return "Failed"
    if state.terminal:
        return "Succeeded" if stopped == succeeded == len(state.containers) else "Failed"
    if (pending_init and not _any_regular_started(state)) or waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        done = "Succeeded" if stopped == succeeded else ("Failed" if policy == "Never" else "Running")
        if done != "Running" and any(c.sidecar and c.is_running for c in state.init):
            return "Running"  # not terminal while its sidecars are still being stopped
        return done
    return "Pending"


def _any_regular_started(state: PodState) -> bool:
    return any(c.is_running or "terminated" in c.state or c.last_state for c in state.containers)


def _condition(kind: str, ok: bool, reason: str | None = None, message: str | None = None) -> Obj:
    cond: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                 "lastTransitionTime": rfc3339()}  # fmt: skip
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def conditions(state: PodState, pod_phase: str) -> list[Obj]:
    initialized = _condition("Initialized", True)
    if state.init:
        incomplete = [c.name for c in state.init if (not c.started if c.sidecar else c.exit_code() != 0)]
        if pod_phase == "Succeeded":
            initialized = _condition("Initialized", True, "PodCompleted")
        elif incomplete and not _any_regular_started(state):
            initialized = _condition("Initialized", False, "ContainersNotInitialized",
                                     f"containers with incomplete status: [{' '.join(incomplete)}]")  # fmt: skip
    if pod_phase in ("Succeeded", "Failed"):
        reason = "PodCompleted" if pod_phase == "Succeeded" else "PodFailed"
        containers_ready = _condition("ContainersReady", False, reason)
        ready = _condition("Ready", False, reason)
    else:
        unready = [c.name for c in [*[s for s in state.init if s.sidecar], *state.containers] if not c.ready]
        if unready:
            message = f"containers with unready status: [{' '.join(unready)}]"
            containers_ready = _condition("ContainersReady", False, "ContainersNotReady", message)
            ready = _condition("Ready", False, "ContainersNotReady", message)
        else:
            containers_ready = _condition("ContainersReady", True)
            ready = _readiness_gates(state)
    sandbox = _condition(
        "PodReadyToStartContainers", state.sandbox_ready and pod_phase not in ("Succeeded", "Failed")
    )
    out = [sandbox, initialized, ready, containers_ready]
    if state.generation is not None:
        for cond in out:
            cond["observedGeneration"] = state.generation
    return out


def _readiness_gates(state: PodState) -> Obj:
    for gate in state.spec.get("readinessGates") or []:
        kind = gate.get("conditionType", "")
        status = state.readiness_gates.get(kind)
        if status is None:
            return _condition("Ready", False, "ReadinessGatesNotReady",
                              f'corresponding condition of pod readiness gate "{kind}" does not exist.')  # fmt: skip
        if status != "True":
            return _condition("Ready", False, "ReadinessGatesNotReady",
                              f'the status of pod readiness gate "{kind}" is not "True", but {status}')  # fmt: skip
    return _condition("Ready", True)


def build(state: PodState) -> Obj:
    pod_phase = phase(state)
    status: Obj = {
        "phase": pod_phase,
        "conditions": conditions(state, pod_phase),
        "hostIP": state.host_ip,
        "hostIPs": [{"ip": state.host_ip}],
        "podIP": state.pod_ip,
        "podIPs": [{"ip": state.pod_ip}],
        "startTime": state.start_time,
        "qosClass": qos_class(state.spec),
        "containerStatuses": [c.status() for c in state.containers],
    }
    if state.init:
        status["initContainerStatuses"] = [c.status() for c in state.init]
    if state.generation is not None:
        status["observedGeneration"] = state.generation
    if state.reason:
        status["reason"] = state.reason
    if state.message:
        status["message"] = state.message
    return status


def merge(live: Obj, ours: Obj) -> None:
    """Write ``ours`` into the live pod's status, keeping others' conditions and transition times."""
    status = live.setdefault("status", {})
    previous = {c.get("type"): c for c in status.get("conditions") or []}
    merged: list[Obj] = []
    for cond in ours["conditions"]:
        old = previous.get(cond["type"])
        if old is not None and old.get("status") == cond["status"]:
            cond["lastTransitionTime"] = old.get("lastTransitionTime", cond["lastTransitionTime"])
        merged.append(cond)
    scheduled = previous.get("PodScheduled") or {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                                  "lastTransitionTime": rfc3339()}  # fmt: skip
    merged.append(scheduled)
    merged.extend(c for t, c in previous.items() if t not in OWN_CONDITIONS and t != "PodScheduled")
    for key, value in ours.items():
        if key != "conditions":
            status[key] = value
    status["conditions"] = merged
