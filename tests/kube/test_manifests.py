"""Loading and validating manifests. Name rules per kind follow the API server's validation
(pkg/apis/*/validation: ValidateNamespaceName, ValidateStatefulSetName, ValidateRBACName,
ValidateCronJob's 52-character limit, ValidateCustomResourceDefinition); schema checks use the
real OpenAPI schemas bundled in kubernetes-validate."""

import copy
import json

import pytest

from airflow_k8s_workflows.kube.manifests import (
    ManifestError,
    load_manifests,
    needs_discovery,
    object_ref,
    redact,
    secret_values,
    validate_manifest,
    validate_manifests,
)

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "team-a", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "web", "image": "nginx:1.27", "resources": {"requests": {"cpu": 0.5}}}
                ]
            },
        },
    },
}

MULTI = """
# a leading comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  annotations:
    released: 2024-01-01
data:
  when: 2024-01-01
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web}
  spec:
    ports: [{port: 80}]
- metadata: {name: other}
---
apiVersion: apps/v1
kind: DeploymentList
items:
- metadata: {name: typed-item}
"""


def deployment(**changes):
    doc = copy.deepcopy(DEPLOYMENT)
    for dotted, value in changes.items():
        target = doc
        parts = dotted.split("__")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        if value is KeyError:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = value
    return doc


def error_of(doc, position=1, **kwargs):
    with pytest.raises(ManifestError) as info:
        validate_manifest(doc, position=position, **kwargs)
    return info.value


# --- loading ---------------------------------------------------------------------------------


def test_load_dict_is_a_copy():
    docs = load_manifests(DEPLOYMENT)
    assert docs == [DEPLOYMENT]
    docs[0]["metadata"]["name"] = "changed"
    assert DEPLOYMENT["metadata"]["name"] == "web"


def test_load_yaml_skips_empty_documents_and_flattens_lists():
    docs = load_manifests(MULTI)
    assert [object_ref(d) for d in docs] == [
        "ConfigMap/settings",
        "Service/web",
        "object/other",  # a v1 List's item without kind stays without kind
        "Deployment/typed-item",
    ]
    # kind/apiVersion of a typed list's items come from the list
    assert docs[3]["apiVersion"] == "apps/v1"


def test_yaml_dates_stay_strings_like_the_api_sees_them():
    docs = load_manifests(MULTI)
    assert docs[0]["data"]["when"] == "2024-01-01"
    assert docs[0]["metadata"]["annotations"]["released"] == "2024-01-01"
    json.dumps(docs)


def test_load_list_of_dicts_and_yaml_strings():
    docs = load_manifests([DEPLOYMENT, "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n", None])
    assert [object_ref(d) for d in docs] == ["Deployment/web", "Namespace/x"]


def test_load_files_relative_to_base_dir(tmp_path):
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    (tmp_path / "k8s" / "a.json").write_text(json.dumps([DEPLOYMENT]))
    (tmp_path / "k8s" / "notes.txt").write_text("ignored")
    assert [object_ref(d) for d in load_manifests("k8s/b.yaml", base_dir=tmp_path)] == ["ConfigMap/b"]
    assert [object_ref(d) for d in load_manifests(tmp_path / "k8s" / "a.json")] == ["Deployment/web"]
    # a folder: every manifest file, in name order
    assert [object_ref(d) for d in load_manifests("k8s", base_dir=tmp_path)] == [
        "Deployment/web",
        "ConfigMap/b",
    ]


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ManifestError, match=r"manifest file not found: .*/nope\.yaml") as info:
        load_manifests("nope.yaml", base_dir=tmp_path)
    assert info.value.field == "manifests"


def test_broken_yaml_names_document_and_line():
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [x\nmetadata: {}\n"
    )
    with pytest.raises(ManifestError) as info:
        load_manifests(text)
    error = info.value
    assert error.document == 2
    assert error.field == "documents[1]"
    assert str(error).startswith("document 2: line 7, column 9:")


def test_broken_yaml_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\n  b: 2\n")
    with pytest.raises(ManifestError) as info:
        load_manifests(str(path))
    assert str(info.value).startswith(f"{path}: document 1: line 2, column 4: mapping values are not allowed")


def test_broken_json_names_the_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "kind": "Pod",\n  oops\n}')
    with pytest.raises(ManifestError, match=r"document 1: line 3, column 3"):
        load_manifests(str(path))


def test_non_object_documents_are_rejected():
    with pytest.raises(
        ManifestError, match=r"^document 2: expected a Kubernetes object \(a mapping\), got str"
    ):
        load_manifests("kind: ConfigMap\n---\njust text\n")
    with pytest.raises(ManifestError, match="manifests must be"):
        load_manifests(42)


# --- validation ------------------------------------------------------------------------------


