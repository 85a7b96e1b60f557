#!/usr/bin/env bash
# The main job. For now: start the local Kubernetes API emulator and print how to use it
# (the Airflow demo replaces this once the end-to-end layer lands).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/airflow-k8s-emulator --port "${EMULATOR_PORT:-0}" --speed "${EMULATOR_SPEED:-5}" \
  --kubeconfig "${KUBECONFIG_OUT:-$PWD/.airflow-demo/kubeconfig}"
