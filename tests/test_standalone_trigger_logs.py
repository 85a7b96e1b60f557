"""AirflowStandalone.trigger_logs reads Airflow 3.3's trigger log layout once for every user
(the reliability rig, its tests, the triggerer benchmark): mapped and unmapped task instances,
several tries and triggerers, other log files left out. The reliability tests read the files
real Airflow writes; this pins the layout's corners."""

from __future__ import annotations

from pathlib import Path

from airflow_k8s_workflows.testing.standalone import AirflowStandalone, TriggerLog


def test_trigger_logs_of_mapped_and_unmapped_task_instances(tmp_path: Path) -> None:
    af = AirflowStandalone(tmp_path, tmp_path)
    try:
        assert af.trigger_logs("d", "never-ran") == []
        run_id = "manual__2026-01-01T00:00:00+00:00"
        run = tmp_path / "logs" / "dag_id=d" / f"run_id={run_id}"
        files = [
            "task_id=wait/map_index=12/attempt=2.log.trigger.7.log",
            "task_id=wait/map_index=12/attempt=2.log.trigger.9.log",  # a second triggerer ran it
            "task_id=wait/map_index=12/attempt=2.log",  # the task's own log
            "task_id=deploy/attempt=1.log.trigger.7.log",
            "task_id=deploy/attempt=1.log",
        ]
        for name in files:
            (run / name).parent.mkdir(parents=True, exist_ok=True)
            (run / name).write_text("")
        found = [
            (t.task_id, t.map_index, t.try_number, t.triggerer_job) for t in af.trigger_logs("d", run_id)
        ]
        assert found == [("deploy", -1, 1, "7"), ("wait", 12, 2, "7"), ("wait", 12, 2, "9")]
        assert TriggerLog.parse(run / files[2]) is None
    finally:
        af.stop()