def test_valid_deployment():
    check = validate_manifest(DEPLOYMENT, position=0)
    assert check.kind == "Deployment"
    assert check.name == "web"
    assert check.namespace == "team-a"
    assert not check.needs_discovery
    assert check.schema_version == "1.37"
    assert check.ref == "Deployment/web"


def test_error_message_shape():
    error = error_of(deployment(spec__replicas=-1))
    assert str(error) == (
        "Deployment/web (document 2): spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    )
    assert error.field == "documents[1].spec.replicas"
    assert error.path == "spec.replicas"
    assert error.reason == "Invalid value: -1: must be greater than or equal to 0"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("doc", "path", "reason"),
    [
        ({"kind": "Pod", "metadata": {"name": "p"}}, "apiVersion", "Required value"),
        ({"apiVersion": "v1", "metadata": {"name": "p"}}, "kind", "Required value"),
        ({"apiVersion": "v1", "kind": "Pod"}, "metadata", "Required value: name or generateName is required"),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {}}, "metadata.name", "Required value"),
    ],
)
def test_missing_basics(doc, path, reason):
    error = error_of(doc, position=0)
    assert error.path == path
    assert error.reason.startswith(reason)
    assert error.field == f"documents[0].{path}"


def test_generate_name_is_enough_and_may_end_with_dash():
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "settings-"}}
    assert validate_manifest(doc, position=0).name is None
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "Settings-"}}
    assert error_of(bad).path == "metadata.generateName"


@pytest.mark.parametrize(
    ("api_version", "kind", "name", "valid"),
    [
        ("apps/v1", "Deployment", "web.v2", True),  # DNS-1123 subdomain
        ("apps/v1", "Deployment", "Web", False),
        ("v1", "Service", "web.v2", False),  # DNS-1123 label
        ("v1", "Service", "web-v2", True),
        ("v1", "Namespace", "team.a", False),
        ("apps/v1", "StatefulSet", "db.primary", False),
        ("apps/v1", "StatefulSet", "db-primary", True),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "system:aggregate-to-view", True),  # path segment
        ("rbac.authorization.k8s.io/v1", "Role", "a/b", False),
        ("policy/v1", "PodDisruptionBudget", "Web_PDB", True),
        ("batch/v1", "CronJob", "c" * 52, True),
        ("batch/v1", "CronJob", "c" * 53, False),
        ("batch/v1", "Job", "j" * 63, True),
        ("batch/v1", "Job", "j" * 64, False),  # becomes the pods' job-name label value
        ("example.com/v1", "Widget", "w.x", True),  # custom resources: subdomain
        ("example.com/v1", "Widget", "W", False),
    ],
)
def test_name_rules_per_kind(api_version, kind, name, valid):
    doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
    try:
        validate_manifest(doc, position=0)
        path = None
    except ManifestError as error:  # the bare objects may miss a required spec: not what is tested
        path = error.path
    assert (path == "metadata.name") is not valid


def test_crd_name_must_be_plural_dot_group():
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "kind": "Widget"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    validate_manifest(crd, position=0)
    crd["metadata"]["name"] = "widget.example.com"
    assert 'must be spec.names.plural+"."+spec.group' in error_of(crd).reason


def test_namespace_syntax():
    error = error_of(deployment(metadata__namespace="Team_A"))
    assert error.path == "metadata.namespace"
    assert "RFC 1123 label" in error.reason


def test_label_keys_and_values():
    error = error_of(deployment(metadata__labels={"bad key": "x"}))
    assert error.path == "metadata.labels"
    assert error.reason.startswith('Invalid value: "bad key": name part must consist of')
    error = error_of(deployment(metadata__labels={"app": "a b"}))
    assert error.reason.startswith('Invalid value: "a b": a valid label must be an empty string')
    error = error_of(deployment(metadata__labels={"replicas": 3}))
    assert error.path == "metadata.labels.replicas"
    assert "quote it in YAML" in error.reason
    doc = deployment()
    doc["spec"]["template"]["metadata"]["labels"] = {"app": "x" * 64}
    assert error_of(doc).path == "spec.template.metadata.labels"


def test_annotations_size_and_keys():
    error = error_of(deployment(metadata__annotations={"big": "x" * (256 * 1024)}))
    assert error.path == "metadata.annotations"
    assert error.reason.startswith("Too long: may not be more than 262144 bytes")
    # keys are checked lowercased, like ValidateAnnotations
    validate_manifest(deployment(metadata__annotations={"Example.COM/Note": "ok"}), position=0)
    assert error_of(deployment(metadata__annotations={"a/b/c": "x"})).path == "metadata.annotations"


