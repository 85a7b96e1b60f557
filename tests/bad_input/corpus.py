"""The malformed-input corpus: what a DAG author can get wrong, and what the task must say.

Every :class:`Case` builds one operator, sensor, trigger or notifier with one bad input and
states where it must be refused and how:

* ``when="init"``: the constructor refuses it (a static value: the DAG file fails to import);
* ``when="execute"``: construction succeeds (the value is templated, or only the cluster can
  tell), and ``execute()`` refuses it before anything is written; ``params`` are rendered into
  the templated fields first, as Airflow does before ``execute``;
* ``when="run"``: a trigger's first event is an error (nothing a constructor can check).

``field`` and ``reason`` are substrings the message must contain: the parameter or manifest
path at fault, and product wording for why (never the bad value echoed back; a test checks).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_k8s_workflows.kube.job_manifest import JobArgumentError
from airflow_k8s_workflows.kube.kinds import KindNotServed
from airflow_k8s_workflows.kube.manifests import ManifestError
from airflow_k8s_workflows.notifiers.alertmanager import AlertmanagerNotifier
from airflow_k8s_workflows.notifiers.kubernetes_event import KubernetesEventNotifier
from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator, DeleteResourcesOperator
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.operators.deployment import DeployOperator, RollbackDeploymentOperator
from airflow_k8s_workflows.operators.health import ClusterHealthOperator
from airflow_k8s_workflows.operators.job import RunJobOperator
from airflow_k8s_workflows.operators.scale import AutoscaleOperator, ScaleOperator
from airflow_k8s_workflows.sensors.condition import ResourceConditionSensor
from airflow_k8s_workflows.sensors.events import KubernetesEventSensor
from airflow_k8s_workflows.sensors.job import JobSensor
from airflow_k8s_workflows.sensors.prometheus import (
    InvalidPromQL,
    PrometheusQueryFailed,
    PrometheusQuerySensor,
)
from airflow_k8s_workflows.sensors.rollout import RolloutSensor
from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger
from airflow_k8s_workflows.triggers.job import JobTrigger
from airflow_k8s_workflows.triggers.prometheus import PrometheusQueryTrigger
from airflow_k8s_workflows.triggers.resource_change import ResourceChangeTrigger

NAMESPACE = "default"
"""The connection's namespace, where the baseline objects live."""
WEB = "web"
"""The baseline Deployment (and its Service and ConfigMap ``web-config``)."""


class TriggerErrorEvent(Exception):
    """A trigger's first event was an error (``status: error``); the message is the event's."""


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    target: type
    kwargs: dict[str, Any]
    error: type[BaseException]
    field: str
    reason: str
    when: str = "init"
    params: dict[str, Any] = field(default_factory=dict)
    needs: str | None = None


# -- manifests ------------------------------------------------------------------------------------


def container(image: str = "busybox:1.36", **extra: Any) -> dict[str, Any]:
    return {"name": "main", "image": image, "command": ["sleep", "3600"], **extra}


def deployment(
    name: str = "api", *, replicas: Any = 1, image: str = "busybox:1.36", **spec: Any
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container(image)]}},
            **spec,
        },
    }


def configmap(name: str = "settings", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": {"a": "1"}}


def job(**spec: Any) -> dict[str, Any]:
    pod = {"restartPolicy": "Never", "containers": [container()]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "etl"},
        "spec": {"template": {"spec": pod}, **spec},
    }


