"""What a DAG file costs to parse: ours (five main operators) vs the official KubernetesJobOperator.

    .venv/bin/python benchmarks/import_cost.py [--runs 5]

Every process that parses a DAG file (dag-processor, worker, triggerer for watchers) pays for
what the file imports. Each DAG file below is imported in a fresh interpreter on top of a bare
``import airflow.sdk`` (which every DAG parse pays anyway); reported: the wall time of
importing the DAG file and the growth of the peak RSS, median of ``--runs``, with bytecode
compiled beforehand as an installed package has it. Goal for ours: under 100 ms and 15 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

OURS = """
import pendulum
from airflow.sdk import DAG
from airflow_k8s_workflows.operators.job import RunJobOperator
from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator
from airflow_k8s_workflows.operators.deployment import DeployOperator
from airflow_k8s_workflows.operators.scale import ScaleOperator
from airflow_k8s_workflows.operators.health import ClusterHealthOperator

with DAG("ours", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    health = ClusterHealthOperator(task_id="health")
    apply = ApplyManifestsOperator(task_id="apply", manifests="k8s/app.yaml")
    job = RunJobOperator(task_id="job", image="python:3.12", cmds=["python", "-c", "print(1)"])
    deploy = DeployOperator(task_id="deploy", deployment="web", image="nginx:1.27")
    scale = ScaleOperator(task_id="scale", name="web", replicas=3)
    health >> apply >> job >> deploy >> scale
"""

OFFICIAL = """
import pendulum
from airflow.sdk import DAG
from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator

with DAG("official", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    KubernetesJobOperator(task_id="job", image="python:3.12", cmds=["python", "-c", "print(1)"])
"""

EMPTY = """
import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("empty", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    EmptyOperator(task_id="nothing")
"""

PROBE = """
import json, resource, runpy, sys, time
import airflow.sdk
peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
runpy.run_path(sys.argv[1])
wall = time.perf_counter() - t0
peak1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"ms": wall * 1000, "rss_mib": (peak1 - peak0) / 1024}))
"""


def measure(dag_file: Path, runs: int, pycache: Path) -> tuple[float, float]:
    # bytecode as an installed package has it: written by a first (discarded) run into a private
    # cache, also when the environment says PYTHONDONTWRITEBYTECODE (a source tree would
    # otherwise be compiled on every import, and site-packages would not)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    samples = []
    for _ in range(runs + 1):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, str(dag_file)], capture_output=True, text=True, check=True, env=env
        )
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    samples = samples[1:]
    return statistics.median(s["ms"] for s in samples), statistics.median(s["rss_mib"] for s in samples)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="import-cost-") as tmp:
        for label, source in (
            ("ours: 5 operators", OURS),
            ("official: KubernetesJobOperator", OFFICIAL),
            ("baseline: EmptyOperator", EMPTY),
        ):
            path = Path(tmp) / f"{label.split(':')[0]}_dag.py"
            path.write_text(source)
            rows.append((label, *measure(path, args.runs, Path(tmp) / "pycache")))
    print(f"DAG file import over `import airflow.sdk`, median of {args.runs} fresh interpreters")
    print(f"{'DAG file':<34}{'wall ms':>10}{'peak RSS +MiB':>16}")
    for label, ms, mib in rows:
        print(f"{label:<34}{ms:>10.0f}{mib:>16.1f}")
    ours, official = rows[0], rows[1]
    print(f"\nours: {ours[1]:.0f} ms / {ours[2]:.1f} MiB (goal < 100 ms / < 15 MiB); "
          f"official: {official[1]:.0f} ms / {official[2]:.1f} MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
