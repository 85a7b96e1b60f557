"""The Job controller, after kube-controller-manager's (pkg/controller/job): pods tracked with the
``batch.kubernetes.io/job-tracking`` finalizer and ``status.uncountedTerminatedPods``, back-off
after failures, deadlines, pod failure policies, Indexed completion, per-index back-off limits,
success policies, suspension, and the interim ``SuccessCriteriaMet`` / ``FailureTarget``
conditions before ``Complete`` / ``Failed``."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.clock import parse_time, rfc3339
from airflow_k8s_workflows.emulator.controllers import job_pods as jp
from airflow_k8s_workflows.emulator.controllers.base import Controller, Key, owner_refs
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]
COMPONENT = "job-controller"
JOBS: TypeKey = ("batch", "jobs")
PODS: TypeKey = ("", "pods")
ORPHAN = "pod/"  # work-queue names of orphan pods (a Job's name cannot contain "/")
SUCCESS_REASON, SUCCESS_MESSAGE = "CompletionsReached", "Reached expected number of succeeded pods"


@dataclass
class JobMemory:
    """What the real controller keeps in memory per Job: back-off records and a precise start."""

    uid: str
    failures: int = 0
    last_failure: float = 0.0  # monotonic seconds
    index_failures: dict[int, float] = field(default_factory=dict)
    started: tuple[str, float] | None = None  # (status.startTime, monotonic)


@dataclass
class Sync:
    """One sync of one Job (the real controller's syncJobCtx)."""

    job: Obj
    pods: list[Obj]
    status: Obj
    memory: JobMemory
    active: int = 0
    ready: int = 0
    terminating: int = 0
    finished: Obj | None = None  # the condition the Job is heading to
    requeue: list[float] = field(default_factory=list)
    succeeded_indexes: set[int] = field(default_factory=set)
    prev_succeeded_indexes: set[int] = field(default_factory=set)
    failed_indexes: set[int] | None = None

    @property
    def spec(self) -> Obj:
        return self.job.get("spec") or {}

    @property
    def indexed(self) -> bool:
        return self.spec.get("completionMode") == "Indexed"

    @property
    def completions(self) -> int | None:
        value = self.spec.get("completions")
        return value if isinstance(value, int) else None

    def valid_index(self, pod: Obj) -> bool:
        ix = jp.completion_index(pod)
        return ix is not None and ix < (self.completions or 0)

    def counts(self, pod: Obj) -> bool:
        return jp.match_pod_failure_policy(self.spec.get("podFailurePolicy"), pod).counts


class JobController(Controller):
    name = "job-controller"
    watches = (JOBS, PODS)

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._memory: dict[Key, JobMemory] = {}

    def keys_for(self, type_key: TypeKey, change: Change) -> Iterable[Key]:
        meta = change.obj["metadata"]
        ns = meta.get("namespace", "")
        if type_key == JOBS:
            return [(ns, meta["name"])]
        keys = [(ns, r["name"]) for r in owner_refs(change.obj, controller_only=True) if _is_job_ref(r)]
        if change.old is not None:
            keys += [(ns, r["name"]) for r in owner_refs(change.old, controller_only=True) if _is_job_ref(r)]
        if not keys and jp.has_tracking_finalizer(change.obj) and change.type != "DELETED":
            keys.append((ns, ORPHAN + meta["name"]))
        return keys

    async def reconcile(self, key: Key) -> float | None:
        ns, name = key
        if name.startswith(ORPHAN):
            self._release_orphan(ns, name[len(ORPHAN) :])
            return None
        job = self.api.try_get(self.api.rt(*JOBS), ns, name)
        self._release_foreign_pods(ns, name, job)
        if job is None:
            self._memory.pop(key, None)
            return None
        if jp.is_finished(job):
            self._memory.pop(key, None)
            return None
        memory = self._memory.get(key)
        if memory is None or memory.uid != job["metadata"]["uid"]:
            memory = self._memory[key] = JobMemory(job["metadata"]["uid"])
        sync = Sync(job, self._pods_of(job), copy.deepcopy(job.get("status") or {}), memory)
        self._sync(sync)
        return min(sync.requeue) if sync.requeue else None

    # -- orphans ----------------------------------------------------------------------------
    def _pods_of(self, job: Obj) -> list[Obj]:
        uid = job["metadata"]["uid"]
        pods = self.api.select(self.api.rt(*PODS), job["metadata"]["namespace"])
        return [
            s.obj for s in pods if any(r.get("uid") == uid for r in owner_refs(s.obj, controller_only=True))
        ]

    def _release_foreign_pods(self, ns: str, name: str, job: Obj | None) -> None:
        """Pods whose controller is a Job of this name that is gone (or replaced, or finished)."""
        live_uid = job["metadata"]["uid"] if job is not None and not jp.is_finished(job) else None
        for stored in self.api.select(self.api.rt(*PODS), ns):
            pod = stored.obj
            if not jp.has_tracking_finalizer(pod):
                continue
            refs = [
                r for r in owner_refs(pod, controller_only=True) if _is_job_ref(r) and r.get("name") == name
            ]
            if refs and refs[0].get("uid") != live_uid:
                self._remove_finalizer(pod)

    def _release_orphan(self, ns: str, pod_name: str) -> None:
        pod = self.api.try_get(self.api.rt(*PODS), ns, pod_name)
        if pod is not None and not owner_refs(pod, controller_only=True) and jp.has_tracking_finalizer(pod):
            self._remove_finalizer(pod)

    def _remove_finalizer(self, pod: Obj) -> bool:
        meta = pod["metadata"]

        def drop(obj: Obj) -> None:
            if obj["metadata"].get("uid") != meta.get("uid"):
                return
            finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != jp.TRACKING_FINALIZER]
            if finalizers:
                obj["metadata"]["finalizers"] = finalizers
            else:
                obj["metadata"].pop("finalizers", None)

        try:
            self.api.mutate(self.api.rt(*PODS), meta["namespace"], meta["name"], drop)
        except ApiError as e:
            if e.code != 404:
                raise
        return True

    # -- sync -------------------------------------------------------------------------------
    def _sync(self, s: Sync) -> None:
        spec, status, job = s.spec, s.status, s.job
        uncounted = status.get("uncountedTerminatedPods") or {}
        unc_succeeded = list(uncounted.get("succeeded") or [])
        unc_failed = list(uncounted.get("failed") or [])
        active_pods = [p for p in s.pods if jp.is_active(p)]
        s.active = len(active_pods)
        s.ready = sum(1 for p in active_pods if jp.is_ready(p))
        s.terminating = sum(1 for p in s.pods if jp.is_terminating(p))

        def fresh(p: Obj, uncounted_uids: list[str]) -> bool:
            return (
                jp.has_tracking_finalizer(p)
                and jp.uid(p) not in uncounted_uids
                and (not s.indexed or s.valid_index(p))
            )

        new_succeeded = [p for p in s.pods if fresh(p, unc_succeeded) and jp.phase(p) == "Succeeded"]
        new_failed = [p for p in s.pods if fresh(p, unc_failed) and jp.is_failed(p, job)]
        succeeded = int(status.get("succeeded") or 0) + len(new_succeeded) + len(unc_succeeded)
        failed = int(status.get("failed") or 0) + sum(1 for p in new_failed if s.counts(p)) + len(unc_failed)
        suspended = bool(spec.get("suspend"))
        if not status.get("startTime") and not suspended:
            self._set_start(s)
        self._record_backoff(s, new_succeeded, new_failed)
        conditions: list[Obj] = status.setdefault("conditions", [])
        self._decide_failure(s, failed, conditions, suspended)
        if s.indexed:
            self._indexes(s)
            succeeded = len(s.succeeded_indexes)
        if s.finished is not None:
            deleted, deleted_ready = self._delete_pods(job, active_pods, release=False)
            if deleted != s.active:
                s.finished = None
            s.active -= deleted
            s.terminating += deleted
            s.ready -= deleted_ready
        else:
            managed = False
            if not job["metadata"].get("deletionTimestamp"):
                self._manage(s, active_pods, succeeded)
                managed = True
            completions = s.completions
            complete = s.active == 0 and (succeeded > 0 if completions is None else succeeded >= completions)
            if complete:
                s.finished = jp.condition("SuccessCriteriaMet", "True", SUCCESS_REASON, SUCCESS_MESSAGE)
            elif managed:
                self._suspension(s, conditions, suspended)
        status["active"] = s.active
        status["ready"] = s.ready
        status["terminating"] = s.terminating
        self._track(s, unc_succeeded, unc_failed)

    def _set_start(self, s: Sync) -> None:
        now = rfc3339()
        s.status["startTime"] = now
        s.memory.started = (now, time.monotonic())

    def _elapsed_since_start(self, s: Sync) -> float:
        start = s.status.get("startTime")
        if s.memory.started is not None and s.memory.started[0] == start:
            return (time.monotonic() - s.memory.started[1]) * self.clock.speed
        parsed = parse_time(start)
        return self.clock.elapsed_scaled(parsed) if parsed is not None else 0.0

    def _record_backoff(self, s: Sync, new_succeeded: list[Obj], new_failed: list[Obj]) -> None:
        """The back-off record: consecutive failures since the last success (observation times)."""
        now = time.monotonic()
        memory = s.memory
        if new_succeeded:
            memory.failures = 0
        if new_failed:
            memory.failures += len(new_failed)
            memory.last_failure = now
            for pod in new_failed:
                ix = jp.completion_index(pod)
                if ix is not None:
                    memory.index_failures[ix] = now

    def _backoff_remaining(self, failures: int, last_failure: float) -> float:
        """Controller seconds before a replacement pod may be created."""
        if failures <= 0:
            return 0.0
        config = self.ctx.config
        delay = config.job_backoff_base * (2 ** min(failures - 1, 30))
        delay = min(delay, config.job_backoff_max)
        elapsed = (time.monotonic() - last_failure) * self.clock.speed
        return max(0.0, delay - elapsed)

    def _decide_failure(self, s: Sync, failed: int, conditions: list[Obj], suspended: bool) -> None:
        spec = s.spec
        met = jp.find_condition(conditions, "SuccessCriteriaMet")
        if met is not None and met.get("status") == "True":
            s.finished = dict(met)
            return
        target = jp.find_condition(conditions, "FailureTarget")
        if target is not None and target.get("status") == "True":
            s.finished = dict(target)
            return
        message = self._fail_job_message(s)
        if message is not None:
            s.finished = jp.condition("FailureTarget", "True", "PodFailurePolicy", message)
            return
        backoff_limit = int(spec.get("backoffLimit", 6))
        if failed > backoff_limit or self._past_backoff_limit_on_failure(s, backoff_limit):
            s.finished = jp.condition(
                "FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
            return
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and s.status.get("startTime") and not suspended:
            remaining = float(deadline) - self._elapsed_since_start(s)
            if remaining <= 0:
                s.finished = jp.condition(
                    "FailureTarget",
                    "True",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
            else:
                s.requeue.append(remaining)

    def _fail_job_message(self, s: Sync) -> str | None:
        policy = s.spec.get("podFailurePolicy")
        if not policy:
            return None
        for pod in s.pods:
            if jp.is_failed(pod, s.job):
                message = jp.match_pod_failure_policy(policy, pod).fail_job_message
                if message is not None:
                    return message
        return None

    def _past_backoff_limit_on_failure(self, s: Sync, limit: int) -> bool:
        template_spec = (s.spec.get("template") or {}).get("spec") or {}
        if template_spec.get("restartPolicy") != "OnFailure":
            return False
        restarts = sum(jp.restart_count(p) for p in s.pods if jp.phase(p) in ("Running", "Pending"))
        return restarts > 0 if limit == 0 else restarts >= limit

    # -- indexes ----------------------------------------------------------------------------
    def _indexes(self, s: Sync) -> None:
        completions = s.completions or 0
        s.prev_succeeded_indexes = jp.parse_indexes(s.status.get("completedIndexes"), completions)
        s.succeeded_indexes = set(s.prev_succeeded_indexes)
        for pod in s.pods:
            if jp.phase(pod) == "Succeeded" and s.valid_index(pod) and jp.has_tracking_finalizer(pod):
                s.succeeded_indexes.add(jp.completion_index(pod) or 0)
        per_index = s.spec.get("backoffLimitPerIndex")
        if per_index is not None:
            failed = jp.parse_indexes(s.status.get("failedIndexes"), completions)
            for pod in s.pods:
                if s.valid_index(pod) and jp.has_tracking_finalizer(pod) and self._index_failed(s, pod):
                    failed.add(jp.completion_index(pod) or 0)
            s.failed_indexes = failed - s.succeeded_indexes
            max_failed = s.spec.get("maxFailedIndexes")
            if s.finished is None:
                if max_failed is not None and len(s.failed_indexes) > int(max_failed):
                    s.finished = jp.condition(
                        "FailureTarget",
                        "True",
                        "MaxFailedIndexesExceeded",
                        "Job has exceeded the specified maximal number of failed indexes",
                    )
                elif s.failed_indexes and len(s.failed_indexes) + len(s.succeeded_indexes) >= completions:
                    s.finished = jp.condition(
                        "FailureTarget", "True", "FailedIndexes", "Job has failed indexes"
                    )
        if s.finished is None:
            message = self._success_policy_message(s)
            if message is not None:
                s.finished = jp.condition("SuccessCriteriaMet", "True", "SuccessPolicy", message)

    def _index_failed(self, s: Sync, pod: Obj) -> bool:
        if not jp.is_failed(pod, s.job):
            return False
        match = jp.match_pod_failure_policy(s.spec.get("podFailurePolicy"), pod)
        if match.action == "FailIndex":
            return True
        limit = int(s.spec.get("backoffLimitPerIndex") or 0)
        return match.counts and jp.annotation_int(pod, jp.INDEX_FAILURE_COUNT) >= limit

    def _success_policy_message(self, s: Sync) -> str | None:
        policy = s.spec.get("successPolicy")
        if not policy or not s.succeeded_indexes:
            return None
        for i, rule in enumerate(policy.get("rules") or []):
            count = rule.get("succeededCount")
            if rule.get("succeededIndexes") is not None:
                required = jp.parse_indexes(rule["succeededIndexes"], s.completions or 0)
                if not required:
                    continue
                done = len(required & s.succeeded_indexes)
                if (count is None and done == len(required)) or (count is not None and done >= count):
                    return f"Matched rules at index {i}"
            elif count is not None and len(s.succeeded_indexes) >= count:
                return f"Matched rules at index {i}"
        return None

    # -- pods -------------------------------------------------------------------------------
    def _manage(self, s: Sync, active_pods: list[Obj], succeeded: int) -> None:
        spec, job = s.spec, s.job
        if spec.get("suspend"):
            deleted, deleted_ready = self._delete_pods(job, jp.sort_for_removal(active_pods), release=True)
            s.active -= deleted
            s.terminating += deleted
            s.ready -= deleted_ready
            return
        parallelism = int(spec.get("parallelism", 1))
        completions = s.completions
        if completions is None:
            want = s.active if succeeded > 0 else parallelism
        else:
            want = max(0, min(completions - succeeded, parallelism))
        to_delete = self._pods_for_removal(s, active_pods, max(0, s.active - want))
        if to_delete:
            deleted, deleted_ready = self._delete_pods(job, to_delete, release=True)
            s.active -= deleted
            s.terminating += deleted
            s.ready -= deleted_ready
            return
        terminating = s.terminating if jp.only_replace_failed(job) else 0
        diff = want - terminating - s.active
        if diff <= 0:
            return
        if spec.get("backoffLimitPerIndex") is None:
            remaining = self._backoff_remaining(s.memory.failures, s.memory.last_failure)
            if remaining > 0:
                s.requeue.append(remaining)
                return
        indexes: list[int | None] = [None] * diff
        if s.indexed:
            indexes = list(self._pending_indexes(s, active_pods, diff))
            if not indexes:
                return
        for ix in indexes:
            if self._create_pod(s, ix):
                s.active += 1

    def _pending_indexes(self, s: Sync, active_pods: list[Obj], count: int) -> list[int]:
        taken = set(s.succeeded_indexes)
        taken |= {ix for p in active_pods if (ix := jp.completion_index(p)) is not None}
        if s.failed_indexes is not None:
            taken |= s.failed_indexes
        if jp.only_replace_failed(s.job):
            taken |= {
                ix for p in s.pods if jp.is_terminating(p) and (ix := jp.completion_index(p)) is not None
            }
        found: list[int] = []
        waits: list[float] = []
        for ix in range(s.completions or 0):
            if len(found) >= count:
                break
            if ix in taken:
                continue
            if s.failed_indexes is not None:
                wait = self._index_backoff(s, ix)
                if wait > 0:
                    waits.append(wait)
                    continue
            found.append(ix)
        if not found and waits:
            s.requeue.append(min(waits))
        return found

    def _last_failed_pod(self, s: Sync, ix: int) -> Obj | None:
        failed = [p for p in s.pods if jp.completion_index(p) == ix and jp.is_failed(p, s.job)]
        if not failed:
            return None
        return max(
            failed,
            key=lambda p: (
                jp.annotation_int(p, jp.INDEX_FAILURE_COUNT)
                + jp.annotation_int(p, jp.INDEX_IGNORED_FAILURE_COUNT),
                p["metadata"].get("creationTimestamp", ""),
            ),
        )

    def _index_backoff(self, s: Sync, ix: int) -> float:
        last = self._last_failed_pod(s, ix)
        if last is None or ix not in s.memory.index_failures:
            return 0.0
        failures = jp.annotation_int(last, jp.INDEX_FAILURE_COUNT) + (1 if s.counts(last) else 0)
        return self._backoff_remaining(failures, s.memory.index_failures[ix])

    def _index_annotations(self, s: Sync, ix: int) -> dict[str, str]:
        if s.spec.get("backoffLimitPerIndex") is None:
            return {}
        last = self._last_failed_pod(s, ix)
        failures = ignored = 0
        if last is not None:
            failures = jp.annotation_int(last, jp.INDEX_FAILURE_COUNT)
            ignored = jp.annotation_int(last, jp.INDEX_IGNORED_FAILURE_COUNT)
            if s.counts(last):
                failures += 1
            else:
                ignored += 1
        found = {jp.INDEX_FAILURE_COUNT: str(failures)}
        if ignored:
            found[jp.INDEX_IGNORED_FAILURE_COUNT] = str(ignored)
        return found

    def _pods_for_removal(self, s: Sync, active_pods: list[Obj], at_least: int) -> list[Obj]:
        remove: list[Obj] = []
        left = active_pods
        if s.indexed:
            left = []
            by_index: dict[int, list[Obj]] = {}
            for pod in active_pods:
                ix = jp.completion_index(pod)
                if ix is None or ix >= (s.completions or 0):
                    remove.append(pod)
                else:
                    by_index.setdefault(ix, []).append(pod)
            for group in by_index.values():
                ordered = jp.sort_for_removal(group)
                remove += ordered[:-1]
                left.append(ordered[-1])
        if len(remove) < at_least:
            remove += jp.sort_for_removal(left)[: at_least - len(remove)]
        return remove

    def _create_pod(self, s: Sync, ix: int | None) -> bool:
        job = s.job
        extra = self._index_annotations(s, ix) if ix is not None else {}
        pod = jp.pod_from_template(job, ix, extra)
        try:
            created = self.api.create(self.api.rt(*PODS), job["metadata"]["namespace"], pod, CONTROLLER)
        except ApiError as e:
            if e.code == 403 and "being terminated" in e.message:
                return False
            self.recorder.record(job, "Warning", "FailedCreate", f"Error creating: {e.message}", COMPONENT)
            return False
        self.recorder.record(
            job, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}", COMPONENT
        )
        return True

    def _delete_pods(self, job: Obj, pods: list[Obj], *, release: bool) -> tuple[int, int]:
        """Delete pods (first releasing their tracking finalizer when ``release``): (deleted, ready ones)."""
        deleted = ready = 0
        rt = self.api.rt(*PODS)
        for pod in pods:
            meta = pod["metadata"]
            if release:
                self._remove_finalizer(pod)
            try:
                self.api.delete(
                    rt, meta["namespace"], meta["name"], CONTROLLER, preconditions={"uid": meta["uid"]}
                )
            except ApiError as e:
                if e.code != 404:
                    self.recorder.record(
                        job, "Warning", "FailedDelete", f"Error deleting: {e.message}", COMPONENT
                    )
                    continue
            else:
                self.recorder.record(
                    job, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}", COMPONENT
                )
            deleted += 1
            ready += 1 if jp.is_ready(pod) else 0
        return deleted, ready

    def _suspension(self, s: Sync, conditions: list[Obj], suspended: bool) -> None:
        job = s.job
        if suspended:
            if jp.ensure_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended"):
                self.recorder.record(job, "Normal", "Suspended", "Job suspended", COMPONENT)
        elif jp.ensure_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed"):
            self.recorder.record(job, "Normal", "Resumed", "Job resumed", COMPONENT)
            # the active deadline counts from the resumption
            self._set_start(s)

    # -- status -----------------------------------------------------------------------------
    def _track(self, s: Sync, unc_succeeded: list[str], unc_failed: list[str]) -> None:
        """trackJobStatusAndRemoveFinalizers: count finished pods through uncountedTerminatedPods."""
        status, job = s.status, s.job
        with_finalizer = {jp.uid(p) for p in s.pods if jp.has_tracking_finalizer(p)}
        _count_released(status, unc_succeeded, unc_failed, with_finalizer)
        to_release: list[Obj] = []
        new_indexes: list[int] = []
        for pod in s.pods:
            if not jp.has_tracking_finalizer(pod):
                continue
            considered_failed = jp.is_failed(pod, job)
            if not (
                job["metadata"].get("deletionTimestamp")
                or s.finished is not None
                or jp.phase(pod) == "Succeeded"
                or considered_failed
            ):
                continue
            to_release.append(pod)
            pod_uid = jp.uid(pod)
            if jp.phase(pod) == "Succeeded" and pod_uid not in unc_failed:
                if s.indexed:
                    ix = jp.completion_index(pod)
                    if ix is not None and s.valid_index(pod) and ix not in s.prev_succeeded_indexes:
                        new_indexes.append(ix)
                elif pod_uid not in unc_succeeded:
                    unc_succeeded.append(pod_uid)
            elif self._counts_as_failure(s, pod, considered_failed) and pod_uid not in unc_failed:
                unc_failed.append(pod_uid)
        if s.indexed:
            s.succeeded_indexes |= set(new_indexes)
            status["succeeded"] = len(s.succeeded_indexes)
            status["completedIndexes"] = jp.format_indexes(s.succeeded_indexes)
            if s.failed_indexes is not None:
                status["failedIndexes"] = jp.format_indexes(s.failed_indexes)
        conditions: list[Obj] = status.setdefault("conditions", [])
        final: Obj | None = None
        if s.finished is not None:
            kind = s.finished["type"]
            if kind in ("FailureTarget", "Failed"):
                if jp.find_condition(conditions, "FailureTarget") is None:
                    conditions.append(
                        jp.condition("FailureTarget", "True", s.finished["reason"], s.finished["message"])
                    )
                final = jp.condition("Failed", "True", s.finished["reason"], s.finished["message"])
            else:
                if jp.find_condition(conditions, "SuccessCriteriaMet") is None:
                    conditions.append(dict(s.finished))
                final = jp.condition("Complete", "True", s.finished["reason"], s.finished["message"])
        _set_uncounted(status, unc_succeeded, unc_failed)
        self._write_status(job, status)
        for pod in to_release:
            if self._remove_finalizer(pod):
                with_finalizer.discard(jp.uid(pod))
        _count_released(status, unc_succeeded, unc_failed, with_finalizer)
        _set_uncounted(status, unc_succeeded, unc_failed)
        finished = final is not None and not unc_succeeded and not unc_failed and s.terminating == 0
        if finished and final is not None:
            jp.ensure_condition(conditions, final["type"], "True", final["reason"], final["message"])
            complete = jp.find_condition(conditions, "Complete")
            if complete is not None:
                status["completionTime"] = complete["lastTransitionTime"]
        self._write_status(job, status)
        if finished and final is not None:
            if final["type"] == "Complete":
                completions = s.completions
                if completions is not None and int(status.get("succeeded") or 0) > completions:
                    self.recorder.record(
                        job,
                        "Warning",
                        "TooManySucceededPods",
                        "Too many succeeded pods running after completion count reached",
                        COMPONENT,
                    )
                self.recorder.record(job, "Normal", "Completed", "Job completed", COMPONENT)
            else:
                self.recorder.record(job, "Warning", final["reason"], final["message"], COMPONENT)
            self._memory.pop((job["metadata"]["namespace"], job["metadata"]["name"]), None)

    @staticmethod
    def _counts_as_failure(s: Sync, pod: Obj, considered_failed: bool) -> bool:
        """A failed pod, or any unfinished pod of a failing Job, unless a policy ignores it."""
        failing = s.finished is not None and s.finished["type"] != "SuccessCriteriaMet"
        return (considered_failed or failing) and (not s.indexed or s.valid_index(pod)) and s.counts(pod)

    def _write_status(self, job: Obj, status: Obj) -> None:
        shown = _presented(status)
        meta = job["metadata"]

        def put(obj: Obj) -> None:
            if obj["metadata"].get("uid") == meta["uid"]:
                obj["status"] = copy.deepcopy(shown)

        self.api.update_status(self.api.rt(*JOBS), meta["namespace"], meta["name"], put)


