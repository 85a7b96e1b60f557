"""ResourceChangeTrigger against the emulator over HTTP: transitions into a state fire once, a
state that holds does not fire again, objects already in the state at the start never fire;
value changes; deletions; restarts and 410 relists neither repeat nor lose a transition.

Status is written through the status subresource with the official client (no controllers
run, so nothing else touches it). "Nothing fired" is checked with a later marker transition.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.kube import watch
from airflow_k8s_workflows.triggers.resource_change import ResourceChangeTrigger
from airflow_k8s_workflows.triggers.state_store import MemoryStateStore
from tests.triggers.watch_support import (
    Cluster,
    cluster,
    emu,
    fast_watch,
    now_text,
    start,
    until,
)

__all__ = ["cluster", "emu", "fast_watch"]  # fixtures


def deployment_body(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }


async def deployment(cluster: Cluster, name: str, available: bool | None = None) -> None:
    await cluster.call(cluster.apps.create_namespaced_deployment, "default", deployment_body(name))
    if available is not None:
        await set_available(cluster, name, available)


async def set_available(cluster: Cluster, name: str, available: bool, ready: int | None = None) -> None:
    status = "True" if available else "False"
    reason = "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable"
    ready = ready if ready is not None else (2 if available else 0)
    body = {
        "status": {
            "observedGeneration": 1,
            "replicas": 2,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": status, "reason": reason,
                            "message": f"Deployment has {ready} available replicas.",
                            "lastTransitionTime": now_text(), "lastUpdateTime": now_text()}],
        }
    }  # fmt: skip
    await cluster.call(cluster.apps.patch_namespaced_deployment_status, name, "default", body)


async def test_became_unavailable_fires_once_per_transition(emu: KubeEmulator, cluster: Cluster) -> None:
    await deployment(cluster, "already-down", available=False)  # in the state at the start
    await deployment(cluster, "web", available=True)
    trigger = ResourceChangeTrigger(kind="Deployment", namespace="default", condition="Available=False")
    async with start(trigger) as fired:
        await fired.ready()
        await set_available(cluster, "web", False)
        got = await fired.next()
        assert got["type"] == "MODIFIED"
        assert got["object"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                 "namespace": "default", "uid": got["object"]["uid"]}  # fmt: skip
        assert got["predicate"] == "condition Available=False"
        assert got["value"]["status"] == "False" and got["value"]["reason"] == "MinimumReplicasUnavailable"
        assert got["resourceVersion"] and got["cluster"] == "kubernetes_default"

        await set_available(cluster, "web", False, ready=1)  # still unavailable: holds, no event
        await set_available(cluster, "already-down", False, ready=1)  # changed, but was already down
        await deployment(cluster, "new-healthy", available=True)  # a new object not in the state
        await set_available(cluster, "web", True)
        await set_available(cluster, "web", False)  # enters again: a new transition
        again = await fired.next()
        assert (again["object"]["name"], again["type"]) == ("web", "MODIFIED")
        assert int(again["resourceVersion"]) > int(got["resourceVersion"])
        assert fired.pending() == 0


async def test_new_object_in_the_state_is_an_added_transition(emu: KubeEmulator, cluster: Cluster) -> None:
    trigger = ResourceChangeTrigger(
        kind="ConfigMap", namespace="default", jsonpath="{.data.mode}=maintenance"
    )
    async with start(trigger) as fired:
        await fired.ready()
        body = {"metadata": {"name": "flags"}, "data": {"mode": "maintenance"}}
        await cluster.call(cluster.core.create_namespaced_config_map, "default", body)
        got = await fired.next()
        assert (got["type"], got["object"]["name"], got["value"]) == ("ADDED", "flags", "maintenance")


async def test_job_failed(emu: KubeEmulator, cluster: Cluster) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "etl"},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}
        },
    }
    await cluster.call(cluster.batch.create_namespaced_job, "default", job)
    trigger = ResourceChangeTrigger(kind="Job", namespace="default", condition="Failed")
    async with start(trigger) as fired:
        await fired.ready()
        stamp = now_text()
        failed = {"status": {"failed": 1, "startTime": stamp, "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "lastTransitionTime": stamp},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit", "lastTransitionTime": stamp}]}}  # fmt: skip
        await cluster.call(cluster.batch.patch_namespaced_job_status, "etl", "default", failed)
        got = await fired.next()
        assert got["object"]["kind"] == "Job" and got["value"]["reason"] == "BackoffLimitExceeded"


async def test_value_change_detector(emu: KubeEmulator, cluster: Cluster) -> None:
    body = {"metadata": {"name": "app-config", "labels": {"app": "web"}}, "data": {"level": "info"}}
    await cluster.call(cluster.core.create_namespaced_config_map, "default", body)
    trigger = ResourceChangeTrigger(kind="ConfigMap", namespace="default", label_selector="app=web",
                                    jsonpath="{.data}", fire_on="change", event_types=["MODIFIED"])  # fmt: skip
    patch = cluster.core.patch_namespaced_config_map
    async with start(trigger) as fired:
        await fired.ready()
        await cluster.call(patch, "app-config", "default", {"metadata": {"annotations": {"note": "x"}}})
        other = {"metadata": {"name": "other", "labels": {"app": "web"}}, "data": {"a": "1"}}
        await cluster.call(cluster.core.create_namespaced_config_map, "default", other)  # ADDED: not listed
        await cluster.call(patch, "app-config", "default", {"data": {"level": "debug"}})
        got = await fired.next()
        assert (got["type"], got["object"]["name"], got["value"]) == (
            "MODIFIED",
            "app-config",
            {"level": "debug"},
        )
        await cluster.call(patch, "other", "default", {"data": {"a": "2"}})
        assert (await fired.next())["object"]["name"] == "other"
        assert fired.pending() == 0


async def test_secret_values_stay_out_of_the_payload(emu: KubeEmulator, cluster: Cluster) -> None:
    body = {"metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}}
    await cluster.call(cluster.core.create_namespaced_secret, "default", body)
    trigger = ResourceChangeTrigger(kind="Secret", namespace="default", jsonpath="{.data}", fire_on="change")
    async with start(trigger) as fired:
        await fired.ready()
        await cluster.call(
            cluster.core.patch_namespaced_secret, "creds", "default", {"stringData": {"password": "s3cret"}}
        )
        got = await fired.next()
        assert got["value"] == "<redacted>" and "s3cret" not in repr(got) and "czNjcmV0" not in repr(got)


async def test_deletions_without_a_predicate(emu: KubeEmulator, cluster: Cluster) -> None:
    for name in ("a", "b"):
        await cluster.call(cluster.core.create_namespaced_config_map, "default", {"metadata": {"name": name}})
    trigger = ResourceChangeTrigger(kind="ConfigMap", namespace="default", event_types=["DELETED"],
                                    field_selector="metadata.name!=kube-root-ca.crt")  # fmt: skip
    async with start(trigger) as fired:
        await fired.ready()
        await cluster.call(cluster.core.patch_namespaced_config_map, "a", "default", {"data": {"x": "1"}})
        await cluster.call(cluster.core.delete_namespaced_config_map, "b", "default")
        got = await fired.next()
        assert (got["type"], got["object"]["name"], got["value"]) == ("DELETED", "b", None)
        await cluster.call(cluster.core.delete_namespaced_config_map, "a", "default")
        assert (await fired.next())["object"]["name"] == "a"


async def test_restart_resumes_transitions_without_repeat_or_loss(
    emu: KubeEmulator, cluster: Cluster
) -> None:
    store = MemoryStateStore()
    await deployment(cluster, "web", available=True)
    await deployment(cluster, "api", available=True)
    await deployment(cluster, "old-down", available=False)

    def make() -> ResourceChangeTrigger:
        t = ResourceChangeTrigger(kind="Deployment", namespace="default", condition="Available=False")
        t.asset_state_store = store
        return t

    async with start(make()) as fired:
        await fired.ready()
        await set_available(cluster, "web", False)
        assert (await fired.next())["object"]["name"] == "web"

    # while down: api becomes unavailable (must fire once), web stays down (must not fire again)
    await set_available(cluster, "api", False)
    await set_available(cluster, "web", False, ready=1)
    await set_available(cluster, "old-down", False, ready=1)

    async with start(make()) as fired:
        assert (await fired.next())["object"]["name"] == "api"
        await fired.ready()
        await deployment(cluster, "marker", available=True)
        await set_available(cluster, "marker", False)
        assert (await fired.next())["object"]["name"] == "marker"
        assert fired.pending() == 0

    async with start(make()) as fired:
        await fired.ready()
        await set_available(cluster, "marker", True)
        await set_available(cluster, "marker", False)
        assert (await fired.next())["object"]["name"] == "marker"  # nothing from before again


async def test_a_410_relist_keeps_transitions_exactly_once(emu: KubeEmulator, cluster: Cluster) -> None:
    await deployment(cluster, "web", available=True)
    await deployment(cluster, "api", available=True)
    before = watch.watch_metrics()
    trigger = ResourceChangeTrigger(kind="Deployment", namespace="default", condition="Available=False")
    async with start(trigger) as fired:
        await fired.ready()
        await set_available(cluster, "web", False)
        assert (await fired.next())["object"]["name"] == "web"

        def missed_then_compacted() -> None:
            for w in list(emu.http.active_watchers):
                w.close()
            rt = emu.api.rt("apps", "deployments")

            def down(obj: dict[str, Any]) -> None:
                obj["status"]["conditions"][0]["status"] = "False"

            emu.api.update_status(rt, "default", "api", down)
            emu.store.compact()

        emu.call(missed_then_compacted)
        assert (await fired.next())["object"]["name"] == "api"
        await deployment(cluster, "marker", available=False)
        assert (await fired.next())["object"]["name"] == "marker"  # web did not fire again
        assert fired.pending() == 0
        assert watch.watch_metrics().relists - before.relists == 1


async def test_custom_resources_use_the_plural_from_discovery(emu: KubeEmulator, cluster: Cluster) -> None:
    from kubernetes import client

    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "pipelinez.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "pipelinez", "singular": "pipeline", "kind": "Pipeline"},
            "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }  # fmt: skip
    await cluster.call(client.ApiextensionsV1Api(cluster.api_client).create_custom_resource_definition, crd)
    custom = client.CustomObjectsApi(cluster.api_client)

    def served() -> bool:
        try:
            custom.list_namespaced_custom_object("example.com", "v1", "default", "pipelinez")
        except client.ApiException:
            return False
        return True

    await until(lambda: served(), what="the CRD served")
    trigger = ResourceChangeTrigger(kind="Pipeline", api_version="example.com/v1", namespace="default",
                                    jsonpath="{.status.phase}=Failed")  # fmt: skip
    body = {"apiVersion": "example.com/v1", "kind": "Pipeline", "metadata": {"name": "p1"}, "status": {}}
    await cluster.call(
        custom.create_namespaced_custom_object, "example.com", "v1", "default", "pipelinez", body
    )
    async with start(trigger) as fired:
        await fired.ready()
        await cluster.call(custom.patch_namespaced_custom_object_status, "example.com", "v1", "default",
                           "pipelinez", "p1", {"status": {"phase": "Failed"}})  # fmt: skip
        got = await fired.next()
        assert got["object"]["kind"] == "Pipeline" and got["value"] == "Failed"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": ""}, "kind: must be a non-empty string"),
        ({"kind": "Pod", "event_types": ["UPDATED"]}, "event_types: must be a non-empty subset"),
        ({"kind": "Pod", "condition": "Ready", "jsonpath": "{.x}"}, "give condition or jsonpath, not both"),
        ({"kind": "Pod", "fire_on": "always"}, "fire_on: must be one of enter, change"),
        ({"kind": "Pod", "condition": "Ready", "fire_on": "change"}, 'fire_on="change" needs jsonpath'),
        ({"kind": "Pod", "jsonpath": "{.a}=b", "fire_on": "change"}, 'fire_on="change" needs jsonpath'),
        ({"kind": "Pod", "jsonpath": "{.a[}"}, "jsonpath"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResourceChangeTrigger(**kwargs)


def test_serialize_is_deterministic_and_minimal() -> None:
    t = ResourceChangeTrigger(kind="Deployment", namespace="prod", condition="Available=False")
    classpath, kwargs = t.serialize()
    assert kwargs == {"api_version": "apps/v1", "condition": "Available=False", "kind": "Deployment",
                      "kubernetes_conn_id": "kubernetes_default", "namespace": "prod"}  # fmt: skip
    assert ResourceChangeTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert t.shared_stream_key() != ResourceChangeTrigger(kind="Job", namespace="prod").shared_stream_key()
    from airflow.sdk import Asset, AssetWatcher

    Asset("deployments-down", watchers=[AssetWatcher(name="down", trigger=t)])  # a BaseEventTrigger


def test_the_persisted_state_stays_small() -> None:
    import json

    from airflow_k8s_workflows.kube.conditions import parse_wait_for
    from airflow_k8s_workflows.kube.transitions import ChangeDetector

    detector = ChangeDetector(predicate=parse_wait_for(condition="Available=False"))
    detector.start([])
    for i in range(5000):
        obj = {"metadata": {"uid": f"{i:08d}-aaaa-bbbb-cccc-dddddddddddd", "namespace": "production-workloads",
                            "name": f"deployment-with-a-rather-long-name-{i}", "resourceVersion": str(10 + i)},
               "status": {"conditions": [{"type": "Available", "status": "False"}]}}  # fmt: skip
        detector.feed("ADDED", obj)
    state = detector.state()
    assert len(state["objects"]) == 300 and len(state["recent"]) == 200
    assert len(json.dumps(state)) < 60_000  # [state_store] max_value_storage_bytes is 65535
