"""A local Kubernetes API server with controllers and a kubelet: run DAGs and tests with no cluster.

See ``KubeEmulator``; ``airflow-k8s-emulator`` (or ``python -m airflow_k8s_workflows.emulator``)
serves one from the command line.
"""

from __future__ import annotations

from .core import KubeEmulator

__all__ = ["KubeEmulator"]
