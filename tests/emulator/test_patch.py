"""JSON patch, JSON merge patch and strategic merge patch."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    json_patch,
    merge_patch,
    patch_type,
    strategic_merge_patch,
)
from airflow_k8s_workflows.emulator.schema import SchemaIndex, SchemaNode

# -- the MergeItem type of k8s.io/apimachinery/pkg/util/strategicpatch/patch_test.go -----------------------

_ITEM_LIST = {"type": "array", "items": {"$ref": "#/$defs/mergeItem"}}
MERGE_ITEM_DEFINITIONS: dict[str, Any] = {
    "mergeItem": {
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "test", "version": "v1", "kind": "MergeItem"}],
        "properties": {
            "name": {"type": "string"},
            "value": {"type": "string"},
            "other": {"type": "string"},
            "mergingList": {
                **_ITEM_LIST,
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "name",
            },
            "nonMergingList": _ITEM_LIST,
            "mergingIntList": {
                "type": "array",
                "items": {"type": "integer"},
                "x-kubernetes-patch-strategy": "merge",
            },
            "nonMergingIntList": {"type": "array", "items": {"type": "integer"}},
            "mergeItemPtr": {
                **_ITEM_LIST,
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "name",
            },
            "simpleMap": {"type": "object", "additionalProperties": {"type": "string"}},
            "replacingItem": {"type": "object", "x-kubernetes-patch-strategy": "replace"},
            "retainKeysMap": {
                "$ref": "#/$defs/retainKeysMergeItem",
                "x-kubernetes-patch-strategy": "retainKeys",
            },
            "retainKeysMergingList": {
                **_ITEM_LIST,
                "x-kubernetes-patch-strategy": "merge,retainKeys",
                "x-kubernetes-patch-merge-key": "name",
            },
        },
    },
    "retainKeysMergeItem": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "value": {"type": "string"},
            "other": {"type": "string"},
            "simpleMap": {"type": "object", "additionalProperties": {"type": "string"}},
            "mergingIntList": {
                "type": "array",
                "items": {"type": "integer"},
                "x-kubernetes-patch-strategy": "merge",
            },
            "mergingList": {
                **_ITEM_LIST,
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "name",
            },
            "nonMergingList": _ITEM_LIST,
        },
    },
}


@pytest.fixture(scope="module")
def merge_item() -> SchemaNode:
    node = SchemaIndex(MERGE_ITEM_DEFINITIONS).root("test/v1", "MergeItem")
    assert node is not None
    return node


# Each case: the live object, the patch the server receives, the stored result. Taken from the
# fixtures of patch_test.go: customStrategicMergePatchTestCaseData / customStrategicMergePatchRawTestCases
# (original + twoWay -> modified) and createStrategicMergePatchTestCaseData /
# strategicMergePatchRawTestCases (current + threeWay -> result).
APIMACHINERY_CASES = yaml.safe_load(
    """
- description: unique scalars when merging lists
  current: {mergingIntList: [1, 2]}
  patch: {mergingIntList: [2, 3]}
  result: {mergingIntList: [1, 2, 3]}
- description: delete map from nested map
  current: {simpleMap: {key1: 1, key2: 1}}
  patch: {simpleMap: {$patch: delete}}
  result: {simpleMap: {}}
- description: delete all items from merging list
  current: {mergingList: [{name: 1}, {name: 2}]}
  patch: {mergingList: [{$patch: replace}]}
  result: {mergingList: []}
- description: merge empty merging lists
  current: {mergingList: []}
  patch: {mergingList: []}
  result: {mergingList: []}
- description: delete all keys from map
  current: {name: 1, value: 1}
  patch: {$patch: replace}
  result: {}
- description: add key and delete all keys from map
  current: {name: 1, value: 1}
  patch: {other: a, $patch: replace}
  result: {other: a}
- description: delete all duplicate entries in a merging list
  current: {mergingList: [{name: 1}, {name: 1}, {name: 2, value: a}, {name: 3}, {name: 3}]}
  patch: {mergingList: [{name: 1, $patch: delete}, {name: 3, $patch: delete}]}
  result: {mergingList: [{name: 2, value: a}]}
- description: retainKeys map can add a field when no retainKeys directive present
  current: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {value: bar}}
  result: {retainKeysMap: {name: foo, value: bar}}
- description: retainKeys map can delete a field when no retainKeys directive present
  current: {retainKeysMap: {name: foo, value: a}}
  patch: {retainKeysMap: {value: null}}
  result: {retainKeysMap: {name: foo}}
