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
# Three xdist workers on two cores: most unit tests wait on (scaled) timers, the Airflow end-to-end
# files start first, one per worker, whole files per worker (tests/conftest.py orders them).
exec python -m pytest -n "${PYTEST_WORKERS:-3}" --dist loadfile --no-loadscope-reorder "$@"
