"""``python tests/e2e/locked_backfill.py backfill create ...``: the ``airflow`` CLI with the
second date of a backfill failing the way SQLite fails under load ("database is locked", with
the first date already committed: airflow-notes §15), so the e2e test meets that failure on
every run instead of once in a while."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

import airflow.models.backfill as backfill_module
from sqlalchemy.exc import OperationalError

_make_run = backfill_module._create_backfill_dag_run_non_partitioned
_calls = 0


def _second_date_locked(**kwargs: Any) -> Any:
    global _calls
    _calls += 1
    if _calls == 2:
        raise OperationalError("INSERT INTO dag_run ...", {}, sqlite3.OperationalError("database is locked"))
    return _make_run(**kwargs)


backfill_module._create_backfill_dag_run_non_partitioned = _second_date_locked

if __name__ == "__main__":
    from airflow.__main__ import main

    sys.argv = ["airflow", *sys.argv[1:]]
    sys.exit(main())
