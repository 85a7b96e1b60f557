"""AlertmanagerNotifier: what it decides from a callback context, and the alerts a real
Alertmanager holds and notifies (fired, then resolved by the success callback)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_k8s_workflows.emulator.core import free_port
from airflow_k8s_workflows.notifiers.alertmanager import AlertmanagerNotifier
from tests.helpers import wait_for

if TYPE_CHECKING:
    from tests.monitoring_servers import Alertmanager

pytest_plugins = ["tests.monitoring_servers"]

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def task_context(state: str, exception: BaseException | None = None, **ti: Any) -> dict[str, Any]:
    fields = {"dag_id": "etl", "task_id": "load", "run_id": "manual__1", "try_number": 1, "map_index": -1,
              "log_url": "http://airflow/dags/etl/runs/manual__1/tasks/load?try_number=1", **ti}  # fmt: skip
    return {"ti": SimpleNamespace(state=state, **fields), "run_id": fields["run_id"], "exception": exception}


def test_a_failure_fires_with_the_task_labels_and_the_error() -> None:
    notifier = AlertmanagerNotifier(labels={"team": "data"}, cluster_object="deploy/web")
    built = notifier.build_alert(task_context("failed", RuntimeError("disk full")), now=NOW)
    assert built is not None
    action, alert = built
    assert action == "fire"
    assert alert["labels"] == {"alertname": "AirflowTaskFailed", "severity": "critical", "dag_id": "etl",
                               "task_id": "load", "run_id": "manual__1", "kind": "Deployment",
                               "deployment": "web", "team": "data"}  # fmt: skip
    assert alert["annotations"] == {
        "summary": "Airflow task etl.load (run manual__1, try 1) failed",
        "description": "RuntimeError: disk full",
        "log_url": "http://airflow/dags/etl/runs/manual__1/tasks/load?try_number=1",
    }
    assert alert["startsAt"] == "2026-01-02T03:04:05.000Z"
    assert alert["endsAt"] == "2026-01-03T03:04:05.000Z"
    assert alert["generatorURL"] == alert["annotations"]["log_url"]


def test_success_resolves_the_same_labels_skip_does_nothing() -> None:
    notifier = AlertmanagerNotifier(cluster_object={"kind": "Job", "name": "nightly", "namespace": "batch"})
    fired = notifier.build_alert(task_context("failed", ValueError("x")), now=NOW)
    resolved = notifier.build_alert(task_context("success", try_number=2), now=NOW)
    assert fired is not None and resolved is not None
    assert resolved[0] == "resolve"
    assert resolved[1]["labels"] == fired[1]["labels"]
    assert resolved[1]["labels"]["job_name"] == "nightly" and resolved[1]["labels"]["namespace"] == "batch"
    assert resolved[1]["endsAt"] == "2026-01-02T03:04:05.000Z" and "startsAt" not in resolved[1]
    assert resolved[1]["annotations"]["summary"] == "Airflow task etl.load (run manual__1, try 2) succeeded"
    assert notifier.build_alert(task_context("skipped")) is None
    assert AlertmanagerNotifier(resolve_on_success=False).build_alert(task_context("success")) is None


def test_retry_mapped_task_and_dag_processor_contexts() -> None:
    notifier = AlertmanagerNotifier()
    retry = notifier.build_alert(task_context("up_for_retry", RuntimeError("flaky"), map_index=3))
    assert retry is not None and retry[1]["labels"]["map_index"] == "3"
    assert retry[1]["annotations"]["summary"].endswith("failed and will be retried")
    # the dag-processor runs failure callbacks (heartbeat timeouts) without an exception key
    context = task_context("running")
    del context["exception"]
    assert notifier.action(context) == "fire"


def test_dag_run_callbacks_alert_per_run() -> None:
    notifier = AlertmanagerNotifier()
    failed = {"dag": SimpleNamespace(dag_id="etl"), "run_id": "scheduled__2", "reason": "task_failure"}
    built = notifier.build_alert(failed)
    assert built is not None
    action, alert = built
    assert action == "fire"
    assert alert["labels"] == {"alertname": "AirflowDagRunFailed", "severity": "critical", "dag_id": "etl",
                               "run_id": "scheduled__2"}  # fmt: skip
    assert alert["annotations"]["description"] == "task_failure"
    assert alert["annotations"]["log_url"].endswith("/dags/etl/runs/scheduled__2")
    assert notifier.action({**failed, "reason": "success"}) == "resolve"


def test_user_labels_override_and_none_removes() -> None:
    notifier = AlertmanagerNotifier(severity="warning", labels={"run_id": None, "alertname": "LoadBroken"})
    built = notifier.build_alert(task_context("failed", RuntimeError("x")))
    assert built is not None
    assert built[1]["labels"] == {"alertname": "LoadBroken", "severity": "warning", "dag_id": "etl",
                                  "task_id": "load"}  # fmt: skip


def test_registered_secrets_never_reach_the_alert() -> None:
    from airflow.sdk.log import mask_secret

    mask_secret("hunter2-very-secret")
    built = AlertmanagerNotifier().build_alert(
        task_context("failed", RuntimeError("login hunter2-very-secret"))
    )
    assert built is not None and built[1]["annotations"]["description"] == "RuntimeError: login ***"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"labels": {"bad-name": "x"}}, "labels: invalid label name 'bad-name'"),
     ({"cluster_object": "web"}, "cluster_object: expected 'Kind/name'"),
     ({"expires_after": -5}, "expires_after: must be a positive duration"),
     ({"severity": ""}, "severity: must be a non-empty string")],
)  # fmt: skip
def test_arguments_are_checked_at_definition(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AlertmanagerNotifier(**kwargs)


def test_fires_then_the_success_callback_resolves(alertmanager: Alertmanager, alertmanager_conn: str) -> None:
    notifier = AlertmanagerNotifier(
        labels={"case": "fire-resolve"}, annotations={"runbook": "rb/{{ ti.task_id }}"}
    )
    notifier(task_context("failed", RuntimeError("disk full")))

    [alert] = alertmanager.alerts(case="fire-resolve")
    assert alert["labels"] == {"alertname": "AirflowTaskFailed", "severity": "critical", "dag_id": "etl",
                               "task_id": "load", "run_id": "manual__1", "case": "fire-resolve"}  # fmt: skip
    assert alert["annotations"]["description"] == "RuntimeError: disk full"
    assert alert["annotations"]["runbook"] == "rb/load"
    assert alert["status"]["state"] == "active"
    starts = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
    ends = datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))
    assert abs(starts - datetime.now(timezone.utc)) < timedelta(seconds=30)
    assert ends - starts == timedelta(days=1)
    firing = wait_for(
        lambda: alertmanager.webhook.alerts(case="fire-resolve"), message="the firing notification"
    )
    assert firing[0]["status"] == "firing"

    notifier(task_context("success", try_number=2))

    assert alertmanager.alerts(case="fire-resolve") == [], "Alertmanager no longer holds it as unresolved"
    resolved = wait_for(
        lambda: [a for a in alertmanager.webhook.alerts(case="fire-resolve") if a["status"] == "resolved"],
        message="the resolved notification",
    )
    ended = datetime.fromisoformat(resolved[0]["endsAt"].replace("Z", "+00:00"))
    assert starts <= ended <= datetime.now(timezone.utc)


def test_one_notifier_renders_each_call_afresh(alertmanager: Alertmanager, alertmanager_conn: str) -> None:
    notifier = AlertmanagerNotifier(labels={"case": "reuse", "run": "{{ run_id }}"})
    notifier(task_context("failed", RuntimeError("a"), run_id="r1"))
    notifier(task_context("failed", RuntimeError("b"), run_id="r2"))
    assert sorted(a["labels"]["run"] for a in alertmanager.alerts(case="reuse")) == ["r1", "r2"]
    assert notifier.labels["run"] == "{{ run_id }}"


def test_an_unreachable_alertmanager_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    conn = {"conn_type": "alertmanager", "host": f"http://127.0.0.1:{port}", "extra": {"max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_AM_DOWN", json.dumps(conn))
    AlertmanagerNotifier(alertmanager_conn_id="am_down")(task_context("failed", RuntimeError("x")))
    out = capsys.readouterr()
    assert (
        f"cannot reach Alertmanager at http://127.0.0.1:{port} (connection 'am_down') (after 2 attempts)"
        in (out.out + out.err)
    )
