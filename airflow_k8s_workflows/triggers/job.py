"""``JobTrigger``: wait for a batch/v1 Job to finish, on the shared watch.

The Job's state is judged by :func:`airflow_k8s_workflows.kube.jobs.job_outcome`, the same
function ``RunJobOperator`` and ``JobSensor.poke`` use. Waits for Jobs of one namespace share
one LIST+WATCH per triggerer (``name=`` filters locally), so a thousand deferred Jobs cost two
requests plus the events, where polling costs a GET per Job every few seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_k8s_workflows.kube.jobs import JobOutcome, job_outcome
from airflow_k8s_workflows.triggers.base import DEFAULT_CONN_ID, KubernetesTrigger

__all__ = ["JobTrigger", "finished_job_event"]


class _DeadlineReached(Exception):
    pass


def _uid(obj: Mapping[str, Any] | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("uid")


def job_event(
    status: str,
    message: str,
    name: str,
    namespace: str | None,
    uid: str | None,
    outcome: JobOutcome | None = None,
    job: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload of :class:`JobTrigger`'s event."""
    return {
        "status": status,
        "message": message,
        "name": name,
        "namespace": namespace,
        "uid": _uid(job) or uid,
        "reason": outcome.reason if outcome else None,
        "active": outcome.active if outcome else 0,
        "succeeded": outcome.succeeded if outcome else 0,
        "failed": outcome.failed if outcome else 0,
        "completion_time": ((job or {}).get("status") or {}).get("completionTime"),
    }


def finished_job_event(job: Mapping[str, Any], outcome: JobOutcome | None = None) -> dict[str, Any] | None:
    """The event :class:`JobTrigger` would fire at once for ``job``, when it has finished
    already; None while it runs. ``outcome``: ``job_outcome(job)`` when the caller has it."""
    outcome = outcome or job_outcome(job)
    if not outcome.terminal:
        return None
    meta = job.get("metadata") or {}
    status = "success" if outcome.state == "succeeded" else "failed"
    return job_event(
        status, outcome.describe(), str(meta.get("name")), meta.get("namespace"), None, outcome, job
    )


