"""AirflowStandalone.wait reports a scheduler or dag-processor that exited while ``airflow
standalone`` kept serving (seen: the scheduler died on a StaleDataError and a test waited 300 s
for runs nobody would start). Real processes stand in for standalone's tree here: a parent with
two children whose command lines read ``airflow scheduler`` and ``airflow dag-processor``."""

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
    children = [subprocess.Popen([*sleep, "airflow", name]) for name in ("scheduler", "dag-processor")]
    time.sleep(120)  # never reaps: an exited child stays a zombie, as under standalone
    """
)


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[AirflowStandalone]:
    af = AirflowStandalone(tmp_path, tmp_path)
    af.proc = subprocess.Popen([sys.executable, "-c", TREE], start_new_session=True)
    try:
        tree = psutil.Process(af.proc.pid)
        wait_for(lambda: len(tree.children()) == 2, timeout=30, interval=0.05, message="the stand-in tree")
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


def test_components_never_seen_alive_are_not_reported(standalone: AirflowStandalone) -> None:
    for child in psutil.Process(standalone.proc.pid).children():  # type: ignore[union-attr]
        child.kill()
    # e.g. a wait before standalone started them: nothing to report, the wait just waits
    with pytest.raises(TimeoutError):
        standalone.wait(lambda: None, 3, "nothing")
