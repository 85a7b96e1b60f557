"""Quantities: the grammar of k8s.io/apimachinery/pkg/api/resource (quantity.go) and the
scheduler's pod request arithmetic (k8s.io/component-helpers/resource.PodRequests)."""

from decimal import Decimal

import pytest

from airflow_k8s_workflows.kube.quantities import (
    QuantityError,
    cpu_millicores,
    memory_bytes,
    parse_quantity,
    pod_requests,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100m", Decimal("0.1")),
        ("0.5", Decimal("0.5")),
        ("1Gi", Decimal(1024**3)),
        ("500M", Decimal(500 * 10**6)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1E", Decimal(10**18)),  # exa, not an exponent
        ("2k", Decimal(2000)),
        ("1.5Gi", Decimal(1536 * 1024**2)),
        ("1Ki", Decimal(1024)),
        ("12n", Decimal("0.000000012")),
        ("3u", Decimal("0.000003")),
        ("+1", Decimal(1)),
        ("-1", Decimal(-1)),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("1e-3", Decimal("0.001")),
        ("0", Decimal(0)),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
    ],
)
def test_parse_quantity(text, expected):
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text",
    # Accepted by kubernetes.utils.parse_quantity, rejected by the API server.
    ["1K", "1ki", "NaN", "1_000", " 1", "1 ", "", "1e", "Mi", "1.5e3Mi", "1.2.3", "one", "1mi", "0x10"],
)
def test_parse_quantity_rejects(text):
    with pytest.raises(QuantityError, match="quantities must match the regular expression"):
        parse_quantity(text)


def test_parse_quantity_rejects_non_numbers():
    with pytest.raises(QuantityError):
        parse_quantity(True)  # type: ignore[arg-type]
    with pytest.raises(QuantityError):
        parse_quantity(float("inf"))
    with pytest.raises(QuantityError):
        parse_quantity(None)  # type: ignore[arg-type]


def test_cpu_millicores_rounds_up_like_milli_value():
    assert cpu_millicores("0.5") == 500
    assert cpu_millicores("1") == 1000
    assert cpu_millicores("100m") == 100
    assert cpu_millicores("1.0001") == 1001
    assert cpu_millicores(2) == 2000


def test_memory_bytes_rounds_up_like_value():
    assert memory_bytes("1Ki") == 1024
    assert memory_bytes("0.5Ki") == 512
    assert memory_bytes("128Mi") == 128 * 1024 * 1024
    assert memory_bytes("1.5") == 2
    assert memory_bytes("1G") == 10**9


def test_pod_requests_sums_containers_and_defaults_requests_to_limits():
    spec = {
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"name": "b", "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}},
            {"name": "c"},
        ]
    }
    assert pod_requests(spec) == {"cpu": Decimal("0.75"), "memory": Decimal(192 * 1024 * 1024)}


def test_pod_requests_init_containers_take_the_max():
    spec = {
        "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
        "initContainers": [
            {"name": "i1", "resources": {"requests": {"cpu": "2"}}},
            {"name": "i2", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
        ],
    }
    assert pod_requests(spec) == {"cpu": Decimal(2), "memory": Decimal(1024**3)}


def test_pod_requests_sidecars_add_up_and_overhead_is_added():
    # A sidecar (restartPolicy: Always) runs beside the app containers and the later init containers.
    spec = {
        "containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}],
        "initContainers": [
            {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
            {"name": "init", "resources": {"requests": {"cpu": "2"}}},
        ],
        "overhead": {"cpu": "100m"},
    }
    # app + sidecar = 1.5; init peak = sidecar + init = 2.5; + overhead 0.1
    assert pod_requests(spec) == {"cpu": Decimal("2.6")}
