"""Building the Job from shorthand or a manifest: every bad argument is named before any request."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_k8s_workflows.kube.job_manifest import (
    JobArgumentError,
    build_job,
    check_cleanup,
    check_job_name,
    check_no_conflict,
    finalize_job,
    load_job_manifest,
    main_container,
    pod_selector,
)
from airflow_k8s_workflows.kube.naming import TaskIdentity

IDENTITY = TaskIdentity("etl", "load", "manual__2026-01-01T00:00:00+00:00", -1, 2)


def test_shorthand_builds_the_job_the_api_expects() -> None:
    job = build_job(
        {
            "image": "python:3.12",
            "cmds": ["python", "-c"],
            "arguments": ["print(1)", 7],
            "env_vars": {"A": "1", "B": 2, "S": {"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}},
            "env_from": [{"configMapRef": {"name": "cfg"}}],
            "container_resources": {"limits": {"memory": "1Gi", "cpu": 1}},
            "node_selector": {"pool": "batch"},
            "tolerations": [{"key": "batch", "operator": "Exists"}],
            "service_account_name": "runner",
            "labels": {"team": "data"},
            "annotations": {"note": "x"},
            "backoff_limit": "2",
            "active_deadline_seconds": 600,
            "parallelism": 2,
            "completions": 4,
            "completion_mode": "Indexed",
            "ttl_seconds_after_finished": 60,
        }
    )
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["parallelism"]) == (2, 600, 2)
    assert (spec["completions"], spec["completionMode"], spec["ttlSecondsAfterFinished"]) == (
        4,
        "Indexed",
        60,
    )
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "runner"
    assert pod["nodeSelector"] == {"pool": "batch"}
    assert pod["tolerations"] == [{"key": "batch", "operator": "Exists"}]
    [container] = pod["containers"]
    assert container["name"] == "main"
    assert container["command"] == ["python", "-c"]
    assert container["args"] == ["print(1)", "7"]
    assert container["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
        {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ]
    assert container["envFrom"] == [{"configMapRef": {"name": "cfg"}}]
    assert container["resources"] == {"limits": {"memory": "1Gi", "cpu": "1"}}
    assert job["metadata"]["labels"] == {"team": "data"}
    assert spec["template"]["metadata"]["annotations"] == {"note": "x"}


def test_env_vars_accept_client_models_and_a_single_argument_string() -> None:
    from kubernetes.client import V1EnvVar, V1EnvVarSource, V1ObjectFieldSelector

    env = [
        V1EnvVar(
            name="POD", value_from=V1EnvVarSource(field_ref=V1ObjectFieldSelector(field_path="metadata.name"))
        )
    ]
    job = build_job({"image": "busybox", "env_vars": env, "arguments": "--all"})
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    assert container["args"] == ["--all"]


@pytest.mark.parametrize(
    ("args", "field", "reason"),
    [
        ({"image": ""}, "image", "non-empty"),
        ({"image": "busy box"}, "image", "whitespace"),
        ({"image": "b", "backoff_limit": -1}, "backoff_limit", "must be >= 0, got -1"),
        ({"image": "b", "parallelism": "many"}, "parallelism", "must be an integer"),
        ({"image": "b", "active_deadline_seconds": 0}, "active_deadline_seconds", ">= 1"),
        ({"image": "b", "completion_mode": "Sometimes"}, "completion_mode", "NonIndexed, Indexed"),
        ({"image": "b", "completion_mode": "Indexed"}, "completions", "required"),
        ({"image": "b", "cmds": "echo hi"}, "cmds", "list of strings"),
        ({"image": "b", "arguments": ["ok", object()]}, "arguments[1]", "must be a string"),
        ({"image": "b", "env_vars": 5}, "env_vars", "dict of name"),
        ({"image": "b", "env_vars": {"A=B": "1"}}, "env_vars.A=B", "invalid environment variable name"),
        ({"image": "b", "env_vars": [{"name": "X"}]}, "env_vars[0]", "value or a valueFrom"),
        (
            {"image": "b", "container_resources": {"limits": {"cpu": "lots"}}},
            "container_resources.limits.cpu",
            "invalid quantity",
        ),
        ({"image": "b", "container_resources": {"limit": {}}}, "container_resources.limit", "unknown key"),
        ({"image": "b", "node_selector": {"pool": 1}}, "node_selector.pool", "must be a string"),
        ({"image": "b", "tolerations": {"key": "x"}}, "tolerations", "list of dicts"),
        ({"image": "b", "service_account_name": "Not_Valid"}, "service_account_name", "invalid name"),
    ],
)
def test_bad_shorthand_names_the_argument(args: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(JobArgumentError) as err:
        build_job(args)
    assert err.value.field == field
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{field}: ")


def test_manifest_and_shorthand_do_not_mix() -> None:
    with pytest.raises(JobArgumentError, match=r"^image: cannot be combined with job_manifest"):
        check_no_conflict({"kind": "Job"}, {"image": "busybox", "labels": {}})
    with pytest.raises(JobArgumentError, match=r"also given: backoff_limit"):
        check_no_conflict("job.yaml", {"cmds": ["x"], "backoff_limit": 0})
    check_no_conflict(None, {"image": "busybox"})
    check_no_conflict({"kind": "Job"}, {"image": None, "labels": {}, "cmds": []})


def test_cleanup_and_name_checks() -> None:
    assert check_cleanup("always") == "always"
    with pytest.raises(JobArgumentError, match=r"^cleanup: must be one of on_success, always, never"):
        check_cleanup("sometimes")
    assert check_job_name("etl-1") == "etl-1"
    with pytest.raises(JobArgumentError, match=r"^name: invalid Job name 'Etl_1'"):
        check_job_name("Etl_1")
    with pytest.raises(JobArgumentError, match=r"no more than 63 characters"):
        check_job_name("a" * 64)


JOB_YAML = """
apiVersion: batch/v1
kind: Job
metadata:
  name: nightly
  labels: {team: data}
