"""Malformed input (tests/bad_input/corpus.py): every case fails with an error naming the field and
the reason, where it should (constructor, start of execute, or the trigger's first event), and
the cluster is unchanged afterwards.

One emulator serves the whole module: a baseline (Deployment ``web`` with its Service and
ConfigMap) is created once, and each case compares every object's resourceVersion before and
after (Events excluded: they are the cluster's log, not its state).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import BaseSensorOperator
from airflow.sdk.bases.notifier import BaseNotifier
from airflow.triggers.base import BaseTrigger

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.operators.base import KubernetesOperator
from airflow_k8s_workflows.triggers.base import first_event
from tests.bad_input.corpus import CASES, NAMESPACE, WEB, Case, TriggerErrorEvent
from tests.helpers import wait_for

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

pytest_plugins = ["tests.monitoring_servers"]

# (api module, list-for-all-namespaces method) for every kind an operator here could write
_NAMESPACED = [
    ("CoreV1Api", "list_config_map_for_all_namespaces", "ConfigMap"),
    ("CoreV1Api", "list_secret_for_all_namespaces", "Secret"),
    ("CoreV1Api", "list_service_for_all_namespaces", "Service"),
    ("CoreV1Api", "list_service_account_for_all_namespaces", "ServiceAccount"),
    ("CoreV1Api", "list_pod_for_all_namespaces", "Pod"),
    ("AppsV1Api", "list_deployment_for_all_namespaces", "Deployment"),
    ("AppsV1Api", "list_replica_set_for_all_namespaces", "ReplicaSet"),
    ("AppsV1Api", "list_stateful_set_for_all_namespaces", "StatefulSet"),
    ("AppsV1Api", "list_daemon_set_for_all_namespaces", "DaemonSet"),
    ("BatchV1Api", "list_job_for_all_namespaces", "Job"),
    ("BatchV1Api", "list_cron_job_for_all_namespaces", "CronJob"),
    ("AutoscalingV2Api", "list_horizontal_pod_autoscaler_for_all_namespaces", "HorizontalPodAutoscaler"),
]
_CLUSTER_SCOPED = [
    ("CoreV1Api", "list_namespace", "Namespace"),
    ("ApiextensionsV1Api", "list_custom_resource_definition", "CustomResourceDefinition"),
]


Snapshot = dict[tuple[str, str, str], str]


class Cluster:
    """The module's emulator, read through the official ``kubernetes`` client.

    The cluster-wide revision (the resourceVersion of any LIST) moves with every write to any
    object, so an unmoved revision proves nothing was written; only when it moved (an Event,
    say) are the objects listed and compared one by one.
    """

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client
        self._cached: tuple[str, Snapshot] | None = None

    def revision(self) -> str:
        from kubernetes import client

        raw = client.CoreV1Api(self.api_client).list_namespace(limit=1, _preload_content=False)
        return str(json.loads(raw.data)["metadata"]["resourceVersion"])

    def state(self) -> tuple[str, Snapshot]:
        """(revision, snapshot), the snapshot listed again only when the revision moved."""
        revision = self.revision()  # before the snapshot: a write in between makes it look stale, never fresh
        if self._cached is None or self._cached[0] != revision:
            self._cached = (revision, self.snapshot())
        return self._cached

    def changes_since(
        self, before: tuple[str, Snapshot]
    ) -> dict[tuple[str, str, str], tuple[str | None, str | None]]:
        """``{(kind, namespace, name): (resourceVersion before, after)}`` of what was written since."""
        revision, old = before
        if self.revision() == revision:
            return {}
        new = self.snapshot()
        return {
            key: (old.get(key), new.get(key))
            for key in old.keys() | new.keys()
            if old.get(key) != new.get(key)
        }

    def snapshot(self) -> Snapshot:
        """``{(kind, namespace, name): resourceVersion}`` of every object a task could write."""
        from kubernetes import client

        def listed(api_name: str, method: str, kind: str) -> Snapshot:
            api = getattr(client, api_name)(self.api_client)
            raw = getattr(api, method)(_preload_content=False)  # plain JSON: the models are slow
            return {
                (kind, item["metadata"].get("namespace", ""), item["metadata"]["name"]):
                    item["metadata"]["resourceVersion"]
                for item in json.loads(raw.data)["items"]
            }  # fmt: skip

        out: Snapshot = {}
        for row in _NAMESPACED + _CLUSTER_SCOPED:
            out.update(listed(*row))
        return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One emulator for the module, ``kubernetes_default`` pointing at it, the baseline settled."""
    from kubernetes import config

    workdir = tmp_path_factory.mktemp("emulator")
    with KubeEmulator(speed=20, workdir=workdir) as emu, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", emu.airflow_connection(inline=True))
        api_client = config.new_client_from_config(emu.kubeconfig)
        try:
            _baseline(api_client)
            yield Cluster(api_client)
        finally:
            api_client.close()


