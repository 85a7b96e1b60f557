"""The StatefulSet controller (``pkg/controller/statefulset``): pods ``<name>-<ordinal>`` with
stable identity and claims, OrderedReady or Parallel management, ControllerRevisions, and
RollingUpdate from the highest ordinal down to the partition (``maxUnavailable`` at a time) or
OnDelete."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.controllers import history
from airflow_k8s_workflows.emulator.controllers.base import Controller, Key, controller_ref
from airflow_k8s_workflows.emulator.controllers.deployment_util import scaled_value
from airflow_k8s_workflows.emulator.controllers.ownership import claim, controller_of, owned_or_orphans
from airflow_k8s_workflows.emulator.controllers.podstate import (
    is_available,
    is_running_and_ready,
    is_terminal,
    is_terminating,
    labels_of,
    ready_since,
    selector_of,
)
from airflow_k8s_workflows.emulator.controllers.podtemplate import pod_from_template
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]

STS_KEY = ("apps", "statefulsets")
POD_KEY = ("", "pods")
PVC_KEY = ("", "persistentvolumeclaims")
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    match = _ORDINAL.match(pod["metadata"]["name"])
    if match is None:
        return "", -1
    return match.group(1), int(match.group(2))


def pod_revision(pod: Obj | None) -> str:
    return labels_of(pod).get(REVISION_LABEL, "") if pod is not None else ""


def is_created(pod: Obj) -> bool:
    return bool((pod.get("status") or {}).get("phase"))


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


class StatefulSetController(Controller):
    name = "statefulset-controller"
    watches = (STS_KEY, POD_KEY)

    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        if type_key == STS_KEY:
            return [change.key]
        keys: set[Key] = set()
        ns = change.key[0]
        for pod in (change.obj, change.old):
            if pod is None:
                continue
            ref = controller_of(pod)
            if ref is not None:
                if ref.get("kind") == "StatefulSet":
                    keys.add((ns, ref["name"]))
                continue
            parent, _ = parent_and_ordinal(pod)
            stored = self.api.store.get(STS_KEY, (ns, parent))
            if stored is not None and selector_of(stored).matches(labels_of(pod)):
                keys.add((ns, parent))
        return keys

    async def reconcile(self, key: Key) -> float | None:
        live = self.api.try_get(self.api.rt(*STS_KEY), *key)
        if live is None:
            return None
        return _Sync(self, copy.deepcopy(live)).run()


class _Sync:
    """One ``UpdateStatefulSet`` pass."""

    def __init__(self, controller: StatefulSetController, sts: Obj) -> None:
        self.c = controller
        self.api = controller.api
        self.clock = controller.clock
        self.set = sts
        self.ns = sts["metadata"]["namespace"]
        self.name = sts["metadata"]["name"]
        self.spec = sts["spec"]
        self.min_ready = int(self.spec.get("minReadySeconds") or 0)
        self.waits: list[float] = []

    # -- entry --------------------------------------------------------------------------------
    def run(self) -> float | None:
        pods = self._claim_pods()
        revisions = history.list_revisions(self.api, self.set)
        collisions = int((self.set.get("status") or {}).get("collisionCount") or 0)
        update_rev, collisions = history.resolve(self.api, self.set, revisions, collisions)
        current_name = (self.set.get("status") or {}).get("currentRevision")
        current_rev = next((r for r in revisions if r["metadata"]["name"] == current_name), update_rev)
        self.current_rev, self.update_rev = current_rev, update_rev
        status: Obj = {"collisionCount": collisions}
        replicas, condemned = self._update(pods, status)
        self._write_status(status, replicas, condemned)
        live = {current_rev["metadata"]["name"], update_rev["metadata"]["name"]}
        live |= {pod_revision(p) for p in pods}
        history.truncate(self.api, revisions, live, int(self.spec.get("revisionHistoryLimit", 10)))
        return min(self.waits) if self.waits else None

    def _claim_pods(self) -> list[Obj]:
        def member(pod: Obj) -> bool:
            return parent_and_ordinal(pod)[0] == self.name

        candidates = [p for p in owned_or_orphans((s.obj for s in self.api.store.items(POD_KEY, self.ns)), self.set)
                      if member(p)]  # fmt: skip
        return claim(self.api, self.api.rt(*POD_KEY), self.set, candidates, selector_of(self.set))

    # -- the update ----------------------------------------------------------------------------
    def _range(self) -> tuple[int, int]:
        start = int((self.spec.get("ordinals") or {}).get("start") or 0)
        return start, start + int(self.spec.get("replicas", 1))

    def _monotonic(self) -> bool:
        return self.spec.get("podManagementPolicy", "OrderedReady") != "Parallel"

    def _update(self, pods: list[Obj], status: Obj) -> tuple[list[Obj], list[Obj]]:
        start, end = self._range()
        replicas: list[Obj | None] = [None] * (end - start)
        condemned: list[Obj] = []
        for pod in pods:
            _, ordinal = parent_and_ordinal(pod)
            if start <= ordinal < end:
                replicas[ordinal - start] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        slots = [p if p is not None else self._new_pod(start + i) for i, p in enumerate(replicas)]
        condemned.sort(key=lambda p: parent_and_ordinal(p)[1], reverse=True)
        unhealthy = [p for p in [*slots, *reversed(condemned)] if not is_healthy(p)]
        first_unhealthy = unhealthy[0] if unhealthy else None
        if self.set["metadata"].get("deletionTimestamp"):
            return slots, condemned
        monotonic = self._monotonic()
        if self._run_for_all(slots, lambda i: self._process_replica(slots, i), monotonic):
            return slots, condemned
        if self._run_for_all(
            condemned, lambda i: self._process_condemned(condemned, i, first_unhealthy), monotonic
        ):
            return slots, condemned
        strategy = self.spec.get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return slots, condemned
        self._rolling_update(slots, strategy.get("rollingUpdate") or {}, status)
        return slots, condemned

    @staticmethod
    def _run_for_all(pods: list[Obj], fn: Callable[[int], bool], monotonic: bool) -> bool:
        """True when a monotonic pass must stop here."""
        return any(fn(i) and monotonic for i in range(len(pods)))

    def _available(self, pod: Obj) -> bool:
        """``isRunningAndAvailable``; remembers when an almost-available pod must be looked at again."""
        if not is_running_and_ready(pod):
            return False
        if is_available(pod, self.min_ready, self.clock):
            return True
        since = ready_since(pod)
        if since is not None:
            self.waits.append(max(self.min_ready - self.clock.elapsed_scaled(since), 0) + 1)
        return False

    def _process_replica(self, slots: list[Obj], i: int) -> bool:
        pod = slots[i]
        if is_terminal(pod):
            if not is_terminating(pod):
                self._delete_pod(pod)
            return True
        if not is_created(pod):
            created = self._create_pod(pod)
            if created is None:
                return True
            slots[i] = created
            return True
        if is_terminating(pod):
            return True
        if not self._available(pod):
            return True
        self._restore_identity(pod)
        return False

    def _process_condemned(self, condemned: list[Obj], i: int, first_unhealthy: Obj | None) -> bool:
        pod = condemned[i]
        if is_terminating(pod):
            return True
        if not self._available(pod) and pod is not first_unhealthy and self._monotonic():
            return True
        self._delete_pod(pod, "scale down")
        return True

    def _rolling_update(self, slots: list[Obj], rolling: Obj, status: Obj) -> None:
        replicas = len(slots)
        update_min = int(rolling.get("partition") or 0)
        max_unavailable = max(scaled_value(rolling.get("maxUnavailable", 1), replicas, False), 1)
        unavailable = sum(1 for p in slots if is_terminating(p) or not self._available(p))
        if unavailable >= max_unavailable:
            return
        budget = max_unavailable - unavailable
        update_name = self.update_rev["metadata"]["name"]
        for target in range(replicas - 1, update_min - 1, -1):
            if budget <= 0:
                break
            pod = slots[target]
            if pod_revision(pod) != update_name and not is_terminating(pod):
                self._delete_pod(pod, "update")
                status["deletedForUpdate"] = status.get("deletedForUpdate", 0) + 1
                budget -= 1

    # -- pods and claims -------------------------------------------------------------------------
    def _new_pod(self, ordinal: int) -> Obj:
        """``newVersionedStatefulSetPod``: below the partition at the current revision, else the update one."""
        strategy = self.spec.get("updateStrategy") or {}
        rolling = strategy.get("rollingUpdate")
        start = self._range()[0]
        current_replicas = int((self.set.get("status") or {}).get("currentReplicas") or 0)
        use_current = (strategy.get("type") == "RollingUpdate" and rolling is None
                       and ordinal < start + current_replicas) or (
            rolling is not None and ordinal < start + int(rolling.get("partition") or 0))  # fmt: skip
        revision = self.current_rev if use_current else self.update_rev
        name = f"{self.name}-{ordinal}"
        pod = pod_from_template(history.template_of(revision), self.ns, controller_ref(self.set), name=name,
                                extra_labels={POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
                                              REVISION_LABEL: revision["metadata"]["name"]})  # fmt: skip
        pod["spec"]["hostname"] = name
        if self.spec.get("serviceName"):
            pod["spec"]["subdomain"] = self.spec["serviceName"]
        volumes = [v for v in pod["spec"].get("volumes") or [] if v.get("name") not in self._claim_names()]
        for claim_name in self._claim_names():
            volumes.append({"name": claim_name,
                            "persistentVolumeClaim": {"claimName": f"{claim_name}-{self.name}-{ordinal}"}})  # fmt: skip
        if volumes:
            pod["spec"]["volumes"] = volumes
        return pod

    def _claim_names(self) -> list[str]:
        return [c["metadata"]["name"] for c in self.spec.get("volumeClaimTemplates") or []
                if (c.get("metadata") or {}).get("name")]  # fmt: skip

    def _record(self, kind: str, reason: str, message: str) -> None:
        self.c.recorder.record(self.set, kind, reason, message, self.c.name)

    def _create_pod(self, pod: Obj) -> Obj | None:
        pod_name = pod["metadata"]["name"]
        if not self._create_claims(pod):
            return None
        try:
            created = self.api.create(self.api.rt(*POD_KEY), self.ns, pod, CONTROLLER)
        except ApiError as e:
            if e.reason != "AlreadyExists":
                self._record("Warning", "FailedCreate",
                             f"create Pod {pod_name} in StatefulSet {self.name} failed error: {e.message}")  # fmt: skip
            return None
        self._record(
            "Normal", "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {self.name} successful"
        )
        return copy.deepcopy(created)

    def _create_claims(self, pod: Obj) -> bool:
        pvc_rt = self.api.rt(*PVC_KEY)
        _, ordinal = parent_and_ordinal(pod)
        selector_labels = (self.spec.get("selector") or {}).get("matchLabels") or {}
        for template in self.spec.get("volumeClaimTemplates") or []:
            claim_name = f"{template['metadata']['name']}-{self.name}-{ordinal}"
            if self.api.try_get(pvc_rt, self.ns, claim_name) is not None:
                continue
            meta = copy.deepcopy(template.get("metadata") or {})
            meta.update({"name": claim_name, "namespace": self.ns,
                         "labels": {**(meta.get("labels") or {}), **selector_labels}})  # fmt: skip
            body: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
                    "spec": copy.deepcopy(template.get("spec") or {})}  # fmt: skip
            try:
                self.api.create(pvc_rt, self.ns, body, CONTROLLER)
            except ApiError as e:
                if e.reason == "AlreadyExists":
                    continue
                self._record("Warning", "FailedCreate",
                             f"create Claim {claim_name} for Pod {pod['metadata']['name']} in StatefulSet {self.name} "
                             f"failed error: {e.message}")  # fmt: skip
                return False
            self._bind(claim_name, body["spec"])
            self._record("Normal", "SuccessfulCreate",
                         f"create Claim {claim_name} Pod {pod['metadata']['name']} in StatefulSet {self.name} success")  # fmt: skip
        return True

    def _bind(self, claim_name: str, spec: Obj) -> None:
        """No volume provisioner runs in the emulator: a new claim is reported Bound at its requested size."""
        capacity = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        status: Obj = {"phase": "Bound", "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"])}
        if capacity:
            status["capacity"] = {"storage": capacity}
        self.api.update_status(
            self.api.rt(*PVC_KEY), self.ns, claim_name, lambda o: o.__setitem__("status", status)
        )

    def _delete_pod(self, pod: Obj, why: str = "") -> None:
        pod_name = pod["metadata"]["name"]
        try:
            self.api.delete(self.api.rt(*POD_KEY), self.ns, pod_name, CONTROLLER)
        except ApiError as e:
            if e.code != 404:
                self._record("Warning", "FailedDelete",
                             f"delete Pod {pod_name} in StatefulSet {self.name} failed error: {e.message}")  # fmt: skip
            return
        self._record(
            "Normal", "SuccessfulDelete", f"delete Pod {pod_name} in StatefulSet {self.name} successful"
        )

    def _restore_identity(self, pod: Obj) -> None:
        """``identityMatches`` / ``updateIdentity``: a pod that lost its identity labels gets them back."""
        _, ordinal = parent_and_ordinal(pod)
        wanted = {POD_NAME_LABEL: pod["metadata"]["name"], POD_INDEX_LABEL: str(ordinal)}
        if wanted.items() <= labels_of(pod).items():
            return

        def apply(live: Obj) -> None:
            live["metadata"].setdefault("labels", {}).update(wanted)

        self.api.mutate(self.api.rt(*POD_KEY), self.ns, pod["metadata"]["name"], apply)

    # -- status --------------------------------------------------------------------------------
    def _write_status(self, status: Obj, slots: list[Obj], condemned: list[Obj]) -> None:
        current_name = self.current_rev["metadata"]["name"]
        update_name = self.update_rev["metadata"]["name"]
        counts = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "currentReplicas": 0,
                  "updatedReplicas": 0}  # fmt: skip
        for pod in [*slots, *condemned]:
            if is_created(pod):
                counts["replicas"] += 1
            if is_running_and_ready(pod):
                counts["readyReplicas"] += 1
                if is_available(pod, self.min_ready, self.clock):
                    counts["availableReplicas"] += 1
            if is_created(pod) and not is_terminating(pod):
                revision = pod_revision(pod)
                counts["currentReplicas"] += revision == current_name
                counts["updatedReplicas"] += revision == update_name
        counts["currentReplicas"] -= status.pop("deletedForUpdate", 0)
        strategy = (self.spec.get("updateStrategy") or {}).get("type")
        if (strategy == "RollingUpdate" and counts["updatedReplicas"] == counts["replicas"]
                and counts["readyReplicas"] == counts["replicas"]):  # fmt: skip
            counts["currentReplicas"] = counts["updatedReplicas"]
            current_name = update_name
        new: Obj = {}
        generation = int(self.set["metadata"].get("generation") or 0)
        if generation:
            new["observedGeneration"] = generation
        new["replicas"] = counts["replicas"]
        for field in ("readyReplicas", "currentReplicas", "updatedReplicas"):
            if counts[field]:
                new[field] = counts[field]
        new["currentRevision"] = current_name
        new["updateRevision"] = update_name
        new["collisionCount"] = status["collisionCount"]
        old = self.set.get("status") or {}
        if old.get("conditions"):
            new["conditions"] = old["conditions"]
        new["availableReplicas"] = counts["availableReplicas"]
        if new != old:
            self.api.update_status(
                self.api.rt(*STS_KEY), self.ns, self.name, lambda o: o.__setitem__("status", new)
            )
