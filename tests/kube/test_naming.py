"""Names and labels. Validator messages are k8s.io/apimachinery/pkg/util/validation's."""

import re

import pytest

from airflow_k8s_workflows.kube import naming
from airflow_k8s_workflows.kube.naming import (
    TaskIdentity,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    identity_from_object,
    label_value_errors,
    path_segment_errors,
    qualified_name_errors,
    resource_name,
    sanitize_label_value,
    selector_for,
    stamp,
    task_annotations,
    task_labels,
)

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def test_subdomain_message_is_the_api_servers():
    assert dns1123_subdomain_errors("Web_1") == [
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
        "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        r"validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ]
    assert dns1123_subdomain_errors("a.b-c") == []
    assert dns1123_subdomain_errors("a" * 254)[0] == "must be no more than 253 characters"


def test_label_messages_include_go_double_blanks():
    # validation.RegexError joins examples with " or " after "', " — hence two blanks.
    assert dns1123_label_errors("a.b") == [
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
        "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    ]
    assert dns1123_label_errors("1abc") == []
    assert dns1035_label_errors("1abc")[0].startswith("a DNS-1035 label must consist of")
    assert dns1123_label_errors("a" * 64) == ["must be no more than 63 characters"]


def test_generate_name_prefix_may_end_with_dash():
    assert dns1123_subdomain_errors("web-", prefix=True) == []
    assert dns1123_subdomain_errors("web-") != []
    assert dns1123_label_errors("job-", prefix=True) == []


def test_path_segment_names():
    assert path_segment_errors("system:controller:foo") == []
    assert path_segment_errors("a/b") == ["may not contain '/'"]
    assert path_segment_errors("50%") == ["may not contain '%'"]
    assert path_segment_errors("..") == ["may not be '..'"]


@pytest.mark.parametrize(
    ("key", "errors"),
    [
        ("app", []),
        ("app.kubernetes.io/name", []),
        ("Example.com/x", ["prefix part a lowercase RFC 1123 subdomain"]),
        ("/x", ["prefix part must be non-empty"]),
        ("x/", ["name part must be non-empty"]),
        ("a/b/c", ["a qualified name must consist of"]),
        ("a" * 64, ["name part must be no more than 63 characters"]),
        ("-x", ["name part must consist of alphanumeric characters"]),
    ],
)
def test_qualified_names(key, errors):
    found = qualified_name_errors(key)
    assert len(found) == len(errors)
    for message, start in zip(found, errors, strict=True):
        assert message.startswith(start)


def test_label_values():
    assert label_value_errors("") == []
    assert label_value_errors("My_Value.1") == []
    assert label_value_errors("a b")[0].startswith("a valid label must be an empty string or consist of")
    assert label_value_errors("x" * 64) == ["must be no more than 63 characters"]


def test_resource_name_is_deterministic_and_a_valid_label():
    name = resource_name("etl", "load", "manual__2024-01-01T00:00:00+00:00", -1)
    assert name == resource_name("etl", "load", "manual__2024-01-01T00:00:00+00:00", -1)
    assert name.startswith("etl-load-")
    assert DNS1123_LABEL.match(name)
    assert DNS1035_LABEL.match(name)
    assert len(name) <= 57


def test_resource_name_differs_for_each_run_and_map_index():
    names = {
        resource_name("d", "t", "run1"),
        resource_name("d", "t", "run2"),
        resource_name("d", "t", "run1", 0),
        resource_name("d", "t", "run1", 1),
        resource_name("d", "t2", "run1"),
    }
    assert len(names) == 5


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [
        ("A" * 200, "B" * 200),
        ("my_dag.with.dots", "Task_Group.Task-1"),
        ("__", "__"),
        ("2024_reports", "x"),
        ("daten_übertragung", "schritt"),
        ("dag", "t" * 44 + "-----x"),
    ],
)
def test_resource_name_always_valid(dag_id, task_id):
    for max_length in (16, 47, 57, 63):
        name = resource_name(dag_id, task_id, "scheduled__2024", 3, max_length=max_length)
        assert len(name) <= max_length
        assert DNS1123_LABEL.match(name), name
        assert DNS1035_LABEL.match(name), name  # also a valid Service name on older clusters
        assert not name.rsplit("-", 1)[0].endswith("-")  # no dash run before the hash