@pytest.mark.parametrize(
    ("field", "value"),
    [("spec__replicas", -1), ("spec__minReadySeconds", -5), ("spec__progressDeadlineSeconds", -1)],
)
def test_non_negative_deployment_fields(field, value):
    error = error_of(deployment(**{field: value}))
    assert error.reason == f"Invalid value: {value}: must be greater than or equal to 0"


def test_non_negative_job_fields():
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"backoffLimit": -1, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }
    assert error_of(job).path == "spec.backoffLimit"


def test_schema_type_error():
    error = error_of(deployment(spec__replicas="3"))
    assert error.path == "spec.replicas"
    assert error.reason.startswith("'3' is not of type 'integer'")


def test_schema_unknown_field_is_an_error_in_strict_mode():
    doc = deployment()
    doc["spec"]["template"]["spec"]["containers"][0]["imag"] = "typo"
    error = error_of(doc)
    assert error.path == "spec.template.spec.containers[0].imag"
    assert error.reason == 'unknown field "spec.template.spec.containers[0].imag"'
    assert error.field == "documents[1].spec.template.spec.containers[0].imag"


def test_schema_required_field():
    doc = deployment()
    del doc["spec"]["template"]["spec"]["containers"][0]["name"]
    error = error_of(doc)
    assert error.path == "spec.template.spec.containers[0].name"
    assert error.reason == "Required value"


def test_kind_with_wrong_case_is_a_schema_error_not_a_custom_resource():
    doc = deployment(kind="deployment")
    assert not needs_discovery(doc)
    error = error_of(doc)
    assert error.path == "kind"
    assert "'deployment' is not one of ['Deployment']" in error.reason


def test_custom_resources_need_discovery():
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"any": 1}}
    assert needs_discovery(widget)
    check = validate_manifest(widget, position=0)
    assert check.needs_discovery
    assert check.schema_version is None
    # a CRD whose kind shares a built-in name but lives in another group
    lookalike = deployment(apiVersion="apps.example.com/v1")
    lookalike["spec"]["whatever"] = True
    assert needs_discovery(lookalike)
    assert validate_manifest(lookalike, position=0).needs_discovery
    # a nested type's schema (v1 Affinity) is not a resource
    assert needs_discovery({"apiVersion": "v1", "kind": "Affinity", "metadata": {"name": "a"}})
    assert not needs_discovery(DEPLOYMENT)


def test_kubernetes_version_selects_the_schema():
    assert validate_manifest(DEPLOYMENT, position=0, kubernetes_version="v1.29.3").schema_version == "1.29"
    # newer than the package knows: its latest
    assert validate_manifest(DEPLOYMENT, position=0, kubernetes_version="1.99").schema_version == "1.37"
    with pytest.raises(ValueError, match="kubernetes_version"):
        validate_manifest(DEPLOYMENT, position=0, kubernetes_version="latest")


def test_validate_manifests_positions():
    docs = [DEPLOYMENT, deployment(spec__replicas=-2)]
    with pytest.raises(ManifestError, match=r"\(document 2\)"):
        validate_manifests(docs)
    assert len(validate_manifests([DEPLOYMENT, DEPLOYMENT])) == 2


def test_source_file_in_message():
    error = error_of(deployment(spec__replicas=-1), source="dags/k8s/web.yaml")
    assert str(error).startswith("dags/k8s/web.yaml: Deployment/web (document 2): spec.replicas")


# --- secrets ---------------------------------------------------------------------------------

SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "db",
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"aHVudGVyMg=="}}'
        },
    },
    "data": {"password": "aHVudGVyMg==", "blob": "////"},
    "stringData": {"token": "s3cr3t"},
}


def test_secret_values_include_decoded_data():
    values = secret_values(SECRET)
    assert "aHVudGVyMg==" in values
    assert "hunter2" in values
    assert "s3cr3t" in values
    assert SECRET["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] in values
    assert "////" in values  # not UTF-8 once decoded, but the encoded text is still masked
    assert secret_values(DEPLOYMENT) == []


def test_redact_keeps_keys_and_hides_values():
    redacted = redact(SECRET)
    assert redacted["data"] == {"password": "***", "blob": "***"}
    assert redacted["stringData"] == {"token": "***"}
    assert redacted["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == "***"
    assert SECRET["data"]["password"] == "aHVudGVyMg=="
    assert "hunter2" not in json.dumps(redacted)
    assert redact(DEPLOYMENT) == DEPLOYMENT


def test_manifest_error_survives_pickling():
    import pickle

    error = error_of(deployment(spec__replicas=-1), source="web.yaml")
    copy_ = pickle.loads(pickle.dumps(error))
    assert str(copy_) == str(error)
    assert (copy_.field, copy_.path, copy_.document, copy_.kind) == (error.field, error.path, 2, "Deployment")
