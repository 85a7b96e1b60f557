"""Create the task's Job, or adopt the one an earlier attempt left behind: never a twin.

The rule (docs/dev/airflow-notes.md §4.4): a retry adopts the running Job, and a Job that
succeeded while no try was there to hand its result back (a try killed, or failed by the
scheduler, between the Job's completion and the XCom push); a retry after the Job failed, or
a cleared task, starts a fresh Job.

*Generation*: the tries between two clears of one dag run. Retries keep the dag run's
``clear_number`` and the task instance's ``max_tries``; a clear raises both
(``clear_task_instances``). A run deleted and made again under the same run_id (by hand, or by
Airflow cleaning up a backfill that failed half-way) starts again at ``clear_number`` 0, so the
run's ``start_date`` is part of the generation too: that new run starts a fresh Job instead of
handing back the old run's result. The Job is annotated with the generation that created it,
and the task state store record carries it.

1. An earlier try of this generation already read the Job's success and recorded the result
   in the task state store (``outcome``, ``result``; written before the cleanup deletes the
   Job and before XCom): that result is the answer, no Job is needed.
2. Find the Job: the one recorded in the task state store (``{name, namespace, uid}``,
   written right after the create), else the Job at the deterministic name (if it carries
   this task instance's labels), else a running Job found by those labels.
3. Adopt it while it runs and is not annotated ``airflow-k8s-workflows.io/checked`` (an
   attempt that saw it finish sets that), and once it succeeded in this generation, checked
   or not (the try that checked it died before the hand-back). Without a generation on either
   side (direct calls, Jobs from older versions) a succeeded Job is adopted only unchecked. A
   failed Job, or one of an earlier generation, belongs to an earlier attempt: delete it (uid
   precondition), wait until it is gone, create a new one.
4. A create answered with 409 AlreadyExists (another worker, or a crash between create and
   the store write) goes back to step 3 with the Job it collided with.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_k8s_workflows.kube import naming
from airflow_k8s_workflows.kube.jobs import job_outcome

__all__ = [
    "CHECKED_ANNOTATION",
    "GENERATION_ANNOTATION",
    "STATE_KEY",
    "JobHandle",
    "create_or_adopt",
    "generation",
    "is_checked",
    "mark_checked",
    "remember_success",
]

CHECKED_ANNOTATION = naming.ANNOTATION_PREFIX + "checked"
GENERATION_ANNOTATION = naming.ANNOTATION_PREFIX + "generation"
STATE_KEY = "job"
"""Task state store key. Renaming it breaks adoption for attempts in flight."""
RESULT_STORE_LIMIT = 48 * 1024
"""A result larger than this (JSON) is not kept in the task state store (its values are meant
to stay under ``[state_store] max_value_storage_bytes``, 64 KiB by default)."""
_NO_RESULT = object()


class JobCollision(Exception):
    """The Job's name is taken by a Job this task instance did not create."""


@dataclass(frozen=True)
class JobHandle:
    """The Job this attempt works with."""

    name: str
    namespace: str
    uid: str
    adopted: bool
    job: dict[str, Any]
    result: Any = _NO_RESULT
    """The result an earlier try of this generation recorded (see :attr:`has_result`)."""

    @property
    def has_result(self) -> bool:
        return self.result is not _NO_RESULT

    def ref(self) -> dict[str, str]:
        return {"name": self.name, "namespace": self.namespace, "uid": self.uid}


