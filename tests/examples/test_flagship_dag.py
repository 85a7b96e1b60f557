"""The flagship DAG ``dags/deploy_scale_monitor.py`` in real Airflow (``dag.test()``: deferrable
waits run inline) against the emulator: the happy path, and a failing health check that still
scales back (teardown), fails the run and records a Warning Event on the Deployment."""

from __future__ import annotations

from typing import Any

import structlog

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from tests.dags.examples import DAGS
from tests.helpers import wait_for
from tests.operators.workload_support import xcom_result

DEMO_TOKEN = "s3cr3t-demo-token"


def run(namespace: str) -> tuple[Any, list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as entries:
        dag_run = DAGS["deploy_scale_monitor"].test(run_conf={"namespace": namespace})
    return dag_run, entries


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def test_deploys_smoke_tests_scales_up_and_back(
    emulator: KubeEmulator, airflow_conn: str, airflow_db: str
) -> None:
    hook = ClusterHook()
    dag_run, entries = run("flagship")
    assert dag_run.state == "success", states(dag_run)
    assert set(states(dag_run).values()) == {"success"}
    assert xcom_result(dag_run, "smoke_test") == {"config": "ok", "http": "skipped", "page_bytes": 27}
    assert xcom_result(dag_run, "scale_up") == {"previous": 2, "current": 4}
    assert xcom_result(dag_run, "scale_back") == {"previous": 4, "current": 2}
    assert xcom_result(dag_run, "deploy")["revision"] == 1
    live = hook.get("apps/v1", "Deployment", "web", "flagship")
    assert live["spec"]["replicas"] == 2 and live["status"]["readyReplicas"] == 2
    assert hook.list("batch/v1", "Job", "flagship") == []  # cleaned up after success
    messages = " ".join(str(e.get("event")) for e in entries)
    assert "successfully rolled out" in messages
    assert DEMO_TOKEN not in messages and DEMO_TOKEN not in repr(entries)

    again, _ = run("flagship")  # re-running changes nothing and succeeds
    assert again.state == "success"
    assert xcom_result(again, "deploy")["revision"] == 1  # nothing new rolled out
    assert len(hook.list("apps/v1", "ReplicaSet", "flagship")) == 1


def test_an_unhealthy_namespace_fails_the_run_but_still_scales_back_and_records_an_event(
    emulator: KubeEmulator, airflow_conn: str, airflow_db: str
) -> None:
    hook = ClusterHook()
    hook.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flagship-sick"}})
    hook.apply({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher", "namespace": "flagship-sick"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]},
    })  # fmt: skip

    def crash_looping() -> bool:
        pod = hook.get("v1", "Pod", "crasher", "flagship-sick")
        waiting = [
            (s.get("state") or {}).get("waiting") or {} for s in pod["status"].get("containerStatuses", [])
        ]
        return any(w.get("reason") == "CrashLoopBackOff" for w in waiting)

    wait_for(crash_looping, timeout=30)
    dag_run, _ = run("flagship-sick")
    assert dag_run.state == "failed"
    got = states(dag_run)
    assert got["health"] == "failed" and got["scale_back"] == "success", got
    assert hook.get("apps/v1", "Deployment", "web", "flagship-sick")["spec"]["replicas"] == 2
    events = [
        e
        for e in hook.list("v1", "Event", "flagship-sick")
        if e["reason"] == "AirflowTaskFailed" and e["involvedObject"]["kind"] == "Deployment"
    ]
    assert len(events) == 1 and "deploy_scale_monitor.health failed" in events[0]["message"]
    assert "crasher" in events[0]["message"] and "CrashLoopBackOff" in events[0]["message"]
