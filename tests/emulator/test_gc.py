"""The garbage collector: Background, Foreground and Orphan propagation over owner references,
for built-in and custom resources, through the official client."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.emulator.batch_support import NS, Cluster, cluster, install_widgets, job_body
from tests.helpers import wait_for

__all__ = ["cluster"]

HOLD = "example.com/hold"


def _cm(
    cluster: Cluster, name: str, owners: list[Any] = (), finalizers: list[str] | None = None
) -> dict[str, Any]:  # type: ignore[assignment]
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = [_ref(o) for o in owners]
    if finalizers:
        meta["finalizers"] = finalizers
    return cluster.api.sanitize_for_serialization(
        cluster.core.create_namespaced_config_map(NS, {"metadata": meta})
    )


def _ref(owner: dict[str, Any], block: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "blockOwnerDeletion": block,
    }


def _cm_exists(cluster: Cluster, name: str) -> bool:
    try:
        cluster.core.read_namespaced_config_map(name, NS)
    except ApiException as e:
        if e.status != 404:
            raise
        return False
    return True


def _gone(cluster: Cluster, *names: str) -> bool:
    return not any(_cm_exists(cluster, n) for n in names)


def test_background_deletes_dependents_of_a_deleted_owner(cluster: Cluster) -> None:
    owner = _cm(cluster, "owner")
    _cm(cluster, "child-a", [owner])
    _cm(cluster, "child-b", [owner])
    _cm(cluster, "unrelated")
    cluster.core.delete_namespaced_config_map("owner", NS)
    wait_for(lambda: _gone(cluster, "child-a", "child-b"), message="dependents collected")
    assert _cm_exists(cluster, "unrelated")


def test_dependent_with_a_remaining_owner_only_loses_the_reference(cluster: Cluster) -> None:
    first, second = _cm(cluster, "first"), _cm(cluster, "second")
    _cm(cluster, "shared", [first, second])
    cluster.core.delete_namespaced_config_map("first", NS)

    def refs() -> list[str] | None:
        found = cluster.core.read_namespaced_config_map("shared", NS).metadata.owner_references or []
        names = [r.name for r in found]
        return names if names == ["second"] else None

    wait_for(refs, message="the dangling reference removed")


def test_dependent_of_an_owner_that_never_existed_is_collected(cluster: Cluster) -> None:
    ghost = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ghost", "uid": "0c8f6a52-0000-4000-8000-000000000000"},
    }
    _cm(cluster, "haunted", [ghost])
    unknown_kind = {
        "apiVersion": "example.com/v1",
        "kind": "Unserved",
        "metadata": {"name": "x", "uid": "0c8f6a52-0000-4000-8000-000000000001"},
    }
    _cm(cluster, "unresolvable", [unknown_kind])
    wait_for(lambda: _gone(cluster, "haunted"), message="collected")
    assert _cm_exists(cluster, "unresolvable"), "an owner of an unserved kind cannot be looked up: left alone"


def test_foreground_waits_for_blocking_dependents(cluster: Cluster) -> None:
    owner = _cm(cluster, "fg-owner")
    _cm(cluster, "fg-held", [owner], finalizers=[HOLD])
    _cm(cluster, "fg-free", [owner])
    cluster.core.delete_namespaced_config_map("fg-owner", NS, propagation_policy="Foreground")

    held = wait_for(
        lambda: (
            (m := cluster.core.read_namespaced_config_map("fg-held", NS).metadata).deletion_timestamp and m
        )
    )
    assert held.finalizers == [HOLD]
    wait_for(lambda: _gone(cluster, "fg-free"), message="the free dependent deleted")
    owner_meta = cluster.core.read_namespaced_config_map("fg-owner", NS).metadata
    assert owner_meta.deletion_timestamp is not None
    assert owner_meta.finalizers == ["foregroundDeletion"], "still waiting for the blocking dependent"

    cluster.core.patch_namespaced_config_map("fg-held", NS, {"metadata": {"finalizers": None}})
    wait_for(lambda: _gone(cluster, "fg-held", "fg-owner"), message="owner removed after its dependents")


def test_foreground_ignores_non_blocking_dependents(cluster: Cluster) -> None:
    owner = _cm(cluster, "nb-owner")
    meta = {"name": "nb-held", "finalizers": [HOLD], "ownerReferences": [_ref(owner, block=False)]}
    cluster.core.create_namespaced_config_map(NS, {"metadata": meta})
    cluster.core.delete_namespaced_config_map("nb-owner", NS, propagation_policy="Foreground")
    wait_for(lambda: _gone(cluster, "nb-owner"), message="owner gone without waiting")
    assert cluster.core.read_namespaced_config_map("nb-held", NS).metadata.deletion_timestamp is not None
    cluster.core.patch_namespaced_config_map("nb-held", NS, {"metadata": {"finalizers": None}})


def test_orphan_removes_owner_references(cluster: Cluster) -> None:
    owner = _cm(cluster, "or-owner")
    _cm(cluster, "or-child", [owner])
    cluster.core.delete_namespaced_config_map("or-owner", NS, propagation_policy="Orphan")
    wait_for(lambda: _gone(cluster, "or-owner"), message="owner deleted")
    child = cluster.core.read_namespaced_config_map("or-child", NS)
    assert child.metadata.owner_references is None


def _widget(custom: client.CustomObjectsApi, name: str, owners: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = [_ref(o) for o in owners]
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta}
    return dict(custom.create_namespaced_custom_object("example.com", "v1", NS, "widgets", body))


def _widget_meta(custom: client.CustomObjectsApi, name: str) -> dict[str, Any] | None:
    try:
        return dict(custom.get_namespaced_custom_object("example.com", "v1", NS, "widgets", name)["metadata"])
    except ApiException as e:
        if e.status != 404:
            raise
        return None


def test_foreground_recurses_through_custom_resources(cluster: Cluster) -> None:
    custom = install_widgets(cluster)
    top = _widget(custom, "top")
    middle = _widget(custom, "middle", [top])
    _cm(cluster, "leaf", [middle], finalizers=[HOLD])
    custom.delete_namespaced_custom_object(
        "example.com", "v1", NS, "widgets", "top", propagation_policy="Foreground"
    )

    def middle_in_foreground() -> dict[str, Any] | None:
        meta = _widget_meta(custom, "middle")
        return meta if meta and meta.get("deletionTimestamp") else None

    meta = wait_for(middle_in_foreground, message="the middle widget deleted in the foreground")
    assert meta["finalizers"] == ["foregroundDeletion"], "it has a dependent of its own"
    assert (_widget_meta(custom, "top") or {}).get("finalizers") == ["foregroundDeletion"]

    cluster.core.patch_namespaced_config_map("leaf", NS, {"metadata": {"finalizers": None}})
    wait_for(
        lambda: (
            _widget_meta(custom, "top") is None
            and _widget_meta(custom, "middle") is None
            and not _cm_exists(cluster, "leaf")
        ),
        message="the whole chain removed",
    )


def test_foreground_job_deletion_removes_its_pods_first(cluster: Cluster) -> None:
    cluster.batch.create_namespaced_job(NS, job_body("fgjob", parallelism=2, completions=2))
    cluster.wait_pods("fgjob", 2)
    cluster.batch.delete_namespaced_job("fgjob", NS, propagation_policy="Foreground")

    def job_gone() -> bool:
        try:
            cluster.batch.read_namespaced_job("fgjob", NS)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(job_gone, message="the job removed")
    assert cluster.pods("fgjob") == []
