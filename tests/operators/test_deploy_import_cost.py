"""Parsing a DAG file that uses the deploy, rollback, scale and autoscale operators, the rollout
sensor or their triggers must not pay for the Kubernetes client libraries, the cncf provider or
our hooks module."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "kubernetes",
    "kubernetes_asyncio",
    "airflow.providers.cncf",
    "kubernetes_validate",
    "aiohttp",
    "airflow_k8s_workflows.hooks.kubernetes",
)

PROBE = f"""
import json, sys
import airflow.sdk, airflow.triggers.base  # what every DAG parse already pays (it pulls a few cncf modules)
before = set(sys.modules)
import airflow_k8s_workflows.operators.deployment, airflow_k8s_workflows.operators.scale
import airflow_k8s_workflows.sensors.rollout, airflow_k8s_workflows.triggers.rollout
import airflow_k8s_workflows.triggers.scale
added = sorted(set(sys.modules) - before)
print(json.dumps([m for m in added if any(m == h or m.startswith(h + ".") for h in {HEAVY!r})]))
"""


def test_deploy_and_scale_modules_import_no_client_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
