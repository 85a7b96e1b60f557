"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

_PKG = "airflow_k8s_workflows"


def _http_connection_type(conn_type: str, hook: str, name: str, example_url: str) -> dict[str, Any]:
    """A connection type read by ``monitoring.endpoint`` (see there for the fields)."""
    return {
        "connection-type": conn_type,
        "hook-class-name": f"{_PKG}.hooks.{hook}",
        "hook-name": name,
        "ui-field-behaviour": {
            "relabeling": {"host": "Host or base URL", "schema": "Scheme (http or https)"},
            "placeholders": {
                "host": example_url,
                "schema": "http",
                "login": "basic-auth user (optional)",
                "password": "basic-auth password, or a bearer token without a login",
            },
        },
        "conn-fields": {
            "url": {
                "label": "Base URL",
                "description": "Overrides host, scheme and port",
                "schema": {"type": ["string", "null"], "format": "url"},
            },
            "token": {"label": "Bearer token", "schema": {"type": ["string", "null"], "format": "password"}},
            "verify_tls": {
                "label": "Verify TLS certificates",
                "schema": {"type": "boolean", "default": True},
            },
            "ca_bundle": {
                "label": "CA bundle path",
                "description": "PEM file of CAs to trust",
                "schema": {"type": ["string", "null"]},
            },
            "timeout": {
                "label": "Timeout (s)",
                "description": "Per request",
                "schema": {"type": "number", "default": 10, "minimum": 0},
            },
            "max_retries": {
                "label": "Retries",
                "description": "On refused connections, timeouts and HTTP 429/5xx; Retry-After is honoured",
                "schema": {"type": "integer", "default": 3, "minimum": 0},
            },
            "headers": {
                "label": "Extra headers",
                "description": 'e.g. {"X-Scope-OrgID": "team-a"}',
                "schema": {"type": ["object", "null"]},
            },
        },
    }


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
            },
            {
                "integration-name": "Prometheus",
                "external-doc-url": "https://prometheus.io/",
                "tags": ["software"],
            },
            {
                "integration-name": "Alertmanager",
                "external-doc-url": "https://prometheus.io/docs/alerting/latest/alertmanager/",
                "tags": ["software"],
            },
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
            {"integration-name": "Prometheus", "python-modules": [f"{_PKG}.hooks.prometheus"]},
            {"integration-name": "Alertmanager", "python-modules": [f"{_PKG}.hooks.alertmanager"]},
        ],
        "connection-types": [
            _http_connection_type(
                "prometheus", "prometheus.PrometheusHook", "Prometheus", "http://prometheus:9090"
            ),
            _http_connection_type(
                "alertmanager", "alertmanager.AlertmanagerHook", "Alertmanager", "http://alertmanager:9093"
            ),
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
                    f"{_PKG}.triggers.ready",
                    f"{_PKG}.triggers.scale",
                ],
            }
        ],
        "notifications": [
            f"{_PKG}.notifiers.alertmanager.AlertmanagerNotifier",
            f"{_PKG}.notifiers.kubernetes_event.KubernetesEventNotifier",
        ],
    }
