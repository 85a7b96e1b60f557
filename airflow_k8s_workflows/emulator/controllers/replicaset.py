"""The ReplicaSet controller (``pkg/controller/replicaset``): keeps ``spec.replicas`` active pods
matching the selector, adopting orphans and releasing pods whose labels moved away."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.controllers.base import Controller, Key, controller_ref
from airflow_k8s_workflows.emulator.controllers.ownership import claim, controller_of, owned_or_orphans
from airflow_k8s_workflows.emulator.controllers.podstate import (
    is_active,
    is_available,
    is_ready,
    is_terminal,
    is_terminating,
    labels_of,
    new_condition,
    pods_to_delete,
    seconds_until_available,
    selector_of,
)
from airflow_k8s_workflows.emulator.controllers.podtemplate import pod_from_template, template_labels
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]

RS_KEY = ("apps", "replicasets")
POD_KEY = ("", "pods")
BURST_REPLICAS = 500


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    watches = (RS_KEY, POD_KEY)

    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        if type_key == RS_KEY:
            return super().keys_for(type_key, change)
        keys: set[Key] = set()
        ns = change.key[0]
        for pod in (change.obj, change.old):
            if pod is None:
                continue
            ref = controller_of(pod)
            if ref is not None:
                if ref.get("kind") == "ReplicaSet":
                    keys.add((ns, ref["name"]))
                continue
            for stored in self.api.store.items(RS_KEY, ns):
                if selector_of(stored.obj).matches(labels_of(pod)):
                    keys.add((ns, stored.obj["metadata"]["name"]))
        return keys

    async def reconcile(self, key: Key) -> float | None:
        ns, name = key
        rs_rt, pod_rt = self.api.rt(*RS_KEY), self.api.rt(*POD_KEY)
        rs = self.api.try_get(rs_rt, ns, name)
        if rs is None:
            return None
        pods = [s.obj for s in self.api.store.items(POD_KEY, ns) if is_active(s.obj)]
        active = claim(self.api, pod_rt, rs, owned_or_orphans(pods, rs), selector_of(rs))
        failure: tuple[str, str] | None = None
        if not rs["metadata"].get("deletionTimestamp"):
            failure = self._manage_replicas(rs, active)
            pods = [s.obj for s in self.api.store.items(POD_KEY, ns) if is_active(s.obj)]
            active = [p for p in owned_or_orphans(pods, rs) if controller_of(p) is not None]
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        status = self._status(rs, active, failure, min_ready)
        self.api.update_status(rs_rt, ns, name, lambda obj: obj.__setitem__("status", status))
        if failure is not None:
            return 1.0
        if min_ready and status.get("readyReplicas", 0) == rs["spec"].get("replicas", 1):
            return seconds_until_available(active, min_ready, self.clock)
        return None

    # -- scaling ----------------------------------------------------------------------------
    def _manage_replicas(self, rs: Obj, active: list[Obj]) -> tuple[str, str] | None:
        """Create or delete pods; on an API error, the ReplicaFailure (reason, message) to report."""
        diff = len(active) - int(rs["spec"].get("replicas", 1))
        if diff < 0:
            return self._create_pods(rs, min(-diff, BURST_REPLICAS))
        if diff > 0:
            related = self._related_pods(rs)
            for pod in pods_to_delete(active, related, min(diff, BURST_REPLICAS)):
                error = self._delete_pod(rs, pod)
                if error is not None:
                    return ("FailedDelete", error)
        return None

    def _create_pods(self, rs: Obj, count: int) -> tuple[str, str] | None:
        meta = rs["metadata"]
        pod_rt = self.api.rt(*POD_KEY)
        ref = controller_ref(rs)
        for _ in range(count):
            body = pod_from_template(rs["spec"].get("template") or {}, meta["namespace"], ref,
                                     generate_name=f"{meta['name']}-")  # fmt: skip
            try:
                created = self.api.create(pod_rt, meta["namespace"], body, CONTROLLER)
            except ApiError as e:
                if "because it is being terminated" in e.message:
                    return None
                self.recorder.record(rs, "Warning", "FailedCreate", f"Error creating: {e.message}", self.name)
                return ("FailedCreate", e.message)
            self.recorder.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                                 self.name)  # fmt: skip
        return None

    def _delete_pod(self, rs: Obj, pod: Obj) -> str | None:
        pod_name = pod["metadata"]["name"]
        try:
            self.api.delete(self.api.rt(*POD_KEY), pod["metadata"]["namespace"], pod_name, CONTROLLER)
        except ApiError as e:
            if e.code == 404:
                return None
            self.recorder.record(rs, "Warning", "FailedDelete", f"Error deleting: {e.message}", self.name)
            return e.message
        self.recorder.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod_name}", self.name)
        return None

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of every ReplicaSet sharing this one's controller (a Deployment's other revisions)."""
        ns = rs["metadata"]["namespace"]
        owner = controller_of(rs)
        uids = {rs["metadata"]["uid"]}
        if owner is not None:
            for stored in self.api.store.items(RS_KEY, ns):
                other = controller_of(stored.obj)
                if other is not None and other.get("uid") == owner.get("uid"):
                    uids.add(stored.obj["metadata"]["uid"])
        related = []
        for stored in self.api.store.items(POD_KEY, ns):
            ref = controller_of(stored.obj)
            if ref is not None and ref.get("uid") in uids:
                related.append(stored.obj)
        return related

    # -- status -----------------------------------------------------------------------------
    def _status(self, rs: Obj, active: list[Obj], failure: tuple[str, str] | None, min_ready: int) -> Obj:
        wanted = template_labels(rs["spec"].get("template"))
        fully = sum(1 for p in active if wanted.items() <= labels_of(p).items())
        ready = sum(1 for p in active if is_ready(p))
        available = sum(1 for p in active if is_available(p, min_ready, self.clock))
        conditions = [dict(c) for c in (rs.get("status") or {}).get("conditions") or []]
        has_failure = any(c.get("type") == "ReplicaFailure" for c in conditions)
        if failure is not None and not has_failure:
            conditions.append(new_condition("ReplicaFailure", "True", failure[0], failure[1]))
        elif failure is None and has_failure:
            conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
        status: Obj = {"replicas": len(active)}
        for field, value in (("fullyLabeledReplicas", fully), ("readyReplicas", ready),
                             ("availableReplicas", available),
                             ("observedGeneration", rs["metadata"].get("generation", 0))):  # fmt: skip
            if value:
                status[field] = value
        if conditions:
            status["conditions"] = conditions
        # DeploymentReplicaSetTerminatingReplicas (beta, on by default since 1.35): always reported
        status["terminatingReplicas"] = self._terminating(rs)
        return status

    def _terminating(self, rs: Obj) -> int:
        """``FilterTerminatingPods`` + ``FilterClaimedPods``: owned pods being deleted, not finished."""
        uid, selector = rs["metadata"]["uid"], selector_of(rs)
        count = 0
        for stored in self.api.store.items(POD_KEY, rs["metadata"]["namespace"]):
            pod = stored.obj
            ref = controller_of(pod)
            if (is_terminating(pod) and not is_terminal(pod) and ref is not None and ref.get("uid") == uid
                    and selector.matches(labels_of(pod))):  # fmt: skip
                count += 1
        return count
