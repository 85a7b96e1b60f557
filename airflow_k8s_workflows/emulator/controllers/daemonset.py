"""The DaemonSet controller (``pkg/controller/daemon``): one pod per eligible node, pinned there
with node affinity for the scheduler to bind, ControllerRevisions per template, RollingUpdate
(``maxUnavailable``, or ``maxSurge``) and OnDelete."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.controllers import history
from airflow_k8s_workflows.emulator.controllers.base import Controller, Key, controller_ref
from airflow_k8s_workflows.emulator.controllers.deployment_util import scaled_value
from airflow_k8s_workflows.emulator.controllers.ownership import claim, controller_of, owned_or_orphans
from airflow_k8s_workflows.emulator.controllers.podstate import (
    is_available,
    is_ready,
    is_terminal,
    is_terminating,
    labels_of,
    seconds_until_available,
    selector_of,
)
from airflow_k8s_workflows.emulator.controllers.podtemplate import (
    compute_hash,
    pod_from_template,
)
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.selectors import LabelSelector
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]

DS_KEY = ("apps", "daemonsets")
POD_KEY = ("", "pods")
NODE_KEY = ("", "nodes")
HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)


def daemon_pod_spec(template_spec: Obj) -> Obj:
    """``AddOrUpdateDaemonPodTolerations``: daemons survive node conditions and cordons."""
    spec = copy.deepcopy(template_spec)
    tolerations = [t for t in spec.get("tolerations") or [] if isinstance(t, dict)]
    wanted = list(_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in wanted:
        tolerations = [t for t in tolerations if not (t.get("key") == key and t.get("effect") == effect)]
        tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    spec["tolerations"] = tolerations
    return spec


def pin_to_node(spec: Obj, node: str) -> None:
    """``ReplaceDaemonSetPodNodeNameNodeAffinity``: a required ``metadata.name In [node]`` field term."""
    field = {"key": "metadata.name", "operator": "In", "values": [node]}
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    terms = (required or {}).get("nodeSelectorTerms") or []
    if not terms:
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchFields": [field]}]
        }
        return
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [{**({"matchExpressions": t["matchExpressions"]} if t.get("matchExpressions") else {}),
                               "matchFields": [dict(field)]} for t in terms]
    }  # fmt: skip


def target_node(pod: Obj) -> str:
    """``GetTargetNodeName``: the bound node, else the one the affinity pins the pod to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})  # fmt: skip
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if (
                field.get("key") == "metadata.name"
                and field.get("operator") == "In"
                and len(field.get("values") or []) == 1
            ):
                return str(field["values"][0])
    return ""


def _expression_matches(expr: Obj, value: str | None) -> bool:
    op, values = expr.get("operator"), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and values:
        try:
            return int(value) > int(values[0]) if op == "Gt" else int(value) < int(values[0])
        except ValueError:
            return False
    return False


def node_should_run(spec: Obj, node: Obj) -> bool:
    """``NodeShouldRunDaemonPod``: node selector, required node affinity and untolerated taints."""
    labels = labels_of(node)
    if not LabelSelector.from_label_selector({"matchLabels": spec.get("nodeSelector") or {}}).matches(labels):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})  # fmt: skip
    terms = required.get("nodeSelectorTerms") or []
    fields = {"metadata.name": node["metadata"]["name"]}

    def term_matches(term: Obj) -> bool:
        exprs, field_exprs = term.get("matchExpressions") or [], term.get("matchFields") or []
        if not exprs and not field_exprs:
            return False
        return all(_expression_matches(e, labels.get(e.get("key", ""))) for e in exprs) and all(
            _expression_matches(e, fields.get(e.get("key", ""))) for e in field_exprs
        )

    if terms and not any(term_matches(t) for t in terms):
        return False
    tolerations = spec.get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            return False
    return True


def _tolerates(toleration: Obj, taint: Obj) -> bool:
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return not toleration.get("key") or toleration.get("key") == taint.get("key")
    return toleration.get("key") == taint.get("key") and (toleration.get("value") or "") == (
        taint.get("value") or ""
    )


