"""ControllerRevisions (``pkg/controller/history``): the template snapshots StatefulSets and
DaemonSets roll between, named ``<owner>-<hash>``."""

from __future__ import annotations

import copy
from typing import Any

from airflow_k8s_workflows.emulator.api import CONTROLLER, ApiServer
from airflow_k8s_workflows.emulator.controllers.base import controller_ref
from airflow_k8s_workflows.emulator.controllers.ownership import claim, owned_or_orphans
from airflow_k8s_workflows.emulator.controllers.podtemplate import hash_revision_data, normalized
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.selectors import LabelSelector

Obj = dict[str, Any]

CR_KEY = ("apps", "controllerrevisions")
HASH_LABEL = "controller.kubernetes.io/hash"


def template_patch(owner: Obj) -> Obj:
    """``getPatch``: the revision data, a strategic merge patch replacing the pod template."""
    template = copy.deepcopy(owner["spec"].get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_of(revision: Obj) -> Obj:
    """``ApplyRevision``: the pod template a revision holds."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def sort_key(revision: Obj) -> tuple[int, str, str]:
    meta = revision["metadata"]
    return (int(revision.get("revision") or 0), meta.get("creationTimestamp") or "", meta["name"])


def list_revisions(api: ApiServer, owner: Obj) -> list[Obj]:
    """The owner's revisions (adopting matching orphans), oldest first."""
    rt = api.rt(*CR_KEY)
    selector = LabelSelector.from_label_selector(owner["spec"].get("selector"))
    ns = owner["metadata"]["namespace"]
    candidates = owned_or_orphans((s.obj for s in api.store.items(CR_KEY, ns)), owner)
    return sorted((copy.deepcopy(r) for r in claim(api, rt, owner, candidates, selector)), key=sort_key)


def next_revision(revisions: list[Obj]) -> int:
    return int(revisions[-1].get("revision") or 0) + 1 if revisions else 1


def new_revision(owner: Obj, data: Obj, number: int, collision_count: int) -> Obj:
    """``NewControllerRevision``: labelled like the template, named after the data's hash."""
    labels = dict(((owner["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {})
    digest = hash_revision_data(data, collision_count)
    labels[HASH_LABEL] = digest
    meta: Obj = {
        "name": f"{owner['metadata']['name'][:223]}-{digest}",
        "namespace": owner["metadata"]["namespace"],
        "labels": labels,
        "ownerReferences": [controller_ref(owner)],
    }
    if owner["metadata"].get("annotations"):
        meta["annotations"] = dict(owner["metadata"]["annotations"])
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta, "data": data,
            "revision": number}  # fmt: skip


def equal(a: Obj | None, b: Obj | None) -> bool:
    if a is None or b is None:
        return a is b
    return normalized(a.get("data")) == normalized(b.get("data"))


def create(api: ApiServer, owner: Obj, revision: Obj, collision_count: int) -> tuple[Obj, int]:
    """``CreateControllerRevision``: create, probing new names on a hash collision.

    Returns the stored revision and the collision count to record.
    """
    rt = api.rt(*CR_KEY)
    ns = owner["metadata"]["namespace"]
    while True:
        body = copy.deepcopy(revision)
        digest = hash_revision_data(revision["data"], collision_count)
        body["metadata"]["name"] = f"{owner['metadata']['name'][:223]}-{digest}"
        body["metadata"]["labels"][HASH_LABEL] = digest
        try:
            return copy.deepcopy(api.create(rt, ns, body, CONTROLLER)), collision_count
        except ApiError as e:
            if e.reason != "AlreadyExists":
                raise
        existing = api.try_get(rt, ns, body["metadata"]["name"])
        if existing is not None and equal(existing, body):
            return copy.deepcopy(existing), collision_count
        collision_count += 1


def renumber(api: ApiServer, revision: Obj, number: int) -> Obj:
    """``UpdateControllerRevision``: a rollback to an old revision makes it the newest."""

    def apply(live: Obj) -> None:
        live["revision"] = number

    updated = api.mutate(
        api.rt(*CR_KEY), revision["metadata"]["namespace"], revision["metadata"]["name"], apply
    )
    return copy.deepcopy(updated) if updated is not None else revision


def resolve(api: ApiServer, owner: Obj, revisions: list[Obj], collision_count: int) -> tuple[Obj, int]:
    """The update revision for the owner's current template: the latest one if equal, an older equal
    one renumbered, or a new one (``getStatefulSetRevisions`` / ``constructHistory``)."""
    candidate = new_revision(owner, template_patch(owner), next_revision(revisions), collision_count)
    equals = [r for r in revisions if equal(r, candidate)]
    if equals and equal(revisions[-1], equals[-1]):
        return revisions[-1], collision_count
    if equals:
        updated = renumber(api, equals[-1], candidate["revision"])
        revisions.remove(equals[-1])
        revisions.append(updated)
        return updated, collision_count
    created, collision_count = create(api, owner, candidate, collision_count)
    revisions.append(created)
    return created, collision_count


def truncate(api: ApiServer, revisions: list[Obj], live: set[str], limit: int) -> None:
    """Delete the oldest revisions no pod or status refers to, beyond ``revisionHistoryLimit``."""
    history = [r for r in revisions if r["metadata"]["name"] not in live]
    if len(history) <= limit:
        return
    rt = api.rt(*CR_KEY)
    for revision in history[: len(history) - limit]:
        try:
            api.delete(rt, revision["metadata"]["namespace"], revision["metadata"]["name"], CONTROLLER)
        except ApiError as e:
            if e.code != 404:
                raise