def test_job_pods_keep_the_full_job_name():
    # Job pods use generateName "<job>-", cut to 58 characters, plus 5 random characters.
    job = resource_name("x" * 100, "y" * 100, "run")
    generate_name = (job + "-")[:58]
    assert generate_name == job + "-"
    assert len(generate_name + "abcde") <= 63


def test_resource_name_rejects_silly_lengths():
    with pytest.raises(ValueError, match="max_length"):
        resource_name("d", "t", "r", max_length=64)


def test_sanitize_label_value_keeps_valid_values_and_disambiguates_changed_ones():
    assert sanitize_label_value("my_dag") == "my_dag"
    a = sanitize_label_value("manual__2024-01-01T00:00:00+00:00")
    b = sanitize_label_value("manual__2024-01-01T00:00:00-00:00")
    assert a != b
    for value in (
        a,
        b,
        sanitize_label_value("x" * 300),
        sanitize_label_value("+++"),
        sanitize_label_value("é"),
    ):
        assert label_value_errors(value) == [], value


def test_task_labels_and_selector():
    labels = task_labels("etl", "load", "manual__2024-01-01T00:00:00+00:00", 2, try_number=3)
    for key, value in labels.items():
        assert qualified_name_errors(key) == []
        assert label_value_errors(value) == []
    assert labels["airflow-k8s-workflows.io/dag-id"] == "etl"
    assert labels["airflow-k8s-workflows.io/map-index"] == "2"
    assert labels["airflow-k8s-workflows.io/try-number"] == "3"
    assert labels["app.kubernetes.io/managed-by"] == "airflow-k8s-workflows"
    selector = selector_for("etl", "load", "manual__2024-01-01T00:00:00+00:00", 2)
    assert selector == (
        "airflow-k8s-workflows.io/dag-id=etl,airflow-k8s-workflows.io/task-id=load,"
        f"airflow-k8s-workflows.io/ti-hash={labels['airflow-k8s-workflows.io/ti-hash']}"
    )
    # the selector does not depend on the try
    assert selector == TaskIdentity("etl", "load", "manual__2024-01-01T00:00:00+00:00", 2, 7).selector()


def test_unmapped_task_labels_are_valid_and_carry_no_map_index():
    labels = task_labels("etl", "load", "run")
    for key, value in labels.items():
        assert label_value_errors(value) == [], (key, value)
    assert "airflow-k8s-workflows.io/map-index" not in labels
    assert task_annotations("etl", "load", "run")["airflow-k8s-workflows.io/map-index"] == "-1"


def test_annotations_carry_raw_values():
    annotations = task_annotations("etl", "load", "manual__2024-01-01T00:00:00+00:00")
    assert annotations["airflow-k8s-workflows.io/run-id"] == "manual__2024-01-01T00:00:00+00:00"
    assert annotations["airflow-k8s-workflows.io/map-index"] == "-1"


def test_stamp_labels_object_and_pod_template_without_touching_input():
    identity = TaskIdentity("etl", "load", "run", try_number=2)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "x", "labels": {"app.kubernetes.io/managed-by": "helm", "team": "a"}},
        "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {}}},
    }
    stamped = stamp(job, identity)
    assert "airflow-k8s-workflows.io/dag-id" not in job["metadata"]["labels"]
    labels = stamped["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "helm"
    assert labels["team"] == "a"
    assert labels["airflow-k8s-workflows.io/try-number"] == "2"
    template_labels = stamped["spec"]["template"]["metadata"]["labels"]
    assert template_labels["app"] == "x"
    assert template_labels["airflow-k8s-workflows.io/ti-hash"] == identity.ti_hash
    assert "airflow-k8s-workflows.io/try-number" not in template_labels
    assert identity.owns(stamped)
    assert not TaskIdentity("etl", "load", "other-run").owns(stamped)
    assert identity_from_object(stamped) == identity


def test_stamp_leaves_configmaps_templates_alone():
    stamped = stamp({"kind": "ConfigMap", "metadata": {"name": "c"}}, TaskIdentity("d", "t", "r"))
    assert "spec" not in stamped
    assert identity_from_object({"metadata": {"annotations": {}}}) is None


def test_constants_are_ours():
    assert naming.LABEL_PREFIX == "airflow-k8s-workflows.io/"
