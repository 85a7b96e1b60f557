#!/usr/bin/env bash
# The main job: Airflow (standalone, 127.0.0.1:8080) drives a Kubernetes cluster through this
# provider — the local emulator unless KUBECONFIG names a cluster. See scripts/demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"
