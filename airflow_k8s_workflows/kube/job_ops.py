"""Deleting a Job that belongs to us, and only that one (uid precondition).

A Job's name is shared by every attempt of a task; its uid is not. Deleting with
``preconditions.uid`` makes the API server refuse (409) when the name now belongs to another
attempt's Job, and 404 means it is gone already: both are "nothing of ours left to delete".
Background propagation removes the pods through the garbage collector. The functions take a
``ClusterHook`` / ``AsyncClusterHook`` (anything with ``resource`` and ``request``)::

    delete_job(hook, "etl-1a2b3c4d5e", "batch", uid)            # sync
    await adelete_job(ahook, "etl-1a2b3c4d5e", "batch", uid)    # async
"""

from __future__ import annotations

from typing import Any

from airflow_k8s_workflows.kube.calls import delete_call
from airflow_k8s_workflows.kube.errors import Conflict, NotFound

__all__ = ["adelete_job", "delete_job"]


def delete_job(hook: Any, name: str, namespace: str, uid: str, *, propagation: str = "Background") -> bool:
    """Delete Job ``name`` if its uid is ``uid``; True when this call deleted it."""
    ref = hook.resource("batch/v1", "Job", namespace)
    try:
        hook.request(delete_call(ref, name, propagation_policy=propagation, preconditions={"uid": uid}))
    except (NotFound, Conflict):
        return False
    return True


async def adelete_job(
    hook: Any, name: str, namespace: str, uid: str, *, propagation: str = "Background"
) -> bool:
    """The async :func:`delete_job`."""
    ref = await hook.resource("batch/v1", "Job", namespace)
    try:
        await hook.request(delete_call(ref, name, propagation_policy=propagation, preconditions={"uid": uid}))
    except (NotFound, Conflict):
        return False
    return True
