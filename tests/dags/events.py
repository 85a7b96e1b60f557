"""DAGs for the KubernetesEventSensor tests (run with dag.test() against the emulator).

``events_sensor_poke`` and ``events_sensor_deferrable`` wait for a Warning BackOff Event on the
pod named in ``params.pod``; ``echo`` returns what the sensor pushed to XCom.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from airflow_k8s_workflows.sensors.events import KubernetesEventSensor

DAGS: dict[str, DAG] = {}

for mode in ("poke", "deferrable"):
    with DAG(f"events_sensor_{mode}", schedule=None, params={"pod": "web-1"}, catchup=False) as dag:
        DAGS[dag.dag_id] = dag
        wait = KubernetesEventSensor(
            task_id="wait",
            reasons=["BackOff"],
            event_type="Warning",
            involved_kind="Pod",
            involved_name="{{ params.pod }}",
            deferrable=mode == "deferrable",
            poke_interval=0.2,
            timeout=60,
        )

        @task
        def echo(event: dict[str, Any]) -> dict[str, Any]:
            return {"reason": event["reason"], "pod": event["involvedObject"]["name"], "uid": event["uid"]}

        echo(wait.output)
