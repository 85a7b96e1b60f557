"""A scheduler-side workaround for an Airflow 3.3 race that fails resumed deferred tasks; the
:class:`~airflow_k8s_workflows.testing.standalone.AirflowStandalone` harness installs it in its
scheduler (see ``AirflowStandalone(fix_defer_race=...)``).

The race (apache/airflow#72716, #71580; proposed fixes #72767, #71579, unreleased in 3.3.2):
a task defers, its worker process exits and the executor queues a ``success`` event for that
try. When the trigger fires fast (seconds, as with the emulator) and the machine is busy, the
resumed slice of the *same try* is already ``queued`` or ``running`` before the scheduler drains
that stale event. ``_process_executor_events`` then sees "executor says finished, TI says
queued/running" (3.3.2 spares only ``scheduled``), finds no ``executor.has_task(ti)`` (the stale
event just removed the shared key from the executor's books) and fails the task as *killed
externally* ("finished with state success, but the task instance's state attribute is running",
or "... is queued"). Measured here: the flagship DAG's ``smoke_test`` lost both of its tries that
way under load (running); a ``batch_jobs`` backfill lost first tries the same way (queued).

The fix mirrors the upstream proposal: a ``queued`` or ``running`` TI that still has
``next_method`` set is a resumed deferral, so a same-try executor event for it is the stale one
from the defer exit and the TI counts as "requeued" (left alone). ``has_task`` is only consulted
at that spot of the scheduler, so it is the narrowest place to say so. A resumed slice that
really dies without reporting is still caught by the scheduler: by the heartbeat timeout when it
was running, by ``[scheduler] task_queued_timeout`` when it never started.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["SITECUSTOMIZE", "install", "patch_executor"]

TARGET = "airflow.executors.base_executor"
RESUMED_STATES = ("queued", "running")
"""States of a resumed deferral the stale event can meet: Airflow 3.3.2 already spares
``scheduled``; ``queued`` (the scheduler re-queued it, the executor has not started it) and
``running`` are ours to spare."""

SITECUSTOMIZE = """\
# written by airflow_k8s_workflows.testing.standalone: only the scheduler gets the workaround
import sys

if sys.argv[1:2] == ["scheduler"]:
    from airflow_k8s_workflows.testing.defer_race import install

    install()
"""
"""Content of the ``sitecustomize.py`` the harness puts on its components' ``PYTHONPATH``."""


def patch_executor(executor_cls: Any) -> None:
    """Make ``executor_cls.has_task`` also claim resumed deferred task instances (idempotent)."""
    original = executor_cls.has_task
    if getattr(original, "_defer_race_fix", False):
        return

    def has_task(self: Any, task_instance: Any) -> bool:
        if original(self, task_instance):
            return True
        return task_instance.state in RESUMED_STATES and task_instance.next_method is not None

    has_task._defer_race_fix = True  # type: ignore[attr-defined]
    has_task.__doc__ = original.__doc__
    executor_cls.has_task = has_task


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches ``BaseExecutor`` right after ``airflow.executors.base_executor`` is executed, so
    the scheduler's own import order is untouched."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            patch_executor(module.BaseExecutor)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Patch now if the executor module is loaded, else as soon as it is imported."""
    loaded = sys.modules.get(TARGET)
    if loaded is not None:
        patch_executor(loaded.BaseExecutor)
    elif not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
