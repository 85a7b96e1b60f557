"""The real-Airflow harness works: migrated DB, DAGs folder, dag.test() with XCom."""

from __future__ import annotations

from typing import Any


def test_dag_test_runs_a_dag_from_the_dags_folder(airflow_db: str) -> None:
    from tests.dags.smoke_dag import smoke

    run: Any = smoke.test()
    assert run.state == "success"
    consume = next(ti for ti in run.get_task_instances() if ti.task_id == "consume")
    assert consume.state == "success"
