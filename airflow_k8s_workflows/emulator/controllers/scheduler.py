"""kube-scheduler's default profile for the emulator's nodes: bind pending pods, or say why not.

A pod that fits nowhere gets ``PodScheduled=False`` (reason ``Unschedulable``) and a Warning
``FailedScheduling`` event; it is retried whenever a node changes or a pod releases resources,
and every five minutes of controller time (``podMaxInUnschedulablePodsDuration``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_k8s_workflows.emulator.api import Request
from airflow_k8s_workflows.emulator.clock import rfc3339
from airflow_k8s_workflows.emulator.controllers.base import Controller, ControllerContext, Key
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.scheduling import NodeUsage, schedule
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]

SCHEDULER_NAME = "default-scheduler"
UNSCHEDULABLE_ANNOTATION = "emulator.airflow-k8s-workflows.io/unschedulable"
SCHEDULER = Request(user="system:kube-scheduler", field_manager="kube-scheduler")
_RETRY_UNSCHEDULABLE = 300.0
PODS: TypeKey = ("", "pods")
NODES: TypeKey = ("", "nodes")


def wants_scheduling(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and not pod["metadata"].get("deletionTimestamp")
        and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
    )


def _worth_a_retry(change: Change) -> bool:
    """A new pod, or one whose spec or metadata changed (not a status write such as our own)."""
    if change.type == "ADDED" or change.old is None:
        return True
    old, new = change.old, change.obj
    return bool(old.get("spec") != new.get("spec") or
                {**old["metadata"], "resourceVersion": None, "managedFields": None}
                != {**new["metadata"], "resourceVersion": None, "managedFields": None})  # fmt: skip


class Scheduler(Controller):
    name = SCHEDULER_NAME
    watches = (PODS, NODES)
    start_order = 10

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.usage = NodeUsage()
        self.unschedulable: set[Key] = set()

    def start(self) -> None:
        for stored in self.api.store.items(PODS):
            self.usage.observe(stored.obj)
        super().start()

    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        if type_key == NODES:
            return list(self.unschedulable)
        pod = change.obj
        released = self.usage.observe(pod, deleted=change.type == "DELETED")
        keys: list[Key] = list(self.unschedulable) if released else []
        if change.type != "DELETED" and wants_scheduling(pod) and _worth_a_retry(change):
            keys.append(change.key)
        return keys

    async def reconcile(self, key: Key) -> float | None:
        rt = self.api.rt("", "pods")
        namespace, name = key
        pod = self.api.try_get(rt, namespace, name)
        if pod is None or not wants_scheduling(pod):
            self.unschedulable.discard(key)
            return None
        if (pod.get("spec") or {}).get("schedulingGates"):
            self._set_condition(
                pod, "SchedulingGated", "Scheduling is blocked due to non-empty scheduling gates"
            )
            return None
        nodes = self.api.list_objects(self.api.rt("", "nodes"))
        forced = (pod["metadata"].get("annotations") or {}).get(UNSCHEDULABLE_ANNOTATION) == "true"
        decision = schedule(pod, nodes, self.usage, forced_unschedulable=forced)
        if decision.node is None:
            self.unschedulable.add(key)
            self._set_condition(pod, "Unschedulable", decision.message)
            self.recorder.record(pod, "Warning", "FailedScheduling", decision.message, SCHEDULER_NAME)
            return _RETRY_UNSCHEDULABLE
        self.unschedulable.discard(key)
        try:
            bound = self.api.bind(rt, namespace, name, decision.node, SCHEDULER, uid=pod["metadata"]["uid"])
        except ApiError as e:
            if e.code in (404, 409):
                return None
            raise
        self.usage.observe(bound)
        self.recorder.record(
            bound,
            "Normal",
            "Scheduled",
            f"Successfully assigned {namespace}/{name} to {decision.node}",
            SCHEDULER_NAME,
        )
        return None

    def _set_condition(self, pod: Obj, reason: str, message: str) -> None:
        uid = pod["metadata"]["uid"]

        def update(live: Obj) -> None:
            if live["metadata"]["uid"] != uid:
                return
            status = live.setdefault("status", {})
            conditions = status.setdefault("conditions", [])
            wanted = {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                      "lastTransitionTime": rfc3339(), "reason": reason, "message": message}  # fmt: skip
            for i, cond in enumerate(conditions):
                if cond.get("type") == "PodScheduled":
                    if cond.get("status") == "False":
                        wanted["lastTransitionTime"] = cond.get(
                            "lastTransitionTime", wanted["lastTransitionTime"]
                        )
                    conditions[i] = wanted
                    return
            conditions.append(wanted)

        self.api.update_status(self.api.rt("", "pods"), pod["metadata"]["namespace"], pod["metadata"]["name"],
                               update, SCHEDULER)  # fmt: skip
