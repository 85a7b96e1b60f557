"""The Deployment controller (``pkg/controller/deployment``): one ReplicaSet per pod template
(``<name>-<pod-template-hash>``), rolled with RollingUpdate or Recreate, revisions and rollback
re-adoption, proportional scaling, history cleanup and progress deadlines."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.clock import parse_time
from airflow_k8s_workflows.emulator.controllers import deployment_util as du
from airflow_k8s_workflows.emulator.controllers.base import Controller, Key, controller_ref
from airflow_k8s_workflows.emulator.controllers.ownership import claim, controller_of, owned_or_orphans
from airflow_k8s_workflows.emulator.controllers.podstate import labels_of, selector_of
from airflow_k8s_workflows.emulator.controllers.podtemplate import (
    POD_TEMPLATE_HASH,
    compute_hash,
    equal_ignore_hash,
)
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]

DEPLOY_KEY = ("apps", "deployments")
RS_KEY = ("apps", "replicasets")
POD_KEY = ("", "pods")


class _Requeue(Exception):
    """Stop this sync and try again soon (a hash collision was recorded, a create failed)."""


def _created_order(rs: Obj) -> tuple[str, str]:
    return (rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"])


def _by_size(newer_first: bool) -> Any:
    """``ReplicaSetsBySizeNewer`` / ``ReplicaSetsBySizeOlder``: larger first, then by age."""

    def cmp(a: Obj, b: Obj) -> int:
        if du.replicas(a) != du.replicas(b):
            return -1 if du.replicas(a) > du.replicas(b) else 1
        ka, kb = _created_order(a), _created_order(b)
        if ka == kb:
            return 0
        older = ka < kb
        return (1 if older else -1) if newer_first else (-1 if older else 1)

    return functools.cmp_to_key(cmp)


class DeploymentController(Controller):
    name = "deployment-controller"
    watches = (DEPLOY_KEY, RS_KEY, POD_KEY)

    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        ns = change.key[0]
        if type_key == DEPLOY_KEY:
            return [change.key]
        if type_key == POD_KEY:
            # only a pod's disappearance matters (Recreate waits for old pods to be gone)
            if change.type != "DELETED":
                return []
            ref = controller_of(change.obj)
            if ref is None or ref.get("kind") != "ReplicaSet":
                return []
            rs = self.api.store.get(RS_KEY, (ns, ref["name"]))
            owner = controller_of(rs) if rs is not None else None
            return [(ns, owner["name"])] if owner is not None and owner.get("kind") == "Deployment" else []
        keys: set[Key] = set()
        for rs in (change.obj, change.old):
            if rs is None:
                continue
            ref = controller_of(rs)
            if ref is not None:
                if ref.get("kind") == "Deployment":
                    keys.add((ns, ref["name"]))
                continue
            for stored in self.api.store.items(DEPLOY_KEY, ns):
                if selector_of(stored.obj).matches(labels_of(rs)):
                    keys.add((ns, stored.obj["metadata"]["name"]))
        return keys

    async def reconcile(self, key: Key) -> float | None:
        live = self.api.try_get(self.api.rt(*DEPLOY_KEY), key[0], key[1])
        if live is None:
            return None
        return _Sync(self, copy.deepcopy(live)).run()


class _Sync:
    """One ``syncDeployment`` pass over a working copy of the Deployment."""

    def __init__(self, controller: DeploymentController, d: Obj) -> None:
        self.c = controller
        self.api = controller.api
        self.clock = controller.clock
        self.d = d
        self.d.setdefault("status", {})
        self.original_status = copy.deepcopy(d["status"])
        self.original_revision = du.annotations_of(d).get(du.REVISION)
        self.rs_list: list[Obj] = []
        self.ns = d["metadata"]["namespace"]
        self.rs_rt = self.api.rt(*RS_KEY)

    # -- entry --------------------------------------------------------------------------------
    def run(self) -> float | None:
        d = self.d
        selector = d["spec"].get("selector") or {}
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            self.c.recorder.record(d, "Warning", "SelectingAll",
                                   "This deployment is selecting all pods. A non-empty selector is required.",
                                   self.c.name)  # fmt: skip
            if int(d["status"].get("observedGeneration") or 0) < int(d["metadata"].get("generation") or 0):
                d["status"]["observedGeneration"] = d["metadata"]["generation"]
                self.write()
            return None
        self.rs_list = self._claim_replicasets()
        try:
            if d["metadata"].get("deletionTimestamp"):
                new_rs, old = self.all_replicasets(create=False)
                self.sync_deployment_status([*old, new_rs] if new_rs else old, new_rs)
            else:
                self.check_paused_conditions()
                if d["spec"].get("paused") or self.is_scaling_event():
                    self.sync()
                elif du.is_rolling(d):
                    self.rollout_rolling()
                else:
                    self.rollout_recreate()
        except _Requeue:
            self.write()
            return 1.0
        self.write()
        return self.requeue_after()

    def _claim_replicasets(self) -> list[Obj]:
        candidates = owned_or_orphans((s.obj for s in self.api.store.items(RS_KEY, self.ns)), self.d)
        return [
            copy.deepcopy(rs) for rs in claim(self.api, self.rs_rt, self.d, candidates, selector_of(self.d))
        ]

    def write(self) -> None:
        d = self.d
        revision = du.annotations_of(d).get(du.REVISION)
        if d["status"] == self.original_status and revision == self.original_revision:
            return
        status = copy.deepcopy(d["status"])

        def apply(live: Obj) -> None:
            live["status"] = status
            if revision is not None:
                du.annotations_of(live)[du.REVISION] = revision

        self.api.update_status(self.api.rt(*DEPLOY_KEY), self.ns, d["metadata"]["name"], apply)
        self.original_status = copy.deepcopy(d["status"])
        self.original_revision = revision

    # -- replica sets and revisions ------------------------------------------------------------
    def find_new(self) -> Obj | None:
        for rs in sorted(self.rs_list, key=_created_order):
            if equal_ignore_hash(rs["spec"].get("template"), self.d["spec"].get("template")):
                return rs
        return None

    def all_replicasets(self, create: bool) -> tuple[Obj | None, list[Obj]]:
        """``getAllReplicaSetsAndSyncRevision``: (new ReplicaSet or None, all old ones)."""
        existing = self.find_new()
        old = [
            rs
            for rs in self.rs_list
            if existing is None or rs["metadata"]["uid"] != existing["metadata"]["uid"]
        ]
        return self.get_new_replicaset(existing, old, create), old

    def update_rs(self, rs: Obj, changed: Obj) -> None:
        """Write ``changed`` (a modified copy of ``rs``) and refresh ``rs`` in place from the result."""

        def apply(live: Obj) -> None:
            live["metadata"]["annotations"] = copy.deepcopy(changed["metadata"].get("annotations") or {})
            live["spec"] = copy.deepcopy(changed["spec"])

        updated = self.api.mutate(self.rs_rt, self.ns, rs["metadata"]["name"], apply)
        if updated is None:
            raise _Requeue()
        rs.clear()
        rs.update(copy.deepcopy(updated))

    def get_new_replicaset(self, existing: Obj | None, old: list[Obj], create: bool) -> Obj | None:
        d = self.d
        new_revision = du.max_revision(old) + 1
        if existing is not None:
            rs_copy = copy.deepcopy(existing)
            annotations_updated = du.set_new_rs_annotations(d, rs_copy, new_revision, exists=True)
            min_ready = int(d["spec"].get("minReadySeconds") or 0)
            if annotations_updated or int(rs_copy["spec"].get("minReadySeconds") or 0) != min_ready:
                if min_ready:
                    rs_copy["spec"]["minReadySeconds"] = min_ready
                else:
                    rs_copy["spec"].pop("minReadySeconds", None)
                self.update_rs(existing, rs_copy)
            du.annotations_of(d)[du.REVISION] = du.annotations_of(existing).get(
                du.REVISION, str(new_revision)
            )
            if du.has_progress_deadline(d) and du.get_condition(d["status"], "Progressing") is None:
                du.set_condition(d["status"], du.new_condition("Progressing", "True", du.FOUND_NEW_RS,
                                                               f'Found new replica set "{existing["metadata"]["name"]}"'))  # fmt: skip
            return existing
        if not create:
            return None
        return self._create_new_replicaset(old, new_revision)

    def _create_new_replicaset(self, old: list[Obj], new_revision: int) -> Obj:
        d = self.d
        template = copy.deepcopy(d["spec"].get("template") or {})
        pod_hash = compute_hash(template, d["status"].get("collisionCount"))
        template.setdefault("metadata", {})
        template["metadata"]["labels"] = {
            **(template["metadata"].get("labels") or {}),
            POD_TEMPLATE_HASH: pod_hash,
        }
        selector = copy.deepcopy(d["spec"]["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH: pod_hash}
        name = f"{d['metadata']['name']}-{pod_hash}"
        spec: Obj = {"replicas": 0, "selector": selector, "template": template}
        if d["spec"].get("minReadySeconds"):
            spec["minReadySeconds"] = d["spec"]["minReadySeconds"]
        new_rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": self.ns, "ownerReferences": [controller_ref(d)],
                         "labels": dict(template["metadata"]["labels"])},
            "spec": spec,
        }  # fmt: skip
        count = du.new_rs_new_replicas(d, [*old, new_rs], new_rs)
        spec["replicas"] = count
        du.set_new_rs_annotations(d, new_rs, new_revision, exists=False)
        already_exists = False
        try:
            created = copy.deepcopy(self.api.create(self.rs_rt, self.ns, new_rs, CONTROLLER))
        except ApiError as e:
            if e.reason == "AlreadyExists":
                found = self.api.try_get(self.rs_rt, self.ns, name)
                ref = controller_of(found) if found is not None else None
                if (found is not None and ref is not None and ref.get("uid") == d["metadata"]["uid"]
                        and equal_ignore_hash(d["spec"].get("template"), found["spec"].get("template"))):  # fmt: skip
                    created = copy.deepcopy(found)
                    already_exists = True
                else:
                    d["status"]["collisionCount"] = int(d["status"].get("collisionCount") or 0) + 1
                    raise _Requeue()
            elif "because it is being terminated" in e.message:
                raise _Requeue()
            else:
                msg = f'Failed to create new replica set "{name}": {e.message}'
                if du.has_progress_deadline(d):
                    du.set_condition(
                        d["status"], du.new_condition("Progressing", "False", du.FAILED_RS_CREATE, msg)
                    )
                self.c.recorder.record(d, "Warning", du.FAILED_RS_CREATE, msg, self.c.name)
                raise _Requeue()
        if not already_exists and count > 0:
            self.c.recorder.record(d, "Normal", "ScalingReplicaSet",
                                   f"Scaled up replica set {name} from 0 to {count}", self.c.name)  # fmt: skip
        du.annotations_of(d)[du.REVISION] = str(new_revision)
        if not already_exists and du.has_progress_deadline(d):
            du.set_condition(d["status"], du.new_condition("Progressing", "True", du.NEW_RS_CREATED,
                                                           f'Created new replica set "{name}"'))  # fmt: skip
        if not already_exists:
            self.rs_list.append(created)
            return created
        for rs in self.rs_list:
            if rs["metadata"]["uid"] == created["metadata"]["uid"]:
                return rs
        self.rs_list.append(created)
        return created

    # -- scaling -------------------------------------------------------------------------------
    def scale_rs(self, rs: Obj, new_scale: int, operation: str | None = None) -> bool:
        """``scaleReplicaSet``: resize and refresh the replica annotations; True if the size changed."""
        d = self.d
        desired, maximum = du.replicas(d), du.replicas(d) + du.max_surge(d)
        old_scale = du.replicas(rs)
        size_changes = old_scale != new_scale
        if not size_changes and not du.replicas_annotations_need_update(rs, desired, maximum):
            return False
        changed = copy.deepcopy(rs)
        changed["spec"]["replicas"] = new_scale
        du.set_replicas_annotations(changed, desired, maximum)
        self.update_rs(rs, changed)
        if size_changes:
            operation = operation or ("up" if new_scale > old_scale else "down")
            self.c.recorder.record(d, "Normal", "ScalingReplicaSet",
                                   f"Scaled {operation} replica set {rs['metadata']['name']} from {old_scale} to {new_scale}",
                                   self.c.name)  # fmt: skip
        return size_changes

    def scale_and_record(self, rs: Obj, new_scale: int) -> bool:
        if du.replicas(rs) == new_scale:
            return False
        return self.scale_rs(rs, new_scale)

    def scale(self, new_rs: Obj | None, old: list[Obj]) -> None:
        """``scale``: a replica count change in the middle of a rollout, shared proportionally."""
        d = self.d
        target = self._active_or_latest(new_rs, old)
        if target is not None:
            if du.replicas(target) != du.replicas(d):
                self.scale_and_record(target, du.replicas(d))
            return
        if du.is_saturated(d, new_rs):
            for rs in du.active(old):
                self.scale_and_record(rs, 0)
            return
        if not du.is_rolling(d):
            return
        all_rss = du.active([*old, new_rs])
        allowed = du.replicas(d) + du.max_surge(d) if du.replicas(d) > 0 else 0
        to_add = allowed - du.total_replicas(all_rss)
        operation = ""
        if to_add > 0:
            all_rss.sort(key=_by_size(newer_first=True))
            operation = "up"
        elif to_add < 0:
            all_rss.sort(key=_by_size(newer_first=False))
            operation = "down"
        added = 0
        sizes: dict[str, int] = {}
        for rs in all_rss:
            if to_add != 0:
                share = du.proportion(rs, d, to_add, added)
                sizes[rs["metadata"]["name"]] = du.replicas(rs) + share
                added += share
            else:
                sizes[rs["metadata"]["name"]] = du.replicas(rs)
        for i, rs in enumerate(all_rss):
            name = rs["metadata"]["name"]
            if i == 0 and to_add != 0:
                sizes[name] = max(sizes[name] + to_add - added, 0)
            self.scale_rs(rs, sizes[name], operation or None)

    @staticmethod
    def _active_or_latest(new_rs: Obj | None, old: list[Obj]) -> Obj | None:
        """``FindActiveOrLatest``: the only active ReplicaSet, else the newest when none is active."""
        if new_rs is None and not old:
            return None
        newest_first = sorted(old, key=_created_order, reverse=True)
        actives = du.active([*newest_first, new_rs])
        if not actives:
            return new_rs if new_rs is not None else newest_first[0]
        return actives[0] if len(actives) == 1 else None

    def is_scaling_event(self) -> bool:
        new_rs, old = self.all_replicasets(create=False)
        if new_rs is None:
            return False
        for rs in du.active([*old, new_rs]):
            desired = (rs["metadata"].get("annotations") or {}).get(du.DESIRED_REPLICAS)
            if desired is not None and desired.isdigit() and int(desired) != du.replicas(self.d):
                return True
        return False

    def sync(self) -> None:
        new_rs, old = self.all_replicasets(create=False)
        self.scale(new_rs, old)
        if self.d["spec"].get("paused"):
            self.cleanup(old)
        self.sync_deployment_status([*old, new_rs] if new_rs else old, new_rs)

    def cleanup(self, old: list[Obj]) -> None:
        """``cleanupDeployment``: delete the oldest empty ReplicaSets beyond ``revisionHistoryLimit``."""
        d = self.d
        if not du.has_revision_history_limit(d):
            return
        alive = [rs for rs in old if not rs["metadata"].get("deletionTimestamp")]
        diff = len(alive) - int(d["spec"]["revisionHistoryLimit"])
        if diff <= 0:
            return
        alive.sort(key=lambda rs: (du.revision(rs), _created_order(rs)))
        for rs in alive[:diff]:
            status = rs.get("status") or {}
            if (status.get("replicas") or du.replicas(rs)
                    or int(rs["metadata"].get("generation") or 0) > int(status.get("observedGeneration") or 0)):  # fmt: skip
                continue
            try:
                self.api.delete(self.rs_rt, self.ns, rs["metadata"]["name"], CONTROLLER)
            except ApiError as e:
                if e.code != 404:
                    raise

    # -- strategies ----------------------------------------------------------------------------
    def rollout_rolling(self) -> None:
        new_rs, old = self.all_replicasets(create=True)
        assert new_rs is not None
        all_rss = [*old, new_rs]
        if self.reconcile_new(all_rss, new_rs) or self.reconcile_old(all_rss, du.active(old), new_rs):
            self.sync_rollout_status(all_rss, new_rs)
            return
        if du.deployment_complete(self.d, self.d["status"]):
            self.cleanup(old)
        self.sync_rollout_status(all_rss, new_rs)

    def reconcile_new(self, all_rss: list[Obj], new_rs: Obj) -> bool:
        want = du.replicas(self.d)
        if du.replicas(new_rs) == want:
            return False
        if du.replicas(new_rs) > want:
            return self.scale_and_record(new_rs, want)
        return self.scale_and_record(new_rs, du.new_rs_new_replicas(self.d, all_rss, new_rs))

    def reconcile_old(self, all_rss: list[Obj], old: list[Obj], new_rs: Obj) -> bool:
        d = self.d
        if du.total_replicas(old) == 0:
            return False
        min_available = du.replicas(d) - du.max_unavailable(d)
        new_unavailable = du.replicas(new_rs) - du.status_count(new_rs, "availableReplicas")
        max_scaled_down = du.total_replicas(all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = self._cleanup_unhealthy(old, max_scaled_down)
        scaled = self._scale_down_old(old, [*old, new_rs])
        return cleaned + scaled > 0

    def _cleanup_unhealthy(self, old: list[Obj], max_cleanup: int) -> int:
        total = 0
        for rs in sorted(old, key=_created_order):
            if total >= max_cleanup:
                break
            available = du.status_count(rs, "availableReplicas")
            if du.replicas(rs) == 0 or du.replicas(rs) == available:
                continue
            count = min(max_cleanup - total, du.replicas(rs) - available)
            self.scale_and_record(rs, du.replicas(rs) - count)
            total += count
        return total

    def _scale_down_old(self, old: list[Obj], all_rss: list[Obj]) -> int:
        d = self.d
        min_available = du.replicas(d) - du.max_unavailable(d)
        available = du.total_status(all_rss, "availableReplicas")
        if available <= min_available:
            return 0
        total, wanted = 0, available - min_available
        for rs in sorted(old, key=_created_order):
            if total >= wanted:
                break
            if du.replicas(rs) == 0:
                continue
            count = min(du.replicas(rs), wanted - total)
            self.scale_and_record(rs, du.replicas(rs) - count)
            total += count
        return total

    def rollout_recreate(self) -> None:
        new_rs, old = self.all_replicasets(create=False)
        all_rss = [*old, new_rs] if new_rs else list(old)
        scaled_down = False
        for rs in du.active(old):
            scaled_down = self.scale_and_record(rs, 0) or scaled_down
        if scaled_down or self._old_pods_running(new_rs, old):
            self.sync_rollout_status(all_rss, new_rs)
            return
        if new_rs is None:
            new_rs, old = self.all_replicasets(create=True)
            assert new_rs is not None
            all_rss = [*old, new_rs]
        self.scale_and_record(new_rs, du.replicas(self.d))
        if du.deployment_complete(self.d, self.d["status"]):
            self.cleanup(old)
        self.sync_rollout_status(all_rss, new_rs)

    def _old_pods_running(self, new_rs: Obj | None, old: list[Obj]) -> bool:
        if du.total_status(old, "replicas") > 0:
            return True
        old_uids = {rs["metadata"]["uid"] for rs in old}
        for stored in self.api.store.items(POD_KEY, self.ns):
            ref = controller_of(stored.obj)
            if ref is None or ref.get("uid") not in old_uids:
                continue
            if (stored.obj.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return True
        return False

    # -- status --------------------------------------------------------------------------------
    def check_paused_conditions(self) -> None:
        d = self.d
        if not du.has_progress_deadline(d):
            return
        cond = du.get_condition(d["status"], "Progressing")
        if cond is not None and cond.get("reason") == du.TIMED_OUT:
            return
        paused_cond = cond is not None and cond.get("reason") == du.PAUSED
        if d["spec"].get("paused") and not paused_cond:
            du.set_condition(
                d["status"], du.new_condition("Progressing", "Unknown", du.PAUSED, "Deployment is paused")
            )
        elif not d["spec"].get("paused") and paused_cond:
            du.set_condition(
                d["status"], du.new_condition("Progressing", "Unknown", du.RESUMED, "Deployment is resumed")
            )

    def sync_deployment_status(self, all_rss: list[Obj], new_rs: Obj | None) -> None:
        self.d["status"] = du.calculate_status(all_rss, new_rs, self.d)

    def sync_rollout_status(self, all_rss: list[Obj], new_rs: Obj | None) -> None:
        """``syncRolloutStatus``: counts, then Progressing (complete, progressing or timed out)."""
        d = self.d
        new = du.calculate_status(all_rss, new_rs, d)
        if not du.has_progress_deadline(d):
            du.remove_condition(new, "Progressing")
        current = du.get_condition(d["status"], "Progressing")
        complete_before = (
            int(new.get("replicas") or 0) == int(new.get("updatedReplicas") or 0)
            and current is not None
            and current.get("reason") == du.NEW_RS_AVAILABLE
        )
        rs_name = new_rs["metadata"]["name"] if new_rs is not None else None
        subject = f'ReplicaSet "{rs_name}"' if rs_name else f'Deployment "{d["metadata"]["name"]}"'
        if du.has_progress_deadline(d) and not complete_before:
            if du.deployment_complete(d, new):
                du.set_condition(new, du.new_condition("Progressing", "True", du.NEW_RS_AVAILABLE,
                                                       f"{subject} has successfully progressed."))  # fmt: skip
            elif du.deployment_progressing(d, new):
                cond = du.new_condition("Progressing", "True", du.RS_UPDATED, f"{subject} is progressing.")
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    du.remove_condition(new, "Progressing")
                du.set_condition(new, cond)
            elif du.deployment_timed_out(d, new, self.clock):
                du.set_condition(new, du.new_condition("Progressing", "False", du.TIMED_OUT,
                                                       f"{subject} has timed out progressing."))  # fmt: skip
        failures = [c for rs in ([new_rs] if new_rs else []) for c in (rs.get("status") or {}).get("conditions") or []
                    if c.get("type") == "ReplicaFailure"]  # fmt: skip
        if not failures:
            failures = [c for rs in all_rss for c in (rs.get("status") or {}).get("conditions") or []
                        if c.get("type") == "ReplicaFailure"]  # fmt: skip
        if failures:
            f = failures[0]
            du.set_condition(new, {"type": "ReplicaFailure", "status": f.get("status"),
                                   "lastUpdateTime": f.get("lastTransitionTime"),
                                   "lastTransitionTime": f.get("lastTransitionTime"),
                                   "reason": f.get("reason"), "message": f.get("message")})  # fmt: skip
        else:
            du.remove_condition(new, "ReplicaFailure")
        d["status"] = new

    def requeue_after(self) -> float | None:
        """``requeueStuckDeployment``: when to look again for a progress deadline (controller seconds)."""
        d = self.d
        cond = du.get_condition(d["status"], "Progressing")
        if not du.has_progress_deadline(d) or cond is None or d["spec"].get("paused"):
            return None
        if du.deployment_complete(d, d["status"]) or cond.get("reason") in (
            du.TIMED_OUT,
            du.NEW_RS_AVAILABLE,
        ):
            return None
        since = parse_time(cond.get("lastUpdateTime"))
        if since is None:
            return None
        after = int(d["spec"]["progressDeadlineSeconds"]) - self.clock.elapsed_scaled(since)
        return 1.0 if after < 1 else after + 1