def _is_job_ref(ref: Obj) -> bool:
    return ref.get("kind") == "Job" and str(ref.get("apiVersion", "")).startswith("batch/")


def _count_released(
    status: Obj, unc_succeeded: list[str], unc_failed: list[str], with_finalizer: set[str]
) -> None:
    """cleanUncountedPodsWithoutFinalizers: uncounted pods whose finalizer is gone are counted."""
    done_succeeded = [u for u in unc_succeeded if u not in with_finalizer]
    done_failed = [u for u in unc_failed if u not in with_finalizer]
    if done_succeeded:
        status["succeeded"] = int(status.get("succeeded") or 0) + len(done_succeeded)
        unc_succeeded[:] = [u for u in unc_succeeded if u in with_finalizer]
    if done_failed:
        status["failed"] = int(status.get("failed") or 0) + len(done_failed)
        unc_failed[:] = [u for u in unc_failed if u in with_finalizer]


def _set_uncounted(status: Obj, unc_succeeded: list[str], unc_failed: list[str]) -> None:
    uncounted: Obj = {}
    if unc_succeeded:
        uncounted["succeeded"] = list(unc_succeeded)
    if unc_failed:
        uncounted["failed"] = list(unc_failed)
    status["uncountedTerminatedPods"] = uncounted


def _presented(status: Obj) -> Obj:
    """The JSON shape of JobStatus: zero counters and empty lists/strings omitted."""
    shown = copy.deepcopy(status)
    for key in ("active", "succeeded", "failed"):
        if not shown.get(key):
            shown.pop(key, None)
    if not shown.get("conditions"):
        shown.pop("conditions", None)
    if not shown.get("completedIndexes"):
        shown.pop("completedIndexes", None)
    return shown