def edited(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``doc`` with the dotted ``path`` set (``[0]`` indexes a list); ``...`` deletes."""
    out = copy.deepcopy(doc)
    parts = path.replace("[", ".[").split(".")
    node: Any = out
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
    last = parts[-1]
    key: Any = int(last[1:-1]) if last.startswith("[") else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return out


WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}

BROKEN_YAML_UNCLOSED = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings
data:
  a: "1"
"""
BROKEN_YAML_TAB = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: settings\n"
BROKEN_YAML_INDENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
 spec:
  replicas: 1
"""
DUPLICATE_KEY_YAML = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  name: other-settings
data:
  a: "1"
"""
SECOND_DOC_BROKEN = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
---
apiVersion: v1
kind: ConfigMap
metadata: [name, settings2
"""

CASES: list[Case] = []


def case(id: str, category: str, target: type, kwargs: dict[str, Any], error: type[BaseException],
         field: str, reason: str, **more: Any) -> None:  # fmt: skip
    CASES.append(Case(id, category, target, kwargs, error, field, reason, **more))


# -- broken YAML ----------------------------------------------------------------------------------
BROKEN = "broken YAML"
case(
    "apply-yaml-unclosed-flow-mapping",
    BROKEN,
    ApplyManifestsOperator,
    {"manifests": BROKEN_YAML_UNCLOSED},
    ManifestError,
    "manifests",
    "line 4",
    when="execute",
)
case(
    "apply-yaml-tab-indent",
    BROKEN,
    ApplyManifestsOperator,
    {"manifests": BROKEN_YAML_TAB},
    ManifestError,
    "manifests",
    "cannot start any token",
    when="execute",
)
case(
    "apply-yaml-bad-indent",
    BROKEN,
    ApplyManifestsOperator,
    {"manifests": BROKEN_YAML_INDENT},
    ManifestError,
    "manifests",
    "line 5",
    when="execute",
)
case(
    "apply-yaml-duplicate-key",
    BROKEN,
    ApplyManifestsOperator,
    {"manifests": DUPLICATE_KEY_YAML},
    ManifestError,
    "manifests",
    'duplicate key "name"',
    when="execute",
)
case(
    "apply-yaml-second-document-broken",
    BROKEN,
    ApplyManifestsOperator,
    {"manifests": SECOND_DOC_BROKEN},
    ManifestError,
    "document 2",
    "did not find expected ',' or ']'",
    when="execute",
)
case(
    "apply-yaml-scalar-document",
    BROKEN,
    ApplyManifestsOperator,
    {"manifests": "- just\n- a list of strings\n"},
    ManifestError,
    "manifests",
    "expected a Kubernetes object (a mapping)",
    when="execute",
)
case(
    "apply-json-truncated",
    BROKEN,
    ApplyManifestsOperator,
    {"manifests": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}'},
    ManifestError,
    "manifests",
    "expected ',' or '}'",
    when="execute",
)
case(
    "job-manifest-yaml-broken",
    BROKEN,
    RunJobOperator,
    {"job_manifest": "apiVersion: batch/v1\nkind: Job\nspec: [template\n"},
    AirflowFailException,
    "job_manifest",
    "line 4",
    when="execute",
)
case(
    "deploy-manifest-yaml-broken",
    BROKEN,
    DeployOperator,
    {"manifest": BROKEN_YAML_INDENT},
    ManifestError,
    "manifest",
    "line 5",
    when="execute",
)
case(
    "apply-manifest-file-missing",
    BROKEN,
    ApplyManifestsOperator,
    {"manifests": "k8s/no-such-file.yaml"},
    ManifestError,
    "manifests",
    "manifest file not found",
    when="execute",
)

# -- wrong types ----------------------------------------------------------------------------------
TYPES = "wrong types"
case(
    "apply-manifests-int",
    TYPES,
    ApplyManifestsOperator,
    {"manifests": 42},
    ManifestError,
    "manifests",
    "must be a dict, a list of dicts, YAML text or a path",
    when="execute",
)
case(
    "apply-replicas-string",
    TYPES,
    ApplyManifestsOperator,
    {"manifests": deployment(replicas="three")},
    ManifestError,
    "spec.replicas",
    "is not of type 'integer'",
    when="execute",
)
case(
    "apply-label-value-int",
    TYPES,
    ApplyManifestsOperator,
    {"manifests": configmap(labels={"tier": 1})},
    ManifestError,
    "metadata.labels.tier",
    "must be a string, got int",
    when="execute",
)
case(
    "apply-containers-not-a-list",
    TYPES,
    ApplyManifestsOperator,
    {"manifests": edited(deployment(), "spec.template.spec.containers", container())},
    ManifestError,
    "spec.template.spec.containers",
    "is not of type 'array'",
    when="execute",
)
case(
    "job-cmds-string",
    TYPES,
    RunJobOperator,
    {"image": "busybox", "cmds": "echo hi"},
    JobArgumentError,
    "cmds",
    "must be a list of strings",
)
case(
    "job-backoff-limit-text",
    TYPES,
    RunJobOperator,
    {"image": "busybox", "backoff_limit": "lots"},
    JobArgumentError,
    "backoff_limit",
    "must be an integer",
)
case(
    "job-node-selector-list",
    TYPES,
    RunJobOperator,
    {"image": "busybox", "node_selector": ["ssd"]},
    JobArgumentError,
    "node_selector",
    "must be a dict of strings",
)
case(
    "job-labels-int-value",
    TYPES,
    RunJobOperator,
    {"image": "busybox", "labels": {"tier": 1}},
    JobArgumentError,
    "labels.tier",
    "must be a string",
)
case(
    "scale-replicas-float",
    TYPES,
    ScaleOperator,
    {"name": WEB, "replicas": 2.5},
    ValueError,
    "replicas",
    "must be a whole number",
)
case(
    "scale-replicas-bool",
    TYPES,
    ScaleOperator,
    {"name": WEB, "replicas": True},
    ValueError,
    "replicas",
    "must be a whole number",
)
case(
    "health-pending-minutes-text",
    TYPES,
    ClusterHealthOperator,
    {"pending_minutes": "soon"},
    ValueError,
    "pending_minutes",
    "must be a number",
)
case(
    "event-sensor-min-count-text",
    TYPES,
    KubernetesEventSensor,
    {"reasons": ["BackOff"], "min_count": "3"},
    ValueError,
    "min_count",
    "must be an integer of at least 1",
)
case(
    "rollout-sensor-revision-text",
    TYPES,
    RolloutSensor,
    {"name": WEB, "revision": "latest"},
    ValueError,
    "revision",
    "must be a whole number",
)
case(
    "alertmanager-label-name",
    TYPES,
    AlertmanagerNotifier,
    {"labels": {"team-name": "data"}},
    ValueError,
    "labels",
    "invalid label name",
)
case(
    "event-trigger-reasons-not-strings",
    TYPES,
    KubernetesEventTrigger,
    {"reasons": ["BackOff", 3]},
    ValueError,
    "reasons",
    "must be non-empty strings",
)

# -- missing fields -------------------------------------------------------------------------------
MISSING = "missing fields"
case(
    "apply-missing-apiversion",
    MISSING,
    ApplyManifestsOperator,
    {"manifests": edited(configmap(), "apiVersion", ...)},
    ManifestError,
    "apiVersion",
    "Required value",
    when="execute",
)
case(
    "apply-missing-kind",
    MISSING,
    ApplyManifestsOperator,
    {"manifests": edited(configmap(), "kind", ...)},
    ManifestError,
    "kind",
    "Required value",
    when="execute",
)
case(
    "apply-missing-name",
    MISSING,
    ApplyManifestsOperator,
    {"manifests": edited(configmap(), "metadata.name", ...)},
    ManifestError,
    "metadata.name",
    "name or generateName is required",
    when="execute",
)
case(
    "apply-generate-name-only",
    MISSING,
    ApplyManifestsOperator,
    {"manifests": configmap(name=None, generateName="settings-")},
    ManifestError,
    "metadata.name",
    "generateName is not enough",
    when="execute",
)
case(
    "apply-deployment-missing-selector",
    MISSING,
    ApplyManifestsOperator,
    {"manifests": edited(deployment(), "spec.selector", ...)},
    ManifestError,
    "spec.selector",
    "Required value",
    when="execute",
)
case(
    "job-without-image",
    MISSING,
    RunJobOperator,
    {"cmds": ["true"]},
    JobArgumentError,
    "image",
    "is required unless job_manifest describes the Job",
)
case(
    "job-manifest-without-containers",
    MISSING,
    RunJobOperator,
    {"job_manifest": edited(job(), "spec.template.spec.containers", ...)},
    AirflowFailException,
    "spec.template.spec.containers",
    "Required value",
    when="execute",
)
case(
    "deploy-neither-manifest-nor-deployment",
    MISSING,
    DeployOperator,
    {},
    ValueError,
    "manifest / deployment",
    "give exactly one",
)
case(
    "delete-kind-without-name",
    MISSING,
    DeleteResourcesOperator,
    {"kind": "ConfigMap"},
    ValueError,
    "kind and name",
    "both required",
)
case(
    "autoscale-without-metrics",
    MISSING,
    AutoscaleOperator,
    {"name": WEB, "min_replicas": 1, "max_replicas": 3},
    ValueError,
    "metrics / target_cpu_utilization",
    "give exactly one",
)
case(
    "condition-sensor-without-predicate",
    MISSING,
    ResourceConditionSensor,
    {"kind": "Deployment", "name": WEB},
    ValueError,
    "condition",
    "give exactly one of condition, jsonpath or deleted=True",
)
case(
    "event-notifier-without-reason",
    MISSING,
    KubernetesEventNotifier,
    {"kind": "Deployment", "name": WEB, "reason": "", "message": "failed"},
    ValueError,
    "reason",
    "must be a non-empty string",
)

# -- invalid or too long names --------------------------------------------------------------------
NAMES = "invalid or too long names"
case(
    "job-name-uppercase-underscore",
    NAMES,
    RunJobOperator,
    {"image": "busybox", "name": "ETL_Job"},
    JobArgumentError,
    "name",
    "RFC 1123 subdomain",
)
case(
    "job-name-64-chars",
    NAMES,
    RunJobOperator,
    {"image": "busybox", "name": "j" * 64},
    JobArgumentError,
    "name",
    "must be no more than 63 characters",
)
case(
    "job-name-templated-invalid",
    NAMES,
    RunJobOperator,
    {"image": "busybox", "name": "{{ params.name }}"},
    AirflowFailException,
    "name",
    "RFC 1123 subdomain",
    when="execute",
    params={"name": "nightly load"},
)
case(
    "apply-configmap-name-254-chars",
    NAMES,
    ApplyManifestsOperator,
    {"manifests": configmap("c" * 254)},
    ManifestError,
    "metadata.name",
    "must be no more than 253 characters",
    when="execute",
)
case(
    "apply-service-name-with-dot",
    NAMES,
    ApplyManifestsOperator,
    {
        "manifests": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web.v2"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        }
    },
    ManifestError,
    "metadata.name",
    "RFC 1123 label",
    when="execute",
)
case(
    "apply-namespace-invalid",
    NAMES,
    ApplyManifestsOperator,
    {"manifests": configmap(namespace="Team_A")},
    ManifestError,
    "metadata.namespace",
    "RFC 1123 label",
    when="execute",
)
case(
    "apply-label-key-invalid",
    NAMES,
    ApplyManifestsOperator,
    {"manifests": configmap(labels={"-tier": "a"})},
    ManifestError,
    "metadata.labels",
    "name part must consist of alphanumeric characters",
    when="execute",
)
case(
    "apply-label-value-64-chars",
    NAMES,
    ApplyManifestsOperator,
    {"manifests": configmap(labels={"tier": "v" * 64})},
    ManifestError,
    "metadata.labels",
    "must be no more than 63 characters",
    when="execute",
)
case(
    "deploy-deployment-name-invalid",
    NAMES,
    DeployOperator,
    {"deployment": "Web App", "image": "nginx:1"},
    ValueError,
    "deployment",
    "RFC 1123 subdomain",
)
case(
    "scale-name-with-slash",
    NAMES,
    ScaleOperator,
    {"name": "web/scale", "replicas": 2},
    ValueError,
    "name",
    "RFC 1123 subdomain",
)
case(
    "scale-name-templated-too-long",
    NAMES,
    ScaleOperator,
    {"name": "{{ params.name }}", "replicas": 2},
    ValueError,
    "name",
    "must be no more than 253 characters",
    when="execute",
    params={"name": "w" * 254},
)
case(
    "rollout-sensor-name-invalid",
    NAMES,
    RolloutSensor,
    {"name": "Web"},
    ValueError,
    "name",
    "RFC 1123 subdomain",
)
case(
    "job-sensor-name-too-long",
    NAMES,
    JobSensor,
    {"name": "j" * 64},
    ValueError,
    "name",
    "must be no more than 63 characters",
)
case(
    "rollback-deployment-name-invalid",
    NAMES,
    RollbackDeploymentOperator,
    {"deployment": "web_1"},
    ValueError,
    "deployment",
    "RFC 1123 subdomain",
)
case(
    "operator-namespace-invalid",
    NAMES,
    ScaleOperator,
    {"name": WEB, "replicas": 2, "namespace": "Prod NS"},
    ValueError,
    "namespace",
    "RFC 1123 label",
)
case(
    "operator-namespace-templated-invalid",
    NAMES,
    ApplyManifestsOperator,
    {"manifests": configmap(), "namespace": "{{ params.ns }}"},
    ValueError,
    "namespace",
    "RFC 1123 label",
    when="execute",
    params={"ns": "team_a"},
)
case(
    "job-service-account-invalid",
    NAMES,
    RunJobOperator,
    {"image": "busybox", "service_account_name": "My SA"},
    JobArgumentError,
    "service_account_name",
    "RFC 1123 subdomain",
)

# -- unknown kinds and uninstalled CRDs -----------------------------------------------------------
KINDS = "unknown kinds and uninstalled CRDs"
case(
    "apply-crd-not-installed",
    KINDS,
    ApplyManifestsOperator,
    {"manifests": WIDGET},
    ManifestError,
    "kind",
    "is its CustomResourceDefinition installed?",
    when="execute",
)
case(
    "apply-crd-not-installed-after-valid-doc",
    KINDS,
    ApplyManifestsOperator,
    {"manifests": [configmap(), WIDGET]},
    ManifestError,
    "document 2",
    "is not served by the cluster",
    when="execute",
)
case(
    "apply-builtin-kind-typo",
    KINDS,
    ApplyManifestsOperator,
    {"manifests": edited(deployment(), "kind", "Deploymnet")},
    ManifestError,
    "kind",
    "is not served by the cluster",
    when="execute",
)
case(
    "condition-sensor-kind-not-served",
    KINDS,
    ResourceConditionSensor,
    {"kind": "Widget", "name": "w1", "condition": "Ready"},
    KindNotServed,
    "kind",
    "is not served by the cluster",
    when="execute",
)
case(
    "resource-change-trigger-kind-not-served",
    KINDS,
    ResourceChangeTrigger,
    {"kind": "Widget", "namespace": NAMESPACE, "once": True},
    KindNotServed,
    "kind",
    "is not served by the cluster",
    when="run",
)
case(
    "delete-kind-not-served",
    KINDS,
    DeleteResourcesOperator,
    {"kind": "Widget", "name": "w1", "ignore_missing": False},
    KubernetesTaskFailed,
    "Widget",
    "no API of the cluster serves this kind",
    when="execute",
)
case(
    "scale-kind-daemonset",
    KINDS,
    ScaleOperator,
    {"kind": "DaemonSet", "name": "agent", "replicas": 2},
    ValueError,
    "kind",
    "must be one of",
)
case(
    "autoscale-kind-cronjob",
    KINDS,
    AutoscaleOperator,
    {
        "kind": "CronJob",
        "name": "nightly",
        "min_replicas": 1,
        "max_replicas": 2,
        "target_cpu_utilization": 50,
    },
    ValueError,
    "kind",
    "must be one of",
)
case(
    "rollout-sensor-kind-job",
    KINDS,
    RolloutSensor,
    {"kind": "Job", "name": "etl"},
    ValueError,
    "kind",
    "must be one of",
)
case(
    "deploy-bundle-crd-not-installed",
    KINDS,
    DeployOperator,
    {"manifest": [configmap(), WIDGET, deployment()]},
    ManifestError,
    "manifest",
    "is its CustomResourceDefinition installed?",
    when="execute",
)
case(
    "job-manifest-not-a-job",
    KINDS,
    RunJobOperator,
    {"job_manifest": deployment()},
    AirflowFailException,
    "job_manifest",
    "must be a batch/v1 Job",
    when="execute",
)

# -- negative or absurd replicas and counts -------------------------------------------------------
REPLICAS = "negative or absurd replicas"
case(
    "scale-replicas-negative",
    REPLICAS,
    ScaleOperator,
    {"name": WEB, "replicas": -1},
    ValueError,
    "replicas",
    "must be >= 0",
)
case(
    "scale-replicas-absurd",
    REPLICAS,
    ScaleOperator,
    {"name": WEB, "replicas": 1_000_000},
    ValueError,
    "replicas",
    "is above 10000",
)
case(
    "scale-replicas-relative-absurd",
    REPLICAS,
    ScaleOperator,
    {"name": WEB, "replicas": "+50000"},
    ValueError,
    "replicas",
    "set max_replicas",
)
case(
    "scale-replicas-templated-garbage",
    REPLICAS,
    ScaleOperator,
    {"name": WEB, "replicas": "{{ params.n }}"},
    ValueError,
    "replicas",
    'must be a whole number or "+N" / "-N"',
    when="execute",
    params={"n": "a few"},
)
case(
    "scale-replicas-above-max",
    REPLICAS,
    ScaleOperator,
    {"name": WEB, "replicas": 10, "max_replicas": 5},
    ValueError,
    "replicas",
    "is above max_replicas",
)
case(
    "scale-max-below-min",
    REPLICAS,
    ScaleOperator,
    {"name": WEB, "replicas": "+1", "min_replicas": 5, "max_replicas": 2},
    ValueError,
    "max_replicas",
    "must be >= min_replicas",
)
case(
    "apply-deployment-replicas-negative",
    REPLICAS,
    ApplyManifestsOperator,
    {"manifests": deployment(replicas=-1)},
    ManifestError,
    "spec.replicas",
    "must be greater than or equal to 0",
    when="execute",
)
case(
    "apply-deployment-replicas-overflow",
    REPLICAS,
    ApplyManifestsOperator,
    {"manifests": deployment(replicas=2**31)},
    ManifestError,
    "spec.replicas",
    "must fit a 32-bit integer",
    when="execute",
)
case(
    "deploy-manifest-replicas-negative",
    REPLICAS,
    DeployOperator,
    {"manifest": deployment(replicas=-2)},
    ManifestError,
    "spec.replicas",
    "must be greater than or equal to 0",
    when="execute",
)
case(
    "autoscale-min-replicas-zero",
    REPLICAS,
    AutoscaleOperator,
    {"name": WEB, "min_replicas": 0, "max_replicas": 3, "target_cpu_utilization": 60},
    ValueError,
    "min_replicas",
    "must be >= 1",
)
case(
    "autoscale-max-below-min",
    REPLICAS,
    AutoscaleOperator,
    {"name": WEB, "min_replicas": 4, "max_replicas": 2, "target_cpu_utilization": 60},
    ValueError,
    "max_replicas",
    "must be >= min_replicas",
)
case(
    "job-parallelism-negative",
    REPLICAS,
    RunJobOperator,
    {"image": "busybox", "parallelism": -1},
    JobArgumentError,
    "parallelism",
    "must be >= 0",
)
case(
    "job-completions-templated-negative",
    REPLICAS,
    RunJobOperator,
    {"image": "busybox", "completions": "{{ params.n }}"},
    AirflowFailException,
    "completions",
    "must be >= 0",
    when="execute",
    params={"n": -4},
)
case(
    "rollback-to-revision-negative",
    REPLICAS,
    RollbackDeploymentOperator,
    {"deployment": WEB, "to_revision": -1},
    ValueError,
    "to_revision",
    "must be >= 0",
)
case(
    "event-sensor-min-count-zero",
    REPLICAS,
    KubernetesEventSensor,
    {"reasons": "BackOff", "min_count": 0},
    ValueError,
    "min_count",
    "must be an integer of at least 1",
)

# -- empty images ---------------------------------------------------------------------------------
IMAGES = "empty images"
case(
    "job-image-empty",
    IMAGES,
    RunJobOperator,
    {"image": ""},
    JobArgumentError,
    "image",
    "must be a non-empty image reference",
)
case(
    "job-image-whitespace",
    IMAGES,
    RunJobOperator,
    {"image": "busybox 1.36"},
    JobArgumentError,
    "image",
    "must not contain whitespace",
)
case(
    "job-image-templated-empty",
    IMAGES,
    RunJobOperator,
    {"image": "{{ params.image }}"},
    AirflowFailException,
    "image",
    "must be a non-empty image reference",
    when="execute",
    params={"image": ""},
)
case(
    "deploy-image-empty",
    IMAGES,
    DeployOperator,
    {"deployment": WEB, "image": ""},
    ValueError,
    "image",
    "required with deployment=",
)
case(
    "deploy-image-whitespace",
    IMAGES,
    DeployOperator,
    {"deployment": WEB, "image": "nginx latest"},
    ValueError,
    "image",
    "must not contain whitespace",
)
case(
    "deploy-image-templated-empty",
    IMAGES,
    DeployOperator,
    {"deployment": WEB, "image": "{{ params.tag }}"},
    ValueError,
    "image",
    "required with deployment=",
    when="execute",
    params={"tag": ""},
)
case(
    "apply-container-image-empty",
    IMAGES,
    ApplyManifestsOperator,
    {"manifests": deployment(image="")},
    ManifestError,
    "spec.template.spec.containers[0].image",
    "Required value",
    when="execute",
)
case(
    "deploy-manifest-image-missing",
    IMAGES,
    DeployOperator,
    {"manifest": edited(deployment(), "spec.template.spec.containers[0].image", ...)},
    ManifestError,
    "spec.template.spec.containers[0].image",
    "Required value",
    when="execute",
)
case(
    "job-manifest-image-blank",
    IMAGES,
    RunJobOperator,
    {"job_manifest": edited(job(), "spec.template.spec.containers[0].image", "  ")},
    AirflowFailException,
    "spec.template.spec.containers[0].image",
    "Required value",
    when="execute",
)

# -- conflicting parameters -----------------------------------------------------------------------
CONFLICT = "conflicting parameters"
case(
    "job-manifest-with-image",
    CONFLICT,
    RunJobOperator,
    {"job_manifest": job(), "image": "busybox"},
    JobArgumentError,
    "image",
    "cannot be combined with job_manifest",
)
case(
    "job-manifest-with-env-vars",
    CONFLICT,
    RunJobOperator,
    {"job_manifest": job(), "env_vars": {"A": "1"}},
    JobArgumentError,
    "env_vars",
    "cannot be combined with job_manifest",
)
case(
    "job-name-differs-from-manifest",
    CONFLICT,
    RunJobOperator,
    {"job_manifest": job(), "name": "other"},
    AirflowFailException,
    "name",
    "differs from the manifest's metadata.name",
    when="execute",
)
case(
    "deploy-deployment-without-image",
    CONFLICT,
    DeployOperator,
    {"deployment": WEB},
    ValueError,
    "image",
    "required with deployment=",
)
case(
    "deploy-manifest-with-image",
    CONFLICT,
    DeployOperator,
    {"manifest": deployment(), "image": "nginx:1"},
    ValueError,
    "image",
    "only with deployment=",
)
case(
    "deploy-manifest-and-deployment",
    CONFLICT,
    DeployOperator,
    {"manifest": deployment(), "deployment": WEB, "image": "nginx:1"},
    ValueError,
    "manifest / deployment",
    "give exactly one",
)
case(
    "delete-manifests-and-kind",
    CONFLICT,
    DeleteResourcesOperator,
    {"manifests": configmap(), "kind": "ConfigMap", "name": "settings"},
    ValueError,
    "manifests",
    "not both",
)
case(
    "autoscale-metrics-and-cpu",
    CONFLICT,
    AutoscaleOperator,
    {
        "name": WEB,
        "min_replicas": 1,
        "max_replicas": 3,
        "target_cpu_utilization": 50,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}},
            }
        ],
    },
    ValueError,
    "metrics / target_cpu_utilization",
    "give exactly one",
)
case(
    "condition-sensor-condition-and-jsonpath",
    CONFLICT,
    ResourceConditionSensor,
    {"kind": "Deployment", "name": WEB, "condition": "Available", "jsonpath": "{.status.replicas}=1"},
    ValueError,
    "condition",
    "give exactly one of condition, jsonpath or deleted=True",
)
case(
    "event-sensor-namespace-and-all",
    CONFLICT,
    KubernetesEventSensor,
    {"namespace": NAMESPACE, "all_namespaces": True},
    ValueError,
    "namespace",
    "not both",
)
case(
    "apply-namespace-mismatch",
    CONFLICT,
    ApplyManifestsOperator,
    {"manifests": configmap(namespace="other"), "namespace": NAMESPACE},
    ManifestError,
    "metadata.namespace",
    "does not match the operator's namespace",
    when="execute",
)
case(
    "resource-change-condition-and-jsonpath",
    CONFLICT,
    ResourceChangeTrigger,
    {"kind": "Deployment", "condition": "Available", "jsonpath": "{.status.replicas}"},
    ValueError,
    "condition",
    "not both",
)
case(
    "prometheus-mode-contradicts-sensor-mode",
    CONFLICT,
    PrometheusQuerySensor,
    {"query": "up", "threshold": 1, "mode": "poke", "sensor_mode": "reschedule"},
    ValueError,
    "mode",
    "contradicts",
)
case(
    "rollout-sensor-revision-for-statefulset",
    CONFLICT,
    RolloutSensor,
    {"kind": "StatefulSet", "name": "db", "revision": 2},
    ValueError,
    "revision",
    "only Deployments have revisions",
)
case(
    "apply-same-object-twice",
    CONFLICT,
    ApplyManifestsOperator,
    {"manifests": [configmap(), configmap()]},
    ManifestError,
    "document 2",
    "the same object as document 1",
    when="execute",
)

# -- bad PromQL -----------------------------------------------------------------------------------
PROMQL = "bad PromQL"
case(
    "promql-unclosed-brace",
    PROMQL,
    PrometheusQuerySensor,
    {"query": 'up{job="kube"', "threshold": 0},
    InvalidPromQL,
    "query",
    "invalid PromQL",
    when="execute",
    needs="prometheus",
)
case(
    "promql-unknown-function",
    PROMQL,
    PrometheusQuerySensor,
    {"query": "rate_of(up[5m])", "threshold": 0},
    InvalidPromQL,
    "query",
    "unknown function",
    when="execute",
    needs="prometheus",
)
case(
    "promql-templated-garbage",
    PROMQL,
    PrometheusQuerySensor,
    {"query": "{{ params.q }}", "threshold": 0},
    InvalidPromQL,
    "query",
    "invalid PromQL",
    when="execute",
    params={"q": "sum(up) by"},
    needs="prometheus",
)
case(
    "promql-range-vector",
    PROMQL,
    PrometheusQuerySensor,
    {"query": "up[5m]", "threshold": 0},
    PrometheusQueryFailed,
    "query",
    "range vector",
    when="execute",
    needs="prometheus",
)
case(
    "promql-trigger-bad-query",
    PROMQL,
    PrometheusQueryTrigger,
    {"query": "sum(up"},
    TriggerErrorEvent,
    "query",
    "invalid PromQL",
    when="run",
    needs="prometheus",
)
case(
    "promql-empty-query",
    PROMQL,
    PrometheusQuerySensor,
    {"query": "  ", "threshold": 0},
    ValueError,
    "query",
    "must be a non-empty PromQL string",
)
case(
    "promql-threshold-nan",
    PROMQL,
    PrometheusQuerySensor,
    {"query": "up", "threshold": "nan"},
    ValueError,
    "threshold",
    "must be a number",
)
case(
    "promql-comparison-unknown",
    PROMQL,
    PrometheusQueryTrigger,
    {"query": "up", "comparison": "=>"},
    ValueError,
    "comparison",
    "must be one of",
)

# -- bad label and field selectors ----------------------------------------------------------------
SELECTORS = "bad label/field selectors"
case(
    "health-label-selector-unclosed-set",
    SELECTORS,
    ClusterHealthOperator,
    {"label_selector": "app in (web"},
    ValueError,
    "label_selector",
    "unbalanced parentheses",
)
case(
    "health-label-selector-bad-key",
    SELECTORS,
    ClusterHealthOperator,
    {"label_selector": "-app=web"},
    ValueError,
    "label_selector",
    "name part must consist of alphanumeric characters",
)
case(
    "health-label-selector-templated-bad-value",
    SELECTORS,
    ClusterHealthOperator,
    {"label_selector": "app={{ params.app }}"},
    ValueError,
    "label_selector",
    "unable to parse requirement",
    when="execute",
    params={"app": "web app"},
)
case(
    "resource-change-label-selector-bad",
    SELECTORS,
    ResourceChangeTrigger,
    {"kind": "Pod", "label_selector": "tier notin prod"},
    ValueError,
    "label_selector",
    "unable to parse requirement",
)
case(
    "resource-change-field-selector-no-operator",
    SELECTORS,
    ResourceChangeTrigger,
    {"kind": "Pod", "field_selector": "status.phase"},
    ValueError,
    "field_selector",
    "invalid field selector",
)
case(
    "resource-change-event-types-unknown",
    SELECTORS,
    ResourceChangeTrigger,
    {"kind": "Pod", "event_types": ["CREATED"]},
    ValueError,
    "event_types",
    "must be a non-empty subset",
)
case(
    "event-sensor-involved-name-bad-regex",
    SELECTORS,
    KubernetesEventSensor,
    {"involved_name": "re:web-["},
    ValueError,
    "involved_name",
    "invalid regular expression",
)
case(
    "event-trigger-event-type-unknown",
    SELECTORS,
    KubernetesEventTrigger,
    {"event_type": "Error"},
    ValueError,
    "event_type",
    "must be one of Normal, Warning",
)
case(
    "condition-sensor-jsonpath-unclosed",
    SELECTORS,
    ResourceConditionSensor,
    {"kind": "Pod", "name": "p", "jsonpath": "{.status.phase"},
    ValueError,
    "jsonpath",
    "unexpected path string",
)
case(
    "condition-sensor-condition-empty-status",
    SELECTORS,
    ResourceConditionSensor,
    {"kind": "Deployment", "name": WEB, "condition": "Available="},
    ValueError,
    "condition",
    "no status after '='",
)
case(
    "condition-trigger-condition-templated-bad",
    SELECTORS,
    ResourceConditionSensor,
    {"kind": "Deployment", "name": WEB, "condition": "{{ params.c }}"},
    ValueError,
    "condition",
    "no condition type",
    when="execute",
    params={"c": "=True"},
)

# -- bad durations and timeouts -------------------------------------------------------------------
DURATIONS = "bad durations/timeouts"
case(
    "operator-timeout-negative",
    DURATIONS,
    ScaleOperator,
    {"name": WEB, "replicas": 2, "timeout": -5},
    ValueError,
    "timeout",
    "must be a positive number of seconds",
)
case(
    "operator-timeout-text",
    DURATIONS,
    RunJobOperator,
    {"image": "busybox", "timeout": "10m"},
    ValueError,
    "timeout",
    "must be a positive number of seconds",
)
case(
    "sensor-timeout-negative",
    DURATIONS,
    JobSensor,
    {"name": "etl", "timeout": -1},
    ValueError,
    "timeout",
    "must be timedelta object or a non-negative number",
)
case(
    "sensor-poke-interval-negative",
    DURATIONS,
    RolloutSensor,
    {"name": WEB, "poke_interval": -2},
    ValueError,
    "poke_interval",
    "must be timedelta object or a non-negative number",
)
case(
    "health-warning-event-minutes-zero",
    DURATIONS,
    ClusterHealthOperator,
    {"warning_event_minutes": 0},
    ValueError,
    "warning_event_minutes",
    "must be a positive number",
)
case(
    "health-pending-minutes-templated-negative",
    DURATIONS,
    ClusterHealthOperator,
    {"pending_minutes": "{{ params.m }}"},
    ValueError,
    "pending_minutes",
    "must be a positive number",
    when="execute",
    params={"m": "-5"},
)
case(
    "event-sensor-since-not-a-time",
    DURATIONS,
    KubernetesEventSensor,
    {"reasons": "BackOff", "since": "yesterday"},
    ValueError,
    "since",
    "not an ISO 8601",
    when="execute",
)
case(
    "event-trigger-look-back-negative",
    DURATIONS,
    KubernetesEventTrigger,
    {"look_back_seconds": -60},
    ValueError,
    "look_back_seconds",
    "must be a number >= 0",
)
case(
    "promql-trigger-poll-interval-zero",
    DURATIONS,
    PrometheusQueryTrigger,
    {"query": "up", "poll_interval": 0},
    ValueError,
    "poll_interval",
    "must be a positive number of seconds",
)
case(
    "alertmanager-expires-after-negative",
    DURATIONS,
    AlertmanagerNotifier,
    {"expires_after": -1},
    ValueError,
    "expires_after",
    "must be a positive duration",
)
case(
    "job-ttl-negative",
    DURATIONS,
    RunJobOperator,
    {"image": "busybox", "ttl_seconds_after_finished": -1},
    JobArgumentError,
    "ttl_seconds_after_finished",
    "must be >= 0",
)
case(
    "job-active-deadline-zero",
    DURATIONS,
    RunJobOperator,
    {"image": "busybox", "active_deadline_seconds": 0},
    JobArgumentError,
    "active_deadline_seconds",
    "must be >= 1",
)
case(
    "apply-progress-deadline-negative",
    DURATIONS,
    ApplyManifestsOperator,
    {"manifests": deployment(progressDeadlineSeconds=-30)},
    ManifestError,
    "spec.progressDeadlineSeconds",
    "must be greater than or equal to 0",
    when="execute",
)
case(
    "job-trigger-deadline-not-a-time",
    DURATIONS,
    JobTrigger,
    {"name": "etl", "deadline": "in 5 minutes"},
    ValueError,
    "deadline",
    "must be a datetime",
)

# -- bad env var shapes ---------------------------------------------------------------------------
ENV = "bad env var shapes"
case(
    "job-env-vars-string",
    ENV,
    RunJobOperator,
    {"image": "busybox", "env_vars": "A=1"},
    JobArgumentError,
    "env_vars",
    "must be a dict of name: value or a list of env var dicts",
)
case(
    "job-env-list-without-value",
    ENV,
    RunJobOperator,
    {"image": "busybox", "env_vars": [{"name": "A"}]},
    JobArgumentError,
    "env_vars[0]",
    "needs a value or a valueFrom",
)
case(
    "job-env-name-with-equals",
    ENV,
    RunJobOperator,
    {"image": "busybox", "env_vars": {"A=B": "1"}},
    JobArgumentError,
    "env_vars",
    "invalid environment variable name",
)
case(
    "job-env-value-none",
    ENV,
    RunJobOperator,
    {"image": "busybox", "env_vars": {"A": None}},
    JobArgumentError,
    "env_vars.A",
    "value must be a string",
)
case(
    "job-env-value-list",
    ENV,
    RunJobOperator,
    {"image": "busybox", "env_vars": {"HOSTS": ["a", "b"]}},
    JobArgumentError,
    "env_vars.HOSTS",
    "value must be a string",
)
case(
    "job-env-from-dict",
    ENV,
    RunJobOperator,
    {"image": "busybox", "env_from": {"configMapRef": {"name": "web-config"}}},
    JobArgumentError,
    "env_from",
    "must be a list of dicts",
)
case(
    "job-env-templated-list-of-strings",
    ENV,
    RunJobOperator,
    {"image": "busybox", "env_vars": ["{{ params.e }}"]},
    AirflowFailException,
    "env_vars[0]",
    "must be a dict with name and value",
    when="execute",
    params={"e": "A=1"},
)
case(
    "apply-container-env-mapping",
    ENV,
    ApplyManifestsOperator,
    {"manifests": edited(deployment(), "spec.template.spec.containers[0].env", {"A": "1"})},
    ManifestError,
    "spec.template.spec.containers[0].env",
    "is not of type 'array'",
    when="execute",
)

# -- bad resource quantities ----------------------------------------------------------------------
QUANTITIES = "bad resource quantities"
case(
    "job-resources-cpu-word",
    QUANTITIES,
    RunJobOperator,
    {"image": "busybox", "container_resources": {"limits": {"cpu": "lots"}}},
    JobArgumentError,
    "container_resources.limits.cpu",
    "invalid quantity",
)
case(
    "job-resources-unknown-section",
    QUANTITIES,
    RunJobOperator,
    {"image": "busybox", "container_resources": {"limit": {"cpu": "1"}}},
    JobArgumentError,
    "container_resources.limit",
    "unknown key",
)
case(
    "job-resources-negative-memory",
    QUANTITIES,
    RunJobOperator,
    {"image": "busybox", "container_resources": {"requests": {"memory": "-1Gi"}}},
    JobArgumentError,
    "container_resources.requests.memory",
    "must be greater than or equal to 0",
)
case(
    "job-resources-requests-text",
    QUANTITIES,
    RunJobOperator,
    {"image": "busybox", "container_resources": {"requests": "500m"}},
    JobArgumentError,
    "container_resources.requests",
    "must be a dict such as",
)
case(
    "apply-container-memory-gb",
    QUANTITIES,
    ApplyManifestsOperator,
    {
        "manifests": edited(
            deployment(), "spec.template.spec.containers[0].resources", {"limits": {"memory": "1GB"}}
        )
    },
    ManifestError,
    "spec.template.spec.containers[0].resources.limits.memory",
    "quantities must match",
    when="execute",
)
case(
    "job-manifest-cpu-negative",
    QUANTITIES,
    RunJobOperator,
    {
        "job_manifest": edited(
            job(), "spec.template.spec.containers[0].resources", {"requests": {"cpu": "-1"}}
        )
    },
    AirflowFailException,
    "spec.template.spec.containers[0].resources.requests.cpu",
    "must be greater than or equal to 0",
    when="execute",
)
case(
    "autoscale-average-value-word",
    QUANTITIES,
    AutoscaleOperator,
    {
        "name": WEB,
        "min_replicas": 1,
        "max_replicas": 3,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "qps"},
                    "target": {"type": "AverageValue", "averageValue": "many"},
                },
            }
        ],
    },
    ValueError,
    "metrics[0].pods.target.averageValue",
    "Invalid value",
)
case(
    "autoscale-metric-type-unknown",
    QUANTITIES,
    AutoscaleOperator,
    {
        "name": WEB,
        "min_replicas": 1,
        "max_replicas": 3,
        "metrics": [{"type": "Cpu", "resource": {"name": "cpu"}}],
    },
    ValueError,
    "metrics[0].type",
    "Unsupported value",
)
case(
    "autoscale-cpu-utilization-zero",
    QUANTITIES,
    AutoscaleOperator,
    {"name": WEB, "min_replicas": 1, "max_replicas": 3, "target_cpu_utilization": 0},
    ValueError,
    "target_cpu_utilization",
    "must be a positive percentage",
)

# -- other enumerations ---------------------------------------------------------------------------
ENUMS = "unknown enumeration values"
case(
    "job-cleanup-unknown",
    ENUMS,
    RunJobOperator,
    {"image": "busybox", "cleanup": "sometimes"},
    JobArgumentError,
    "cleanup",
    "must be one of on_success, always, never",
)
case(
    "job-completion-mode-unknown",
    ENUMS,
    RunJobOperator,
    {"image": "busybox", "completion_mode": "indexed"},
    JobArgumentError,
    "completion_mode",
    "must be one of NonIndexed, Indexed",
)
case(
    "job-indexed-without-completions",
    ENUMS,
    RunJobOperator,
    {"image": "busybox", "completion_mode": "Indexed"},
    JobArgumentError,
    "completions",
    "is required when completion_mode is Indexed",
)
case(
    "delete-propagation-policy-unknown",
    ENUMS,
    DeleteResourcesOperator,
    {"kind": "ConfigMap", "name": "web-config", "propagation_policy": "Cascade"},
    ValueError,
    "propagation_policy",
    "must be one of",
)
case(
    "event-notifier-event-type-unknown",
    ENUMS,
    KubernetesEventNotifier,
    {"kind": "Deployment", "name": WEB, "reason": "Failed", "message": "x", "event_type": "Error"},
    ValueError,
    "event_type",
    "must be Warning or Normal",
)
case(
    "event-notifier-reason-with-spaces",
    ENUMS,
    KubernetesEventNotifier,
    {"kind": "Deployment", "name": WEB, "reason": "load failed", "message": "x"},
    ValueError,
    "reason",
    "must be a short UpperCamelCase word",
)
case(
    "alertmanager-cluster-object-without-kind",
    ENUMS,
    AlertmanagerNotifier,
    {"cluster_object": "web"},
    ValueError,
    "cluster_object",
    "Kind/name",
)
case(
    "health-namespaces-templated-invalid",
    NAMES,
    ClusterHealthOperator,
    {"namespaces": "{{ params.ns }}"},
    ValueError,
    "namespaces",
    "RFC 1123 label",
    when="execute",
    params={"ns": "prod,Team_B"},
)
case(
    "deploy-bundle-refused-by-server",
    CONFLICT,
    DeployOperator,
    {"manifest": [configmap(), edited(deployment(), "spec.template.metadata.labels", {"app": "other"})]},
    KubernetesTaskFailed,
    "spec.template.metadata.labels",
    "nothing was applied; the cluster refused",
    when="execute",
)
case(
    "health-restart-threshold-zero",
    ENUMS,
    ClusterHealthOperator,
    {"restart_threshold": 0},
    ValueError,
    "restart_threshold",
    "must be an integer >= 1",
)
case(
    "apply-unknown-field",
    ENUMS,
    ApplyManifestsOperator,
    {"manifests": edited(deployment(), "spec.replica", 2)},
    ManifestError,
    "spec.replica",
    "unknown field",
    when="execute",
)
