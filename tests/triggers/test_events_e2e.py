"""End to end with a real ``airflow standalone`` (scheduler, dag-processor, triggerer, API server)
against the emulator: a Kubernetes Event starts exactly one asset-triggered DAG run carrying its
payload; a non-matching Event starts none; after a triggerer restart the watcher resumes from
its saved position and does not fire again for the same Event.

Run with ``pytest -m e2e tests/triggers/test_events_e2e.py`` (about a minute).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.e2e.airflow_standalone import AirflowStandalone

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_k8s_events"
ASSET = "e2e-k8s-backoff"
DAG_FILE = textwrap.dedent(
    f'''
    """Started by Warning BackOff Events of Pods in the emulator."""
    import pendulum
    from airflow.sdk import DAG, Asset, AssetWatcher, task

    from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger

    backoff = Asset("{ASSET}", watchers=[AssetWatcher(
        name="e2e-backoff",
        trigger=KubernetesEventTrigger(namespace="default", reasons=["BackOff"], event_type="Warning",
                                       involved_kind="Pod"),
    )])

    with DAG("{DAG_ID}", schedule=[backoff], start_date=pendulum.datetime(2026, 1, 1), catchup=False):

        @task
        def react(**context):
            payloads = [e.extra["payload"] for e in context["triggering_asset_events"][backoff]]
            assert payloads and all(p["reason"] == "BackOff" for p in payloads), payloads
            return [p["uid"] for p in payloads]

        react()
    '''
)


def event(
    name: str, *, reason: str = "BackOff", event_type: str = "Warning", pod: str = "web-1"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "default"},
        "reason": reason,
        "message": f"{reason} for pod {pod}",
        "type": event_type,
        "count": 1,
    }


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[KubeEmulator]:
    with KubeEmulator(speed=20, controllers=False, kubelet=False, workdir=tmp_path / "emu") as e:
        yield e


def test_events_start_exactly_one_run_each_across_a_triggerer_restart(
    tmp_path: Path, emu: KubeEmulator
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "e2e_events.py").write_text(DAG_FILE)
    api = config.new_client_from_config(emu.kubeconfig)
    core = client.CoreV1Api(api)
    env = {
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": emu.airflow_connection(inline=True),
        # the watcher is registered at the first parse instead of one parse after the unpause
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }
    with AirflowStandalone(tmp_path / "airflow", dags, env=env) as af:
        af.wait_for_dag(DAG_ID)
        af.unpause(DAG_ID)
        asset = af.wait(lambda: af.asset(ASSET), 30, "the asset")
        # the watcher saves its position once it has judged the Events that exist: from then on
        # every new Event is news
        started = af.wait(lambda: af.asset_state(asset["id"]), 60, "the watcher to start")
        assert len(started) == 1 and started[0]["key"].startswith("k8s-events:")

        core.create_namespaced_event("default", event("pulled.1", reason="Pulled", event_type="Normal"))
        first = core.create_namespaced_event("default", event("web-1.backoff"))
        runs = af.wait_for_runs(DAG_ID, 1, timeout=60)
        assert [r["run_type"] for r in runs] == ["asset_triggered"]
        events = af.upstream_asset_events(DAG_ID, runs[0]["dag_run_id"])
        assert len(events) == 1
        payload = events[0]["extra"]["payload"]
        assert events[0]["extra"]["from_trigger"] is True
        assert (payload["uid"], payload["name"], payload["reason"], payload["involvedObject"]["name"]) == (
            first.metadata.uid, "web-1.backoff", "BackOff", "web-1"
        )  # fmt: skip

        saved_at = af.asset_state(asset["id"])[0]["updated_at"]
        af.restart_triggerer()
        af.wait(lambda: af.asset_state(asset["id"])[0]["updated_at"] != saved_at, 60, "the watcher to resume")

        second = core.create_namespaced_event("default", event("web-2.backoff", pod="web-2"))
        runs = af.wait_for_runs(DAG_ID, 2, timeout=60)
        assert len(runs) == 2
        uids = [e["extra"]["payload"]["uid"] for e in af.asset_events(asset["id"])]
        assert sorted(uids) == sorted(
            [first.metadata.uid, second.metadata.uid]
        )  # Pulled and the repeat: none
        later = af.upstream_asset_events(DAG_ID, runs[1]["dag_run_id"])
        assert [e["extra"]["payload"]["uid"] for e in later] == [second.metadata.uid]
    api.close()