def generation(context: Mapping[str, Any]) -> str | None:
    """``"<dag run clear_number>.<max_tries>@<dag run start_date>"``: equal for all retries
    between two clears of one dag run (see the module docstring); None when the context does
    not tell (then a finished Job is never adopted)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    max_tries = getattr(ti, "max_tries", None)
    clear_number = getattr(dag_run, "clear_number", None)
    if not isinstance(max_tries, int) or not isinstance(clear_number, int):
        return None
    started = getattr(dag_run, "start_date", None)
    run = f"@{started.isoformat()}" if isinstance(started, datetime) else ""
    return f"{clear_number}.{max_tries}{run}"


def _meta(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (obj or {}).get("metadata") or {}


def is_checked(job: Mapping[str, Any]) -> bool:
    return (_meta(job).get("annotations") or {}).get(CHECKED_ANNOTATION) == "true"


def mark_checked(hook: Any, name: str, namespace: str, uid: str) -> None:
    """Annotate the Job as seen to the end, so a later clear starts a fresh one."""
    from airflow_k8s_workflows.kube.errors import Conflict, NotFound

    patch = {"metadata": {"uid": uid, "annotations": {CHECKED_ANNOTATION: "true"}}}
    try:
        hook.patch("batch/v1", "Job", name, patch, namespace)
    except (NotFound, Conflict):
        pass  # gone, or the name belongs to a newer attempt's Job now


def _adoptable(job: Mapping[str, Any], gen: str | None = None) -> bool:
    """Running and unchecked; or succeeded in this generation (checked or not: the try that
    checked it died before the hand-back); or, when a generation is unknown on either side,
    succeeded with nobody having handed its result back yet."""
    outcome = job_outcome(job)
    if not outcome.terminal:
        return not is_checked(job)
    if outcome.state != "succeeded":
        return False
    created_in = (_meta(job).get("annotations") or {}).get(GENERATION_ANNOTATION)
    if gen is not None and created_in is not None:
        return bool(created_in == gen)
    return not is_checked(job)


def _find(
    hook: Any, name: str, namespace: str, identity: naming.TaskIdentity, stored: Any
) -> dict[str, Any] | None:
    if isinstance(stored, Mapping) and stored.get("name") and stored.get("uid"):
        job = hook.get_or_none(
            "batch/v1", "Job", str(stored["name"]), str(stored.get("namespace") or namespace)
        )
        if job is not None and _meta(job).get("uid") == stored["uid"]:
            return dict(job)
    job = hook.get_or_none("batch/v1", "Job", name, namespace)
    if job is not None:
        return dict(job)
    running = [
        j
        for j in hook.list("batch/v1", "Job", namespace, label_selector=identity.selector())
        if identity.owns(j) and _adoptable(j)
    ]
    running.sort(key=lambda j: str(_meta(j).get("creationTimestamp") or ""))
    return dict(running[-1]) if running else None


def _wait_gone(hook: Any, name: str, namespace: str, uid: str, timeout: float = 120.0) -> None:
    from airflow_k8s_workflows.kube.watch import wait_for

    ref = hook.resource("batch/v1", "Job", namespace)
    cfg = hook.cluster_config

    def gone(job: Mapping[str, Any] | None) -> bool:
        return job is None or _meta(job).get("uid") != uid

    asyncio.run(wait_for(cfg, ref, gone, name=name, timeout=timeout))


def _try_number(job: Mapping[str, Any]) -> str:
    return str((_meta(job).get("labels") or {}).get(naming.TRY_NUMBER_KEY, "?"))


def create_or_adopt(
    hook: Any,
    body: Mapping[str, Any],
    identity: naming.TaskIdentity,
    store: Any,
    log: Any,
    gen: str | None = None,
) -> JobHandle:
    """The Job for this attempt (see the module docstring); ``store`` may be None, ``gen`` is
    :func:`generation` of the attempt's context."""
    from airflow_k8s_workflows.kube.errors import AlreadyExists
    from airflow_k8s_workflows.kube.job_ops import delete_job

    name = str(body["metadata"]["name"])
    namespace = str(body["metadata"]["namespace"])
    stored = store.get(STATE_KEY, None) if store is not None else None
    if store is None:
        log.warning("No task state store (Airflow < 3.3): a retry finds its Job by name and labels only")
    if gen is not None:
        body = copy.deepcopy(dict(body))
        body["metadata"].setdefault("annotations", {})[GENERATION_ANNOTATION] = gen
    done = _recorded_success(stored, gen)
    if done is not None:
        log.info(
            "Job %s/%s (uid %s) succeeded in try %s, which recorded its result before it ended: "
            "returning that result",
            done.namespace, done.name, done.uid, (stored or {}).get("try"),
        )  # fmt: skip
        return done
    existing = _find(hook, name, namespace, identity, stored)
    for _ in range(5):
        if existing is not None:
            ex_name, ex_ns, ex_uid = (
                _meta(existing)["name"],
                _meta(existing)["namespace"],
                _meta(existing)["uid"],
            )
            if not identity.owns(existing):
                raise JobCollision(
                    f"Job {ex_ns}/{ex_name} already exists and was not created by this task "
                    f"({identity.dag_id}.{identity.task_id}, run {identity.run_id}); give the task another "
                    "name or delete that Job"
                )
            if _adoptable(existing, gen):
                log.info(
                    "Adopting Job %s/%s (uid %s) started by try %s: %s",
                    ex_ns, ex_name, ex_uid, _try_number(existing),
                    "it is still running" if not job_outcome(existing).terminal
                    else "it succeeded and its result was not handed back yet",
                )  # fmt: skip
                _remember(store, existing, gen)
                return JobHandle(ex_name, ex_ns, ex_uid, True, existing)
            if job_outcome(existing).state == "failed":
                why = "failed"
            elif is_checked(existing):
                why = "was already seen to the end by an earlier try"
            else:
                why = "belongs to a run of this task before it was cleared"
            log.info(
                "Job %s/%s (uid %s) from try %s %s: deleting it and starting a fresh one",
                ex_ns, ex_name, ex_uid, _try_number(existing), why,
            )  # fmt: skip
            delete_job(hook, ex_name, ex_ns, ex_uid)
            _wait_gone(hook, ex_name, ex_ns, ex_uid)
            existing = None
        try:
            created = hook.create(body)
        except AlreadyExists:
            existing = hook.get_or_none("batch/v1", "Job", name, namespace)
            continue
        _remember(store, created, gen)
        meta = _meta(created)
        log.info("Created Job %s/%s (uid %s)", meta["namespace"], meta["name"], meta["uid"])
        return JobHandle(str(meta["name"]), str(meta["namespace"]), str(meta["uid"]), False, dict(created))
    raise JobCollision(f"Job {namespace}/{name}: kept colliding with other attempts while creating it")


