"""Core/v1 kinds' API behaviour through the official client: Services (cluster IPs, node ports,
defaults, validation), Secrets, ConfigMaps, Events, and the endpoints controller."""

from __future__ import annotations

import base64
import ipaddress
import json
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from tests.emulator.batch_support import NS, UNSCHEDULED, Cluster, cluster
from tests.helpers import wait_for

__all__ = ["cluster"]


def _error(exc: pytest.ExceptionInfo[ApiException], status: int = 422) -> str:
    assert exc.value.status == status, exc.value.body
    return str(json.loads(exc.value.body)["message"])


def _svc(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


# -- Service ----------------------------------------------------------------------------------
def test_service_defaults_and_cluster_ip(cluster: Cluster) -> None:
    created = cluster.api.sanitize_for_serialization(cluster.core.create_namespaced_service(NS, _svc("web")))
    spec = created["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/16")
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert created["status"] == {"loadBalancer": {}}

    other = cluster.core.create_namespaced_service(NS, _svc("api"))
    assert other.spec.cluster_ip != spec["clusterIP"]

    # a replace that leaves the allocated IP out keeps it, as the real update path does
    body = cluster.api.sanitize_for_serialization(cluster.core.read_namespaced_service("web", NS))
    body["spec"].pop("clusterIP")
    body["spec"].pop("clusterIPs")
    body["metadata"]["labels"] = {"tier": "front"}
    replaced = cluster.core.replace_namespaced_service("web", NS, body)
    assert replaced.spec.cluster_ip == spec["clusterIP"]

    body = cluster.api.sanitize_for_serialization(replaced)
    body["spec"]["clusterIP"] = "10.96.200.200"
    body["spec"]["clusterIPs"] = ["10.96.200.200"]
    with pytest.raises(ApiException) as exc:
        cluster.core.replace_namespaced_service("web", NS, body)
    assert 'spec.clusterIP: Invalid value: "10.96.200.200": field is immutable' in _error(exc)


def test_service_headless_and_node_port(cluster: Cluster) -> None:
    headless = cluster.core.create_namespaced_service(NS, _svc("db", clusterIP="None"))
    assert headless.spec.cluster_ip == "None"
    assert headless.spec.cluster_ips == ["None"]
    node_port = cluster.core.create_namespaced_service(NS, _svc("np", type="NodePort"))
    assert 30000 <= node_port.spec.ports[0].node_port <= 32767
    assert node_port.spec.external_traffic_policy == "Cluster"
    taken = node_port.spec.ports[0].node_port
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_service(
            NS, _svc("np2", type="NodePort", ports=[{"port": 80, "nodePort": taken}])
        )
    assert f"spec.ports[0].nodePort: Invalid value: {taken}: provided port is already allocated" in _error(
        exc
    )


def test_service_validation_messages(cluster: Cluster) -> None:
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_service(NS, _svc("bad", ports=[{"port": 70000, "protocol": "ABC"}]))
    message = _error(exc)
    assert "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive" in message
    assert (
        'spec.ports[0].protocol: Unsupported value: "ABC": supported values: "SCTP", "TCP", "UDP"' in message
    )
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_service(NS, _svc("bad", ports=[{"port": 80}, {"port": 81}]))
    assert "spec.ports[0].name: Required value" in _error(exc)
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_service(NS, _svc("bad", type="Magic"))
    assert (
        'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'
        in (_error(exc))
    )
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_service(NS, _svc("bad", clusterIP="10.96.0.1"))
    assert _error(exc) == (
        'Service "bad" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.1"}: '
        "failed to allocate IP 10.96.0.1: provided IP is already allocated"
    )


# -- Secret and ConfigMap -----------------------------------------------------------------------
def test_secret_string_data_and_type(cluster: Cluster) -> None:
    body = {"metadata": {"name": "creds"}, "stringData": {"user": "admin"}, "data": {"pass": "czNjcmV0"}}
    created = cluster.core.create_namespaced_secret(NS, body)
    assert created.type == "Opaque"
    assert created.string_data is None
    assert base64.b64decode(created.data["user"]) == b"admin"
    assert created.data["pass"] == "czNjcmV0"


def test_secret_validation(cluster: Cluster) -> None:
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_secret(NS, {"metadata": {"name": "bad"}, "data": {"k": "not base64!"}})
    assert (
        _error(exc, 400)
        == 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'
    )
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_secret(NS, {"metadata": {"name": "bad"}, "data": {"a key": "eA=="}})
    assert (
        'data[a key]: Invalid value: "a key": a valid config key must consist of alphanumeric characters'
        in _error(exc)
    )
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_secret(NS, {"metadata": {"name": "bad"}, "type": "kubernetes.io/tls"})
    assert (
        _error(exc)
        == 'Secret "bad" is invalid: [data[tls.key]: Required value, data[tls.crt]: Required value]'
    )

    cluster.core.create_namespaced_secret(
        NS, {"metadata": {"name": "frozen"}, "data": {"a": "eA=="}, "immutable": True}
    )
    with pytest.raises(ApiException) as exc:
        cluster.core.patch_namespaced_secret("frozen", NS, {"data": {"a": "eQ=="}})
    assert "data: Forbidden: field is immutable when `immutable` is set" in _error(exc)


def test_configmap_keys(cluster: Cluster) -> None:
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_config_map(NS, {"metadata": {"name": "bad"}, "data": {"a/b": "x"}})
    assert 'data[a/b]: Invalid value: "a/b": a valid config key' in _error(exc)
    body = {"metadata": {"name": "bad"}, "data": {"k": "x"}, "binaryData": {"k": "eA=="}}
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_config_map(NS, body)
    assert 'data[k]: Invalid value: "k": duplicate of key present in binaryData' in _error(exc)


def test_event_namespace_must_match_involved_object(cluster: Cluster) -> None:
    event = {
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "kube-system"},
        "reason": "Test",
        "message": "m",
        "type": "Normal",
    }
    with pytest.raises(ApiException) as exc:
        cluster.core.create_namespaced_event(NS, event)
    assert 'involvedObject.namespace: Invalid value: "kube-system": does not match event.namespace' in _error(
        exc
    )
    event["involvedObject"]["namespace"] = NS
    assert cluster.core.create_namespaced_event(NS, event).reason == "Test"


