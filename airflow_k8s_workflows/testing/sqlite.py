"""SQLite connect arguments for ``airflow standalone`` under load (see
:class:`~airflow_k8s_workflows.testing.standalone.AirflowStandalone`): Python's sqlite3 waits
5 s for a lock by default, and a busy scheduler on two cores can hold the database longer, which
fails CLI commands such as ``airflow backfill create`` with "database is locked" half-way
(docs/dev/airflow-notes.md §15). Used through ``[database] sql_alchemy_connect_args``."""

from __future__ import annotations

from typing import Any

CONNECT_ARGS: dict[str, Any] = {"timeout": 60}
