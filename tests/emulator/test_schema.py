"""The Kubernetes OpenAPI schema: lookup, list semantics, unknown fields, JSON type errors."""

from __future__ import annotations

import pytest

from airflow_k8s_workflows.emulator.schema import (
    QUANTITY_FORMAT_ERROR,
    SchemaIndex,
    SchemaNode,
    prune_unknown,
    strict_decoding_error,
    type_errors,
    unknown_fields,
)


@pytest.fixture(scope="module")
def index() -> SchemaIndex:
    return SchemaIndex.default()


def _deployment(index: SchemaIndex) -> SchemaNode:
    node = index.root("apps/v1", "Deployment")
    assert node is not None
    return node


def _path(node: SchemaNode | None, *names: str) -> SchemaNode:
    for name in names:
        assert node is not None, name
        node = node.items() if name == "[]" else node.field(name)
    assert node is not None
    return node


def test_default_index_is_loaded_once(index: SchemaIndex) -> None:
    assert SchemaIndex.default() is index


@pytest.mark.parametrize(
    ("api_version", "kind", "definition"),
    [
        ("v1", "Pod", "io.k8s.api.core.v1.Pod"),
        ("v1", "Event", "io.k8s.api.core.v1.Event"),
        ("apps/v1", "Deployment", "io.k8s.api.apps.v1.Deployment"),
        ("batch/v1", "Job", "io.k8s.api.batch.v1.Job"),
        ("autoscaling/v1", "Scale", "io.k8s.api.autoscaling.v1.Scale"),
        ("autoscaling/v2", "HorizontalPodAutoscaler", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"),
        ("rbac.authorization.k8s.io/v1", "Role", "io.k8s.api.rbac.v1.Role"),
        ("events.k8s.io/v1", "Event", "io.k8s.api.events.v1.Event"),
        (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        ),
    ],
)
def test_root_by_api_version_and_kind(
    index: SchemaIndex, api_version: str, kind: str, definition: str
) -> None:
    node = index.root(api_version, kind)
    assert node is not None
    assert node.def_name == definition
    assert node.kind == "struct"


def test_root_of_unknown_kind_is_none(index: SchemaIndex) -> None:
    assert index.root("apps/v1", "Nope") is None
    assert index.root("example.com/v1", "Deployment") is None


def test_strategic_merge_metadata_of_pod_lists(index: SchemaIndex) -> None:
    pod_spec = _path(_deployment(index), "spec", "template", "spec")
    containers = _path(pod_spec, "containers")
    assert (containers.list_type, containers.list_map_keys, containers.patch_merge_key) == (
        "map",
        ("name",),
        "name",
    )
    assert containers.patch_strategies == {"merge"}
    ports = _path(containers, "[]", "ports")
    assert ports.patch_merge_key == "containerPort"
    assert ports.list_map_keys == ("containerPort", "protocol")
    assert _path(containers, "[]", "volumeMounts").patch_merge_key == "mountPath"
    assert _path(pod_spec, "volumes").patch_strategies == {"merge", "retainKeys"}
    assert _path(containers, "[]", "args").list_type == "atomic"
    service_ports = _path(index.root("v1", "Service"), "spec", "ports")
    assert service_ports.patch_merge_key == "port"
    assert _path(index.root("apps/v1", "Deployment"), "spec", "strategy").patch_strategies == {"retainKeys"}


def test_metadata_lists_and_maps(index: SchemaIndex) -> None:
    meta = _path(_deployment(index), "metadata")
    assert meta.def_name == "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert _path(meta, "finalizers").list_type == "set"
    assert _path(meta, "ownerReferences").patch_merge_key == "uid"
    labels = _path(meta, "labels")
    assert labels.kind == "map"
    assert _path(labels, "anything").scalar_type == "string"
    assert _path(_deployment(index), "spec", "selector").atomic
    assert _path(_deployment(index), "status", "conditions").list_map_keys == ("type",)


def test_scalar_kinds_and_go_types(index: SchemaIndex) -> None:
    spec = _path(_deployment(index), "spec")
    assert _path(spec, "replicas").go_type == "int32"
    assert _path(spec, "paused").go_type == "bool"
    assert _path(spec, "strategy", "rollingUpdate", "maxSurge").scalar_type == "int-or-string"
    limits = _path(spec, "template", "spec", "containers", "[]", "resources", "limits")
    assert limits.go_type == "map[string]resource.Quantity"
    assert _path(limits, "cpu").scalar_type == "quantity"
    assert _path(spec, "template", "spec", "containers").go_type == "[]v1.Container"
    assert _path(_deployment(index), "metadata", "creationTimestamp").scalar_type == "date-time"
    assert _path(index.root("v1", "Secret"), "data").go_type == "map[string][]uint8"


def test_free_form_values_accept_anything(index: SchemaIndex) -> None:
    raw = _path(index.root("apps/v1", "ControllerRevision"), "data")
    assert raw.kind == "any"
    assert unknown_fields(raw, {"whatever": {"nested": [1]}}) == []


# Deployment from test/integration/apiserver/field_validation_test.go (invalidBodyJSON, duplicates
# dropped: they cannot survive JSON decoding into a dict).
INVALID_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "test-deployment", "labels": {"app": "nginx"}},
    "spec": {
        "unknown1": "val1",
        "unknownDupe": "valDupe2",
        "paused": False,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {
                "containers": [
                    {
                        "name": "nginx",
                        "image": "nginx:latest",
                        "unknownNested": "val1",
                        "imagePullPolicy": "Never",
                    }
                ]
            },
        },
    },
}