- description: retainKeys list can change a field when no retainKeys directive present
  current: {retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}
  patch: {retainKeysMergingList: [{name: foo, value: b}]}
  result: {retainKeysMergingList: [{name: bar}, {name: foo, value: b}]}
- description: preserve the order from the patch in a merging list
  current: {mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}
  patch: {mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, other: x}]}
  result: {mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, value: b, other: x}]}
- description: preserve the order from the patch in a merging list 2
  current: {mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}
  patch: {mergingList: [{name: 3, value: c}, {name: 1, value: a}]}
  result: {mergingList: [{name: 2, value: b}, {name: 3, value: c}, {name: 1, value: a}]}
- description: preserve the order from the patch in a merging int list
  current: {mergingIntList: [1, 2, 3]}
  patch: {mergingIntList: [3, 1]}
  result: {mergingIntList: [2, 3, 1]}
- description: $setElementOrder contains item that is not present in the list to be merged
  current: {mergingList: [{name: 1}, {name: 3}]}
  patch:
    $setElementOrder/mergingList: [{name: 3}, {name: 2}, {name: 1}]
    mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]
  result: {mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}
- description: $setElementOrder contains item that is not present in the int list to be merged
  current: {mergingIntList: [1, 3]}
  patch: {$setElementOrder/mergingIntList: [3, 2, 1]}
  result: {mergingIntList: [3, 1]}
- description: $deleteFromPrimitiveList of nonexistent item in primitive list should not add the item
  current: {mergingIntList: [1, 2]}
  patch: {$deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: [1, 2]}
- description: $deleteFromPrimitiveList on empty primitive list should not add the item to the list
  current: {mergingIntList: null}
  patch: {$deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: null}
- description: $deleteFromPrimitiveList on nonexistent primitive list should not add the primitive list
  current: {foo: [bar]}
  patch: {$deleteFromPrimitiveList/mergingIntList: [3]}
  result: {foo: [bar]}
- description: $deleteFromPrimitiveList should delete item from a list without merge patch strategy
  current: {nonMergingIntList: [1, 2, 3]}
  patch: {$deleteFromPrimitiveList/nonMergingIntList: [2]}
  result: {nonMergingIntList: [1, 3]}
- description: add field to map with conflict
  current: {name: a, other: a}
  patch: {name: 1, value: 1}
  result: {name: 1, value: 1, other: a}
- description: add field and delete field from map
  current: {name: 1, other: a}
  patch: {name: null, value: 1}
  result: {value: 1, other: a}
- description: delete field from nested map with conflict
  current: {simpleMap: {key1: a, key2: 1, other: a}}
  patch: {simpleMap: {key1: 1, key2: null}}
  result: {simpleMap: {key1: 1, other: a}}
- description: replace list of scalars with conflict
  current: {nonMergingIntList: [1, 4]}
  patch: {nonMergingIntList: [2, 3]}
  result: {nonMergingIntList: [2, 3]}
- description: delete all maps from merging list with conflict
  current: {mergingList: [{name: 1, other: a}, {name: 2, other: b}]}
  patch: {mergingList: [{name: 1, $patch: delete}, {name: 2, $patch: delete}]}
  result: {mergingList: []}
- description: defined null values should propagate overwrite current fields (with conflict)
  current: {name: a, other: a}
  patch: {name: 1, value: 1, other: null}
  result: {name: 1, value: 1}
- description: delete items in lists of scalars
  current: {mergingIntList: [1, 2, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: [1, 2, 4]}
- description: delete all duplicate items in lists of scalars
  current: {mergingIntList: [1, 2, 3, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: [1, 2, 4]}
- description: merge lists of maps
  current: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}]
    mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]
  result:
    mergingList: [{name: 4, value: 4}, {name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]
- description: add field to map in merging list with conflict
  current: {mergingList: [{name: 1, other: a}, {name: 3, value: 2, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}]
    mergingList: [{name: 1, value: 1}, {name: 2, value: 2}]
  result: {mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2}, {name: 3, value: 2, other: b}]}
- description: delete missing map from merging list with conflict
  current: {mergingList: [{name: 3, other: a}]}
  patch:
    $setElementOrder/mergingList: [{name: 2}]
    mergingList: [{name: 2}, {name: 1, $patch: delete}]
  result: {mergingList: [{name: 2}, {name: 3, other: a}]}
