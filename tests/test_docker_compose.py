"""docker-compose.yaml, checked as far as a machine without a Docker engine allows: the Compose
specification's JSON schema, a real Compose implementation parsing it (``docker-compose config``,
Debian's package, no daemon needed), and what the example DAGs need from it."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yaml"
# the Compose specification schema that Debian's docker-compose package ships (installed by scripts/bootstrap.sh)
SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_valid_against_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    assert SCHEMA.exists(), (
        "run scripts/bootstrap.sh (installs Debian's docker-compose, which ships the schema)"
    )
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(jsonschema.Draft201909Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def test_a_compose_implementation_accepts_it() -> None:
    tool = shutil.which("docker-compose")
    assert tool, "run scripts/bootstrap.sh (installs Debian's docker-compose)"
    result = subprocess.run([tool, "-f", str(COMPOSE), "config", "--services"], capture_output=True, text=True,
                            cwd=REPO, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert {"postgres", "k3s", "k3s-kubeconfig", "airflow-init", *AIRFLOW_SERVICES} <= services


def test_airflow_services_have_health_checks_and_start_after_init_and_the_cluster(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        assert "healthcheck" in svc, name
        deps = svc["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["k3s-kubeconfig"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
    assert services["k3s-kubeconfig"]["depends_on"]["k3s"]["condition"] == "service_healthy"
    assert "healthcheck" in services["k3s"] and services["k3s"]["privileged"] is True


def test_the_provider_is_installed_from_this_repository(compose: dict[str, Any]) -> None:
    assert compose["services"]["airflow-apiserver"]["build"] == "."
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3", dockerfile, re.M)
    assert "pip install --no-cache-dir /opt/provider" in dockerfile


def _connection_ids_used_by_dags() -> set[str]:
    """Every ``*_conn_id`` a DAG passes, plus the defaults of the classes it uses."""
    used = set()
    for path in (REPO / "dags").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.keyword)
                and str(node.arg).endswith("conn_id")
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                used.add(node.value.value)
        source = path.read_text()
        if "airflow_k8s_workflows" in source:
            used.add("kubernetes_default")
        if "PrometheusQuerySensor" in source:
            used.add("prometheus_default")
        if "AlertmanagerNotifier" in source:
            used.add("alertmanager_default")
    return used


def test_every_variable_the_dags_read_is_set(compose: dict[str, Any]) -> None:
    env = compose["x-airflow-common"]["environment"]
    read = {m for path in (REPO / "dags").glob("*.py")
            for m in re.findall(r"var\.value\.get\('([a-z0-9_]+)'", path.read_text())}  # fmt: skip
    assert "deploy_scale_monitor_smoke_url" in read
    optional = {"deploy_scale_monitor_api_token"}  # has a default the demo uses
    assert {f"AIRFLOW_VAR_{v.upper()}" for v in read - optional} <= set(env)
    assert env["AIRFLOW_VAR_DEPLOY_SCALE_MONITOR_SMOKE_URL"].startswith("http://web.demo.svc")


def test_every_connection_and_volume_the_dags_need_is_there(compose: dict[str, Any]) -> None:
    env = compose["x-airflow-common"]["environment"]
    defined = {k[len("AIRFLOW_CONN_") :].lower() for k in env if k.startswith("AIRFLOW_CONN_")}
    needed = _connection_ids_used_by_dags()
    assert needed, "the example DAGs use connections"
    assert needed <= defined, f"missing AIRFLOW_CONN_* for {sorted(needed - defined)}"
    kube = json.loads(env["AIRFLOW_CONN_KUBERNETES_DEFAULT"])
    kubeconfig_path = kube["extra"]["kube_config_path"]
    mounts = compose["x-airflow-common"]["volumes"]
    assert any(m.startswith("kube-config:") and kubeconfig_path.startswith(m.split(":")[1]) for m in mounts)
    assert any(m.startswith("./dags:/opt/airflow/dags") for m in mounts)
    writer = compose["services"]["k3s-kubeconfig"]
    assert "https://k3s:6443" in " ".join(writer["command"]), "Airflow reaches k3s by service name"
    for key in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY",
                "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"):  # fmt: skip
        assert key in env, key
    declared = set(compose["volumes"])
    for svc in compose["services"].values():
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, source
