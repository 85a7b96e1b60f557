"""The example DAGs ``dags/event_remediation.py`` and ``dags/cluster_health.py`` parse the way
the dag-processor parses them: no import error, documented, scheduled as advertised."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bags = [
        DagBag(dag_folder=DAGS / f, safe_mode=False) for f in ("event_remediation.py", "cluster_health.py")
    ]
    for one in bags[1:]:
        bags[0].dags.update(one.dags)
        bags[0].import_errors.update(one.import_errors)
    return bags[0]


def test_parses_without_import_errors(bag: Any) -> None:
    assert bag.import_errors == {}
    assert {"event_remediation", "cluster_health"} <= set(bag.dags)


def test_event_remediation_is_scheduled_on_a_watched_asset(bag: Any) -> None:
    from airflow.sdk import Asset

    from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger

    dag = bag.dags.get("event_remediation")
    assert dag is not None and dag.doc_md and "triggering_asset_events" in dag.doc_md
    assets = list(dag.timetable.asset_condition.objects)
    assert [a.name for a in assets] == ["k8s-pod-backoff"]
    asset: Asset = assets[0]
    trigger = asset.watchers[0].trigger
    assert isinstance(trigger, KubernetesEventTrigger)
    assert trigger.serialize()[1] == {
        "event_type": "Warning",
        "involved_kind": "Pod",
        "kubernetes_conn_id": "kubernetes_default",
        "min_count": 3,
        "namespace": "default",
        "reasons": ["BackOff"],
    }
    assert set(dag.task_dict) == {"diagnose", "roll_back"}


def test_cluster_health_runs_every_five_minutes_and_alerts(bag: Any) -> None:
    from airflow_k8s_workflows.notifiers.alertmanager import AlertmanagerNotifier

    dag = bag.dags.get("cluster_health")
    assert dag is not None and dag.doc_md
    assert dag.timetable.delta == timedelta(minutes=5)
    check = dag.task_dict["check_cluster"]
    callbacks = (
        check.on_failure_callback
        if isinstance(check.on_failure_callback, list)
        else [check.on_failure_callback]
    )
    assert any(isinstance(c, AlertmanagerNotifier) for c in callbacks)


def test_event_remediation_diagnoses_and_rolls_back_a_crash_looping_deployment(
    bag: Any, airflow_conn: str, emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The DAG's own tasks against the emulator: a good revision, then one that crashes."""
    from types import SimpleNamespace

    from kubernetes import client, config

    from airflow_k8s_workflows.kube.rollout import deployment_revision
    from airflow_k8s_workflows.operators.deployment import RollbackDeploymentOperator
    from tests.helpers import wait_for

    api = config.new_client_from_config(emulator.kubeconfig)
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    labels = {"app": "web"}
    container = {"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"]}
    body = {"metadata": {"name": "web", "labels": labels}, "spec": {"replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}}  # fmt: skip
    apps.create_namespaced_deployment("default", body)
    wait_for(lambda: (apps.read_namespaced_deployment("web", "default").status.available_replicas or 0) == 1)
    crashing = {**container, "command": ["sh", "-c", "echo cannot connect to db >&2; exit 1"]}
    apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [crashing]}}}}
    )

    def backoff() -> Any:
        found = core.list_namespaced_event(
            "default", field_selector="reason=BackOff,involvedObject.kind=Pod"
        ).items
        return found[0] if found else None

    event = wait_for(backoff, timeout=30, message="a BackOff event")
    payload = {"involvedObject": {"kind": "Pod", "name": event.involved_object.name, "namespace": "default"},
               "namespace": "default", "reason": "BackOff"}  # fmt: skip

    class Events:
        def __getitem__(self, asset: Any) -> list[Any]:
            return [SimpleNamespace(extra={"from_trigger": True, "payload": payload})]

    dag = bag.dags["event_remediation"]
    targets = dag.task_dict["diagnose"].python_callable(triggering_asset_events=Events())
    assert targets == [{"deployment": "web", "namespace": "default"}]
    printed = capsys.readouterr().out
    assert "CrashLoopBackOff" in printed or "BackOff" in printed
    assert "cannot connect to db" in printed  # the crashing container's last log lines

    result = RollbackDeploymentOperator(
        task_id="roll_back", deferrable=False, timeout=60, **targets[0]
    ).execute({})
    assert result["rolled_back_to"] == 1
    deployment = apps.read_namespaced_deployment("web", "default")
    assert deployment.spec.template.spec.containers[0].command == ["sleep", "3600"]
    assert deployment_revision(api.sanitize_for_serialization(deployment)) == 3
    api.close()