- description: add map and delete map from merging list
  current: {mergingList: [{name: 1}, {name: 2, other: b}, {name: 4, other: c}]}
  patch:
    $setElementOrder/mergingList: [{name: 2}, {name: 3}]
    mergingList: [{name: 3}, {name: 1, $patch: delete}]
  result: {mergingList: [{name: 2, other: b}, {name: 4, other: c}, {name: 3}]}
- description: add map and delete map from merging list with conflict
  current: {mergingList: [{name: 1, other: a}, {name: 4, other: c}]}
  patch:
    $setElementOrder/mergingList: [{name: 2}, {name: 3}]
    mergingList: [{name: 2}, {name: 3}, {name: 1, $patch: delete}]
  result: {mergingList: [{name: 4, other: c}, {name: 2}, {name: 3}]}
- description: replace non merging list nested in merging list with deletion conflict
  current: {mergingList: [{name: 1, other: a, nonMergingList: [{name: 2, value: 2}]}, {name: 2, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}]
    mergingList: [{name: 1, nonMergingList: [{name: 1, value: 1}]}]
  result: {mergingList: [{name: 1, other: a, nonMergingList: [{name: 1, value: 1}]}, {name: 2, other: b}]}
- description: add field to map in merging list nested in merging list with deletion conflict
  current: {mergingList: [{name: 1, other: a, mergingList: [{name: 2, value: 2, other: d}]}, {name: 2, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}]
    mergingList:
      - {$setElementOrder/mergingList: [{name: 2}, {name: 1}], name: 1, mergingList: [{name: 1, value: 1}]}
  result:
    mergingList:
      - {name: 1, other: a, mergingList: [{name: 2, value: 2, other: d}, {name: 1, value: 1}]}
      - {name: 2, other: b}
- description: add map to merging list by pointer with conflict
  current: {mergeItemPtr: [{name: 3}]}
  patch: {$setElementOrder/mergeItemPtr: [{name: 1}, {name: 2}], mergeItemPtr: [{name: 1}, {name: 2}]}
  result: {mergeItemPtr: [{name: 1}, {name: 2}, {name: 3}]}
- description: merge lists of scalars
  current: {mergingIntList: [1, 2, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2, 3], mergingIntList: [3]}
  result: {mergingIntList: [1, 2, 3, 4]}
- description: add an item in a list of primitives and preserve order
  current: {mergingIntList: [1, 4, 2]}
  patch: {$setElementOrder/mergingIntList: [3, 1, 2], mergingIntList: [3]}
  result: {mergingIntList: [3, 1, 4, 2]}
- description: delete an item in a list of primitives and preserve order
  current: {mergingIntList: [1, 2, 3]}
  patch: {$setElementOrder/mergingIntList: [2, 1], $deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: [2, 1]}
- description: add multiple items in a list and preserve order
  current: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 4}, {name: 2}, {name: 3}]
    mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]
  result:
    mergingList: [{name: 1, other: a}, {name: 4, value: 4}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]
- description: delete an item in a list and preserve order
  current: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}
  patch: {$setElementOrder/mergingList: [{name: 2}, {name: 1}], mergingList: [{name: 3, $patch: delete}]}
  result: {mergingList: [{name: 2, value: 2, other: b}, {name: 1, other: a}]}
- description: add and delete an item in a list and preserve order
  current: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}
  patch:
    $setElementOrder/mergingList: [{name: 4}, {name: 2}, {name: 1}]
    mergingList: [{name: 4, value: 4}, {name: 3, $patch: delete}]
  result: {mergingList: [{name: 4, value: 4}, {name: 2, value: 2, other: b}, {name: 1, other: a}]}
- description: set elements order in a list
  current: {mergingList: [{name: 1, other: a}, {name: 3, value: 3}, {name: 4, value: 4}, {name: 2, value: 2}]}
  patch: {$setElementOrder/mergingList: [{name: 4}, {name: 2}, {name: 3}, {name: 1}]}
  result: {mergingList: [{name: 4, value: 4}, {name: 2, value: 2}, {name: 3, value: 3}, {name: 1, other: a}]}
- description: delete duplicate field in merging list (a map replaces the list)
  current: {mergingList: [{name: 1}, {name: 1}]}
  patch: {mergingList: {}}
  result: {mergingList: {}}
