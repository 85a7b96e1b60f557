"""The CronJob controller (kube-controller-manager's cronjob v2): Jobs named
``<cronjob>-<scheduled minutes since the epoch>`` on the schedule in ``spec.timeZone``, with
``concurrencyPolicy``, ``startingDeadlineSeconds``, ``suspend`` and history limits.

Schedules follow the wall clock, not the emulator's ``speed``. Tests move the controller's
clock forward instead of waiting: ``shift_time(seconds)`` (see docs/emulator.md).
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from airflow_k8s_workflows.emulator import cron
from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.clock import parse_time, rfc3339
from airflow_k8s_workflows.emulator.controllers import job_pods as jp
from airflow_k8s_workflows.emulator.controllers.base import (
    Controller,
    ControllerContext,
    Key,
    controller_ref,
    owner_refs,
)
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.store import Change, TypeKey

Obj = dict[str, Any]
CRONJOBS: TypeKey = ("batch", "cronjobs")
JOBS: TypeKey = ("batch", "jobs")
COMPONENT = "cronjob-controller"
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MISSED_WARNING_THRESHOLD = 100


class CronJobController(Controller):
    name = COMPONENT
    watches = (CRONJOBS, JOBS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.time_offset = 0.0

    # -- time -------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The controller's wall clock: real time plus ``time_offset`` seconds."""
        return self.clock.now() + timedelta(seconds=self.time_offset)

    def shift_time(self, seconds: float) -> None:
        """Move this controller's clock forward (tests: reach the next schedule without waiting).

        Must run on the emulator's loop: ``emu.call(lambda: controller.shift_time(60))``.
        """
        self.time_offset += seconds
        super().resync()

    # -- wiring -----------------------------------------------------------------------------
    def keys_for(self, type_key: TypeKey, change: Change) -> list[Key]:
        meta = change.obj["metadata"]
        ns = meta.get("namespace", "")
        if type_key == CRONJOBS:
            return [(ns, meta["name"])]
        return [
            (ns, r["name"])
            for r in owner_refs(change.obj, controller_only=True)
            if r.get("kind") == "CronJob"
        ]

    async def reconcile(self, key: Key) -> float | None:
        rt = self.api.rt(*CRONJOBS)
        cronjob = self.api.try_get(rt, key[0], key[1])
        if cronjob is None:
            return None
        status = copy.deepcopy(cronjob.get("status") or {})
        jobs = self._owned_jobs(cronjob)
        self._track_jobs(cronjob, status, jobs)
        self._cleanup_finished(cronjob, status, jobs)
        try:
            return self._schedule(cronjob, status)
        finally:
            self._write_status(cronjob, status)

    def _owned_jobs(self, cronjob: Obj) -> list[Obj]:
        uid = cronjob["metadata"]["uid"]
        stored = self.api.select(self.api.rt(*JOBS), cronjob["metadata"]["namespace"])
        return [
            s.obj for s in stored if any(r.get("uid") == uid for r in owner_refs(s.obj, controller_only=True))
        ]

    # -- status -----------------------------------------------------------------------------
    def _track_jobs(self, cronjob: Obj, status: Obj, jobs: list[Obj]) -> None:
        active: list[Obj] = status.setdefault("active", [])
        active_uids = {ref.get("uid") for ref in active}
        for job in jobs:
            meta = job["metadata"]
            finished = _finished_type(job)
            if meta["uid"] not in active_uids and finished is None:
                self.recorder.record(
                    cronjob,
                    "Warning",
                    "UnexpectedJob",
                    f"Saw a job that the controller did not create or forgot: {meta['name']}",
                    COMPONENT,
                )
            elif meta["uid"] in active_uids and finished is not None:
                active[:] = [ref for ref in active if ref.get("uid") != meta["uid"]]
                self.recorder.record(
                    cronjob,
                    "Normal",
                    "SawCompletedJob",
                    f"Saw completed job: {meta['name']}, condition: {finished}",
                    COMPONENT,
                )
            elif finished == "Complete":
                completed = (job.get("status") or {}).get("completionTime")
                last = status.get("lastSuccessfulTime")
                if completed and (not last or _later(completed, last)):
                    status["lastSuccessfulTime"] = completed
        present = {job["metadata"]["uid"] for job in jobs}
        for ref in list(active):
            if ref.get("uid") not in present:
                self.recorder.record(
                    cronjob, "Normal", "SawCompletedJob", f"Saw completed job: {ref.get('name')}", COMPONENT
                )
                active.remove(ref)

    def _cleanup_finished(self, cronjob: Obj, status: Obj, jobs: list[Obj]) -> None:
        spec = cronjob.get("spec") or {}
        for kind, limit_key in (
            ("Complete", "successfulJobsHistoryLimit"),
            ("Failed", "failedJobsHistoryLimit"),
        ):
            limit = spec.get(limit_key)
            if limit is None:
                continue
            finished = [j for j in jobs if _finished_type(j) == kind]
            excess = len(finished) - int(limit)
            if excess <= 0:
                continue
            finished.sort(
                key=lambda j: ((j.get("status") or {}).get("startTime") or "", j["metadata"]["name"])
            )
            for job in finished[:excess]:
                self._delete_job(cronjob, status, job)

    def _delete_job(self, cronjob: Obj, status: Obj, job: Obj) -> None:
        meta = job["metadata"]
        try:
            self.api.delete(
                self.api.rt(*JOBS), meta["namespace"], meta["name"], CONTROLLER, propagation="Background"
            )
        except ApiError as e:
            if e.code != 404:
                self.recorder.record(
                    cronjob, "Warning", "FailedDelete", f"Deleted job: {e.message}", COMPONENT
                )
                return
        status["active"] = [ref for ref in status.get("active") or [] if ref.get("uid") != meta["uid"]]
        self.recorder.record(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {meta['name']}", COMPONENT)

    def _write_status(self, cronjob: Obj, status: Obj) -> None:
        shown = {k: v for k, v in status.items() if v not in (None, [], {})}
        uid = cronjob["metadata"]["uid"]

        def put(obj: Obj) -> None:
            if obj["metadata"].get("uid") == uid:
                obj["status"] = copy.deepcopy(shown)

        self.api.update_status(
            self.api.rt(*CRONJOBS), cronjob["metadata"]["namespace"], cronjob["metadata"]["name"], put
        )

    # -- scheduling -------------------------------------------------------------------------
    def _schedule(self, cronjob: Obj, status: Obj) -> float | None:
        """Start the Job due now, if any; returns the controller delay until the next check."""
        spec = cronjob.get("spec") or {}
        if cronjob["metadata"].get("deletionTimestamp"):
            return None
        tz_name = spec.get("timeZone")
        try:
            tz = cron.load_zone(tz_name) if tz_name else timezone.utc
        except cron.CronError as e:
            self.recorder.record(
                cronjob, "Warning", "UnknownTimeZone", f"invalid timeZone: {tz_name!r}: {e}", COMPONENT
            )
            return None
        if spec.get("suspend"):
            return None
        schedule_text = spec.get("schedule") or ""
        try:
            schedule = cron.parse(schedule_text)
        except cron.CronError as e:
            self.recorder.record(
                cronjob,
                "Warning",
                "UnparseableSchedule",
                f'unparseable schedule: "{schedule_text}" : {e}',
                COMPONENT,
            )
            return None
        now = self.now()
        scheduled = self._due(cronjob, status, schedule, tz, now)
        if scheduled is not None:
            self._start(cronjob, status, scheduled, tz, now)
        return self._until_next(schedule, tz, now)

    def _due(
        self, cronjob: Obj, status: Obj, schedule: cron.Schedule, tz: tzinfo, now: datetime
    ) -> datetime | None:
        spec = cronjob.get("spec") or {}
        earliest = (
            parse_time(status.get("lastScheduleTime") or cronjob["metadata"].get("creationTimestamp")) or now
        )
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - timedelta(seconds=int(deadline)))
        scheduled, missed = schedule.most_recent(earliest, now, tz)
        if scheduled is None:
            return None
        if missed > MISSED_WARNING_THRESHOLD:
            self.recorder.record(
                cronjob,
                "Warning",
                "TooManyMissedTimes",
                f"too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds "
                "or check clock skew",
                COMPONENT,
            )
        if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now:
            when = scheduled.astimezone(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
            self.recorder.record(
                cronjob, "Warning", "MissSchedule", f"Missed scheduled time to start a job: {when}", COMPONENT
            )
            return None
        name = job_name(cronjob, scheduled)
        if any(ref.get("name") == name for ref in status.get("active") or []):
            return None
        last = parse_time(status.get("lastScheduleTime"))
        if last is not None and last >= scheduled:
            return None
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and status.get("active"):
            self.recorder.record(
                cronjob,
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
                COMPONENT,
            )
            return None
        if policy == "Replace":
            for ref in list(status.get("active") or []):
                job = self.api.try_get(self.api.rt(*JOBS), ref.get("namespace"), ref.get("name", ""))
                if job is not None and job["metadata"]["uid"] == ref.get("uid"):
                    self._delete_job(cronjob, status, job)
        return scheduled

    def _start(self, cronjob: Obj, status: Obj, scheduled: datetime, tz: tzinfo, now: datetime) -> None:
        meta = cronjob["metadata"]
        template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
        tmeta = template.get("metadata") or {}
        annotations = dict(tmeta.get("annotations") or {})
        annotations[SCHEDULED_TIMESTAMP] = _rfc3339_in(scheduled, tz)
        job: Obj = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": job_name(cronjob, scheduled),
                "namespace": meta["namespace"],
                "annotations": annotations,
                "ownerReferences": [controller_ref(cronjob)],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        if tmeta.get("labels"):
            job["metadata"]["labels"] = dict(tmeta["labels"])
        rt = self.api.rt(*JOBS)
        try:
            created = self.api.create(rt, meta["namespace"], job, CONTROLLER)
        except ApiError as e:
            if e.code != 409:
                self.recorder.record(
                    cronjob, "Warning", "FailedCreate", f"Error creating job: {e.message}", COMPONENT
                )
                return
            created = self.api.get(rt, meta["namespace"], job["metadata"]["name"])
            if not any(r.get("uid") == meta["uid"] for r in owner_refs(created, controller_only=True)):
                return
            if _finished_type(created) is not None:
                status["lastScheduleTime"] = rfc3339(scheduled)
                return
        else:
            self.recorder.record(
                cronjob, "Normal", "SuccessfulCreate", f"Created job {created['metadata']['name']}", COMPONENT
            )
        cmeta = created["metadata"]
        ref = {
            "kind": "Job",
            "namespace": cmeta["namespace"],
            "name": cmeta["name"],
            "uid": cmeta["uid"],
            "apiVersion": "batch/v1",
            "resourceVersion": cmeta["resourceVersion"],
        }
        active = status.setdefault("active", [])
        if not any(r.get("uid") == cmeta["uid"] for r in active):
            active.append(ref)
        status["lastScheduleTime"] = rfc3339(scheduled)

    def _until_next(self, schedule: cron.Schedule, tz: tzinfo, now: datetime) -> float | None:
        nxt = schedule.next_after(now, tz)
        if nxt is None:
            return None
        real_seconds = max(0.0, (nxt - now).total_seconds()) + 0.1
        # the base class divides delays by the speed; schedules are wall-clock
        return real_seconds * self.clock.speed


def job_name(cronjob: Obj, scheduled: datetime) -> str:
    return f"{cronjob['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def _finished_type(job: Obj) -> str | None:
    conditions = (job.get("status") or {}).get("conditions") or []
    for kind in ("Complete", "Failed"):
        if jp.is_true(conditions, kind):
            return kind
    return None


def _later(a: str, b: str) -> bool:
    ta, tb = parse_time(a), parse_time(b)
    return ta is not None and tb is not None and ta > tb


def _rfc3339_in(when: datetime, tz: tzinfo) -> str:
    """Go's time.RFC3339 in the CronJob's zone: ``Z`` for UTC, else the offset."""
    local = when.astimezone(tz)
    if local.utcoffset() == timedelta(0):
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = local.strftime("%Y-%m-%dT%H:%M:%S%z")
    return text[:-2] + ":" + text[-2:]
