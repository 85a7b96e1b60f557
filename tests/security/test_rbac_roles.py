"""deploy/rbac.yaml against the emulator's RBAC authorizer, with Airflow's ServiceAccount token.

For each operator family: with its binding removed the operators fail at once (no refused
request is sent again) with a message naming the verb, resource and namespace, and the cluster
is unchanged; with the binding restored (and nothing else bound) they work, are never refused,
and use every verb the family's role grants (least privilege: a grant nobody uses fails the
test, so does a request the role does not allow). The emulator counts requests per (verb,
group, resource, subresource, code); the test's own writes while an operator waits go to the
emulator's API directly, so only Airflow's requests are counted.

A server-side apply that creates an object needs "create" as well as "patch", as on a real API
server (whose patch handler words that denial without a verb):
``test_an_apply_that_creates_needs_create_and_says_so``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import TaskDeferred

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.kube.errors import Forbidden
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.triggers.base import first_event
from tests.conftest import REPO, Kubectl
from tests.helpers import wait_for
from tests.operators.job_support import StateStore, context
from tests.operators.workload_support import deployment, replicaset, statefulset
from tests.triggers.watch_support import fast_watch

__all__ = ["fast_watch"]  # fixture

RBAC_YAML = REPO / "deploy" / "rbac.yaml"
SERVICE_ACCOUNT = "airflow/airflow-k8s-workflows"
USER = "system:serviceaccount:airflow:airflow-k8s-workflows"
NS = "default"
RBAC_GROUP = "rbac.authorization.k8s.io"
PREFIX = "airflow-k8s-workflows-"
FAMILIES = ("jobs", "deploy", "scale", "watch", "notify", "monitor")
# containers stay ContainerCreating this long (controller seconds: 0.5 s at speed 20), so a wait
# started right after a write finds the object not ready yet and has to watch
START_DELAY = {"emulator.airflow-k8s-workflows.io/start-delay-seconds": "10"}
NEVER_READY = {"emulator.airflow-k8s-workflows.io/never-ready": "true"}
RBAC_VERBS = {"GET": "get", "LIST": "list", "WATCH": "watch", "POST": "create", "PUT": "update",
              "PATCH": "patch", "DELETE": "delete", "DELETECOLLECTION": "deletecollection"}  # fmt: skip

Grant = tuple[str, str, str]  # (API group, resource[/subresource], verb)


def rbac_documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(RBAC_YAML.read_text()) if doc]


def granted(family: str) -> set[Grant]:
    """What the family's ClusterRole in deploy/rbac.yaml allows."""
    (role,) = [
        d for d in rbac_documents() if d["kind"] == "ClusterRole" and d["metadata"]["name"] == PREFIX + family
    ]
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}  # fmt: skip


def binding(family: str) -> dict[str, Any]:
    (doc,) = [
        d
        for d in rbac_documents()
        if d["kind"].endswith("Binding") and d["metadata"]["name"] == PREFIX + family
    ]
    return doc