class DaemonSetController(Controller):
    name = "daemonset-controller"
    watches = (DS_KEY, POD_KEY, NODE_KEY)

    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        if type_key == DS_KEY:
            return [change.key]
        if type_key == NODE_KEY:
            return [
                (s.obj["metadata"]["namespace"], s.obj["metadata"]["name"])
                for s in self.api.store.items(DS_KEY)
            ]
        keys: set[Key] = set()
        ns = change.key[0]
        for pod in (change.obj, change.old):
            if pod is None:
                continue
            ref = controller_of(pod)
            if ref is not None:
                if ref.get("kind") == "DaemonSet":
                    keys.add((ns, ref["name"]))
                continue
            for stored in self.api.store.items(DS_KEY, ns):
                if selector_of(stored.obj).matches(labels_of(pod)):
                    keys.add((ns, stored.obj["metadata"]["name"]))
        return keys

    async def reconcile(self, key: Key) -> float | None:
        live = self.api.try_get(self.api.rt(*DS_KEY), *key)
        if live is None:
            return None
        return _Sync(self, copy.deepcopy(live)).run()


class _Sync:
    """One ``syncDaemonSet`` pass."""

    def __init__(self, controller: DaemonSetController, ds: Obj) -> None:
        self.c = controller
        self.api = controller.api
        self.clock = controller.clock
        self.ds = ds
        self.ns = ds["metadata"]["namespace"]
        self.name = ds["metadata"]["name"]
        self.spec = ds["spec"]
        self.min_ready = int(self.spec.get("minReadySeconds") or 0)
        self.collisions = int((ds.get("status") or {}).get("collisionCount") or 0)
        self.pod_spec = daemon_pod_spec((self.spec.get("template") or {}).get("spec") or {})
        self.nodes = [copy.deepcopy(s.obj) for s in self.api.store.items(NODE_KEY)]
        self.nodes.sort(key=lambda n: n["metadata"]["name"])
        self.again: float | None = None

    def run(self) -> float | None:
        self.hash = self._construct_history()
        if self.ds["metadata"].get("deletionTimestamp"):
            self._write_status()
            return None
        self._manage()
        strategy = self.spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            self._rolling_update(strategy.get("rollingUpdate") or {})
        self._write_status()
        waits = [w for w in (self.again, self._availability_wait()) if w is not None]
        return min(waits) if waits else None

    # -- pods per node -------------------------------------------------------------------------
    def _pods_by_node(self) -> dict[str, list[Obj]]:
        pods = owned_or_orphans((s.obj for s in self.api.store.items(POD_KEY, self.ns)), self.ds)
        claimed = claim(self.api, self.api.rt(*POD_KEY), self.ds, pods, selector_of(self.ds))
        by_node: dict[str, list[Obj]] = {}
        for pod in claimed:
            if is_terminating(pod) and is_terminal(pod):
                continue
            by_node.setdefault(target_node(pod), []).append(pod)
        for pods_on_node in by_node.values():
            pods_on_node.sort(
                key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"])
            )
        return by_node

    def _is_updated(self, pod: Obj) -> bool:
        return labels_of(pod).get(HASH_LABEL) == self.hash

    def _manage(self) -> None:
        """``manage``: create the missing daemons, delete failed, surplus and misplaced ones."""
        by_node = self._pods_by_node()
        for node in self.nodes:
            node_name = node["metadata"]["name"]
            pods = by_node.pop(node_name, [])
            if not node_should_run(self.pod_spec, node):
                for pod in pods:
                    self._delete_pod(pod)
                continue
            running = []
            for pod in pods:
                if is_terminating(pod):
                    continue
                if (pod.get("status") or {}).get("phase") == "Failed":
                    self._record("Warning", "FailedDaemonPod",
                                 f"Found failed daemon pod {self.ns}/{pod['metadata']['name']} on node {node_name}, will try to kill it")  # fmt: skip
                    self._delete_pod(pod)
                    self.again = 1.0
                else:
                    running.append(pod)
            if not running and not pods:
                self._create_pod(node_name)
            elif len(running) > 1 and not self._surging():
                for pod in running[1:]:
                    self._delete_pod(pod)
        for pods in by_node.values():  # pods pinned to nodes that no longer exist
            for pod in pods:
                self._delete_pod(pod)

    def _surging(self) -> bool:
        rolling = (self.spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
        return scaled_value(rolling.get("maxSurge", 0), max(len(self.nodes), 1), True) > 0

    def _rolling_update(self, rolling: Obj) -> None:
        by_node = self._pods_by_node()
        desired = sum(1 for n in self.nodes if node_should_run(self.pod_spec, n))
        max_surge = scaled_value(rolling.get("maxSurge", 0), desired, True)
        max_unavailable = scaled_value(rolling.get("maxUnavailable", 1), desired, False)
        if max_surge == 0 and max_unavailable == 0:
            max_unavailable = 1
        if max_surge == 0:
            self._update_without_surge(by_node, max_unavailable)
        else:
            self._update_with_surge(by_node, max_surge)

    def _split(self, pods: list[Obj]) -> tuple[Obj | None, Obj | None, bool]:
        """``findUpdatedPodsOnNode``: (new pod, old pod, consistent)."""
        pods = [p for p in pods if not is_terminating(p)]
        new = [p for p in pods if self._is_updated(p)]
        old = [p for p in pods if not self._is_updated(p)]
        if len(new) > 1 or len(old) > 1:
            return None, None, False
        return (new[0] if new else None), (old[0] if old else None), True

    def _update_without_surge(self, by_node: dict[str, list[Obj]], max_unavailable: int) -> None:
        unavailable = 0
        replace: list[Obj] = []
        candidates: list[Obj] = []
        for node in self.nodes:
            new, old, ok = self._split(by_node.get(node["metadata"]["name"], []))
            if not ok or (new is None) == (old is None):
                unavailable += 1
            elif new is not None:
                if not is_available(new, self.min_ready, self.clock):
                    unavailable += 1
            elif old is not None:
                if not is_available(old, self.min_ready, self.clock):
                    replace.append(old)
                elif unavailable < max_unavailable:
                    candidates.append(old)
        budget = min(max(max_unavailable - unavailable, 0), len(candidates))
        for pod in replace + candidates[:budget]:
            self._delete_pod(pod)

    def _update_with_surge(self, by_node: dict[str, list[Obj]], max_surge: int) -> None:
        surged = 0
        for node in self.nodes:
            node_name = node["metadata"]["name"]
            new, old, ok = self._split(by_node.get(node_name, []))
            if not ok or old is None:
                continue
            if new is None:
                if not is_available(old, self.min_ready, self.clock):
                    self._create_pod(node_name)
                elif surged < max_surge:
                    surged += 1
                    self._create_pod(node_name)
            elif not is_available(new, self.min_ready, self.clock):
                surged += 1
            else:
                self._delete_pod(old)

    def _create_pod(self, node_name: str) -> None:
        spec = copy.deepcopy(self.pod_spec)
        pin_to_node(spec, node_name)
        template = {"metadata": (self.spec.get("template") or {}).get("metadata") or {}, "spec": spec}
        extra = {HASH_LABEL: self.hash}
        generation = (self.ds["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION)
        if generation:
            extra[GENERATION_LABEL] = generation
        body = pod_from_template(template, self.ns, controller_ref(self.ds), generate_name=f"{self.name}-",
                                 extra_labels=extra)  # fmt: skip
        try:
            created = self.api.create(self.api.rt(*POD_KEY), self.ns, body, CONTROLLER)
        except ApiError as e:
            if "because it is being terminated" not in e.message:
                self._record("Warning", "FailedCreate", f"Error creating: {e.message}")
                self.again = 1.0
            return
        self._record("Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    def _delete_pod(self, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        try:
            self.api.delete(self.api.rt(*POD_KEY), self.ns, name, CONTROLLER)
        except ApiError as e:
            if e.code != 404:
                self._record("Warning", "FailedDelete", f"Error deleting: {e.message}")
            return
        self._record("Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    def _record(self, kind: str, reason: str, message: str) -> None:
        self.c.recorder.record(self.ds, kind, reason, message, self.c.name)

    # -- history -------------------------------------------------------------------------------
    def _construct_history(self) -> str:
        """``constructHistory``: the current template's revision (created, or renumbered as the newest)."""
        revisions = history.list_revisions(self.api, self.ds)
        template = self.spec.get("template") or {}
        wanted = {"data": history.template_patch(self.ds)}
        digest = compute_hash(template, self.collisions or None)
        current = self._revision_with_hash(revisions, digest)
        while current is not None and not history.equal(current, wanted):
            self.collisions += 1
            digest = compute_hash(template, self.collisions)
            current = self._revision_with_hash(revisions, digest)
        others = [r for r in revisions if r is not current]
        number = max((int(r.get("revision") or 0) for r in others), default=0) + 1
        if current is None:
            current = self._snapshot(digest, number)
            if current is None:
                return digest
            revisions.append(current)
        elif int(current.get("revision") or 0) < number:
            revisions.remove(current)
            current = history.renumber(self.api, current, number)
            revisions.append(current)
        live_hashes = {labels_of(s.obj).get(HASH_LABEL) for s in self.api.store.items(POD_KEY, self.ns)}
        live = {
            r["metadata"]["name"]
            for r in revisions
            if r is current or labels_of(r).get(HASH_LABEL) in live_hashes
        }
        history.truncate(self.api, revisions, live, int(self.spec.get("revisionHistoryLimit", 10)))
        return digest

    @staticmethod
    def _revision_with_hash(revisions: list[Obj], digest: str) -> Obj | None:
        matching = [r for r in revisions if labels_of(r).get(HASH_LABEL) == digest]
        return matching[-1] if matching else None

    def _snapshot(self, digest: str, number: int) -> Obj | None:
        labels = {
            **((self.spec.get("template") or {}).get("metadata") or {}).get("labels", {}),
            HASH_LABEL: digest,
        }
        meta: Obj = {"name": f"{self.name}-{digest}", "namespace": self.ns, "labels": labels,
                     "ownerReferences": [controller_ref(self.ds)]}  # fmt: skip
        if self.ds["metadata"].get("annotations"):
            meta["annotations"] = dict(self.ds["metadata"]["annotations"])
        body = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta,
                "data": history.template_patch(self.ds), "revision": number}  # fmt: skip
        try:
            return copy.deepcopy(self.api.create(self.api.rt(*history.CR_KEY), self.ns, body, CONTROLLER))
        except ApiError as e:
            if e.reason == "AlreadyExists":
                self.collisions += 1
                self.again = 0.5
            return None

    # -- status --------------------------------------------------------------------------------
    def _availability_wait(self) -> float | None:
        pods = [p for ps in self._pods_by_node().values() for p in ps]
        return seconds_until_available(pods, self.min_ready, self.clock) if self.min_ready else None

    def _write_status(self) -> None:
        by_node = self._pods_by_node()
        desired = current = misscheduled = ready = available = updated = 0
        for node in self.nodes:
            pods = by_node.get(node["metadata"]["name"], [])
            if node_should_run(self.pod_spec, node):
                desired += 1
                if not pods:
                    continue
                current += 1
                pod = pods[0]
                if is_ready(pod):
                    ready += 1
                    if is_available(pod, self.min_ready, self.clock):
                        available += 1
                if self._is_updated(pod):
                    updated += 1
            elif pods:
                misscheduled += 1
        status: Obj = {
            "currentNumberScheduled": current,
            "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
        }
        generation = int(self.ds["metadata"].get("generation") or 0)
        for field, value in (("observedGeneration", generation), ("updatedNumberScheduled", updated),
                             ("numberAvailable", available), ("numberUnavailable", desired - available)):  # fmt: skip
            if value:
                status[field] = value
        if self.collisions:
            status["collisionCount"] = self.collisions
        old = self.ds.get("status") or {}
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        if status != old:
            self.api.update_status(
                self.api.rt(*DS_KEY), self.ns, self.name, lambda o: o.__setitem__("status", status)
            )
