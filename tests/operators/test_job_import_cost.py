"""Parsing a DAG file that uses the Job operator, sensor and trigger must not pay for the
Kubernetes client libraries or the cncf provider (about 0.75 s and 80 MiB per process)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("kubernetes", "kubernetes_asyncio", "airflow.providers.cncf", "kubernetes_validate", "aiohttp")

PROBE = f"""
import json, sys
import airflow.sdk, airflow.triggers.base  # what every DAG parse already pays (it pulls a few cncf modules)
before = set(sys.modules)
import airflow_k8s_workflows.operators.job, airflow_k8s_workflows.sensors.job, airflow_k8s_workflows.triggers.job
added = sorted(set(sys.modules) - before)
print(json.dumps([m for m in added if any(m == h or m.startswith(h + ".") for h in {HEAVY!r})]))
"""


def test_job_modules_import_no_kubernetes_client_and_no_cncf_provider() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