class Cluster:
    """An RBAC emulator with deploy/rbac.yaml applied by the admin (kubectl) and the
    ``kubernetes_default`` connection authenticating as Airflow's ServiceAccount. The test's
    own reads and writes go to the emulator's API in-process: fast, and not counted."""

    def __init__(self, emu: KubeEmulator) -> None:
        self.emu = emu

    def _api(self, fn: Callable[[Any], Any]) -> Any:
        api = self.emu.api
        return self.emu.call(lambda: fn(api))

    # -- bindings ---------------------------------------------------------------------------------
    def unbind(self, family: str) -> None:
        meta = binding(family)["metadata"]
        kind = "clusterrolebindings" if "namespace" not in meta else "rolebindings"
        self._api(
            lambda api: api.delete(api.rt(RBAC_GROUP, kind), meta.get("namespace"), meta["name"], CONTROLLER)
        )

    def bind(self, family: str) -> None:
        doc = binding(family)
        kind = "clusterrolebindings" if doc["kind"] == "ClusterRoleBinding" else "rolebindings"
        self._api(
            lambda api: api.create(
                api.rt(RBAC_GROUP, kind), doc["metadata"].get("namespace"), doc, CONTROLLER
            )
        )

    def change_role(self, family: str, change: Callable[[dict[str, Any]], None]) -> None:
        rt_name = PREFIX + family

        def edit(api: Any) -> None:
            rt = api.rt(RBAC_GROUP, "clusterroles")
            role = api.get(rt, None, rt_name)
            change(role)
            api.replace(rt, None, rt_name, role, CONTROLLER)

        self._api(edit)

    # -- requests ---------------------------------------------------------------------------------
    def counts(self) -> dict[tuple[str, ...], int]:
        """Requests so far, once every watch has ended (a watch is counted when it ends)."""
        counter = self.emu.http.counter
        wait_for(
            lambda: self.emu.call(lambda: counter.watches_open == 0), timeout=10, message="watches to close"
        )
        return self.emu.call(lambda: dict(counter.counts))

    def since(self, before: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
        return {k: n - before.get(k, 0) for k, n in self.counts().items() if n > before.get(k, 0)}

    @staticmethod
    def grants(requests: dict[tuple[str, ...], int], *, code: str | None = None) -> set[Grant]:
        """(group, resource, verb) of the requests; only those answered ``code`` when given."""
        return {(group, f"{resource}/{sub}" if sub else resource, RBAC_VERBS[verb])
                for (verb, group, resource, sub, answer) in requests if code is None or answer == code}  # fmt: skip

    # -- objects ------------------------------------------------------------------------------------
    def objects(self) -> dict[tuple[Any, ...], str]:
        """Every stored object's resourceVersion by ((group, resource), namespace, name)."""
        store = self.emu.store

        def read() -> dict[tuple[Any, ...], str]:
            return {(type_key, s.obj["metadata"].get("namespace", ""), s.obj["metadata"]["name"]):
                    s.obj["metadata"]["resourceVersion"] for type_key in store.types() for s in store.items(type_key)}  # fmt: skip

        return self.emu.call(read)

    def settled(self) -> dict[tuple[Any, ...], str]:
        """The objects once the controllers are done with them (unchanged for 0.3 s)."""
        last, since = self.objects(), time.monotonic()

        def still() -> bool:
            nonlocal last, since
            now = self.objects()
            if now != last:
                last, since = now, time.monotonic()
            return time.monotonic() - since >= 0.3

        wait_for(still, timeout=15, interval=0.1, message="the cluster to settle")
        return last

    def write(self, resource: str, name: str, patch: dict[str, Any] | None = None, *, group: str = "",
              body: dict[str, Any] | None = None) -> None:  # fmt: skip
        """Create ``body`` or merge-patch ``name`` in the namespace."""
        if body is not None:
            self._api(lambda api: api.create(api.rt(group, resource), NS, body, CONTROLLER))
        else:
            raw = json.dumps(patch).encode()
            self._api(lambda api: api.patch(api.rt(group, resource), NS, name, raw, "application/merge-patch+json",
                                            CONTROLLER))  # fmt: skip

    def read(
        self, resource: str, name: str, *, group: str = "", namespace: str | None = NS
    ) -> dict[str, Any] | None:
        return self._api(lambda api: api.try_get(api.rt(group, resource), namespace, name))

    def ready(self, *manifests: dict[str, Any]) -> None:
        """Create Deployments/StatefulSets/ReplicaSets and wait until all their replicas are ready."""
        for manifest in manifests:
            self.write(manifest["kind"].lower() + "s", "", group="apps", body=manifest)

        def ready(manifest: dict[str, Any]) -> bool:
            live = self.read(manifest["kind"].lower() + "s", manifest["metadata"]["name"], group="apps") or {}
            return bool((live.get("status") or {}).get("readyReplicas") == manifest["spec"]["replicas"])

        wait_for(lambda: all(ready(m) for m in manifests), message="workloads ready")


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_watch: None) -> Iterator[Cluster]:
    """deploy/rbac.yaml applied, then every binding removed again: each test binds what it tests."""
    with KubeEmulator(speed=20, rbac=True, workdir=tmp_path / "emu") as emu:
        cache = tmp_path / "kubectl"
        cache.mkdir()
        Kubectl(emu.kubeconfig, cache)("apply", "-f", str(RBAC_YAML))
        token = emu.issue_token(SERVICE_ACCOUNT)
        kubeconfig = emu.kubeconfig_for(token, tmp_path / "airflow-kubeconfig.yaml")
        conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": kubeconfig, "namespace": NS}}
        monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(conn))
        c = Cluster(emu)
        for family in FAMILIES:
            c.unbind(family)
        yield c


