"""The end-to-end harness lives in the package (``make demo`` uses it too); re-exported here."""

from airflow_k8s_workflows.testing.standalone import AirflowStandalone, free_port

__all__ = ["AirflowStandalone", "free_port"]
