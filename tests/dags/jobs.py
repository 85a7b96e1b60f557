"""DAGs for RunJobOperator tests (run with dag.test() against the emulator).

Each behaviour exists once per mode: ``jobs_<name>_sync`` and ``jobs_<name>_deferred``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_k8s_workflows.operators.job import RunJobOperator

IMAGE = "busybox:1.36"
JSON_RESULT = ["sh", "-c", """echo working; echo '{"rows": 3, "ok": true}' > /dev/termination-log"""]
LAST_LINE = ["sh", "-c", "echo first line; echo 'done {{ params.tag }}'"]
INDEXED = ["sh", "-c", 'echo "{\\"index\\": $JOB_COMPLETION_INDEX}" > /dev/termination-log']
FAILING = ["sh", "-c", "for i in $(seq 1 30); do echo log-$i; done; echo 'fatal: disk full' >&2; exit 3"]

dags: dict[str, DAG] = {}

for mode in ("sync", "deferred"):
    deferrable = mode == "deferred"

    with DAG(f"jobs_success_{mode}", schedule=None, params={"tag": "default"}, catchup=False) as success:
        RunJobOperator(task_id="json_result", image=IMAGE, cmds=JSON_RESULT, deferrable=deferrable)
        RunJobOperator(task_id="last_line", image=IMAGE, cmds=LAST_LINE, deferrable=deferrable)
        RunJobOperator(
            task_id="indexed",
            image=IMAGE,
            cmds=INDEXED,
            completions=3,
            parallelism=3,
            completion_mode="Indexed",
            deferrable=deferrable,
        )
    dags[success.dag_id] = success

    with DAG(f"jobs_failure_{mode}", schedule=None, catchup=False) as failure:
        RunJobOperator(task_id="fails", image=IMAGE, cmds=FAILING, backoff_limit=1, deferrable=deferrable)
    dags[failure.dag_id] = failure

    with DAG(f"jobs_timeout_{mode}", schedule=None, catchup=False) as timeout:
        RunJobOperator(
            task_id="never_ends",
            image=IMAGE,
            cmds=["sleep", "600"],
            execution_timeout=timedelta(seconds=5),
            deferrable=deferrable,
        )
    dags[timeout.dag_id] = timeout

with DAG("jobs_templates", schedule=None, params={"team": "data"}, catchup=False) as templates:
    # a manifest file from the DAG folder, rendered; an argument that merely ends in .yaml stays a value
    RunJobOperator(task_id="from_file", job_manifest="job_manifests/echo.yaml", deferrable=False)
    RunJobOperator(task_id="yaml_argument", image=IMAGE, cmds=["echo"], arguments=["{{ params.team }}.yaml"])
dags[templates.dag_id] = templates

with DAG("jobs_mapped", schedule=None, catchup=False) as mapped:
    RunJobOperator.partial(task_id="shard", image=IMAGE, cmds=["sh", "-c"], deferrable=True).expand(
        arguments=[["echo shard-1"], ["echo shard-2"], ["echo shard-3"]]
    )
dags[mapped.dag_id] = mapped

globals().update({dag_id.replace("-", "_"): dag for dag_id, dag in dags.items()})
