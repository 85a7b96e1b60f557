"""The TTL-after-finished controller: deletes a finished Job (Foreground propagation, so its pods
go first) ``spec.ttlSecondsAfterFinished`` seconds of controller time after it finished."""

from __future__ import annotations

import time
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.clock import parse_time
from airflow_k8s_workflows.emulator.controllers import job_pods as jp
from airflow_k8s_workflows.emulator.controllers.base import Controller, ControllerContext, Key

Obj = dict[str, Any]


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished-controller"
    watches = (("batch", "jobs"),)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        # uid -> monotonic time this controller first saw the Job finished (timestamps have whole seconds)
        self._seen_finished: dict[str, float] = {}

    async def reconcile(self, key: Key) -> float | None:
        rt = self.api.rt("batch", "jobs")
        job = self.api.try_get(rt, key[0] or None, key[1])
        if job is None:
            return None
        meta = job["metadata"]
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None or meta.get("deletionTimestamp") or not jp.is_finished(job):
            return None
        remaining = float(ttl) - self._elapsed_since_finished(job)
        if remaining > 0:
            return remaining
        self._seen_finished.pop(meta["uid"], None)
        self.api.delete(
            rt,
            meta["namespace"],
            meta["name"],
            CONTROLLER,
            propagation="Foreground",
            preconditions={"uid": meta["uid"]},
        )
        return None

    def _elapsed_since_finished(self, job: Obj) -> float:
        uid = job["metadata"]["uid"]
        conditions = (job.get("status") or {}).get("conditions") or []
        finished = next(
            (c for c in conditions if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"),
            None,
        )
        at = parse_time(
            (job.get("status") or {}).get("completionTime") or (finished or {}).get("lastTransitionTime")
        )
        from_timestamp = self.clock.elapsed_scaled(at) if at is not None else 0.0
        seen = self._seen_finished.setdefault(uid, time.monotonic())
        from_memory = (time.monotonic() - seen) * self.clock.speed
        # a Job finished long before this controller saw it (a restart): trust the timestamp
        return from_timestamp if from_timestamp - from_memory > self.clock.speed * 2 else from_memory
