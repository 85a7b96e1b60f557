"""Every example DAG in ``dags/`` parses the way the dag-processor parses it: no import error,
and documented with ``doc_md``; each file also parses alone in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"deploy_scale_monitor", "batch_jobs", "canary_release", "event_remediation", "cluster_health"}


@pytest.fixture(scope="module")
def bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=DAGS, safe_mode=False)


def test_no_import_errors_and_every_example_is_there(bag: Any) -> None:
    assert bag.import_errors == {}
    assert set(bag.dags) == EXPECTED
    assert {Path(d.fileloc).stem for d in bag.dags.values()} == {p.stem for p in DAGS.glob("*.py")}


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_documented_and_tagged(bag: Any, dag_id: str) -> None:
    dag = bag.dags[dag_id]
    assert dag.doc_md and dag.doc_md.lstrip().startswith("###"), dag_id
    assert "kubernetes" in dag.tags
    for task in dag.tasks:  # every task can be serialized for the scheduler
        assert task.task_id


def test_each_file_parses_alone_in_a_fresh_interpreter() -> None:
    for path in sorted(DAGS.glob("*.py")):
        done = subprocess.run([sys.executable, "-c", f"import runpy; runpy.run_path({str(path)!r})"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, (path.name, done.stderr[-2000:])
