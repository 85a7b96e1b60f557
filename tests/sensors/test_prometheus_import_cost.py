"""Parsing a DAG that uses the monitoring classes must not import HTTP or Kubernetes clients."""

from __future__ import annotations

import json
import subprocess
import sys

MODULES = [
    "airflow_k8s_workflows.sensors.prometheus",
    "airflow_k8s_workflows.triggers.prometheus",
    "airflow_k8s_workflows.hooks.prometheus",
    "airflow_k8s_workflows.hooks.alertmanager",
    "airflow_k8s_workflows.notifiers.alertmanager",
    "airflow_k8s_workflows.notifiers.kubernetes_event",
]
HEAVY = ("requests", "aiohttp", "tenacity", "kubernetes", "kubernetes_asyncio", "airflow.providers.cncf")

PROBE = f"""
import json, sys
import airflow.sdk, airflow.triggers.base
before = set(sys.modules)
for name in {MODULES!r}:
    __import__(name)
new = set(sys.modules) - before
print(json.dumps(sorted(m for m in new if m.split(".")[0] in {HEAVY!r} or m.startswith({HEAVY!r}))))
"""


def test_module_imports_stay_cheap() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
