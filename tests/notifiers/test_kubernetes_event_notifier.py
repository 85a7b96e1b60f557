"""KubernetesEventNotifier against the emulator: the Event shows in ``kubectl describe``,
repeats aggregate like the real recorder, and failures never escape the callback."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.kube.recorder import event_name, new_event, object_reference, repeat_patch
from airflow_k8s_workflows.notifiers.kubernetes_event import KubernetesEventNotifier
from tests.conftest import Kubectl

SLEEP = {"name": "main", "image": "busybox:1", "command": ["sleep", "3600"]}


def context(exception: BaseException | None = None, **ti: Any) -> dict[str, Any]:
    fields = {
        "dag_id": "etl",
        "task_id": "load",
        "run_id": "manual__1",
        "try_number": 1,
        "map_index": -1,
        **ti,
    }
    return {
        "ti": SimpleNamespace(state="failed", **fields),
        "run_id": fields["run_id"],
        "exception": exception,
    }


def deployment(k8s: client.ApiClient, name: str = "web") -> Any:
    labels = {"app": name}
    return client.AppsV1Api(k8s).create_namespaced_deployment("default", {
        "metadata": {"name": name},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [SLEEP]}}},
    })  # fmt: skip


def events_of(k8s: client.ApiClient, name: str, namespace: str = "default") -> list[Any]:
    items = client.CoreV1Api(k8s).list_namespaced_event(namespace).items
    return [e for e in items if e.involved_object.name == name and e.source.component == "airflow"]


def test_the_event_shows_in_kubectl_describe(
    emulator: KubeEmulator, k8s: client.ApiClient, airflow_conn: str, kubectl: Kubectl
) -> None:
    web = deployment(k8s)
    note = KubernetesEventNotifier(kind="Deployment", name="web", reason="NightlyLoadFailed",
                                   message="{{ ti.dag_id }}.{{ ti.task_id }} failed: {{ exception }}")  # fmt: skip
    note(context(RuntimeError("disk full")))

    [event] = events_of(k8s, "web")
    involved = event.involved_object
    assert (involved.kind, involved.api_version, involved.uid) == ("Deployment", "apps/v1", web.metadata.uid)
    assert involved.resource_version and involved.namespace == "default"
    assert (event.type, event.reason, event.count) == ("Warning", "NightlyLoadFailed", 1)
    assert event.message == "etl.load failed: disk full"
    assert (event.reporting_component, event.reporting_instance) == ("airflow-k8s-workflows", "etl.load")

    described = kubectl("describe", "deployment", "web").stdout
    line = next(ln for ln in described.splitlines() if "NightlyLoadFailed" in ln)
    assert line.split()[0:2] == ["Warning", "NightlyLoadFailed"]
    assert "airflow" in line and line.rstrip().endswith("etl.load failed: disk full")


def test_a_repeat_bumps_the_count_like_the_recorder(
    emulator: KubeEmulator, k8s: client.ApiClient, airflow_conn: str, kubectl: Kubectl
) -> None:
    deployment(k8s)
    note = KubernetesEventNotifier("deploy", "web", "LoadRetried", "load needs a retry", event_type="Normal")
    note(context())
    note(context())
    note(context(task_id="other"))  # another task reporting: its own event

    events = {e.reporting_instance: e for e in events_of(k8s, "web")}
    assert {k: e.count for k, e in events.items()} == {"etl.load": 2, "etl.other": 1}
    assert events["etl.load"].type == "Normal" and events["etl.load"].involved_object.kind == "Deployment"
    assert events["etl.load"].last_timestamp >= events["etl.load"].first_timestamp
    described = kubectl("describe", "deploy", "web").stdout
    assert any("LoadRetried" in ln and "(x2 over" in ln for ln in described.splitlines()), described


def test_concurrent_repeats_lose_no_count(
    emulator: KubeEmulator, k8s: client.ApiClient, airflow_conn: str
) -> None:
    deployment(k8s)
    note = KubernetesEventNotifier("Deployment", "web", "Busy", "many tasks at once")
    threads = [threading.Thread(target=note, args=(context(),)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    [event] = events_of(k8s, "web")
    assert event.count == 6


def test_cluster_scoped_objects_get_their_events_in_default(
    emulator: KubeEmulator, k8s: client.ApiClient, airflow_conn: str
) -> None:
    client.CoreV1Api(k8s).create_namespace({"metadata": {"name": "team-a"}})
    KubernetesEventNotifier("Namespace", "team-a", "QuotaReviewed", "quota ok", "Normal")(context())
    [event] = events_of(k8s, "team-a", namespace="default")
    assert event.involved_object.kind == "Namespace" and not event.involved_object.namespace


def test_a_missing_object_is_logged_not_raised(
    emulator: KubeEmulator, k8s: client.ApiClient, airflow_conn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    KubernetesEventNotifier("Deployment", "ghost", "X", "y")(context())
    out = capsys.readouterr()
    assert "Could not record the Warning event X on Deployment ghost" in out.out + out.err
    assert 'deployments.apps "ghost" not found' in out.out + out.err
    assert events_of(k8s, "ghost") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [(("Deployment", "web", "Bad Reason", "m"), "reason: must be a short UpperCamelCase word"),
     (("Deployment", "", "R", "m"), "name: must be a non-empty string"),
     (("Deployment", "web", "R", "m", "Error"), "event_type: must be Warning or Normal, got 'Error'")],
)  # fmt: skip
def test_arguments_are_checked_at_definition(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KubernetesEventNotifier(*args)


def test_recorder_names_aggregate_and_cut_like_the_api_expects() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n", "uid": "u1",
                                                          "resourceVersion": "7"}}  # fmt: skip
    ref = object_reference(obj)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    kwargs: dict[str, Any] = {"event_type": "Warning", "reason": "R", "component": "airflow",
                              "reporting_controller": "c", "reporting_instance": "d." + "t" * 200, "now": now}  # fmt: skip
    first = new_event(ref, message="m" * 2000, **kwargs)
    again = new_event({**ref, "resourceVersion": "8"}, message="m" * 2000, **kwargs)
    other = new_event(ref, message="other", **kwargs)
    assert first["metadata"]["name"] == again["metadata"]["name"] != other["metadata"]["name"]
    assert first["metadata"]["name"].startswith("p.") and len(first["metadata"]["name"]) == 2 + 16
    assert len(first["message"].encode()) <= 1024 and first["message"].endswith("…")
    assert len(first["reportingInstance"]) == 128
    assert first["firstTimestamp"] == first["lastTimestamp"] == "2026-01-01T00:00:00Z"
    assert len(event_name("x" * 300, "k")) == 253
    bump = repeat_patch({"count": 4, "metadata": {"resourceVersion": "9"}}, now)
    assert bump == {"metadata": {"resourceVersion": "9"}, "count": 5, "lastTimestamp": "2026-01-01T00:00:00Z"}
