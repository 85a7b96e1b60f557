"""HorizontalPodAutoscalers (autoscaling/v2) through the official client, with metric values set
by annotation: scaling up and down through the scale subresource, limits, stabilisation,
behavior policies, metric failures, status and validation."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator.controllers.hpa import METRIC_VALUES
from tests.conftest import Kubectl
from tests.emulator.workloads import Cluster, cluster_without_kubelet, template
from tests.helpers import wait_for

FAST_DOWN = {"scaleDown": {"stabilizationWindowSeconds": 0}}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with cluster_without_kubelet(tmp_path) as c:
        yield c


def web(c: Cluster, replicas: int = 2, requests: dict[str, str] | None = None) -> None:
    tpl = template({"app": "web"})
    if requests is not None:
        tpl["spec"]["containers"][0]["resources"] = {"requests": requests}
    body = {"metadata": {"name": "web"}, "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                                                  "template": tpl}}  # fmt: skip
    c.apps.create_namespaced_deployment("default", body)
    wait_for(
        lambda: (
            (c.apps.read_namespaced_deployment("web", "default").status.available_replicas or 0) == replicas
        )
    )


def hpa(
    values: dict[str, Any] | None = None, metrics: list[Any] | None = None, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": metrics
            or [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
            **spec,
        },
    }
    if values is not None:
        body["metadata"]["annotations"] = {METRIC_VALUES: json.dumps(values)}
    return body


def set_values(c: Cluster, values: dict[str, Any]) -> None:
    c.autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "web", "default", {"metadata": {"annotations": {METRIC_VALUES: json.dumps(values)}}}
    )


def raw_status(c: Cluster) -> dict[str, Any]:
    resp = c.autoscaling.read_namespaced_horizontal_pod_autoscaler_status(
        "web", "default", _preload_content=False
    )
    return json.loads(resp.data).get("status") or {}  # type: ignore[no-any-return]


def conditions(c: Cluster) -> dict[str, tuple[str, str, str]]:
    return {
        x["type"]: (x["status"], x["reason"], x["message"]) for x in raw_status(c).get("conditions") or []
    }


def replicas(c: Cluster) -> int:
    return int(c.apps.read_namespaced_deployment_scale("web", "default").spec.replicas)


def test_scales_up_on_cpu_utilization_above_target(cluster: Cluster) -> None:
    web(cluster, requests={"cpu": "100m"})
    # a constant load of 180% of one pod's request: 90% on each of 2 pods, 45% once there are 4
    cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler("default", hpa({"cpu": {"total": 180}}))
    wait_for(lambda: replicas(cluster) == 4)  # ceil(2 * 90 / 50)
    wait_for(
        lambda: (
            (cluster.apps.read_namespaced_deployment("web", "default").status.available_replicas or 0) == 4
        )
    )
    status = wait_for(
        lambda: (
            raw_status(cluster)
            if raw_status(cluster)["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 45
            else None
        )
    )
    assert status["currentMetrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "45m"}},
        }
    ]
    assert (status["currentReplicas"], status["desiredReplicas"]) == (
        4,
        4,
    )  # 45/50 is within the 10% tolerance
    assert status["lastScaleTime"]
    conds = conditions(cluster)
    assert conds["AbleToScale"] == ("True", "ReadyForNewScale", "recommended size matches current size")
    assert conds["ScalingActive"] == (
        "True",
        "ValidMetricFound",
        "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
    )
    assert conds["ScalingLimited"] == (
        "False",
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    )
    [event] = cluster.events("web", "SuccessfulRescale")
    assert (
        event.message == "New size: 4; reason: cpu resource utilization (percentage of request) above target"
    )
    assert event.source.component == "horizontal-pod-autoscaler"
    assert replicas(cluster) == 4


def test_a_constant_per_pod_utilization_keeps_scaling_up(cluster: Cluster) -> None:
    web(cluster, requests={"cpu": "100m"})
    cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler("default", hpa({"cpu": 90}))
    wait_for(lambda: replicas(cluster) == 4)
    [event] = cluster.events("web", "SuccessfulRescale")
    assert (
        event.message == "New size: 4; reason: cpu resource utilization (percentage of request) above target"
    )
    cond = wait_for(lambda: conditions(cluster).get("AbleToScale"))
    assert cond[:2] in (("True", "SucceededRescale"), ("True", "ReadyForNewScale"))
    wait_for(lambda: replicas(cluster) == 8)  # 4 pods at 90% of a 50% target; one step at most doubles


def test_scales_down_with_a_zero_stabilization_window(cluster: Cluster) -> None:
    web(cluster, replicas=4, requests={"cpu": "200m"})
    cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler(
        "default", hpa({"cpu": 50}, behavior=FAST_DOWN)
    )
    wait_for(lambda: raw_status(cluster).get("desiredReplicas") == 4)
    set_values(cluster, {"cpu": 10})
    wait_for(lambda: replicas(cluster) == 1)  # ceil(4 * 10 / 50) = 1
    messages = [e.message for e in cluster.events("web", "SuccessfulRescale")]
    assert messages == ["New size: 1; reason: All metrics below target"]
    hpa_obj = cluster.autoscaling.read_namespaced_horizontal_pod_autoscaler("web", "default")
    down = hpa_obj.spec.behavior.scale_down
    assert (down.stabilization_window_seconds, down.select_policy) == (0, "Max")
    assert [(p.type, p.value, p.period_seconds) for p in down.policies] == [("Percent", 100, 15)]


def test_default_scale_down_stabilization_window(tmp_path: Path) -> None:
    # 300 controller seconds at speed 100: three real seconds
    with cluster_without_kubelet(tmp_path, speed=100) as c:
        web(c, replicas=3, requests={"cpu": "100m"})
        c.autoscaling.create_namespaced_horizontal_pod_autoscaler("default", hpa({"cpu": 50}))
        wait_for(lambda: raw_status(c).get("desiredReplicas") == 3)
        set_values(c, {"cpu": 10})
        stabilized = wait_for(lambda: conditions(c).get("AbleToScale", ("",) * 3)[1] == "ScaleDownStabilized")
        assert stabilized and replicas(c) == 3
        assert conditions(c)["AbleToScale"][2] == (
            "recent recommendations were higher than current one, applying the highest recent recommendation"
        )
        wait_for(lambda: replicas(c) == 1, timeout=15)


def test_max_replicas_limits_scaling(cluster: Cluster) -> None:
    web(cluster, requests={"cpu": "100m"})
    cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler(
        "default", hpa({"cpu": 500}, maxReplicas=3)
    )
    wait_for(lambda: replicas(cluster) == 3)
    wait_for(lambda: conditions(cluster).get("ScalingLimited", ("",))[0] == "True")
    assert conditions(cluster)["ScalingLimited"] == (
        "True",
        "TooManyReplicas",
        "the desired replica count is more than the maximum replica count",
    )


def test_behavior_policies_rate_limit_scale_up(cluster: Cluster) -> None:
    web(cluster, replicas=1, requests={"cpu": "100m"})
    behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler(
        "default", hpa({"cpu": 400}, behavior=behavior)
    )
    wait_for(lambda: replicas(cluster) == 2)
    wait_for(lambda: conditions(cluster).get("ScalingLimited", ("",) * 3)[1] == "ScaleUpLimit")
    assert replicas(cluster) == 2  # one pod per 60 controller seconds (3 s at speed 20)
    wait_for(lambda: replicas(cluster) == 3, timeout=10)


def test_metric_values_on_the_target_and_pods_metrics(cluster: Cluster) -> None:
    web(cluster, replicas=2)
    annotation = json.dumps({"queue_depth": {"total": "60"}})
    cluster.apps.patch_namespaced_deployment(
        "web", "default", {"metadata": {"annotations": {METRIC_VALUES: annotation}}}
    )
    metrics = [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "queue_depth"},
                "target": {"type": "AverageValue", "averageValue": "10"},
            },
        }
    ]
    cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler("default", hpa(metrics=metrics))
    # 30 per pod wants 6 pods, one step reaches 4; at 15 per pod on 4 ready pods, 6; then 10 per pod: done
    wait_for(lambda: replicas(cluster) == 6)
    st = wait_for(
        lambda: (
            raw_status(cluster)
            if raw_status(cluster)["currentMetrics"][0]["pods"]["current"]["averageValue"] == "10"
            else None
        )
    )
    assert st["currentMetrics"] == [
        {"type": "Pods", "pods": {"metric": {"name": "queue_depth"}, "current": {"averageValue": "10"}}}
    ]
    messages = sorted(e.message for e in cluster.events("web", "SuccessfulRescale"))
    assert messages == [
        "New size: 4; reason: pods metric queue_depth above target",
        "New size: 6; reason: pods metric queue_depth above target",
    ]


def test_missing_metrics_and_requests_are_reported(cluster: Cluster) -> None:
    web(cluster)
    cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler("default", hpa())
    cause = "failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API"
    wait_for(lambda: conditions(cluster).get("ScalingActive", ("",))[0] == "False")
    assert conditions(cluster)["ScalingActive"] == (
        "False",
        "FailedGetResourceMetric",
        f"the HPA was unable to compute the replica count: {cause}",
    )
    assert raw_status(cluster)["currentMetrics"] == [{"type": ""}]
    [failed] = cluster.events("web", "FailedComputeMetricsReplicas")
    assert (
        failed.message
        == f"invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: {cause}"
    )
    set_values(cluster, {"cpu": 90})
    pods = "|".join(p.metadata.name for p in cluster.pods("app=web"))
    expected = re.compile(
        "the HPA was unable to compute the replica count: failed to get cpu utilization: "
        f"missing request for cpu in container main of Pod ({pods})$"
    )
    wait_for(lambda: expected.match(conditions(cluster)["ScalingActive"][2]))
    assert replicas(cluster) == 2


def test_missing_target_fails_to_get_scale(cluster: Cluster) -> None:
    cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler("default", hpa({"cpu": 90}))
    wait_for(lambda: "AbleToScale" in conditions(cluster))
    assert conditions(cluster)["AbleToScale"] == (
        "False",
        "FailedGetScale",
        'the HPA controller was unable to get the target\'s current scale: deployments.apps "web" not found',
    )


def test_kubectl_annotate_sets_metric_values(cluster: Cluster, tmp_path: Path) -> None:
    web(cluster, requests={"cpu": "100m"})
    cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler("default", hpa(maxReplicas=5))
    cache = tmp_path / "kubectl-cache"
    cache.mkdir()
    kubectl = Kubectl(cluster.emu.kubeconfig, cache)
    kubectl("annotate", "hpa", "web", f"{METRIC_VALUES}={json.dumps({'cpu': {'total': 200}})}")
    wait_for(lambda: replicas(cluster) == 4)
    wait_for(lambda: kubectl("get", "hpa", "web", "-o", "jsonpath={.status.desiredReplicas}").stdout == "4")


def test_defaults_and_validation(cluster: Cluster) -> None:
    body = hpa()
    del body["spec"]["minReplicas"]
    del body["spec"]["metrics"]
    created = cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler("default", body)
    assert created.spec.min_replicas == 1
    [metric] = created.spec.metrics
    assert (metric.type, metric.resource.name, metric.resource.target.average_utilization) == (
        "Resource",
        "cpu",
        80,
    )
    assert created.spec.behavior is None

    def invalid(**spec: Any) -> str:
        body = hpa(**spec)
        body["metadata"]["name"] = "bad"
        with pytest.raises(ApiException) as err:
            cluster.autoscaling.create_namespaced_horizontal_pod_autoscaler("default", body)
        assert err.value.status == 422
        return str(json.loads(err.value.body)["message"])

    assert invalid(minReplicas=0) == (
        'HorizontalPodAutoscaler.autoscaling "bad" is invalid: spec.minReplicas: Invalid value: 0: '
        "must be greater than or equal to 1"
    )
    assert invalid(minReplicas=5, maxReplicas=2) == (
        'HorizontalPodAutoscaler.autoscaling "bad" is invalid: spec.maxReplicas: Invalid value: 2: '
        "must be greater than or equal to `minReplicas`"
    )
    utilization = [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}},
        }
    ]
    assert invalid(metrics=utilization).endswith(
        "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"
    )
    assert invalid(behavior={"scaleDown": {"stabilizationWindowSeconds": 4000}}).endswith(
        "spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: 4000: must be less than or equal to 3600"
    )
