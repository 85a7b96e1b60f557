"""
### Daily batch on Kubernetes Jobs, safe to backfill and re-run

Each daily run processes its **data interval** (`data_interval_start` → `data_interval_end`):

1. **extract** — one Job per logical date, named `batch-extract-YYYYMMDD`. The interval reaches
   the container as `INTERVAL_START` / `INTERVAL_END`; the Job splits it into shards and writes
   them as JSON to its termination log, which becomes the task's XCom.
2. **shards** — turns that list into one Job description per shard.
3. **process** — dynamic task mapping: one Job per shard (`batch-process-YYYYMMDD-N`), run side
   by side, each waiting in the triggerer (deferrable). Logs stream into each mapped task's log.
4. **report** — sums what the shards returned.

**Backfills and re-runs.** Job names come from the logical date, so a run never starts a twin:
a retry adopts the Job its earlier try started while it still runs; re-running a finished date
(`airflow backfill create ... --reprocess-behavior completed`, or *Clear* in the UI) replaces the
finished Job of that date with a fresh one (deleted first, by uid), so there is always exactly one
Job per date and shard. Jobs are kept (`cleanup="never"`) and removed by Kubernetes a week after
they finish (`ttlSecondsAfterFinished`).

Backfill the first three days of January:

    airflow backfill create --dag-id batch_jobs --from-date 2026-01-01 --to-date 2026-01-03

Connection: `kubernetes_default`. Set `NAMESPACE` and the images for your cluster.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_k8s_workflows.operators.job import RunJobOperator

NAMESPACE = "default"
SHARDS = 3
KEEP_SECONDS = 7 * 24 * 3600

EXTRACT = """
import json, os
from datetime import datetime
start = datetime.fromisoformat(os.environ["INTERVAL_START"])
end = datetime.fromisoformat(os.environ["INTERVAL_END"])
n = int(os.environ["SHARDS"])
step = (end - start) / n
shards = [{"index": i, "start": (start + i * step).isoformat(), "end": (start + (i + 1) * step).isoformat()}
          for i in range(n)]
print(f"extract {start} .. {end}: {n} shards")
with open("/dev/termination-log", "w") as f:
    json.dump({"date": os.environ["DATE"], "shards": shards}, f)
"""

PROCESS = """
import json, os
start, end, index = os.environ["SHARD_START"], os.environ["SHARD_END"], int(os.environ["SHARD"])
rows = 1000 + 7 * index
print(f"shard {index}: {start} .. {end}: {rows} rows")
with open("/dev/termination-log", "w") as f:
    json.dump({"shard": index, "rows": rows, "start": start, "end": end}, f)
"""

with DAG(
    dag_id="batch_jobs",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=3,
    doc_md=__doc__,
    tags=["kubernetes", "jobs", "batch", "backfill"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=10)},
) as dag:
    extract = RunJobOperator(
        task_id="extract",
        name="batch-extract-{{ ds_nodash }}",
        namespace=NAMESPACE,
        image="python:3.12-alpine",
        cmds=["python3", "-c", EXTRACT],
        env_vars={
            "INTERVAL_START": "{{ data_interval_start.isoformat() }}",
            "INTERVAL_END": "{{ data_interval_end.isoformat() }}",
            "SHARDS": str(SHARDS),
            "DATE": "{{ ds_nodash }}",
        },
        backoff_limit=1,
        cleanup="never",
        ttl_seconds_after_finished=KEEP_SECONDS,
        deferrable=True,
        timeout=600,
    )

    @task
    def shards(extracted: dict[str, Any]) -> list[dict[str, Any]]:
        """One Job description per shard, named after the date and the shard."""
        return [
            {
                "name": f"batch-process-{extracted['date']}-{shard['index']}",
                "env_vars": {
                    "SHARD": str(shard["index"]),
                    "SHARD_START": shard["start"],
                    "SHARD_END": shard["end"],
                },
            }
            for shard in extracted["shards"]
        ]

    process = RunJobOperator.partial(
        task_id="process",
        namespace=NAMESPACE,
        image="python:3.12-alpine",
        cmds=["python3", "-c", PROCESS],
        backoff_limit=2,
        cleanup="never",
        ttl_seconds_after_finished=KEEP_SECONDS,
        deferrable=True,
        timeout=600,
    ).expand_kwargs(shards(extract.output))

    @task
    def report(results: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
        """Total rows of the day."""
        total = sum(r["rows"] for r in results)
        print(f"{context['ds']}: {len(results)} shards, {total} rows")
        return {"date": context["ds"], "shards": len(results), "rows": total}

    report(process.output)