"""
)


@pytest.mark.parametrize("case", APIMACHINERY_CASES, ids=[c["description"] for c in APIMACHINERY_CASES])
def test_apimachinery_fixtures(merge_item: SchemaNode, case: dict[str, Any]) -> None:
    current = copy.deepcopy(case["current"])
    assert strategic_merge_patch(current, case["patch"], merge_item) == case["result"]
    assert current == case["current"], "the live object must not be mutated"


@pytest.mark.parametrize(
    ("current", "patch", "error"),
    [
        # "should check if order in $setElementOrder and patch list match"
        (
            {"mergingList": [{"name": 1}, {"name": 3}, {"name": 2}]},
            {
                "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
                "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}],
            },
            "doesn't match",
        ),
        (
            {"mergingIntList": [1, 3, 2]},
            {"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]},
            "doesn't match",
        ),
        # "missing merge key should error out"
        (
            {"mergingList": [{"name": 1, "value": "a"}]},
            {"mergingList": [{"value": "b"}]},
            "map: map[value:b] does not contain declared merge key: name",
        ),
    ],
)
def test_apimachinery_error_fixtures(
    merge_item: SchemaNode, current: dict[str, Any], patch: dict[str, Any], error: str
) -> None:
    with pytest.raises(ApiError) as info:
        strategic_merge_patch(current, patch, merge_item)
    assert info.value.code == 500
    assert error in info.value.message


# -- strategic merge on real kinds, as kubectl sends it --------------------------------------------------------


@pytest.fixture(scope="module")
def index() -> SchemaIndex:
    return SchemaIndex.default()


@pytest.fixture(scope="module")
def deployment_schema(index: SchemaIndex) -> SchemaNode:
    node = index.root("apps/v1", "Deployment")
    assert node is not None
    return node


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"app": "web", "tier": "front"},
            "finalizers": ["example.com/a", "example.com/b"],
        },
        "spec": {
            "replicas": 2,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        },
                        {"name": "sidecar", "image": "busybox"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                }
            },
        },
    }


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return containers


def test_kubectl_apply_image_change(deployment_schema: SchemaNode) -> None:
    # kubectl apply: last-applied had nginx:1.25, the new manifest has nginx:1.26
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
                    "containers": [{"image": "nginx:1.26", "name": "web"}],
                }
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    web, sidecar = _containers(result)
    assert web["image"] == "nginx:1.26"
    assert web["env"] == _containers(_deployment())[0]["env"]
    assert sidecar == {"name": "sidecar", "image": "busybox"}


def test_kubectl_apply_adds_and_removes_containers(deployment_schema: SchemaNode) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "cache"}],
                    "containers": [
                        {"image": "redis:7", "name": "cache"},
                        {"$patch": "delete", "name": "sidecar"},
                    ],
                }
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert [c["name"] for c in _containers(result)] == ["web", "cache"]
    assert _containers(result)[1] == {"image": "redis:7", "name": "cache"}


def test_plain_strategic_patch_puts_new_list_items_first(deployment_schema: SchemaNode) -> None:
    # without $setElementOrder, mergeSortedSlice places new patch items before the live ones
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "cache", "image": "redis:7"}]}}}}
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert [c["name"] for c in _containers(result)] == ["cache", "web", "sidecar"]


def test_kubectl_apply_reorders_containers(deployment_schema: SchemaNode) -> None:
    patch = {
        "spec": {
            "template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]}}
        }
    }
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert [c["name"] for c in _containers(result)] == ["sidecar", "web"]
    assert _containers(result)[1]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_env_merges_by_name(deployment_schema: SchemaNode) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "$setElementOrder/env": [{"name": "B"}, {"name": "C"}],
                            "env": [
                                {"name": "B", "value": "two"},
                                {"name": "C", "value": "3"},
                                {"name": "A", "$patch": "delete"},
                            ],
                        }
                    ]
                }
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert _containers(result)[0]["env"] == [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}]
    assert _containers(result)[1]["name"] == "sidecar"


def test_container_ports_merge_by_container_port(deployment_schema: SchemaNode) -> None:
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 443}]}]}}}
    }
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert _containers(result)[0]["ports"] == [
        {"containerPort": 443},
        {"containerPort": 80, "protocol": "TCP"},
    ]


def test_finalizers_are_a_set(deployment_schema: SchemaNode) -> None:
    patch = {"metadata": {"finalizers": ["example.com/b", "example.com/c"]}}
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert result["metadata"]["finalizers"] == ["example.com/a", "example.com/b", "example.com/c"]
    removal = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}}
    assert strategic_merge_patch(result, removal, deployment_schema)["metadata"]["finalizers"] == [
        "example.com/b",
        "example.com/c",
    ]


def test_null_deletes_a_label(deployment_schema: SchemaNode) -> None:
    patch = {"metadata": {"labels": {"tier": None, "track": "stable"}}}
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert result["metadata"]["labels"] == {"app": "web", "track": "stable"}


def test_retain_keys_switches_rolling_update_to_recreate(deployment_schema: SchemaNode) -> None:
    # kubectl's 3-way patch when the manifest's strategy changes from RollingUpdate to Recreate
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}}}
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_on_volume_source_change(deployment_schema: SchemaNode) -> None:
    # volumes are "merge,retainKeys": switching a volume from emptyDir to a configMap
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/volumes": [{"name": "data"}],
                    "volumes": [
                        {"$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"}, "name": "data"}
                    ],
                }
            }
        }
    }
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert result["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "configMap": {"name": "cfg"}}]


def test_retain_keys_rejects_fields_outside_the_list(deployment_schema: SchemaNode) -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}
    with pytest.raises(ApiError) as info:
        strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert (info.value.code, info.value.message) == (400, "invalid patch format of retainKeys")


def test_service_ports_merge_by_port(index: SchemaIndex) -> None:
    service_schema = index.root("v1", "Service")
    assert service_schema is not None
    service = {
        "spec": {
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 8443},
            ]
        }
    }
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 8125, "protocol": "UDP"}]}}
    result = strategic_merge_patch(service, patch, service_schema)
    assert result["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 9090},
        {"port": 8125, "protocol": "UDP"},
        {"name": "https", "port": 443, "targetPort": 8443},
    ]


def test_owner_references_merge_by_uid_and_conditions_by_type(index: SchemaIndex) -> None:
    pod_schema = index.root("v1", "Pod")
    assert pod_schema is not None
    pod = {
        "metadata": {"ownerReferences": [{"uid": "u1", "name": "rs", "kind": "ReplicaSet"}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]
        },
    }
    patch = {
        "metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    result = strategic_merge_patch(pod, patch, pod_schema)
    assert result["metadata"]["ownerReferences"] == [
        {"uid": "u1", "name": "rs", "kind": "ReplicaSet", "controller": True}
    ]
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "PodScheduled", "status": "True"},
    ]


def test_patch_replace_directive_on_a_list(deployment_schema: SchemaNode) -> None:
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}
        }
    }
    result = strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert _containers(result) == [{"name": "only", "image": "x"}]


def test_atomic_lists_are_replaced(deployment_schema: SchemaNode) -> None:
    live = _deployment()
    _containers(live)[0]["args"] = ["a", "b"]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "args": ["c"]}]}}}}
    assert _containers(strategic_merge_patch(live, patch, deployment_schema))[0]["args"] == ["c"]


@pytest.mark.parametrize(
    ("patch", "code", "message"),
    [
        (
            {"spec": {"template": {"spec": {"containers": [{"$patch": "merge", "name": "x"}]}}}},
            500,
            "merging lists cannot yet be specified in the patch",
        ),
        ({"spec": {"$patch": "merge"}}, 500, "unknown patch type: merge in map: map[$patch:merge]"),
        ({"metadata": {"$deleteFromPrimitiveList": ["a"]}}, 400, "invalid patch format of primitive list"),
        (
            {"spec": {"template": {"spec": {"$setElementOrder": []}}}},
            400,
            "invalid patch format of setElementOrder list",
        ),
        ([{"op": "add"}], 400, "json: cannot unmarshal array into Go value of type map[string]interface {}"),
    ],
)
def test_strategic_merge_patch_errors(
    deployment_schema: SchemaNode, patch: Any, code: int, message: str
) -> None:
    with pytest.raises(ApiError) as info:
        strategic_merge_patch(_deployment(), patch, deployment_schema)
    assert (info.value.code, info.value.message) == (code, message)


def test_strategic_merge_is_refused_for_custom_resources() -> None:
    node = SchemaNode.from_openapi_v3({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    with pytest.raises(ApiError) as info:
        strategic_merge_patch({}, {"spec": {}}, node)
    assert info.value.code == 415
    assert info.value.reason == "UnsupportedMediaType"
    assert info.value.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


# -- content types ---------------------------------------------------------------------------------------------


def test_patch_type_accepts_charset_parameters(deployment_schema: SchemaNode) -> None:
    assert patch_type("application/strategic-merge-patch+json; charset=utf-8", deployment_schema) == (
        STRATEGIC_MERGE_PATCH
    )
    assert patch_type("application/apply-patch+yaml", deployment_schema) == APPLY_PATCH


def test_unknown_patch_type_is_415(deployment_schema: SchemaNode) -> None:
    with pytest.raises(ApiError) as info:
        patch_type("application/json", deployment_schema)
    assert info.value.code == 415
    assert info.value.message.endswith(
        "application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json, application/apply-patch+yaml"
    )


def test_apply_patch_dispatches(deployment_schema: SchemaNode) -> None:
    live = _deployment()
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 5}]
    assert apply_patch(live, ops, JSON_PATCH, deployment_schema)["spec"]["replicas"] == 5
    merged = apply_patch(
        live, {"spec": {"template": {"spec": {"containers": []}}}}, MERGE_PATCH, deployment_schema
    )
    assert _containers(merged) == []
    strategic = apply_patch(
        live, {"metadata": {"finalizers": ["x"]}}, STRATEGIC_MERGE_PATCH, deployment_schema
    )
    assert strategic["metadata"]["finalizers"] == ["x", "example.com/a", "example.com/b"]
    with pytest.raises(ValueError, match="server-side apply"):
        apply_patch(live, {}, APPLY_PATCH, deployment_schema)


# -- RFC 6902 --------------------------------------------------------------------------------------------------


def test_json_patch_operations() -> None:
    live = _deployment()
    result = json_patch(
        live,
        [
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/metadata/labels/track", "value": "canary"},
            {"op": "remove", "path": "/metadata/finalizers/0"},
            {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/annotations"},
            {"op": "move", "from": "/metadata/annotations", "path": "/metadata/labels/copied"},
        ],
    )
    assert result["spec"]["replicas"] == 3
    assert result["metadata"]["labels"] == {"app": "web", "tier": "front", "track": "canary", "copied": "web"}
    assert result["metadata"]["finalizers"] == ["example.com/b"]
    assert live == _deployment()


@pytest.mark.parametrize(
    ("ops", "cause"),
    [
        (
            [{"op": "test", "path": "/spec/replicas", "value": 9}],
            "testing value /spec/replicas failed: test failed",
        ),
        (
            [{"op": "remove", "path": "/spec/paused"}],
            'remove operation does not apply: doc is missing path: "/spec/paused": missing value',
        ),
        (
            [{"op": "add", "path": "/nope/deeper", "value": 1}],
            'add operation does not apply: doc is missing path: "/nope/deeper": missing value',
        ),
        ([{"op": "frobnicate", "path": "/spec"}], "Unexpected kind: frobnicate"),
    ],
)
def test_failed_json_patch_is_the_servers_422(ops: list[dict[str, Any]], cause: str) -> None:
    with pytest.raises(ApiError) as info:
        json_patch(_deployment(), ops)
    status = info.value.status()
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["message"] == "the server rejected our request due to an error in our request"
    assert status["details"] == {"causes": [{"message": cause}]}


def test_json_patch_must_be_a_list() -> None:
    with pytest.raises(ApiError) as info:
        json_patch(_deployment(), {"op": "add"})
    assert (info.value.code, info.value.message) == (
        400,
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
    )


def test_json_patch_operation_limit() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Deployment"}] * 10001
    with pytest.raises(ApiError) as info:
        json_patch(_deployment(), ops)
    assert info.value.code == 413
    assert info.value.message.endswith("maximum operations in a JSON patch is 10000, got 10001")


# -- RFC 7386 --------------------------------------------------------------------------------------------------

# RFC 7386, Appendix A
RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7386_EXAMPLES)
def test_merge_patch_rfc7386_examples(
    target: dict[str, Any], patch: dict[str, Any], result: dict[str, Any]
) -> None:
    assert merge_patch(target, patch) == result


def test_merge_patch_replaces_lists_and_leaves_the_input_alone() -> None:
    live = _deployment()
    result = merge_patch(live, {"metadata": {"finalizers": ["x"], "labels": {"tier": None}}})
    assert result["metadata"]["finalizers"] == ["x"]
    assert result["metadata"]["labels"] == {"app": "web"}
    assert live == _deployment()


def test_merge_patch_must_be_an_object() -> None:
    with pytest.raises(ApiError) as info:
        merge_patch(_deployment(), None)
    assert (info.value.code, info.value.message) == (400, "Invalid JSON Patch")
