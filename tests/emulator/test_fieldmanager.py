"""Server-side apply and managedFields."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_k8s_workflows.emulator import fieldmanager
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.fieldmanager import (
    apply,
    decode_fields,
    encode_fields,
    path_string,
    update,
)
from airflow_k8s_workflows.emulator.patch import merge_patch
from airflow_k8s_workflows.emulator.schema import SchemaIndex, SchemaNode

T0, T1, T2, T3 = (
    "2024-05-01T10:00:00Z",
    "2024-05-01T10:00:01Z",
    "2024-05-01T10:00:02Z",
    "2024-05-01T10:00:03Z",
)


@pytest.fixture(scope="module")
def index() -> SchemaIndex:
    return SchemaIndex.default()


@pytest.fixture(scope="module")
def deployment_schema(index: SchemaIndex) -> SchemaNode:
    node = index.root("apps/v1", "Deployment")
    assert node is not None
    return node


@pytest.fixture(scope="module")
def configmap_schema(index: SchemaIndex) -> SchemaNode:
    node = index.root("v1", "ConfigMap")
    assert node is not None
    return node


def _apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    node: SchemaNode,
    manager: str = "apply_test",
    now: str = T0,
    force: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    api_version = config.get("apiVersion", "apps/v1")
    return apply(
        live, config, manager=manager, force=force, node=node, api_version=api_version, now=now, **kwargs
    )


def _update(
    old: dict[str, Any] | None, new: dict[str, Any], node: SchemaNode, manager: str, now: str, **kwargs: Any
) -> dict[str, Any]:
    """What the API server stores after a non-apply write: ``new`` with fresh managedFields."""
    stored = copy.deepcopy(new)
    managed = update(old, new, manager=manager, node=node, api_version=new["apiVersion"], now=now, **kwargs)
    stored.setdefault("metadata", {})["managedFields"] = managed
    return stored


def _managers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["manager"]: entry for entry in obj["metadata"].get("managedFields", [])}


# -- FieldsV1 -------------------------------------------------------------------------------------------------

REAL_FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:template": {
            "f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}}
        }
    },
}


def test_fields_v1_round_trip() -> None:
    paths = decode_fields(REAL_FIELDS)
    container = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}')
    assert paths == {
        ("f:metadata", "f:labels", "f:app"),
        container,
        (*container, "f:image"),
        (*container, "f:name"),
    }
    assert encode_fields(paths) == REAL_FIELDS


def test_fields_v1_orders_members_fields_keys_values_indexes() -> None:
    paths = {
        ("f:b",),
        ("f:a",),
        ("f:a", "f:z"),
        ("f:l", "i:10"),
        ("f:l", "i:2"),
        ("f:s", 'v:"x"'),
        ("f:m", 'k:{"k":1}'),
    }
    encoded = encode_fields(paths)
    assert list(encoded) == ["f:a", "f:b", "f:l", "f:m", "f:s"]
    assert list(encoded["f:a"]) == [".", "f:z"]
    assert list(encoded["f:l"]) == ["i:2", "i:10"]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("f:spec", "f:replicas"), ".spec.replicas"),
        (
            ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}', "f:image"),
            '.spec.template.spec.containers[name="web"].image',
        ),
        (("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}'), '.spec.ports[port=80,protocol="TCP"]'),
        (("f:metadata", "f:finalizers", 'v:"example.com/x"'), '.metadata.finalizers[="example.com/x"]'),
        (("f:args", "i:3"), ".args[3]"),
    ],
)
def test_path_strings(path: tuple[str, ...], text: str) -> None:
    assert path_string(path) == text


# -- apply ------------------------------------------------------------------------------------------------------


def _web_deployment(**spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": "nginx:1.25"}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"template": {"spec": {"containers": [container]}}, **spec},
    }


def test_apply_creates_and_records_the_applied_fields(deployment_schema: SchemaNode) -> None:
    config = _web_deployment()
    config["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx"
    created = _apply(None, config, deployment_schema, manager="kubectl")
    assert created["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": REAL_FIELDS,
        }
    ]
    assert created["spec"] == config["spec"]
    assert "managedFields" not in config["metadata"]


def test_apply_managed_fields_api(configmap_schema: SchemaNode) -> None:
    # TestApplyManagedFields, test/integration/apiserver/apply/apply_test.go
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "test-cm", "namespace": "default", "labels": {"test-label": "test"}},
        "data": {"key": "value"},
    }
    live = _apply(None, config, configmap_schema, now=T0)
    live = _update(live, merge_patch(live, {"data": {"new-key": "value"}}), configmap_schema, "updater", T1)
    live = _update(live, merge_patch(live, {"data": {"key": "new value"}}), configmap_schema, "updater", T2)
    assert live["data"] == {"key": "new value", "new-key": "value"}
    assert live["metadata"]["managedFields"] == [
        {
            "manager": "apply_test",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:test-label": {}}}},
        },
        {
            "manager": "updater",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T2,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:key": {}, "f:new-key": {}}},
        },
    ]


def test_apply_removes_empty_managed_fields(configmap_schema: SchemaNode) -> None:
    # TestApplyRemovesEmptyManagedFields
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "test-cm", "namespace": "default"},
    }
    live = _apply(None, config, configmap_schema)
    live = _apply(live, config, configmap_schema)
    assert "managedFields" not in live["metadata"]


def test_noop_apply_keeps_the_timestamp(configmap_schema: SchemaNode) -> None:
    # TestNoopChangeCreationTime: the same configuration applied twice changes nothing
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "myconfig", "creationTimestamp": None, "resourceVersion": None},
        "data": {"key": "value"},
    }
    first = _apply(None, config, configmap_schema, now=T0)
    second = _apply(first, config, configmap_schema, now=T3)
    assert second["metadata"]["managedFields"] == first["metadata"]["managedFields"]


def test_apply_removes_a_container_port_it_no_longer_applies(deployment_schema: SchemaNode) -> None:
    # TestApplyRemoveContainerPort
    with_port = _web_deployment(replicas=3, container={"ports": [{"containerPort": 80, "protocol": "TCP"}]})
    live = _apply(None, with_port, deployment_schema)
    assert _managers(live)["apply_test"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"][
        'k:{"name":"web"}'
    ]["f:ports"] == {
        'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}, "f:protocol": {}}
    }
    live = _apply(live, _web_deployment(replicas=3), deployment_schema)
    assert "ports" not in live["spec"]["template"]["spec"]["containers"][0]


def test_port_protocol_defaults_in_the_list_key(deployment_schema: SchemaNode) -> None:
    live = _apply(None, _web_deployment(container={"ports": [{"containerPort": 8080}]}), deployment_schema)
    ports = _managers(live)["apply_test"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"][
        'k:{"name":"web"}'
    ]["f:ports"]
    assert list(ports) == ['k:{"containerPort":8080,"protocol":"TCP"}']


def test_apply_fails_with_version_mismatch(deployment_schema: SchemaNode) -> None:
    # TestApplyFailsWithVersionMismatch
    config = _web_deployment()
    config["apiVersion"] = "extensions/v1beta"
    with pytest.raises(ApiError) as info:
        apply(None, config, manager="m", force=False, node=deployment_schema, api_version="apps/v1", now=T0)
    assert info.value.code == 400
    assert info.value.message == (
        "Incorrect version specified in apply patch. Specified patch version: extensions/v1beta, expected: apps/v1"
    )


def test_apply_refuses_managed_fields_in_the_configuration(deployment_schema: SchemaNode) -> None:
    config = _web_deployment()
    config["metadata"]["managedFields"] = []
    with pytest.raises(ApiError) as info:
        _apply(None, config, deployment_schema)
    assert (info.value.code, info.value.message) == (400, "metadata.managedFields must be nil")


def test_apply_takes_over_managed_fields_sent_on_create(deployment_schema: SchemaNode) -> None:
    # TestApplyConvertsManagedFieldsVersion: a create carrying an Apply entry (with a bogus path),
    # then an apply by that manager
    created = _web_deployment()
    created["metadata"]["managedFields"] = [
        {
            "manager": "sidecar_controller",
            "operation": "Apply",
            "apiVersion": "extensions/v1beta1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:sidecar_version": {}}},
                "f:spec": {
                    "f:template": {
                        "f: spec": {"f:containers": {'k:{"name":"sidecar"}': {".": {}, "f:image": {}}}}
                    }
                },
            },
        }
    ]
    live = _update(None, created, deployment_schema, "creator", T0)
    config = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"sidecar_version": "release"}},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "sidecar:latest"}]}}},
    }
    live = _apply(live, config, deployment_schema, manager="sidecar_controller", now=T1)
    managers = _managers(live)
    assert set(managers) == {"creator", "sidecar_controller"}
    assert managers["sidecar_controller"] == {
        "manager": "sidecar_controller",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:sidecar_version": {}}},
            "f:spec": {
                "f:template": {
                    "f:spec": {
                        "f:containers": {'k:{"name":"sidecar"}': {".": {}, "f:image": {}, "f:name": {}}}
                    }
                }
            },
        },
    }
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["web", "sidecar"]
    assert live["metadata"]["labels"] == {"app": "web", "sidecar_version": "release"}


def test_conflict_with_an_updater_then_force(deployment_schema: SchemaNode) -> None:
    # TestApplyUpdateApplyConflictForced
    config = _web_deployment(replicas=3)
    live = _apply(None, config, deployment_schema, now=T0)
    live = _update(live, merge_patch(live, {"spec": {"replicas": 5}}), deployment_schema, "kubectl-edit", T1)
    with pytest.raises(ApiError) as info:
        _apply(live, config, deployment_schema, now=T2)
    status = info.value.status()
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert (
        status["message"]
        == 'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas'
    )
    assert status["details"] == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "kubectl-edit" using apps/v1',
                "field": ".spec.replicas",
            }
        ]
    }
    forced = _apply(live, config, deployment_schema, now=T2, force=True)
    assert forced["spec"]["replicas"] == 3
    assert set(_managers(forced)) == {"apply_test"}, "the updater lost its only field"
    assert "f:replicas" in _managers(forced)["apply_test"]["fieldsV1"]["f:spec"]


def test_conflicts_with_several_managers_are_grouped(deployment_schema: SchemaNode) -> None:
    live = _apply(None, _web_deployment(replicas=1, paused=False), deployment_schema, manager="m1")
    live = _apply(live, _web_deployment(minReadySeconds=5), deployment_schema, manager="kubectl")
    changed = merge_patch(live, {"spec": {"replicas": 2, "revisionHistoryLimit": 3}})
    live = _update(live, changed, deployment_schema, "kubectl-client-side-apply", T1)
    attempt = _web_deployment(replicas=4, paused=True, minReadySeconds=6, revisionHistoryLimit=1)
    with pytest.raises(ApiError) as info:
        _apply(live, attempt, deployment_schema, manager="m2", now=T2)
    causes = info.value.status()["details"]["causes"]
    assert {(c["message"], c["field"]) for c in causes} == {
        ('conflict with "kubectl"', ".spec.minReadySeconds"),
        ('conflict with "kubectl-client-side-apply" using apps/v1', ".spec.replicas"),
        ('conflict with "kubectl-client-side-apply" using apps/v1', ".spec.revisionHistoryLimit"),
        ('conflict with "m1"', ".spec.paused"),
    }
    assert info.value.message == (
        "Apply failed with 4 conflicts: "
        'conflicts with "kubectl":\n'
        "- .spec.minReadySeconds\n"
        'conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        "- .spec.replicas\n"
        "- .spec.revisionHistoryLimit\n"
        'conflicts with "m1":\n'
        "- .spec.paused"
    )


def test_same_value_is_shared_ownership(deployment_schema: SchemaNode) -> None:
    live = _apply(None, _web_deployment(replicas=3), deployment_schema, manager="a")
    live = _apply(live, _web_deployment(replicas=3), deployment_schema, manager="b")
    for manager in ("a", "b"):
        assert "f:replicas" in _managers(live)[manager]["fieldsV1"]["f:spec"]
    # a stops applying replicas: b still owns it, so it stays
    live = _apply(live, _web_deployment(), deployment_schema, manager="a", now=T1)
    assert live["spec"]["replicas"] == 3
    # b stops too: nobody owns it any more, it goes
    live = _apply(live, _web_deployment(), deployment_schema, manager="b", now=T2)
    assert "replicas" not in live["spec"]


def test_removing_an_env_var_and_a_label(deployment_schema: SchemaNode) -> None:
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    live = _apply(None, _web_deployment(container={"env": env}), deployment_schema)
    config = _web_deployment(container={"env": env[1:]})
    del config["metadata"]["labels"]
    live = _apply(live, config, deployment_schema, now=T1)
    assert live["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "B", "value": "2"}]
    assert "labels" not in live["metadata"]


def test_apply_keeps_fields_set_by_others(deployment_schema: SchemaNode) -> None:
    live = _apply(None, _web_deployment(), deployment_schema)
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    live = _update(live, edited, deployment_schema, "kubectl-edit", T1)
    live = _apply(live, _web_deployment(container={"image": "nginx:1.26"}), deployment_schema, now=T2)
    containers = live["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "web", "image": "nginx:1.26"}, {"name": "sidecar", "image": "busybox"}]


def test_apply_merges_list_maps_in_configuration_order(deployment_schema: SchemaNode) -> None:
    live = _apply(None, _web_deployment(), deployment_schema)
    config = _web_deployment()
    config["spec"]["template"]["spec"]["containers"] = [
        {"name": "init-like", "image": "busybox"},
        {"name": "web", "image": "nginx:1.25"},
        {"name": "cache", "image": "redis"},
    ]
    live = _apply(live, config, deployment_schema, now=T1)
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == [
        "init-like",
        "web",
        "cache",
    ]


def test_finalizers_are_owned_as_set_members(deployment_schema: SchemaNode) -> None:
    config = _web_deployment()
    config["metadata"]["finalizers"] = ["example.com/a"]
    live = _apply(None, config, deployment_schema, manager="a")
    other = _web_deployment()
    other["metadata"]["finalizers"] = ["example.com/b"]
    live = _apply(live, other, deployment_schema, manager="b")
    assert live["metadata"]["finalizers"] == ["example.com/a", "example.com/b"]
    assert _managers(live)["b"]["fieldsV1"]["f:metadata"]["f:finalizers"] == {'v:"example.com/b"': {}}


def test_first_apply_to_an_untracked_object_conflicts_with_before_first_apply(
    deployment_schema: SchemaNode,
) -> None:
    live = _web_deployment(replicas=1)
    with pytest.raises(ApiError) as info:
        _apply(live, _web_deployment(replicas=2), deployment_schema)
    assert info.value.message == (
        'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas'
    )


def test_status_is_not_owned_by_main_resource_applies(deployment_schema: SchemaNode) -> None:
    config = _web_deployment()
    config["status"] = {"replicas": 1}
    live = _apply(None, config, deployment_schema)
    assert "f:status" not in _managers(live)["apply_test"]["fieldsV1"]


def test_status_subresource_writes_are_tracked_separately(deployment_schema: SchemaNode) -> None:
    live = _apply(None, _web_deployment(), deployment_schema)
    with_status = copy.deepcopy(live)
    with_status["status"] = {"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]}
    live = _update(live, with_status, deployment_schema, "kube-controller-manager", T1, subresource="status")
    entry = _managers(live)["kube-controller-manager"]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {
        "f:status": {
            ".": {},
            "f:conditions": {".": {}, 'k:{"type":"Available"}': {".": {}, "f:status": {}, "f:type": {}}},
            "f:replicas": {},
        }
    }
    assert (
        _managers(live)["apply_test"]["fieldsV1"]
        == _managers(_apply(None, _web_deployment(), deployment_schema))["apply_test"]["fieldsV1"]
    )


def test_applied_configuration_is_validated_like_a_typed_object(deployment_schema: SchemaNode) -> None:
    config = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "ns"},
        "spec": {"replicas": "a", "foo": 1, "template": {"spec": {"containers": [{"image": "x"}]}}},
    }
    with pytest.raises(ApiError) as info:
        _apply(None, config, deployment_schema)
    assert info.value.code == 500
    assert info.value.message == (
        "failed to create typed patch object (ns/x; apps/v1, Kind=Deployment): errors:\n"
        "  .spec.replicas: expected numeric (int or float), got string\n"
        "  .spec.foo: field not declared in schema\n"
        "  .spec.template.spec.containers: element 0: associative list with keys has an element that omits key "
        'field "name" (and doesn\'t have default value)'
    )


def test_custom_resources_use_list_map_keys(index: SchemaIndex) -> None:
    node = SchemaNode.from_openapi_v3(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {
                        "ports": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                            "items": {
                                "type": "object",
                                "properties": {
                                    "containerPort": {"type": "integer"},
                                    "protocol": {"type": "string", "default": "TCP"},
                                },
                            },
                        }
                    },
                }
            },
        }
    )
    config = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"ports": [{"containerPort": 80}], "anything": {"goes": [1]}},
    }
    live = apply(None, config, manager="m", force=False, node=node, api_version="example.com/v1", now=T0)
    assert live["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:spec": {
            "f:anything": {".": {}, "f:goes": {}},
            "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
        }
    }


# -- update -----------------------------------------------------------------------------------------------------


def test_create_owns_every_field_it_set(configmap_schema: SchemaNode) -> None:
    new = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", "uid": "u", "labels": {"a": "1"}},
        "data": {"k": "v"},
    }
    assert update(None, new, manager="kubectl-create", node=configmap_schema, api_version="v1", now=T0) == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}},
        }
    ]


def test_update_steals_changed_fields_and_forgets_removed_ones(configmap_schema: SchemaNode) -> None:
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    live = _apply(None, base, configmap_schema, manager="applier")
    live = _update(
        live, merge_patch(live, {"data": {"a": "changed", "b": None}}), configmap_schema, "editor", T1
    )
    managers = _managers(live)
    assert "applier" not in managers, "its fields were changed or removed by the editor"
    assert decode_fields(managers["editor"]["fieldsV1"]) == {("f:data", "f:a")}


def test_update_that_changes_nothing_records_nothing(configmap_schema: SchemaNode) -> None:
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    live = _apply(None, base, configmap_schema, manager="applier")
    after = _update(live, copy.deepcopy(live), configmap_schema, "noop", T1)
    assert after["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_managed_fields_reset_with_an_empty_entry(configmap_schema: SchemaNode) -> None:
    # TestClearManagedFieldsWithMergePatch
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "test-cm", "namespace": "default", "labels": {"test-label": "test"}},
        "data": {"key": "value"},
    }
    live = _apply(None, config, configmap_schema)
    patched = merge_patch(live, {"metadata": {"managedFields": [{}]}})
    assert update(live, patched, manager="m", node=configmap_schema, api_version="v1", now=T1) == []


def test_client_sent_managed_fields_replace_the_tracked_ones(configmap_schema: SchemaNode) -> None:
    live = _apply(None, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}},
                  configmap_schema)  # fmt: skip
    sent = copy.deepcopy(live)
    sent["metadata"]["managedFields"] = [
        {"manager": "someone", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:a": {}}}}
    ]  # fmt: skip
    managed = update(live, sent, manager="m", node=configmap_schema, api_version="v1", now=T1)
    assert [entry["manager"] for entry in managed] == ["someone"]
    # an empty list keeps what the object had
    sent["metadata"]["managedFields"] = []
    assert (
        update(live, sent, manager="m", node=configmap_schema, api_version="v1", now=T1)
        == live["metadata"]["managedFields"]
    )


def test_many_updaters_are_capped_into_ancient_changes(index: SchemaIndex) -> None:
    # TestApplyGroupsManySeparateUpdates
    node = index.root("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")
    assert node is not None
    config = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "webhook", "labels": {"applier": "true"}},
    }
    live = apply(
        None, config, manager="apply_test", force=False, node=node, api_version=config["apiVersion"], now=T0
    )
    for i in range(20):
        unique = f"updater{i}"
        patched = merge_patch(live, {"metadata": {"labels": {unique: "new"}}})
        live = _update(live, patched, node, unique, f"2024-05-01T11:00:{i:02d}Z")
    managed = live["metadata"]["managedFields"]
    assert len(managed) == 11
    assert [managed[0]["manager"], managed[1]["manager"]] == ["apply_test", "ancient-changes"]
    assert decode_fields(managed[1]["fieldsV1"]) >= {("f:metadata", "f:labels", "f:updater0")}


# -- the structured merge itself ----------------------------------------------------------------------------------

# The "struct grab bag" and "associative list" schemas of structured-merge-diff's typed/merge_test.go,
# written as a CRD schema.
GRAB_BAG = SchemaNode.from_openapi_v3(
    {
        "type": "object",
        "properties": {
            "numeric": {"type": "number"},
            "string": {"type": "string"},
            "bool": {"type": "boolean"},
            "setStr": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "setBool": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "boolean"}},
            "setNumeric": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "number"}},
            "list": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["key", "id"],
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "id": {"type": "number"},
                        "value": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
            },
            "atomicList": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string"}},
        },
    }
)


@pytest.mark.parametrize(
    ("lhs", "rhs", "out"),
    [
        ({"numeric": 1}, {"numeric": 3.14159}, {"numeric": 3.14159}),
        ({"string": "aoeu"}, {"bool": True}, {"string": "aoeu", "bool": True}),
        ({"setStr": ["a", "b", "c"]}, {"setStr": ["a", "b"]}, {"setStr": ["a", "b", "c"]}),
        ({"setStr": ["a", "b"]}, {"setStr": ["a", "b", "c"]}, {"setStr": ["a", "b", "c"]}),
        ({"setStr": ["a", "b", "c"]}, {"setStr": []}, {"setStr": ["a", "b", "c"]}),
        ({"setStr": []}, {"setStr": ["a", "b", "c"]}, {"setStr": ["a", "b", "c"]}),
        ({"setBool": [True]}, {"setBool": [False]}, {"setBool": [True, False]}),
        ({"setNumeric": [1, 2, 3.14159]}, {"setNumeric": [1, 2, 3]}, {"setNumeric": [1, 2, 3.14159, 3]}),
        (
            {"list": [{"key": "a", "id": 1, "value": {"a": "a"}}]},
            {"list": [{"key": "a", "id": 2, "value": {"a": "a"}}]},
            {
                "list": [
                    {"key": "a", "id": 1, "value": {"a": "a"}},
                    {"key": "a", "id": 2, "value": {"a": "a"}},
                ]
            },
        ),
        (
            {"list": [{"key": "a", "id": 1}, {"key": "b", "id": 1}]},
            {"list": [{"key": "a", "id": 1}, {"key": "a", "id": 2}]},
            {"list": [{"key": "a", "id": 1}, {"key": "b", "id": 1}, {"key": "a", "id": 2}]},
        ),
        ({"atomicList": ["a", "b", "c"]}, {"atomicList": []}, {"atomicList": []}),
        ({"atomicList": ["a", "a", "a"]}, {"atomicList": ["a", "a"]}, {"atomicList": ["a", "a"]}),
    ],
)
def test_structured_merge_fixtures(lhs: dict[str, Any], rhs: dict[str, Any], out: dict[str, Any]) -> None:
    assert fieldmanager.merge(GRAB_BAG, lhs, rhs) == out


def test_shared_list_items_follow_the_configuration_order(deployment_schema: SchemaNode) -> None:
    containers = _path_node(deployment_schema, "spec", "template", "spec", "containers")
    live = [{"name": "a"}, {"name": "x"}, {"name": "b"}]
    assert fieldmanager.merge(containers, live, [{"name": "b"}, {"name": "a", "image": "i"}]) == [
        {"name": "x"},
        {"name": "b"},
        {"name": "a", "image": "i"},
    ]


def _path_node(node: SchemaNode, *names: str) -> SchemaNode:
    for name in names:
        child = node.field(name)
        assert child is not None
        node = child
    return node
