"""A two-task DAG the harness test runs with dag.test()."""

from __future__ import annotations

from airflow.sdk import dag, task


@dag(dag_id="harness_smoke", schedule=None, catchup=False)
def harness_smoke():  # type: ignore[no-untyped-def]
    @task
    def produce() -> int:
        return 41

    @task
    def consume(x: int) -> int:
        return x + 1

    consume(produce())


smoke = harness_smoke()