def _baseline(api_client: ApiClient) -> None:
    from kubernetes import client

    labels = {"app": WEB}
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        NAMESPACE, {"metadata": {"name": "web-config"}, "data": {"greeting": "hello"}}
    )
    core.create_namespaced_service(
        NAMESPACE, {"metadata": {"name": WEB}, "spec": {"selector": labels, "ports": [{"port": 80}]}}
    )
    apps.create_namespaced_deployment(
        NAMESPACE,
        {
            "metadata": {"name": WEB},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"]}
                        ],
                        "terminationGracePeriodSeconds": 1,
                    },
                },
            },
        },
    )

    def settled() -> bool:
        dep = apps.read_namespaced_deployment(WEB, NAMESPACE)
        conditions = dep.status.conditions or []
        return dep.status.available_replicas == 1 and any(
            c.type == "Progressing" and c.reason == "NewReplicaSetAvailable" for c in conditions
        )

    wait_for(settled, message="baseline Deployment web rolled out")


# -- running one case -----------------------------------------------------------------------------


def _context(task_id: str, params: dict[str, Any]) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="bad_input", task_id=task_id, run_id="manual__bad_input", map_index=-1,
                         try_number=1, start_date=None, xcom_push=lambda **_: None)  # fmt: skip
    return {"ti": ti, "task_instance": ti, "run_id": ti.run_id, "params": params}


def _build(case: Case) -> Any:
    kwargs = dict(case.kwargs)
    if not issubclass(case.target, BaseTrigger | BaseNotifier):
        kwargs["task_id"] = case.id.replace("-", "_")
    if issubclass(case.target, KubernetesOperator):
        kwargs.setdefault("timeout", 10)  # nor an operator wait long for a rollout
    if issubclass(case.target, BaseSensorOperator):
        # an input that slips through must not make the sensor wait long
        kwargs.setdefault("timeout", 3)
        kwargs.setdefault("poke_interval", 0.1)
    return case.target(**kwargs)


def _run(case: Case, subject: Any) -> None:
    if isinstance(subject, BaseTrigger):
        event = asyncio.run(first_event(subject, timeout=20))
        if event.get("status") == "error":
            raise TriggerErrorEvent(str(event.get("message")))
        raise AssertionError(f"the trigger's first event is not an error: {event}")
    if isinstance(subject, BaseNotifier):
        raise AssertionError("a notifier's bad input must be refused by its constructor")
    context = _context(subject.task_id, case.params)
    if case.params:
        subject.render_template_fields(context)
    subject.execute(context)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_naming_field_and_reason(
    case: Case, cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    if case.needs == "prometheus":
        request.getfixturevalue("prometheus_conn")
    before = cluster.state()

    if case.when == "init":
        with pytest.raises(case.error) as raised:
            _build(case)
    else:
        subject = _build(case)  # must be accepted as written: only rendering or the cluster tells
        with pytest.raises(case.error) as raised:
            _run(case, subject)

    message = str(raised.value)
    assert case.field in message, f"the message does not name the field {case.field!r}: {message}"
    assert case.reason in message, f"the message does not give the reason {case.reason!r}: {message}"
    assert cluster.changes_since(before) == {}, "the cluster changed"


# -- the corpus itself ----------------------------------------------------------------------------

CATEGORIES = {
    "broken YAML", "wrong types", "missing fields", "invalid or too long names",
    "unknown kinds and uninstalled CRDs", "negative or absurd replicas", "empty images",
    "conflicting parameters", "bad PromQL", "bad label/field selectors", "bad durations/timeouts",
    "bad env var shapes", "bad resource quantities",
}  # fmt: skip


def test_corpus_covers_every_category_with_unique_ids() -> None:
    assert len(CASES) >= 50
    ids = Counter(c.id for c in CASES)
    assert [i for i, n in ids.items() if n > 1] == []
    assert {c.category for c in CASES} >= CATEGORIES
    assert {c.when for c in CASES} <= {"init", "execute", "run"}
    for c in CASES:
        assert c.when != "run" or issubclass(c.target, BaseTrigger), c.id
        assert c.params == {} or c.when == "execute", c.id


def test_reasons_are_product_wording_not_the_input_echoed() -> None:
    for c in CASES:
        given = repr(c.kwargs) + repr(c.params)
        assert c.reason not in given, f"{c.id}: the reason {c.reason!r} is part of the input"
        assert c.field and c.reason, c.id
        assert inspect.isclass(c.error) and issubclass(c.error, Exception), c.id


def test_the_unchanged_cluster_check_sees_a_write(cluster: Cluster) -> None:
    """The guard every case relies on can fail: an object written by a task shows up in it."""
    from kubernetes import client

    from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator
    from tests.bad_input.corpus import configmap

    before = cluster.state()
    ApplyManifestsOperator(task_id="write", manifests=configmap("written")).execute(_context("write", {}))
    try:
        changes = cluster.changes_since(before)
        assert list(changes) == [("ConfigMap", NAMESPACE, "written")]
        assert changes[("ConfigMap", NAMESPACE, "written")][0] is None
    finally:
        client.CoreV1Api(cluster.api_client).delete_namespaced_config_map("written", NAMESPACE)
