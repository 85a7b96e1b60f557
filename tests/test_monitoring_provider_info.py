"""Our ``prometheus`` and ``alertmanager`` connection types, as Airflow's own CLI sees them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema

from airflow_k8s_workflows.get_provider_info import get_provider_info

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def test_connection_types_pass_the_strict_provider_schema() -> None:
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider.yaml.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info["connection-types"], schema["properties"]["connection-types"])
    types = {t["connection-type"]: t["hook-class-name"] for t in info["connection-types"]}
    assert types == {
        "prometheus": "airflow_k8s_workflows.hooks.prometheus.PrometheusHook",
        "alertmanager": "airflow_k8s_workflows.hooks.alertmanager.AlertmanagerHook",
    }, "never 'kubernetes': that type belongs to the cncf provider"


def _json_after_logs(text: str) -> Any:
    """The JSON document the CLI prints after any log lines."""
    return json.loads(text[text.index("\n[{") + 1 if not text.startswith("[{") else 0 :])


def test_airflow_cli_lists_the_provider_and_our_hooks(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    commands = {
        "get": [AIRFLOW, "providers", "get", "airflow-k8s-workflows", "--full", "-o", "json"],
        "hooks": [AIRFLOW, "providers", "hooks", "-o", "json"],
    }
    procs = {k: subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k, c in commands.items()}  # fmt: skip
    out = {k: p.communicate(timeout=120) for k, p in procs.items()}
    for name, proc in procs.items():
        assert proc.returncode == 0, f"airflow providers {name}: {out[name][1]}"
        assert "airflow_k8s_workflows" not in out[name][1], f"warnings about us: {out[name][1]}"

    [provider] = _json_after_logs(out["get"][0])
    assert provider["package-name"] == "airflow-k8s-workflows"
    assert [t["connection-type"] for t in provider["connection-types"]] == ["prometheus", "alertmanager"]
    hooks = {row["connection_type"]: row for row in _json_after_logs(out["hooks"][0])}
    assert hooks["prometheus"]["class"] == "airflow_k8s_workflows.hooks.prometheus.PrometheusHook"
    assert hooks["prometheus"]["conn_id_attribute_name"] == "prometheus_conn_id"
    assert hooks["alertmanager"]["class"] == "airflow_k8s_workflows.hooks.alertmanager.AlertmanagerHook"
    assert hooks["kubernetes"]["package_name"] == "apache-airflow-providers-cncf-kubernetes"