def refused_at_once(cluster: Cluster, run: Callable[[], Any], verb: str, resource: str, group: str = "",
                    *, namespace: str | None = NS, refused: int = 1, requests: int = 1) -> str:  # fmt: skip
    """``run()`` fails on its first refused request, never repeating it (``refused`` answers
    403 out of ``requests`` sent), naming the verb, resource and namespace, and changes
    nothing; the message."""
    objects = {key for key in cluster.settled() if key[0][1] != "events"}  # controllers may still add Events
    before = cluster.counts()
    started = time.monotonic()
    with pytest.raises((Forbidden, KubernetesTaskFailed)) as info:
        run()
    elapsed = time.monotonic() - started
    sent = cluster.since(before)
    assert sum(n for key, n in sent.items() if key[4] == "403") == refused, sent
    assert sum(sent.values()) == requests, sent
    assert elapsed < 10, f"took {elapsed:.1f}s: waited to retry?"  # the hooks' back-off sums to > 15 s
    message = str(info.value)
    qualified = f"{resource.split('/')[0]}.{group}" if group else resource.split("/")[0]
    ours = f"{qualified}/{resource.split('/')[1]}" if "/" in resource else qualified
    # ours first: verb, resource (and name), namespace; then the API server's own words
    assert message.startswith(f"forbidden: cannot {verb} {ours}"), message
    ours_where = f'in namespace "{namespace}" (' if namespace else "at the cluster scope ("
    server_where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    denial = f'User "{USER}" cannot {verb} resource "{resource}" in API group "{group}" {server_where}'
    assert ours_where in message and denial in message, message
    # nothing changed: no write of Airflow's was accepted, no object appeared or went away
    assert not [key for key in sent if key[0] in ("POST", "PUT", "PATCH", "DELETE") and key[4][0] == "2"], (
        sent
    )
    assert {key for key in cluster.objects() if key[0][1] != "events"} == objects, "the cluster changed"
    return message


def allowed_and_used(
    cluster: Cluster, family: str, before: dict[tuple[str, ...], int], *also: str
) -> set[Grant]:
    """Nothing Airflow sent since ``before`` was refused; what it used (all granted to
    ``family`` and the families ``also`` bound)."""
    sent = cluster.since(before)
    assert not cluster.grants(sent, code="403"), f"refused: {cluster.grants(sent, code='403')}"
    used = cluster.grants(sent)
    allowed = granted(family).union(*(granted(f) for f in also))
    assert used <= allowed, f"used but not granted: {used - allowed}"
    return used


def trigger_event(trigger: Any, timeout: float = 20) -> dict[str, Any]:
    return asyncio.run(first_event(trigger, timeout))


# -- (a) jobs ---------------------------------------------------------------------------------------
def test_jobs_family(cluster: Cluster) -> None:
    from airflow_k8s_workflows.operators.job import RunJobOperator
    from airflow_k8s_workflows.sensors.job import JobSensor

    def job(task_id: str, script: str, **kw: Any) -> RunJobOperator:
        return RunJobOperator(task_id=task_id, image="busybox:1.36", cmds=["sh", "-c"], arguments=[script],
                              deferrable=False, timeout=30, **kw)  # fmt: skip

    load = job("load", "echo '{\"rows\": 3}'", annotations=START_DELAY)
    refused_at_once(cluster, lambda: load.execute(context("load")), "get", "jobs", "batch")

    cluster.bind("jobs")
    before = cluster.counts()
    assert load.execute(context("load", store=StateStore())) == {"rows": 3}  # deleted after (cleanup)
    with pytest.raises(KubernetesTaskFailed, match="BackoffLimitExceeded") as failed:
        job("broken", "echo cannot reach db; exit 3", backoff_limit=0).execute(context("broken"))
    assert "cannot reach db" in str(failed.value) and "Warning events:" in str(failed.value)
    started = job("bg", "echo done", annotations=START_DELAY, wait_until_complete=False).execute(
        context("bg")
    )
    sensor = JobSensor(task_id="sense", name=started["name"], deferrable=True, timeout=30)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert trigger_event(deferred.value.trigger)["status"] == "success"
    assert JobSensor(task_id="poke", name=started["name"], deferrable=False).execute({}) is None
    assert allowed_and_used(cluster, "jobs", before) == granted("jobs")

    # the role is bound in its namespace only
    refused_at_once(cluster, lambda: job("elsewhere", "true", namespace="kube-system").execute(context("elsewhere")),
                    "get", "jobs", "batch", namespace="kube-system")  # fmt: skip
    # a role without one verb: the message names that verb
    cluster.change_role("jobs", lambda role: role["rules"][0]["verbs"].remove("create"))
    refused_at_once(cluster, lambda: job("nocreate", "true").execute(context("nocreate")), "create", "jobs", "batch",
                    requests=3)  # fmt: skip