# -- Endpoints --------------------------------------------------------------------------------
def test_endpoints_follow_ready_pods(cluster: Cluster) -> None:
    cluster.core.create_namespaced_service(
        NS, _svc("shop", ports=[{"name": "http", "port": 80, "targetPort": "web"}])
    )
    pod = {
        "metadata": {"name": "shop-1", "labels": {"app": "shop"}},
        "spec": {
            "schedulerName": UNSCHEDULED,
            "containers": [
                {"name": "main", "image": "nginx", "ports": [{"name": "web", "containerPort": 8080}]}
            ],
        },
    }
    cluster.core.create_namespaced_pod(NS, pod)

    def endpoints() -> dict[str, Any] | None:
        try:
            found = cluster.core.read_namespaced_endpoints("shop", NS)
        except ApiException:
            return None
        return cluster.api.sanitize_for_serialization(found)

    assert "subsets" not in wait_for(endpoints, message="endpoints for the service")
    cluster.run_pod("shop-1", ready=False)
    subsets = wait_for(lambda: (e := endpoints()) and e.get("subsets"), message="a not-ready address")
    assert subsets[0]["notReadyAddresses"][0]["ip"] == "10.244.0.10"
    assert subsets[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    cluster.run_pod("shop-1", ready=True)
    subsets = wait_for(
        lambda: (e := endpoints()) and e.get("subsets", [{}])[0].get("addresses") and e["subsets"]
    )
    assert subsets[0]["addresses"][0]["targetRef"]["name"] == "shop-1"
    assert "notReadyAddresses" not in subsets[0]

    cluster.core.delete_namespaced_service("shop", NS)
    wait_for(lambda: endpoints() is None, message="endpoints removed with the service")
