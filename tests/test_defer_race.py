"""The scheduler workaround that AirflowStandalone installs (testing/defer_race.py): a resumed
deferred task instance counts as the executor's own, nothing else does; the sitecustomize only
patches an ``airflow scheduler`` process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_k8s_workflows.testing.defer_race import SITECUSTOMIZE, patch_executor


class FakeExecutor:
    def __init__(self) -> None:
        self.running: set[Any] = set()

    def has_task(self, task_instance: Any) -> bool:
        return task_instance.key in self.running


def ti(state: str, next_method: str | None, key: str = "k") -> SimpleNamespace:
    return SimpleNamespace(key=key, state=state, next_method=next_method)


def test_a_resumed_deferred_task_instance_counts_as_the_executors_own() -> None:
    patch_executor(FakeExecutor)
    patch_executor(FakeExecutor)  # idempotent: wrapped once
    executor = FakeExecutor()
    assert executor.has_task(ti("running", "execute_complete"))
    assert not executor.has_task(ti("running", None))  # a plain running task: a real mismatch
    assert executor.has_task(ti("queued", "execute_complete"))  # re-queued, not started yet
    assert not executor.has_task(ti("scheduled", "execute_complete"))  # Airflow spares it itself
    assert not executor.has_task(ti("queued", None))
    assert not executor.has_task(ti("success", "execute_complete"))
    executor.running.add("k")
    assert executor.has_task(ti("queued", None))  # the original answer still counts


def test_sitecustomize_patches_only_the_scheduler(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            from airflow.executors.local_executor import LocalExecutor
            print(getattr(LocalExecutor.has_task, "_defer_race_fix", False))
            """
        )
    )

    def patched(component: str) -> str:
        result = subprocess.run(
            [sys.executable, str(probe), component],
            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1]

    assert patched("scheduler") == "True"
    assert patched("triggerer") == "False"