def _record(job: Mapping[str, Any], gen: str | None) -> dict[str, Any]:
    meta = _meta(job)
    labels = meta.get("labels") or {}
    record = {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "try": labels.get(naming.TRY_NUMBER_KEY),
    }
    if gen is not None:
        record["generation"] = gen
    return record


def _remember(store: Any, job: Mapping[str, Any], gen: str | None = None) -> None:
    if store is not None:
        store.set(STATE_KEY, _record(job, gen))


def remember_success(store: Any, job: Mapping[str, Any], gen: str | None, result: Any) -> None:
    """Record that this generation's Job succeeded and what it returned, before the Job is
    cleaned up and before the result reaches XCom: a try that dies in between is answered
    from here by the next one. Nothing is recorded without a generation; a result that is not
    JSON or too large is left out (then a retry needs the Job itself)."""
    if store is None or gen is None:
        return
    record = {**_record(job, gen), "outcome": "succeeded"}
    try:
        encoded = json.dumps(result)
    except (TypeError, ValueError):
        encoded = None
    if encoded is not None and len(encoded) <= RESULT_STORE_LIMIT:
        record["result"] = result
    store.set(STATE_KEY, record)


def _recorded_success(stored: Any, gen: str | None) -> JobHandle | None:
    if not (isinstance(stored, Mapping) and gen is not None and stored.get("generation") == gen):
        return None
    if stored.get("outcome") != "succeeded" or "result" not in stored or not stored.get("uid"):
        return None
    return JobHandle(
        str(stored.get("name")),
        str(stored.get("namespace")),
        str(stored["uid"]),
        True,
        {},
        result=stored["result"],
    )
