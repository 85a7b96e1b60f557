"""kube.manifests checks added for malformed input (tests/bad_input): duplicate keys, container
images and resource quantities, 32-bit counts, the parameter leading the message. Each refusal
is paired with the valid form next to it, so a check never refuses what the API server takes."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from airflow_k8s_workflows.kube.manifests import (
    ManifestError,
    check_object_name,
    load_manifests,
    validate_manifest,
)


def cronjob(container: dict[str, Any]) -> dict[str, Any]:
    pod = {"restartPolicy": "Never", "containers": [container]}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}},
    }


def test_a_key_given_twice_is_refused_in_yaml_and_json(tmp_path: Path) -> None:
    with pytest.raises(
        ManifestError, match=r'line 4, column 3: duplicate key "name" \(first given on line 3\)'
    ):
        load_manifests("kind: ConfigMap\nmetadata:\n  name: a\n  name: b\n")
    (tmp_path / "doc.json").write_text('{"kind": "A", "kind": "B"}')
    with pytest.raises(ManifestError, match=r'doc\.json: document 1: duplicate key "kind"'):
        load_manifests(str(tmp_path / "doc.json"))
    # the same key in sibling mappings, and YAML merge keys, are fine
    docs = load_manifests("base: &b {x: 1}\na: {name: x}\nb: {name: y, <<: *b}\n")
    assert docs == [{"base": {"x": 1}, "a": {"name": "x"}, "b": {"name": "y", "x": 1}}]


@pytest.mark.parametrize(
    ("container", "path", "reason"),
    [
        ({"name": "c"}, "containers[0].image", "Required value"),
        ({"name": "c", "image": " "}, "containers[0].image", "Required value"),
        ({"name": "c", "image": "busybox "}, "containers[0].image", "must not have leading or trailing whitespace"),
        ({"name": "c", "image": "b", "resources": {"limits": {"memory": "1GB"}}},
         "containers[0].resources.limits.memory", "quantities must match"),
        ({"name": "c", "image": "b", "resources": {"requests": {"cpu": -1}}},
         "containers[0].resources.requests.cpu", "must be greater than or equal to 0"),
    ],
)  # fmt: skip
def test_containers_of_a_cronjob_need_an_image_and_valid_quantities(
    container: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(ManifestError) as e:
        validate_manifest(cronjob(container), position=0)
    assert e.value.path == f"spec.jobTemplate.spec.template.spec.{path}"
    assert reason in e.value.reason


def test_valid_images_and_quantities_pass() -> None:
    resources = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 0.5, "memory": 1e9}}
    check = validate_manifest(
        cronjob({"name": "c", "image": "busybox:1.36", "resources": resources}), position=0
    )
    assert check.kind == "CronJob"


def test_counts_must_fit_32_bits() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2**31,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "b"}]},
            },
        },
    }
    with pytest.raises(
        ManifestError, match=r"spec.replicas: Invalid value: 2147483648: must fit a 32-bit integer"
    ):
        validate_manifest(deployment, position=0)
    deployment["spec"]["replicas"] = 2**31 - 1
    validate_manifest(deployment, position=0)


def test_the_parameter_leads_the_message_and_survives_pickling() -> None:
    error = ManifestError("Required value", path="spec.selector", document=2, kind="Deployment", name="web")
    named = error.in_parameter("manifests")
    assert str(named) == "manifests: Deployment/web (document 2): spec.selector: Required value"
    assert str(pickle.loads(pickle.dumps(named))) == str(named)
    already = ManifestError("manifests must be a dict", field="manifests").in_parameter("manifests")
    assert str(already) == "manifests must be a dict"


def test_object_names_follow_the_kind_rule() -> None:
    assert check_object_name("web", "name", api_version="apps/v1", kind="Deployment") == "web"
    with pytest.raises(ValueError, match=r"^name: invalid Job name 'j{64}': must be no more than 63"):
        check_object_name("j" * 64, "name", api_version="batch/v1", kind="Job")
    with pytest.raises(
        ValueError, match=r"^name: invalid StatefulSet name 'db\.v2': a lowercase RFC 1123 label"
    ):
        check_object_name("db.v2", "name", api_version="apps/v1", kind="StatefulSet")
