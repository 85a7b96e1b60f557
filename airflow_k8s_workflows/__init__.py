"""airflow-k8s-workflows: drive Kubernetes from Apache Airflow 3.

Operators, sensors and triggers for Jobs, deployments, rollouts, scaling and cluster events;
every wait is deferrable and watch-based. Kept import-light: DAG files pay for what this imports.
"""

from __future__ import annotations

__version__ = "0.1.0"
