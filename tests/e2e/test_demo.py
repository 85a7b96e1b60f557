"""README command 1 (``make demo`` → scripts/demo.py) on this machine: emulator + real
``airflow standalone`` + the flagship DAG triggered through the REST API and followed to success;
everything it started is gone afterwards. (``--exit-when-done`` instead of waiting for Ctrl-C.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from airflow_k8s_workflows.testing.standalone import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_the_flagship_to_success_and_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "KUBECONFIG"}
    before = {p.pid for p in psutil.process_iter()}
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--port", str(port), "--exit-when-done",
         "--state-dir", str(tmp_path / "state"), "--speed", "20"],
        env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    assert "starting the local Kubernetes API emulator" in out
    assert "deploy_scale_monitor finished: SUCCESS" in out
    assert "deploy        deferred" in out  # the rollout wait went through the triggerer
    password = (tmp_path / "state" / "admin-password").read_text().strip()
    assert f"Airflow UI: http://127.0.0.1:{port}   login: admin / {password}" in out
    assert "kubectl --kubeconfig" in out and "get deploy,svc,pods,jobs -n demo" in out
    assert not (tmp_path / "state" / "demo.pid").exists()
    leftovers = [
        p.cmdline() for p in psutil.process_iter()
        if p.pid not in before and str(tmp_path) in " ".join(_cmdline_and_env(p))
    ]  # fmt: skip
    assert leftovers == []


def _cmdline_and_env(proc: psutil.Process) -> list[str]:
    try:
        return [*proc.cmdline(), *proc.environ().values()]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []
