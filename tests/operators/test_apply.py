"""ApplyManifestsOperator against the emulator: real Airflow (dag.test) for the main paths,
direct calls for the error paths. Every error test also checks that the cluster is unchanged."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
from airflow_k8s_workflows.kube.cluster import resolve_cluster_config
from airflow_k8s_workflows.kube.manifests import ManifestError
from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from tests.helpers import wait_for

PASSWORD = "s3cr3t-db-password"  # tests/dags/manifests.py APP_PARAMS
APP_OBJECTS = [
    ("apps/v1", "Deployment", "web"),
    ("v1", "Service", "web"),
    ("v1", "ConfigMap", "web-config"),
    ("v1", "Secret", "web-secret"),
]


@pytest.fixture
def hook(emulator: KubeEmulator) -> ClusterHook:
    return ClusterHook(
        kubernetes_conn_id=None, cluster_config=resolve_cluster_config(kube_config_path=emulator.kubeconfig)
    )


def settled(hook: ClusterHook) -> None:
    """Until the Deployment controller's last write of a finished rollout (no status writes follow)."""

    def done() -> bool:
        conditions = hook.get("apps/v1", "Deployment", "web").get("status", {}).get("conditions", [])
        return any(
            c["type"] == "Progressing" and c.get("reason") == "NewReplicaSetAvailable" for c in conditions
        )

    wait_for(done, message="rollout of Deployment web settled")


def resource_versions(hook: ClusterHook) -> dict[str, str]:
    settled(hook)
    return {
        f"{kind}/{name}": hook.get(api_version, kind, name)["metadata"]["resourceVersion"]
        for api_version, kind, name in APP_OBJECTS
    }


def run_dag(dag: Any, **conf: Any) -> Any:
    run = dag.test(run_conf=conf or None)
    return run, {ti.task_id: ti for ti in run.get_task_instances()}


def xcom(ti: Any) -> Any:
    return ti.xcom_pull(task_ids=ti.task_id, dag_id=ti.dag_id, run_id=ti.run_id)


def names_in(hook: ClusterHook, api_version: str, kind: str, namespace: str = "default") -> set[str]:
    return {o["metadata"]["name"] for o in hook.list(api_version, kind, namespace)}


# -- real Airflow ------------------------------------------------------------------------------------
def test_apply_waits_for_the_rollout_and_a_rerun_changes_nothing(
    airflow_db: str, airflow_conn: str, hook: ClusterHook
) -> None:
    from tests.dags.manifests import apply_app

    run, tis = run_dag(apply_app)
    assert run.state == "success"
    # wait_for_ready (sync): the task only ended once the rollout was complete
    deployment = hook.get("apps/v1", "Deployment", "web")
    assert deployment["status"].get("availableReplicas") == 1
    refs = xcom(tis["apply"])
    assert [(r["apiVersion"], r["kind"], r["name"]) for r in refs] == APP_OBJECTS  # document order
    assert all(r["namespace"] == "default" and r["uid"] for r in refs)
    assert refs[0]["uid"] == deployment["metadata"]["uid"]
    # the ConfigMap value "settings.yaml" inside the file was not taken for a template file
    assert hook.get("v1", "ConfigMap", "web-config")["data"] == {
        "MODE": "fast",
        "settings_file": "settings.yaml",
    }
    managers = {m["manager"] for m in deployment["metadata"]["managedFields"] if m["operation"] == "Apply"}
    assert managers == {"airflow-k8s-workflows"}

    before = resource_versions(hook)
    run, tis = run_dag(apply_app)
    assert run.state == "success"
    assert resource_versions(hook) == before
    assert [r["uid"] for r in xcom(tis["apply"])] == [r["uid"] for r in refs]


def test_deferred_apply_waits_and_never_shows_secret_values(
    airflow_db: str, airflow_conn: str, hook: ClusterHook, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    from tests.dags.manifests import apply_app_deferred

    caplog.set_level(logging.DEBUG)
    run, tis = run_dag(apply_app_deferred, replicas=2)
    assert run.state == "success"
    assert hook.get("apps/v1", "Deployment", "web")["status"].get("availableReplicas") == 2
    stored = hook.get("v1", "Secret", "web-secret")["data"]["DB_PASSWORD"]
    assert base64.b64decode(stored).decode() == PASSWORD  # the real value reached the cluster

    out, err = capfd.readouterr()
    rendered = RenderedTaskInstanceFields.get_templated_fields(tis["apply"])
    assert rendered is not None and "web-secret" in json.dumps(rendered)  # the manifest was rendered
    for where, text in {
        "task log": out + err,
        "caplog": caplog.text,
        "xcom": json.dumps(xcom(tis["apply"])),
        "rendered template fields": json.dumps(rendered),
    }.items():
        assert PASSWORD not in text, where
        assert stored not in text, where
    assert 'Deployment default/web: deployment "web" successfully rolled out' in out


def test_dry_run_logs_a_diff_and_changes_nothing(
    airflow_db: str, airflow_conn: str, hook: ClusterHook, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.dags.manifests import APP_PARAMS, apply_dry_run

    ApplyManifestsOperator(task_id="seed", manifests=_app_text(APP_PARAMS), wait_for_ready=True).execute({})
    before = resource_versions(hook)
    capfd.readouterr()

    run, tis = run_dag(apply_dry_run, replicas=3, password="a-new-password-value")
    assert run.state == "success"
    assert resource_versions(hook) == before
    assert hook.get("apps/v1", "Deployment", "web")["spec"]["replicas"] == 1
    out = capfd.readouterr().out
    assert "--- live Deployment default/web" in out
    assert "-  replicas: 1\n" in out and "+  replicas: 3\n" in out
    assert "DB_PASSWORD: '*** (changed)'" in out
    assert "a-new-password-value" not in out and PASSWORD not in out
    assert "managedFields" not in out and "resourceVersion" not in out
    assert "ConfigMap default/web-config unchanged" in out
    assert "Dry run: 0 to create, 2 to change, 2 unchanged" in out
    assert [r["uid"] for r in xcom(tis["apply"])] == [
        hook.get(api_version, kind, name)["metadata"]["uid"] for api_version, kind, name in APP_OBJECTS
    ]


def test_crd_and_its_servicemonitor_in_one_batch(
    airflow_db: str, airflow_conn: str, hook: ClusterHook
) -> None:
    from tests.dags.manifests import apply_servicemonitor

    run, tis = run_dag(apply_servicemonitor)
    assert run.state == "success"
    crd = hook.get(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "servicemonitors.monitoring.coreos.com"
    )
    assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
    monitor = hook.get("monitoring.coreos.com/v1", "ServiceMonitor", "web")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "interval": "30s"}]
    assert hook.discover("monitoring.coreos.com/v1", "ServiceMonitor").name == "servicemonitors"
    refs = xcom(tis["apply"])
    assert refs == [
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "namespace": None,
         "name": "servicemonitors.monitoring.coreos.com", "uid": crd["metadata"]["uid"]},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "namespace": "default",
         "name": "web", "uid": monitor["metadata"]["uid"]},
    ]  # fmt: skip


def _app_text(params: dict[str, Any]) -> str:
    from pathlib import Path

    text = (Path(__file__).parents[1] / "dags" / "k8s_manifests" / "app.yaml").read_text()
    for key, value in params.items():
        text = text.replace("{{ params." + key + " }}", str(value))
    return text


# -- conflicts --------------------------------------------------------------------------------------
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"level": "debug"}}
OTHER_CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}, "data": {"a": "b"}}


def test_conflict_fails_naming_fields_and_manager_until_forced(airflow_conn: str, hook: ClusterHook) -> None:
    hook.apply({**CM, "data": {"level": "info"}}, field_manager="platform-team")

    with pytest.raises(KubernetesTaskFailed) as failure:
        ApplyManifestsOperator(task_id="apply", manifests=[OTHER_CM, CM]).execute({})
    message = str(failure.value)
    assert "nothing was applied" in message
    assert (
        'ConfigMap/settings (document 2): apply conflict on .data.level (managed by "platform-team")'
        in message
    )
    assert "force=True" in message
    assert hook.get("v1", "ConfigMap", "settings")["data"] == {"level": "info"}
    assert "other" not in names_in(hook, "v1", "ConfigMap")  # checked before anything was written

    refs = ApplyManifestsOperator(task_id="apply", manifests=[OTHER_CM, CM], force=True).execute({})
    live = hook.get("v1", "ConfigMap", "settings")
    assert live["data"] == {"level": "debug"} and refs[1]["uid"] == live["metadata"]["uid"]
    owners = {m["manager"]: m["fieldsV1"] for m in live["metadata"]["managedFields"]}
    assert "f:level" in owners["airflow-k8s-workflows"]["f:data"]
    assert "f:level" not in owners.get("platform-team", {}).get("f:data", {})


# -- bad input: errors name the document and field; nothing reaches the cluster -----------------------
GOOD = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\ndata: {a: b}\n"


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        pytest.param("kind: ConfigMap\nmetadata: {name: x\n", "document 2: line 8, column 1: did not find expected ',' or '}'", id="broken-yaml"),
        pytest.param("apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {a: b}}\n",
                     "ConfigMap (document 2): metadata.name: Required value", id="missing-name"),
        pytest.param("apiVersion: apps/v1\nkind: Deploymnt\nmetadata: {name: web}\n",
                     "Deploymnt/web (document 2): kind: kind Deploymnt (apps/v1) is not served", id="unknown-kind"),
        pytest.param("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Web_App}\n",
                     'ConfigMap/Web_App (document 2): metadata.name: Invalid value: "Web_App"', id="invalid-name"),
        pytest.param("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: web}\n",
                     "ServiceMonitor/web (document 2): kind: kind ServiceMonitor (monitoring.coreos.com/v1) is not "
                     "served by the cluster: is its CustomResourceDefinition installed?", id="crd-not-installed"),
        pytest.param("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\nbogus: 1\n",
                     'ConfigMap/x (document 2): bogus: unknown field "bogus"', id="unknown-field"),
    ],
)  # fmt: skip
def test_bad_documents_fail_before_anything_is_sent(
    airflow_conn: str, hook: ClusterHook, second: str, expected: str
) -> None:
    before = names_in(hook, "v1", "ConfigMap")
    with pytest.raises(ManifestError) as failure:
        ApplyManifestsOperator(task_id="apply", manifests=f"{GOOD}---\n{second}").execute({})
    assert expected in str(failure.value)
    assert names_in(hook, "v1", "ConfigMap") == before


def test_server_rejection_in_the_dry_run_applies_nothing(airflow_conn: str, hook: ClusterHook) -> None:
    bad_deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "other"}},
                              "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}},
    }  # fmt: skip
    with pytest.raises(KubernetesTaskFailed, match=r"Deployment/web \(document 2\): 422 Invalid: .*selector"):
        ApplyManifestsOperator(task_id="apply", manifests=[OTHER_CM, bad_deployment]).execute({})
    assert "other" not in names_in(hook, "v1", "ConfigMap")


def test_namespace_mismatch_is_refused(airflow_conn: str, hook: ClusterHook) -> None:
    doc = {**CM, "metadata": {"name": "settings", "namespace": "team-a"}}
    with pytest.raises(ManifestError, match=r"document 1\): metadata.namespace: .*'team-a'.*'team-b'"):
        ApplyManifestsOperator(task_id="apply", manifests=doc, namespace="team-b").execute({})


def test_namespace_and_its_objects_in_one_batch_in_dependency_order(
    airflow_conn: str, hook: ClusterHook, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    docs = [
        {**CM, "metadata": {"name": "settings", "namespace": "team-a"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
    ]
    refs = ApplyManifestsOperator(task_id="apply", manifests=docs).execute({})
    assert [r["kind"] for r in refs] == ["ConfigMap", "Namespace"]  # document order
    assert refs[1]["namespace"] is None  # cluster-scoped
    assert hook.get("v1", "ConfigMap", "settings", "team-a")["data"] == {"level": "debug"}
    out = capfd.readouterr().out
    assert out.index("Namespace team-a created") < out.index("ConfigMap team-a/settings created")


def test_arguments_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="manifests: required"):
        ApplyManifestsOperator(task_id="apply", manifests=None)


def test_importing_these_modules_is_cheap() -> None:
    import subprocess
    import sys

    # on top of what ``import airflow.sdk`` (paid by every DAG file) already loads
    code = (
        "import sys, airflow.sdk\n"
        "base = set(sys.modules)\n"
        "import airflow_k8s_workflows.operators.apply, airflow_k8s_workflows.sensors.condition\n"
        "import airflow_k8s_workflows.triggers.condition, airflow_k8s_workflows.triggers.ready\n"
        "heavy = ('kubernetes', 'kubernetes_asyncio', 'airflow.providers', 'kubernetes_validate', 'jsonpath_ng',\n"
        "         'airflow_k8s_workflows.hooks', 'aiohttp', 'tenacity')\n"
        "print(sorted(m for m in set(sys.modules) - base if any(m == h or m.startswith(h + '.') for h in heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_a_readiness_timeout_says_what_was_still_pending(airflow_conn: str, hook: ClusterHook) -> None:
    never_ready = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "never"},
        "spec": {"selector": {"matchLabels": {"app": "never"}}, "template": {
            "metadata": {"labels": {"app": "never"},
                         "annotations": {"emulator.airflow-k8s-workflows.io/never-ready": "true"}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}},
    }  # fmt: skip
    op = ApplyManifestsOperator(
        task_id="apply", manifests=[OTHER_CM, never_ready], wait_for_ready=True, timeout=2
    )
    with pytest.raises(KubernetesTaskFailed) as failure:
        op.execute({})
    assert str(failure.value).startswith(
        "apply: timed out after 2s waiting for readiness (Deployment default/never: "
    )
    assert "Waiting for deployment" in str(failure.value)  # the rollout's own words
    assert hook.get_or_none("v1", "ConfigMap", "other") is not None  # applied; only the wait gave up


def test_dry_run_of_a_crd_batch_shows_what_the_server_cannot_check_yet(
    airflow_conn: str, hook: ClusterHook, capfd: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    path = Path(__file__).parents[1] / "dags" / "k8s_manifests" / "servicemonitor.yaml"
    refs = ApplyManifestsOperator(task_id="apply", manifests=str(path), dry_run=True).execute({})
    assert [r["uid"] for r in refs] == [None, None]  # nothing exists
    assert hook.list("apiextensions.k8s.io/v1", "CustomResourceDefinition") == []
    out = capfd.readouterr().out
    assert "+++ dry-run CustomResourceDefinition servicemonitors.monitoring.coreos.com" in out
    assert "ServiceMonitor default/web would be created (not checked by the server: its " \
           "CustomResourceDefinition is created in this batch)" in out  # fmt: skip
    assert "+++ manifest ServiceMonitor default/web" in out
