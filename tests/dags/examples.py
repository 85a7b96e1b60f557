"""The repository's example DAGs (``dags/``), compiled under this file so ``dag.test()`` finds
them in the tests' DAG folder. Each keeps its own ``__doc__`` and module globals."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import DAG

EXAMPLES = Path(__file__).resolve().parents[2] / "dags"
DAGS: dict[str, DAG] = {}

for _path in sorted(EXAMPLES.glob("*.py")):
    _namespace: dict[str, object] = {"__name__": f"examples_{_path.stem}", "__file__": __file__}
    exec(compile(_path.read_text(), __file__, "exec"), _namespace)
    for _value in _namespace.values():
        if isinstance(_value, DAG):
            DAGS[_value.dag_id] = _value