# -- (b) deploy -------------------------------------------------------------------------------------
# the open-ended rules (any applied kind) grant the same verbs to every kind they list
APPLIED_VERBS = {"get", "list", "watch", "create", "patch", "delete"}


def test_deploy_family(cluster: Cluster) -> None:
    from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator, DeleteResourcesOperator
    from airflow_k8s_workflows.operators.deployment import DeployOperator, RollbackDeploymentOperator
    from airflow_k8s_workflows.sensors.rollout import RolloutSensor

    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"mode": "a"},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"token": "s3cr3t"},
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}  # fmt: skip
    site = deployment("web", replicas=1)
    site["spec"]["template"]["metadata"]["annotations"] = START_DELAY
    app = [config_map, secret, service, site]
    cluster.ready(deployment("api", replicas=1))

    def apply() -> Any:
        return ApplyManifestsOperator(task_id="apply", manifests=app, wait_for_ready=True, wait_for_endpoints=True,
                                      deferrable=False, timeout=30).execute({})  # fmt: skip

    refused_at_once(cluster, apply, "get", "configmaps")
    set_image = DeployOperator(task_id="d", deployment="api", image="busybox:2")
    refused_at_once(cluster, lambda: set_image.execute({}), "get", "deployments", "apps")

    cluster.bind("deploy")
    before = cluster.counts()
    assert [ref["kind"] for ref in apply()] == ["ConfigMap", "Secret", "Service", "Deployment"]
    assert (
        ApplyManifestsOperator(task_id="again", manifests=app, dry_run=True).execute({})[0]["name"]
        == "settings"
    )
    deployed = DeployOperator(
        task_id="deploy", deployment="web", image="busybox:2", deferrable=False, timeout=30
    )
    assert deployed.execute({})["revision"] == 2
    undo = RollbackDeploymentOperator(task_id="undo", deployment="web", deferrable=False, timeout=30)
    assert undo.execute({})["rolled_back_to"] == 1
    # a rollout that cannot progress is explained (pods, events) and rolled back
    cluster.write("deployments", "web", {"spec": {"progressDeadlineSeconds": 20}}, group="apps")
    broken = DeployOperator(task_id="broken", deployment="web", image="busybox:does-not-exist", deferrable=False,
                            timeout=30)  # fmt: skip
    with pytest.raises(
        KubernetesTaskFailed, match=r"ProgressDeadlineExceeded(.|\n)*rolled back to revision 3"
    ):
        broken.execute({})
    assert RolloutSensor(task_id="rolled", name="web", deferrable=False, timeout=30).execute({})["revision"]
    gone = DeleteResourcesOperator(task_id="delete", manifests=app, propagation_policy="Foreground",
                                   deferrable=False, timeout=30).execute({})  # fmt: skip
    assert len(gone) == 4
    used = allowed_and_used(cluster, "deploy", before)

    open_ended = {(g, r) for g, r, v in granted("deploy") if v == "create"}
    assert {(g, r) for g, r, _ in used} >= {
        ("", "configmaps"),
        ("", "secrets"),
        ("", "services"),
        ("apps", "deployments"),
    }
    for group, resource in open_ended:
        assert {v for g, r, v in granted("deploy") if (g, r) == (group, resource)} == APPLIED_VERBS, resource
    # every verb of the open-ended rules is used by some kind (create only by a real API server),
    # and every other grant (history, diagnosis, endpoints) is used as it is
    assert {v for g, r, v in used if (g, r) in open_ended} == APPLIED_VERBS - {"create"}
    assert {x for x in used if x[:2] not in open_ended} == {
        x for x in granted("deploy") if x[:2] not in open_ended
    }