spec:
  template:
    metadata:
      annotations:
        kubectl.kubernetes.io/default-container: worker
    spec:
      restartPolicy: Never
      containers:
        - {name: sidecar, image: busybox}
        - {name: worker, image: busybox}
"""


def test_manifest_is_loaded_named_and_stamped() -> None:
    job = finalize_job(load_job_manifest(JOB_YAML), name=None, namespace="batch", identity=IDENTITY)
    assert job["metadata"]["name"] == "nightly"
    assert job["metadata"]["namespace"] == "batch"
    assert job["metadata"]["labels"]["team"] == "data"
    assert IDENTITY.owns(job)
    assert IDENTITY.owns(job["spec"]["template"])
    assert main_container(job) == "worker"
    generated = finalize_job(build_job({"image": "b"}), name=None, namespace="batch", identity=IDENTITY)
    assert generated["metadata"]["name"] == IDENTITY.name()
    assert main_container(generated) == "main"


@pytest.mark.parametrize(
    ("source", "field", "reason"),
    [
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "job_manifest", "must be a batch/v1 Job"),
        (JOB_YAML + "---\n" + JOB_YAML, "job_manifest", "exactly one Job, found 2"),
        ("kind: [", "job_manifest", "did not find expected node content"),
        (
            JOB_YAML.replace("name: nightly", "generateName: nightly-"),
            "job_manifest.metadata.generateName",
            "not supported",
        ),
    ],
)
def test_bad_manifests_are_named(source: str, field: str, reason: str) -> None:
    with pytest.raises(JobArgumentError) as err:
        load_job_manifest(source)
    assert err.value.field == field
    assert reason in err.value.reason


def test_name_and_namespace_conflicts_with_the_manifest() -> None:
    body = load_job_manifest(JOB_YAML.replace("  name: nightly", "  name: nightly\n  namespace: a"))
    with pytest.raises(JobArgumentError, match=r"^name: 'other' differs"):
        finalize_job(body, name="other", namespace="a", identity=IDENTITY)
    with pytest.raises(JobArgumentError, match=r"^namespace: 'b' differs"):
        finalize_job(body, name=None, namespace="b", identity=IDENTITY)


def test_pod_selector_follows_the_job_selector() -> None:
    job = {
        "metadata": {"uid": "u1"},
        "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}},
    }
    assert pod_selector(job) == "batch.kubernetes.io/controller-uid=u1"
    assert pod_selector({"metadata": {"uid": "u2"}, "spec": {}}) == "batch.kubernetes.io/controller-uid=u2"
