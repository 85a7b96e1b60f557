"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

_PKG = "airflow_k8s_workflows"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-k8s-workflows",
        "name": "Kubernetes Workflows",
        "description": "Drive Kubernetes from Airflow 3: Jobs with live logs and XCom results, deployments with "
        "rollout waits and rollback, scaling, cluster events that start DAG runs, health checks, Prometheus "
        "gates and Alertmanager alerts. Every wait is deferrable and watch-based.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "Kubernetes Workflows",
                "external-doc-url": "https://kubernetes.io/docs/concepts/workloads/",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": "Kubernetes Workflows",
                "python-modules": [
                    f"{_PKG}.operators.job",
                    f"{_PKG}.operators.apply",
                    f"{_PKG}.operators.deployment",
                    f"{_PKG}.operators.scale",
                    f"{_PKG}.operators.health",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Kubernetes Workflows",
                "python-modules": [
                    f"{_PKG}.sensors.rollout",
                    f"{_PKG}.sensors.job",
                    f"{_PKG}.sensors.condition",
                    f"{_PKG}.sensors.events",
                    f"{_PKG}.sensors.prometheus",
                ],
            }
        ],
        "hooks": [
            {"integration-name": "Kubernetes Workflows", "python-modules": [f"{_PKG}.hooks.kubernetes"]},
        ],
        "triggers": [
            {
                "integration-name": "Kubernetes Workflows",
                "python-modules": [
                    f"{_PKG}.triggers.job",
                    f"{_PKG}.triggers.rollout",
                    f"{_PKG}.triggers.condition",
                    f"{_PKG}.triggers.events",
                    f"{_PKG}.triggers.resource_change",
                    f"{_PKG}.triggers.prometheus",
                ],
            }
        ],
        "notifications": [
            f"{_PKG}.notifiers.alertmanager.AlertmanagerNotifier",
            f"{_PKG}.notifiers.kubernetes_event.KubernetesEventNotifier",
        ],
    }
