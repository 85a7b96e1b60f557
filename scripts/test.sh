#!/usr/bin/env bash
# The whole test suite: lint, format, types, then every test (unit, conformance through real
# clients and kubectl, real Airflow end to end, real Prometheus/Alertmanager, the browser).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .
mypy airflow_k8s_workflows
# pytest exits 5 when it collected no test: that is a failure here, never a pass.
exec python -m pytest "$@"