def test_unknown_fields_of_builtin_kind_in_document_order(index: SchemaIndex) -> None:
    assert unknown_fields(_deployment(index), INVALID_DEPLOYMENT) == [
        "spec.unknown1",
        "spec.unknownDupe",
        "spec.template.spec.containers[0].unknownNested",
    ]


def test_unknown_fields_cover_metadata_and_status_but_never_type_meta(index: SchemaIndex) -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "nmae": "typo"},
        "status": {"replicas": 1, "ready": 1},
    }
    assert unknown_fields(_deployment(index), obj) == ["metadata.nmae", "status.ready"]


def test_strict_decoding_error_message(index: SchemaIndex) -> None:
    paths = unknown_fields(_deployment(index), INVALID_DEPLOYMENT)
    err = strict_decoding_error(paths[:2], "Deployment", "v1")
    assert err.code == 400
    assert err.reason == "BadRequest"
    assert err.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.unknown1", unknown field "spec.unknownDupe"'
    )


def test_prune_unknown_keeps_only_declared_fields(index: SchemaIndex) -> None:
    pruned = prune_unknown(_deployment(index), INVALID_DEPLOYMENT)
    assert "unknown1" not in pruned["spec"]
    assert pruned["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "nginx:latest", "imagePullPolicy": "Never"}
    ]
    assert pruned["metadata"] == INVALID_DEPLOYMENT["metadata"]
    assert unknown_fields(_deployment(index), pruned) == []
    assert "unknown1" in INVALID_DEPLOYMENT["spec"]


# The CRD schema of test/integration/apiserver/field_validation_test.go (crdSchemaBase).
CRD_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "cronSpec": {"type": "string"},
                "knownField1": {"type": "string"},
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                    "x-kubernetes-list-type": "map",
                    "items": {
                        "type": "object",
                        "required": ["containerPort", "protocol"],
                        "properties": {
                            "containerPort": {"format": "int32", "type": "integer"},
                            "hostIP": {"type": "string"},
                            "hostPort": {"format": "int32", "type": "integer"},
                            "name": {"type": "string"},
                            "protocol": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}

CRD_INVALID_BODY = {
    "apiVersion": "schema.example.com/v1",
    "kind": "Schema",
    "metadata": {"name": "x"},
    "spec": {
        "unknown1": "val1",
        "unknownDupe": "valDupe2",
        "knownField1": "val2",
        "ports": [
            {
                "name": "portName",
                "containerPort": 8080,
                "protocol": "TCP",
                "hostPort": 8082,
                "unknownNested": "val",
            }
        ],
    },
}


def test_custom_resource_unknown_fields_are_sorted_like_pruning_reports_them() -> None:
    node = SchemaNode.from_openapi_v3(CRD_SCHEMA)
    # the expected strict decoding errors of field_validation_test.go, "crd-post-strict-validation"
    assert unknown_fields(node, CRD_INVALID_BODY) == [
        "spec.ports[0].unknownNested",
        "spec.unknown1",
        "spec.unknownDupe",
    ]


def test_custom_resource_schema_semantics() -> None:
    node = SchemaNode.from_openapi_v3(CRD_SCHEMA)
    assert not node.strategic
    assert _path(node, "metadata").def_name == "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    ports = _path(node, "spec", "ports")
    assert (ports.list_type, ports.list_map_keys) == ("map", ("containerPort", "protocol"))
    assert ports.patch_strategies == frozenset()
    assert type_errors(node, {"spec": {"knownField1": 3}}, "Schema", "v1") is None


def test_preserve_unknown_fields_in_custom_resources() -> None:
    schemaless = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"ports": CRD_SCHEMA["properties"]["spec"]["properties"]["ports"]},
            }
        },
    }
    node = SchemaNode.from_openapi_v3(schemaless)
    # "schemaless-crd-post-strict-validation": only the nested unknown field is reported
    assert unknown_fields(node, CRD_INVALID_BODY) == ["spec.ports[0].unknownNested"]
    assert prune_unknown(node, CRD_INVALID_BODY)["spec"]["unknown1"] == "val1"