class JobTrigger(KubernetesTrigger):
    """Fires once, when the Job ``name`` is Complete or Failed (or gone, or ``deadline`` passed).

    ``uid`` pins the wait to one Job: a Job of that name with another uid is someone else's
    (an earlier or later attempt), and the pinned Job's deletion ends the wait with an error.
    Without ``uid`` the trigger waits for a Job of that name to appear. ``delete_on_kill``
    (set by ``RunJobOperator``) deletes the pinned Job when Airflow kills the deferred task;
    the uid precondition makes sure a newer attempt's Job of the same name is left alone.

    Event payload: ``status`` (``success`` | ``failed`` | ``error`` | ``timeout``), ``message``,
    ``name``, ``namespace``, ``uid``, ``reason``, ``active``, ``succeeded``, ``failed``,
    ``completion_time``::

        trigger = JobTrigger(name="etl-nightly", namespace="batch", uid=job["metadata"]["uid"],
                             cluster=ClusterHook().trigger_kwargs())
        self.defer(trigger=trigger, method_name="execute_complete")
    """

    def __init__(
        self,
        *,
        name: str,
        namespace: str | None = None,
        uid: str | None = None,
        cluster: dict[str, Any] | None = None,
        kubernetes_conn_id: str = DEFAULT_CONN_ID,
        deadline: datetime | None = None,
        delete_on_kill: bool = False,
    ) -> None:
        super().__init__(cluster=cluster, kubernetes_conn_id=kubernetes_conn_id, namespace=namespace)
        if not name:
            raise ValueError("name: the Job to wait for is required")
        if deadline is not None and not isinstance(deadline, datetime):
            raise ValueError(f"deadline: must be a datetime (when the wait gives up), got {deadline!r}")
        if deadline is not None and deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=timezone.utc)
        self.name = name
        self.uid = uid
        self.deadline = deadline
        self.delete_on_kill = delete_on_kill
        self._ns = namespace
        self._last: JobOutcome | None = None
        self._last_line: str | None = None

    def _kwargs(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uid": self.uid,
            "deadline": self.deadline,
            "delete_on_kill": self.delete_on_kill,
        }

    # -- the wait ----------------------------------------------------------------------------------
    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_k8s_workflows.kube.errors import KubeError

        try:
            payload = await self._wait()
        except KubeError as e:
            payload = self._payload("error", f"waiting for Job {self.name}: {e}")
        yield TriggerEvent(payload)

    async def _wait(self) -> dict[str, Any]:
        from airflow_k8s_workflows.kube.watch import shared_watch

        hook = self.hook()
        namespace = await self.resolved_namespace()
        self._ns = namespace
        ref = await hook.resource("batch/v1", "Job", namespace)
        async with shared_watch(hook, ref, name=self.name, replay_snapshot=False) as sub:
            current = sub.snapshot.get((namespace, self.name))
            if self.uid and _uid(current) != self.uid:
                # a shared stream's cache can be a moment behind a Job created just now
                current = await hook.get_or_none("batch/v1", "Job", self.name, namespace)
                if _uid(current) != self.uid:
                    return self._gone()
            seen = current is not None
            if current is not None:
                done = self._judge(current)
                if done is not None:
                    return done
            else:
                self.log.info("Job %s/%s does not exist yet; waiting for it", namespace, self.name)
            try:
                while True:
                    event_type, job = await self._next(sub)
                    if self.uid and _uid(job) != self.uid:
                        continue  # another Job of that name (a stale or a newer attempt)
                    if event_type == "DELETED":
                        if seen or self.uid:
                            return self._gone()
                        continue
                    seen = True
                    done = self._judge(job)
                    if done is not None:
                        return done
            except _DeadlineReached:
                last = self._last
                state = f"; last state: {last.progress_line()}" if last is not None else ""
                return self._payload(
                    "timeout",
                    f"Job {namespace}/{self.name} did not finish before its deadline "
                    f"({self.deadline.isoformat() if self.deadline else '?'}){state}",
                )

    async def _next(self, sub: Any) -> tuple[str, dict[str, Any]]:
        if self.deadline is None:
            event: tuple[str, dict[str, Any]] = await anext(sub)
            return event
        remaining = (self.deadline - datetime.now(timezone.utc)).total_seconds()
        if remaining <= 0:
            raise _DeadlineReached
        try:
            return await asyncio.wait_for(anext(sub), remaining)
        except asyncio.TimeoutError:
            raise _DeadlineReached from None

    def _judge(self, job: Mapping[str, Any]) -> dict[str, Any] | None:
        outcome = job_outcome(job)
        self._last = outcome
        line = outcome.progress_line()
        if line != self._last_line:
            self._last_line = line
            self.log.info("%s", line)
        return finished_job_event(job, outcome)

    def _gone(self) -> dict[str, Any]:
        what = f"Job {self._ns}/{self.name}" + (f" (uid {self.uid})" if self.uid else "")
        state = f"; last state: {self._last.progress_line()}" if self._last is not None else ""
        return self._payload("error", f"{what} was deleted before it finished{state}")

    def _payload(self, status: str, message: str) -> dict[str, Any]:
        """An event without a finished Job to report (error, timeout): the last state seen."""
        return job_event(status, message, self.name, self._ns, self.uid, self._last)

    # -- being killed --------------------------------------------------------------------------------
    async def on_kill(self) -> None:
        """Delete the pinned Job (and, in the background, its pods) when ``delete_on_kill``.

        Runs when Airflow cancels the deferred task (mark failed, clear). A clear may already
        have started the next attempt with a Job of the same name: the uid precondition makes
        the API refuse (409) to delete that one, and a 404 means it is gone already.
        """
        if not (self.delete_on_kill and self.uid):
            return
        from airflow_k8s_workflows.kube.job_ops import adelete_job

        namespace = await self.resolved_namespace()
        if await adelete_job(self.hook(), self.name, namespace, self.uid):
            self.log.info("Deleted Job %s/%s (uid %s) and its pods", namespace, self.name, self.uid)