# -- (c) scale --------------------------------------------------------------------------------------
def test_scale_family(cluster: Cluster) -> None:
    from airflow_k8s_workflows.operators.scale import AutoscaleOperator, ScaleOperator

    def delayed(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest["spec"]["template"]["metadata"]["annotations"] = START_DELAY
        return manifest

    cluster.ready(
        delayed(deployment("web", replicas=1)),
        delayed(statefulset("db", replicas=1)),
        delayed(replicaset("rs", replicas=1)),
    )
    scale_web = ScaleOperator(task_id="scale", name="web", replicas="+1", deferrable=False, timeout=30)
    refused_at_once(cluster, lambda: scale_web.execute({}), "get", "deployments/scale", "apps")
    autoscale = AutoscaleOperator(
        task_id="hpa", name="web", min_replicas=1, max_replicas=4, target_cpu_utilization=70
    )
    refused_at_once(cluster, lambda: autoscale.execute({}), "get", "deployments", "apps")

    cluster.bind("scale")
    before = cluster.counts()
    assert scale_web.execute({}) == {"previous": 1, "current": 2}
    for kind, name in (("StatefulSet", "db"), ("ReplicaSet", "rs")):
        op = ScaleOperator(task_id="scale", kind=kind, name=name, replicas=2, deferrable=False, timeout=30)
        assert op.execute({}) == {"previous": 1, "current": 2}
        assert AutoscaleOperator(task_id="hpa", kind=kind, name=name, min_replicas=2, max_replicas=3,
                                 target_cpu_utilization=70).execute({})["created"]  # fmt: skip
    assert autoscale.execute({})["created"] is True
    assert autoscale.execute({})["created"] is False  # the second apply updates it
    # replicas that never become ready: the failure names the pods' problem (pods, events)
    cluster.write("deployments", "web", {"spec": {"template": {"metadata": {"annotations": NEVER_READY}}}},
                  group="apps")  # fmt: skip
    stuck = ScaleOperator(task_id="stuck", name="web", replicas=3, deferrable=False, timeout=0.5)
    with pytest.raises(KubernetesTaskFailed, match="timed out"):
        stuck.execute({})
    used = allowed_and_used(cluster, "scale", before)
    # everything granted is used; "create" of the HorizontalPodAutoscaler only by a real API
    # server (server-side apply that creates it)
    assert used == granted("scale") - {("autoscaling", "horizontalpodautoscalers", "create")}


# -- (d) watch --------------------------------------------------------------------------------------
def test_watch_family(cluster: Cluster) -> None:
    from airflow_k8s_workflows.sensors.condition import ResourceConditionSensor
    from airflow_k8s_workflows.sensors.events import KubernetesEventSensor
    from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger
    from airflow_k8s_workflows.triggers.resource_change import ResourceChangeTrigger

    since = datetime.now(timezone.utc) - timedelta(minutes=1)

    def event(name: str, reason: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        cluster.write("events", name, body={
            "metadata": {"name": name}, "type": "Warning", "reason": reason, "message": "back-off restarting",
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": NS},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "source": {"component": "kubelet"}})  # fmt: skip

    cluster.ready(deployment("web", replicas=1))
    cluster.write("configmaps", "", body={"metadata": {"name": "switch"}, "data": {"mode": "normal"}})
    event("seen", "BackOff")
    sensor = KubernetesEventSensor(
        task_id="events", reasons="BackOff", since=since, deferrable=False, timeout=10
    )
    refused_at_once(cluster, lambda: sensor.execute({}), "list", "events")
    available = ResourceConditionSensor(task_id="up", kind="Deployment", name="web", condition="Available",
                                        deferrable=False, timeout=10)  # fmt: skip
    refused_at_once(cluster, lambda: available.execute({}), "get", "deployments", "apps")
    changes = ResourceChangeTrigger(
        kind="ConfigMap", namespace=NS, jsonpath="{.data.mode}=maintenance", once=True
    )
    refused_at_once(cluster, lambda: trigger_event(changes), "list", "configmaps")

    async def fires(trigger: Any, then: Callable[[], None]) -> dict[str, Any]:
        """The trigger's first event after ``then()``, called once the trigger watches."""
        counter = cluster.emu.http.counter
        watches = counter.watches_open
        waiting = asyncio.ensure_future(first_event(trigger, 20))
        deadline = time.monotonic() + 10
        while not waiting.done() and time.monotonic() < deadline:
            if getattr(trigger, "watching", counter.watches_open > watches):
                break
            await asyncio.sleep(0.01)
        await asyncio.get_running_loop().run_in_executor(None, then)
        return await waiting

    cluster.bind("watch")
    before = cluster.counts()
    assert sensor.execute({})["name"] == "seen"
    new_event = KubernetesEventTrigger(reasons="BackOff", namespace=NS, once=True)
    assert asyncio.run(fires(new_event, lambda: event("new", "BackOff")))["name"] == "new"
    switched = ResourceChangeTrigger(
        kind="ConfigMap", namespace=NS, jsonpath="{.data.mode}=maintenance", once=True
    )
    flip = lambda: cluster.write("configmaps", "switch", {"data": {"mode": "maintenance"}})  # noqa: E731
    assert asyncio.run(fires(switched, flip))["value"] == "maintenance"
    v1_events = ResourceChangeTrigger(kind="Event", api_version="events.k8s.io/v1", namespace=NS, once=True)
    v1_event = {"metadata": {"name": "third"}, "eventTime": datetime.now(timezone.utc).isoformat(),
                "type": "Normal", "reason": "Pulled", "note": "pulled", "action": "Pull",
                "reportingController": "kubelet", "reportingInstance": "node-0",
                "regarding": {"kind": "Pod", "name": "web-1", "namespace": NS}}  # fmt: skip
    then = lambda: cluster.write("events", "", group="events.k8s.io", body=v1_event)  # noqa: E731
    assert asyncio.run(fires(v1_events, then))["object"]["name"] == "third"
    assert available.execute({})["name"] == "web"
    off = ResourceConditionSensor(task_id="off", kind="ConfigMap", name="switch", jsonpath="{.data.mode}=off",
                                  deferrable=True, timeout=20)  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        off.execute({})
    flip_off = lambda: cluster.write("configmaps", "switch", {"data": {"mode": "off"}})  # noqa: E731
    assert asyncio.run(fires(deferred.value.trigger, flip_off))["status"] == "success"
    used = allowed_and_used(cluster, "watch", before)
    # read-only, the same three verbs for every kind, each of them used
    assert {v for _, _, v in granted("watch")} == {v for _, _, v in used} == {"get", "list", "watch"}
    assert ("events.k8s.io", "events", "watch") in used


# -- (e) monitor: ClusterHealthOperator (cluster-wide) and KubernetesEventNotifier -------------------
def test_monitor_family(cluster: Cluster) -> None:
    from airflow_k8s_workflows.notifiers.kubernetes_event import KubernetesEventNotifier
    from airflow_k8s_workflows.operators.health import ClusterHealthOperator

    cluster.ready(deployment("web", replicas=1))
    ti = context("load")["ti"]
    notifier = KubernetesEventNotifier(
        kind="Deployment", name="web", reason="NightlyLoadFailed", message="load failed"
    )
    refused_at_once(cluster, lambda: notifier.record({"ti": ti}), "get", "deployments", "apps")
    health = ClusterHealthOperator(task_id="health", fail_on_problems=False)
    # nodes are skipped with a warning when they may not be listed; pods may not be either
    refused_at_once(
        cluster, lambda: health.execute({}), "list", "pods", namespace=None, refused=2, requests=2
    )

    cluster.bind("notify")
    cluster.bind("monitor")
    before = cluster.counts()
    first = notifier.record({"ti": ti})
    assert notifier.record({"ti": ti})["count"] == 2 and first["involvedObject"]["name"] == "web"
    report = health.execute({})
    assert report["counts"]["nodes"] == 1 and report["counts"]["deployments"] == 1
    assert [p["reason"] for p in report["problems"]] == ["NightlyLoadFailed"]
    assert ClusterHealthOperator(task_id="ns", namespaces=["default"], fail_on_problems=False).execute({})[
        "counts"
    ]
    used = allowed_and_used(cluster, "monitor", before, "notify")
    assert granted("monitor") <= used
    assert {
        ("", "events", "create"),
        ("", "events", "get"),
        ("", "events", "patch"),
        ("apps", "deployments", "get"),
    } <= used
    # the objects an Event may be about are only read
    assert {v for g, r, v in granted("notify") if r != "events"} == {"get"}


# -- discovery and messages -------------------------------------------------------------------------
def test_discovery_needs_no_binding(cluster: Cluster, tmp_path: Path) -> None:
    """Every authenticated user reads discovery and OpenAPI (the bootstrap system:discovery and
    system:basic-user roles), so the families grant none of it."""
    from airflow_k8s_workflows.hooks.kubernetes import ClusterHook

    emu = cluster.emu
    token = emu.issue_token(SERVICE_ACCOUNT)
    tls = ssl.create_default_context(cafile=emu.ca_file)

    def status(path: str) -> int:
        request = urllib.request.Request(f"{emu.url}{path}", headers={"Authorization": f"Bearer {token}"})
        try:
            return int(urllib.request.urlopen(request, context=tls).status)
        except urllib.error.HTTPError as e:
            return e.code

    for path in ("/version", "/api", "/api/v1", "/apis", "/apis/apps/v1", "/apis/batch/v1", "/openapi/v3"):
        assert status(path) == 200, path
    assert status("/api/v1/namespaces/default/pods") == 403
    assert ClusterHook().discover("batch/v1", "Job").name == "jobs"
    roles = [d for d in rbac_documents() if d["kind"] == "ClusterRole"]
    assert roles and not [rule for role in roles for rule in role["rules"] if "nonResourceURLs" in rule]


def test_an_apply_that_creates_needs_create_and_says_so(cluster: Cluster) -> None:
    """With "patch" but not "create" on ConfigMaps, applying a new ConfigMap is refused the way a
    real API server refuses it (``configmaps "settings" is forbidden: ``, no verb named); the
    error says both verbs are needed and nothing is created. Updating an existing one works."""
    from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator

    def no_configmap_create(role: dict[str, Any]) -> None:
        rules = []
        for rule in role["rules"]:
            if "configmaps" in rule["resources"] and "create" in rule["verbs"]:
                rest = [r for r in rule["resources"] if r != "configmaps"]
                if rest:
                    rules.append({**rule, "resources": rest})
                rule = {
                    **rule,
                    "resources": ["configmaps"],
                    "verbs": [v for v in rule["verbs"] if v != "create"],
                }
            rules.append(rule)
        role["rules"] = rules

    cluster.bind("deploy")
    cluster.change_role("deploy", no_configmap_create)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"a": "1"},
    }
    with pytest.raises(KubernetesTaskFailed) as info:
        ApplyManifestsOperator(task_id="apply", manifests=[config_map]).execute({})
    assert str(info.value) == (
        "nothing was applied; the cluster refused:\n"
        '  ConfigMap/settings (document 1): forbidden: cannot apply configmaps "settings" in namespace "default"; '
        'server-side apply needs "patch", and "create" while the object does not exist yet '
        '(configmaps "settings" is forbidden: )'
    )
    assert cluster.read("configmaps", "settings") is None
    assert ("", "configmaps", "create") in granted("deploy") and ("", "configmaps", "patch") in granted(
        "deploy"
    )
    cluster.write("configmaps", "", body={**config_map, "data": {"b": "0"}})  # exists now: a patch
    ApplyManifestsOperator(task_id="apply", manifests=[config_map]).execute({})
    assert cluster.read("configmaps", "settings")["data"] == {"a": "1", "b": "0"}
