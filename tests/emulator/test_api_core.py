"""The emulator's API core, observed only through the official clients over HTTP."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.metrics import RequestCounter
from tests.helpers import wait_for

# published in every namespace by the root CA publisher, as on a real cluster
ROOT_CA = "kube-root-ca.crt"


def _cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


def _status(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


def test_create_get_list_delete_roundtrip(k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    created = v1.create_namespaced_config_map("default", _cm("one", a="1"))
    meta = created.metadata
    assert meta.uid and meta.resource_version and meta.creation_timestamp
    assert meta.namespace == "default"
    assert v1.read_namespaced_config_map("one", "default").data == {"a": "1"}
    names = [cm.metadata.name for cm in v1.list_namespaced_config_map("default").items]
    assert [n for n in names if n != ROOT_CA] == ["one"]
    v1.delete_namespaced_config_map("one", "default")
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_config_map("one", "default")
    assert err.value.status == 404


def test_errors_are_exact_status_objects(k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    apps = client.AppsV1Api(k8s)
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("missing", "default")
    assert _status(err.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'deployments.apps "missing" not found', "reason": "NotFound", "code": 404,
        "details": {"name": "missing", "group": "apps", "kind": "deployments"},
    }  # fmt: skip
    v1.create_namespaced_config_map("default", _cm("dup"))
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_config_map("default", _cm("dup"))
    body = _status(err.value)
    assert (err.value.status, body["reason"], body["message"]) == (
        409,
        "AlreadyExists",
        'configmaps "dup" already exists',
    )
    stale = v1.read_namespaced_config_map("dup", "default")
    v1.replace_namespaced_config_map(
        "dup",
        "default",
        _cm("dup", x="1") | {"metadata": {"name": "dup", "resourceVersion": stale.metadata.resource_version}},
    )
    with pytest.raises(ApiException) as err:
        v1.replace_namespaced_config_map(
            "dup",
            "default",
            {
                "metadata": {"name": "dup", "resourceVersion": stale.metadata.resource_version},
                "data": {"x": "2"},
            },
        )
    body = _status(err.value)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "dup": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_config_map("default", _cm("Bad_Name"))
    body = _status(err.value)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"'
    )
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_config_map("nope", _cm("x"))
    assert err.value.status == 404 and _status(err.value)["message"] == 'namespaces "nope" not found'


def test_generate_name(k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    created = v1.create_namespaced_config_map("default", {"metadata": {"generateName": "job-x-"}})
    name = created.metadata.name
    assert name.startswith("job-x-") and len(name) == len("job-x-") + 5
    assert set(name[-5:]) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_generation_and_status_separation(k8s: client.ApiClient) -> None:
    # a kind no controller writes to, so only these requests change it
    policy = client.PolicyV1Api(k8s)
    pdb = {
        "metadata": {"name": "gen"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "x"}}},
        "status": {"currentHealthy": 5, "desiredHealthy": 1, "disruptionsAllowed": 0, "expectedPods": 5},
    }
    created = policy.create_namespaced_pod_disruption_budget("default", pdb)
    assert created.metadata.generation == 1
    assert not (created.status and created.status.current_healthy), "create drops the status sent"
    status = {"currentHealthy": 2, "desiredHealthy": 1, "disruptionsAllowed": 1, "expectedPods": 2}
    policy.patch_namespaced_pod_disruption_budget_status("gen", "default", {"status": status})
    after_status = policy.read_namespaced_pod_disruption_budget("gen", "default")
    assert after_status.metadata.generation == 1 and after_status.status.current_healthy == 2
    policy.patch_namespaced_pod_disruption_budget(
        "gen", "default", {"metadata": {"labels": {"a": "b"}}, "status": {**status, "currentHealthy": 9}}
    )
    relabeled = policy.read_namespaced_pod_disruption_budget("gen", "default")
    assert relabeled.metadata.generation == 1, "metadata changes do not bump generation"
    assert relabeled.status.current_healthy == 2, "the main resource keeps status unchanged"
    policy.patch_namespaced_pod_disruption_budget("gen", "default", {"spec": {"minAvailable": 2}})
    assert policy.read_namespaced_pod_disruption_budget("gen", "default").metadata.generation == 2


def test_noop_update_keeps_resource_version(k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    created = v1.create_namespaced_config_map("default", _cm("same", a="1"))
    again = v1.replace_namespaced_config_map("same", "default", _cm("same", a="1"))
    assert again.metadata.resource_version == created.metadata.resource_version


def test_label_and_field_selectors(k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    v1.create_namespaced_config_map("default", _cm("a", {"app": "web", "tier": "fe"}))
    v1.create_namespaced_config_map("default", _cm("b", {"app": "web"}))
    v1.create_namespaced_config_map("default", _cm("c", {"app": "db"}))

    def names(**kw: Any) -> list[str]:
        return [
            cm.metadata.name
            for cm in v1.list_namespaced_config_map("default", **kw).items
            if cm.metadata.name != ROOT_CA
        ]

    assert names(label_selector="app=web") == ["a", "b"]
    assert names(label_selector="app!=web") == ["c"]
    assert names(label_selector="tier!=fe") == ["b", "c"], "!= matches objects without the key"
    assert names(label_selector="app in (db, web),tier") == ["a"]
    assert names(label_selector="!tier,app notin (db)") == ["b"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]
    with pytest.raises(ApiException) as err:
        v1.list_namespaced_config_map("default", field_selector="data.x=1")
    assert err.value.status == 400 and _status(err.value)["message"] == "field label not supported: data.x"


def test_pagination_with_continue(k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    for i in range(7):
        v1.create_namespaced_config_map("default", _cm(f"p{i}", {"paged": "yes"}))
    seen: list[str] = []
    page = v1.list_namespaced_config_map("default", limit=3, label_selector="paged")
    assert page.metadata.remaining_item_count == 4
    seen += [cm.metadata.name for cm in page.items]
    while page.metadata._continue:
        page = v1.list_namespaced_config_map(
            "default", limit=3, label_selector="paged", _continue=page.metadata._continue
        )
        seen += [cm.metadata.name for cm in page.items]
    assert seen == [f"p{i}" for i in range(7)]


def test_continue_pages_are_a_consistent_snapshot(emulator: KubeEmulator, k8s: client.ApiClient) -> None:
    # as etcd serves them: later pages show the objects as of the first page's resourceVersion
    v1 = client.CoreV1Api(k8s)
    for name in ("p1", "p3", "p5", "p7"):
        v1.create_namespaced_config_map("default", _cm(name, {"snap": "yes"}, v="old"))
    first = v1.list_namespaced_config_map("default", limit=2, label_selector="snap")
    assert [cm.metadata.name for cm in first.items] == ["p1", "p3"]
    v1.create_namespaced_config_map("default", _cm("p4", {"snap": "yes"}))  # created after the list
    v1.patch_namespaced_config_map("p5", "default", {"data": {"v": "new"}})  # changed after it
    v1.delete_namespaced_config_map("p7", "default")  # deleted after it
    v1.patch_namespaced_config_map("p3", "default", {"metadata": {"labels": {"snap": "no"}}})
    rest = v1.list_namespaced_config_map(
        "default", limit=10, label_selector="snap", _continue=first.metadata._continue
    )
    assert rest.metadata.resource_version == first.metadata.resource_version
    assert [(cm.metadata.name, cm.data) for cm in rest.items] == [("p5", {"v": "old"}), ("p7", {"v": "old"})]
    emulator.compact()
    with pytest.raises(ApiException) as err:
        v1.list_namespaced_config_map(
            "default", limit=10, label_selector="snap", _continue=first.metadata._continue
        )
    assert err.value.status == 410 and "too old to display a consistent list" in _status(err.value)["message"]


def test_finalizers_hold_deletion(k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    v1.create_namespaced_config_map(
        "default", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}}
    )
    v1.delete_namespaced_config_map("held", "default")
    held = v1.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as err:
        v1.patch_namespaced_config_map(
            "held", "default", [{"op": "add", "path": "/metadata/finalizers/-", "value": "new/one"}]
        )
    assert err.value.status == 422 and "no new finalizers" in _status(err.value)["message"]
    v1.patch_namespaced_config_map("held", "default", [{"op": "remove", "path": "/metadata/finalizers"}])
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_config_map("held", "default")
    assert err.value.status == 404


def test_dry_run_changes_nothing(k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    out = v1.create_namespaced_config_map("default", _cm("dry", a="1"), dry_run="All")
    assert out.metadata.name == "dry"
    assert [
        cm.metadata.name
        for cm in v1.list_namespaced_config_map("default").items
        if cm.metadata.name != ROOT_CA
    ] == []


def test_watch_replays_from_resource_version_and_tracks_selector_moves(k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    start_rv = v1.list_namespaced_config_map("default").metadata.resource_version
    v1.create_namespaced_config_map("default", _cm("w", {"x": "1"}))
    v1.patch_namespaced_config_map("w", "default", {"data": {"k": "v"}})
    v1.patch_namespaced_config_map("w", "default", {"metadata": {"labels": {"x": "2"}}})
    v1.patch_namespaced_config_map("w", "default", {"metadata": {"labels": {"x": "1"}}})
    v1.delete_namespaced_config_map("w", "default")
    events = [
        (e["type"], e["object"].metadata.labels["x"], int(e["object"].metadata.resource_version))
        for e in watch.Watch().stream(
            v1.list_namespaced_config_map,
            "default",
            resource_version=start_rv,
            label_selector="x=1",
            timeout_seconds=1,
        )
    ]
    assert [(t, x) for t, x, _ in events] == [
        ("ADDED", "1"),
        ("MODIFIED", "1"),
        ("DELETED", "1"),
        ("ADDED", "1"),
        ("DELETED", "1"),
    ]
    rvs = [rv for _, _, rv in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs), "events come in resourceVersion order"


def test_watch_from_compacted_resource_version_gets_410(
    emulator: KubeEmulator, k8s: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(k8s)
    old_rv = v1.list_namespaced_config_map("default").metadata.resource_version
    v1.create_namespaced_config_map("default", _cm("c1"))
    emulator.compact()
    with pytest.raises(ApiException) as err:
        list(
            watch.Watch().stream(
                v1.list_namespaced_config_map, "default", resource_version=old_rv, timeout_seconds=1
            )
        )
    assert err.value.status == 410
    raw = urllib.request.urlopen(
        f"{emulator.url}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={old_rv}"
    ).read()
    event = json.loads(raw.decode().splitlines()[0])
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    assert event["object"]["message"].startswith(f"too old resource version: {old_rv} (")


def test_watch_list_sends_initial_events_then_bookmark(emulator: KubeEmulator, k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    v1.create_namespaced_config_map("default", _cm("i1"))
    v1.create_namespaced_config_map("default", _cm("i2"))
    url = (f"{emulator.url}/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true"
           "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")  # fmt: skip
    lines = [json.loads(line) for line in urllib.request.urlopen(url).read().decode().splitlines()]
    assert [
        (e["type"], e["object"]["metadata"].get("name"))
        for e in lines
        if e["object"]["metadata"].get("name") != ROOT_CA
    ] == [
        ("ADDED", "i1"),
        ("ADDED", "i2"),
        ("BOOKMARK", None),
    ]
    assert lines[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(
            f"{emulator.url}/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true"
        )
    assert err.value.code == 422


def test_bookmarks_carry_the_current_resource_version(tmp_path: Any) -> None:
    with KubeEmulator(workdir=tmp_path, kubelet=False, bookmark_interval=0.2) as emu:
        url = f"{emu.url}/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=1"
        lines = [json.loads(line) for line in urllib.request.urlopen(url).read().decode().splitlines()]
        bookmarks = [e for e in lines if e["type"] == "BOOKMARK"]
        assert bookmarks, "a watch with allowWatchBookmarks gets bookmarks"
        assert set(bookmarks[0]["object"]["metadata"]) == {"resourceVersion"}


def test_watch_sees_live_events_in_order(k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    got: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for e in w.stream(v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5):
            got.append((e["type"], e["object"].metadata.name))
            if len(got) == 3:
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    v1.create_namespaced_config_map("default", _cm("live1"))
    v1.create_namespaced_config_map("default", _cm("live2"))
    v1.delete_namespaced_config_map("live1", "default")
    t.join(10)
    assert got == [("ADDED", "live1"), ("ADDED", "live2"), ("DELETED", "live1")]


def test_dynamic_client_discovers_everything(k8s: client.ApiClient) -> None:
    dyn = dynamic.DynamicClient(k8s)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced and deployments.name == "deployments"
    hpa = dyn.resources.get(api_version="autoscaling/v2", kind="HorizontalPodAutoscaler")
    assert "hpa" in hpa.short_names
    events = dyn.resources.get(api_version="v1", kind="Event")
    assert events.name == "events"
    scale = dyn.resources.get(api_version="apps/v1", kind="Deployment").subresources["scale"]
    assert scale.kind == "Scale"


def test_custom_resource_definition_round_trip(k8s: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(k8s)
    ext.create_custom_resource_definition({
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                 "names": {"plural": "servicemonitors", "singular": "servicemonitor", "kind": "ServiceMonitor",
                           "listKind": "ServiceMonitorList", "shortNames": ["smon"]},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}]},
    })  # fmt: skip
    crd = wait_for(
        lambda: next((c for c in (ext.read_custom_resource_definition("servicemonitors.monitoring.coreos.com").status.conditions or [])
                      if c.type == "Established" and c.status == "True"), None),
        message="CRD Established",
    )  # fmt: skip
    assert crd
    custom = client.CustomObjectsApi(k8s)
    body = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "web"}, "spec": {"endpoints": [{"port": "http"}]}}  # fmt: skip
    custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", "default", "servicemonitors", body)
    got = custom.get_namespaced_custom_object(
        "monitoring.coreos.com", "v1", "default", "servicemonitors", "web"
    )
    assert got["spec"] == {"endpoints": [{"port": "http"}]} and got["metadata"]["generation"] == 1
    dyn = dynamic.DynamicClient(k8s)
    assert (
        dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="ServiceMonitor").name
        == "servicemonitors"
    )
    ext.delete_custom_resource_definition("servicemonitors.monitoring.coreos.com")
    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object(
            "monitoring.coreos.com", "v1", "default", "servicemonitors", "web"
        )
    assert err.value.status == 404


async def test_kubernetes_asyncio_crud_and_watch(emulator: KubeEmulator) -> None:
    from kubernetes_asyncio import client as aclient
    from kubernetes_asyncio import config as aconfig
    from kubernetes_asyncio import watch as awatch

    api_client = await aconfig.new_client_from_config(emulator.kubeconfig)
    async with api_client:
        v1 = aclient.CoreV1Api(api_client)
        rv = (await v1.list_namespaced_config_map("default")).metadata.resource_version
        await v1.create_namespaced_config_map("default", _cm("async1", a="1"))
        assert (await v1.read_namespaced_config_map("async1", "default")).data == {"a": "1"}
        await v1.delete_namespaced_config_map("async1", "default")
        seen = []
        async with awatch.Watch().stream(v1.list_namespaced_config_map, "default", resource_version=rv,
                                          timeout_seconds=1) as stream:  # fmt: skip
            async for event in stream:
                seen.append((event["type"], event["object"].metadata.name))
        assert seen == [("ADDED", "async1"), ("DELETED", "async1")]


def test_tls_with_bearer_token(tmp_path: Any) -> None:
    from kubernetes import config

    with KubeEmulator(workdir=tmp_path, tls=True, kubelet=False) as emu:
        assert emu.url.startswith("https://")
        api = config.new_client_from_config(emu.kubeconfig)
        assert client.CoreV1Api(api).read_namespace("default").metadata.name == "default"
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{emu.url}/api/v1/namespaces")  # untrusted certificate
        import ssl

        ctx = ssl.create_default_context(cafile=emu.ca_file)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{emu.url}/api/v1/namespaces", context=ctx)
        assert err.value.code == 401


def test_metrics_count_requests(emulator: KubeEmulator, k8s: client.ApiClient) -> None:
    v1 = client.CoreV1Api(k8s)
    for _ in range(3):
        v1.list_namespaced_config_map("default")
    assert RequestCounter.scrape(emulator.url).total("LIST", "configmaps", 200) == 3
    text = urllib.request.urlopen(f"{emulator.url}/metrics").read().decode()
    assert (
        'apiserver_request_total{verb="LIST",group="",resource="configmaps",subresource="",code="200"} 3'
        in text
    )
    assert "kube_pod_status_phase" in text and "kube_deployment_spec_replicas" in text
