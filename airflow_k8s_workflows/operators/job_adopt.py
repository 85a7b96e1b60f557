"""Create the task's Job, or adopt the one an earlier attempt left running: never a twin.

The rule (docs/dev/airflow-notes.md §4.4): a retry adopts the running Job, and a Job that
succeeded while no try was there to see it (a try killed, or failed by the scheduler, between
the Job's completion and the hand-back); a retry after the Job failed, or a cleared task whose
Job was seen to the end, starts a fresh Job.

1. Find the Job: the one recorded in the task state store (``{name, namespace, uid}``,
   written right after the create), else the Job at the deterministic name (if it carries
   this task instance's labels), else a running Job found by those labels.
2. Adopt it while it runs or once it succeeded, unless it is annotated
   ``airflow-k8s-workflows.io/checked`` (an attempt that saw it finish sets that). A failed or
   checked Job belongs to an earlier attempt: delete it (uid precondition), wait until it is
   gone, create a new one.
3. A create answered with 409 AlreadyExists (another worker, or a crash between create and
   the store write) goes back to step 2 with the Job it collided with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_k8s_workflows.kube import naming
from airflow_k8s_workflows.kube.jobs import job_outcome

__all__ = ["CHECKED_ANNOTATION", "STATE_KEY", "JobHandle", "create_or_adopt", "is_checked", "mark_checked"]

CHECKED_ANNOTATION = naming.ANNOTATION_PREFIX + "checked"
STATE_KEY = "job"
"""Task state store key. Renaming it breaks adoption for attempts in flight."""


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

    def ref(self) -> dict[str, str]:
        return {"name": self.name, "namespace": self.namespace, "uid": self.uid}


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


def _adoptable(job: Mapping[str, Any]) -> bool:
    """Running, or succeeded with nobody having handed its result back yet."""
    if is_checked(job):
        return False
    outcome = job_outcome(job)
    return not outcome.terminal or outcome.state == "succeeded"


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
) -> JobHandle:
    """The Job for this attempt (see the module docstring); ``store`` may be None."""
    from airflow_k8s_workflows.kube.errors import AlreadyExists
    from airflow_k8s_workflows.kube.job_ops import delete_job

    name = str(body["metadata"]["name"])
    namespace = str(body["metadata"]["namespace"])
    stored = store.get(STATE_KEY, None) if store is not None else None
    if store is None:
        log.warning("No task state store (Airflow < 3.3): a retry finds its Job by name and labels only")
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
            if _adoptable(existing):
                log.info(
                    "Adopting Job %s/%s (uid %s) started by try %s: %s",
                    ex_ns, ex_name, ex_uid, _try_number(existing),
                    "it is still running" if not job_outcome(existing).terminal
                    else "it succeeded and its result was not handed back yet",
                )  # fmt: skip
                _remember(store, existing)
                return JobHandle(ex_name, ex_ns, ex_uid, True, existing)
            why = "was already checked by an earlier try" if is_checked(existing) else "has finished"
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
        _remember(store, created)
        meta = _meta(created)
        log.info("Created Job %s/%s (uid %s)", meta["namespace"], meta["name"], meta["uid"])
        return JobHandle(str(meta["name"]), str(meta["namespace"]), str(meta["uid"]), False, dict(created))
    raise JobCollision(f"Job {namespace}/{name}: kept colliding with other attempts while creating it")


def _remember(store: Any, job: Mapping[str, Any]) -> None:
    if store is None:
        return
    meta = _meta(job)
    labels = meta.get("labels") or {}
    store.set(
        STATE_KEY,
        {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "try": labels.get(naming.TRY_NUMBER_KEY),
        },
    )