def _type_error(index: SchemaIndex, obj: dict[str, object]) -> str | None:
    err = type_errors(_deployment(index), obj, "Deployment", "v1")
    if err is None:
        return None
    assert (err.code, err.reason) == (400, "BadRequest")
    prefix = 'Deployment in version "v1" cannot be handled as a Deployment: '
    assert err.message.startswith(prefix)
    return err.message[len(prefix) :]


def test_type_error_of_a_wrong_scalar(index: SchemaIndex) -> None:
    assert (
        _type_error(index, {"spec": {"replicas": "3"}})
        == "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    )


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"spec": {"replicas": 1.5}},
            "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32",
        ),
        (
            {"spec": {"replicas": 2**31}},
            "json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas "
            "of type int32",
        ),
        (
            {"spec": "nope"},
            "json: cannot unmarshal string into Go struct field Deployment.spec of type v1.DeploymentSpec",
        ),
        (
            {"spec": {"template": {"spec": {"containers": {"name": "a"}}}}},
            "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers "
            "of type []v1.Container",
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": 7}]}}}},
            "json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.image "
            "of type string",
        ),
        (
            {"metadata": {"labels": {"app": True}}},
            "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string",
        ),
        (
            {"spec": {"paused": "yes"}},
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool",
        ),
        (
            {"spec": {"strategy": {"rollingUpdate": {"maxSurge": [1]}}}},
            "json: cannot unmarshal array into Go struct field RollingUpdateDeployment.spec.strategy."
            "rollingUpdate.maxSurge of type int32",
        ),
        (
            {"metadata": {"creationTimestamp": 5}},
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp "
            "of type string",
        ),
    ],
)
def test_type_errors_name_the_go_struct_field(
    index: SchemaIndex, obj: dict[str, object], message: str
) -> None:
    assert _type_error(index, obj) == message


def test_int_or_string_and_quantities_accept_both_forms(index: SchemaIndex) -> None:
    ok = {
        "spec": {
            "replicas": None,
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "resources": {"limits": {"cpu": "500m", "memory": 1e9}, "requests": {"cpu": 1}},
                        }
                    ]
                }
            },
        }
    }
    assert _type_error(index, ok) is None


def test_invalid_quantity(index: SchemaIndex) -> None:
    bad = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "lots"}}}]}}
        }
    }
    assert _type_error(index, bad) == QUANTITY_FORMAT_ERROR


def test_first_plain_mismatch_wins(index: SchemaIndex) -> None:
    assert _type_error(index, {"spec": {"paused": 1, "replicas": "x"}}) == (
        "json: cannot unmarshal number into Go struct field DeploymentSpec.spec.paused of type bool"
    )


def test_custom_unmarshaler_error_wins_over_earlier_mismatch(index: SchemaIndex) -> None:
    # encoding/json keeps decoding after a plain mismatch but stops at an UnmarshalJSON error
    obj = {"spec": {"replicas": "x", "strategy": {"rollingUpdate": {"maxSurge": True}}}}
    assert _type_error(index, obj) == (
        "json: cannot unmarshal bool into Go struct field RollingUpdateDeployment.spec.strategy."
        "rollingUpdate.maxSurge of type int32"
    )


def test_unknown_fields_do_not_cause_type_errors(index: SchemaIndex) -> None:
    assert _type_error(index, INVALID_DEPLOYMENT) is None
