"""AirflowStandalone.wait reports a scheduler or dag-processor that exited while ``airflow
standalone`` kept serving (seen: the scheduler died on a StaleDataError and a test waited 300 s
for runs nobody would start). Real processes stand in for standalone's tree here: a parent with
children whose command lines read ``airflow scheduler``, ``airflow dag-processor`` and ``airflow
triggerer``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from airflow_k8s_workflows.testing.standalone import AirflowStandalone
from tests.helpers import wait_for

TREE = textwrap.dedent(
    """
    import subprocess, sys, time
    sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
    names = ("triggerer", "scheduler", "dag-processor")  # the zombie-to-be comes first
    children = [subprocess.Popen([*sleep, "airflow", name]) for name in names]
    time.sleep(120)  # never reaps: an exited child stays a zombie, as under standalone
    """
)


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[AirflowStandalone]:
    af = AirflowStandalone(tmp_path, tmp_path)
    af.proc = subprocess.Popen([sys.executable, "-c", TREE], start_new_session=True)
    try:
        tree = psutil.Process(af.proc.pid)
        wait_for(lambda: len(tree.children()) == 3, timeout=30, interval=0.05, message="the stand-in tree")
        yield af
    finally:
        os.killpg(af.proc.pid, signal.SIGKILL)
        af.proc.wait()
        af.proc = None
        af.stop()  # closes its HTTP client


def test_a_wait_fails_at_once_when_the_scheduler_exits(standalone: AirflowStandalone) -> None:
    assert standalone.wait(lambda: True, 5, "a first look at the components")
    scheduler = standalone._component("scheduler")
    assert scheduler is not None
    scheduler.kill()
    began = time.monotonic()
    with pytest.raises(RuntimeError, match="the scheduler of airflow standalone exited"):
        standalone.wait(lambda: None, 60, "something the dead scheduler would have done")
    assert time.monotonic() - began < 10  # not the wait's 60 s


def test_another_exited_child_is_no_false_alarm(standalone: AirflowStandalone) -> None:
    # as after restart_triggerer: standalone's own triggerer is left a zombie, whose command
    # line can no longer be read while the scheduler and dag-processor are looked up
    assert standalone.wait(lambda: True, 5, "a first look at the components")
    triggerer = standalone._component("triggerer")
    triggerer.kill()
    wait_for(lambda: triggerer.status() == psutil.STATUS_ZOMBIE, timeout=10)
    # every wait looks at the components before anything else
    assert standalone.wait(lambda: True, 5, "a look with a zombie among the children")


def test_components_never_seen_alive_are_not_reported(standalone: AirflowStandalone) -> None:
    children = psutil.Process(standalone.proc.pid).children()  # type: ignore[union-attr]
    for child in children:
        child.kill()
    # a SIGKILLed child is alive until the kernel has torn it down: on a loaded machine the
    # wait's first look could still see it alive (and the next one then report it dead)
    wait_for(lambda: all(c.status() == psutil.STATUS_ZOMBIE for c in children), timeout=10)
    # e.g. a wait before standalone started them: nothing to report, the wait just waits
    with pytest.raises(TimeoutError):
        standalone.wait(lambda: None, 3, "nothing")
