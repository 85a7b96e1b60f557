"""ClusterHook / AsyncClusterHook against the emulator over HTTP(S): connections, inline
credentials, TLS, namespaces, clients, discovery, CRUD, apply, errors and retries."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator import errors as emu_errors
from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.hooks.kubernetes import AsyncClusterHook, ClusterHook, retry_stats
from airflow_k8s_workflows.kube import clients
from airflow_k8s_workflows.kube.cluster import ClusterConfig, ClusterConfigError
from airflow_k8s_workflows.kube.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Invalid,
    KubeTLSError,
    NotFound,
    ServerError,
    Unauthorized,
    UnknownKind,
)

CM = {"apiVersion": "v1", "kind": "ConfigMap"}


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[KubeEmulator]:
    e = KubeEmulator(speed=20, controllers=False, kubelet=False, workdir=tmp_path / "emu").start()
    yield e
    e.stop()


@pytest.fixture
def tls_emu(tmp_path: Path) -> Iterator[KubeEmulator]:
    e = KubeEmulator(speed=20, controllers=False, kubelet=False, tls=True, workdir=tmp_path / "tls").start()
    yield e
    e.stop()


def connection(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], conn_id: str | None = None) -> str:
    """Register an Airflow connection (JSON form) in the environment; its id."""
    conn_id = conn_id or f"k8s_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kubernetes", "extra": extra})
    )
    return conn_id


@pytest.fixture
def fernet_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from airflow.sdk.crypto import get_fernet
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", key)
    get_fernet.cache_clear()
    yield key
    get_fernet.cache_clear()


def fast(**kw: Any) -> dict[str, Any]:
    return {"retry_base": 0.01, "retry_cap": 0.05, **kw}


# -- connections ------------------------------------------------------------------------------------
def test_default_connection_from_env_json_with_kubeconfig_path(
    emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", emu.airflow_connection())
    hook = ClusterHook()
    assert hook.cluster_config.server == emu.url
    assert hook.get_namespace() == "default"
    assert hook.get("v1", "Namespace", "kube-system")["metadata"]["name"] == "kube-system"


@pytest.mark.parametrize("form", ["json", "yaml", "dict"])
def test_inline_kube_config(emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    kubeconfig = emu.kubeconfig_dict()
    inline: Any = {"json": json.dumps(kubeconfig), "yaml": yaml.safe_dump(kubeconfig), "dict": kubeconfig}[
        form
    ]
    conn_id = connection(monkeypatch, {"kube_config": inline, "namespace": "team-a"})
    hook = ClusterHook(conn_id)
    assert hook.cluster_config.server == emu.url
    assert hook.get_namespace() == "team-a"
    assert hook.get_or_none("v1", "ConfigMap", "missing") is None


def test_legacy_prefixed_extras_still_work(emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(monkeypatch, {"extra__kubernetes__kube_config_path": emu.kubeconfig,
                                       "extra__kubernetes__namespace": "legacy"})  # fmt: skip
    hook = ClusterHook(conn_id)
    assert hook.cluster_config.server == emu.url and hook.get_namespace() == "legacy"


def test_options_are_mutually_exclusive(emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(monkeypatch, {"kube_config_path": emu.kubeconfig, "in_cluster": True})
    with pytest.raises(ClusterConfigError, match="mutually exclusive"):
        ClusterHook(conn_id).cluster_config  # noqa: B018


def test_unknown_context_is_a_clear_error(emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(monkeypatch, {"kube_config_path": emu.kubeconfig, "cluster_context": "prod"})
    with pytest.raises(ClusterConfigError, match='context "prod" does not exist'):
        ClusterHook(conn_id).cluster_config  # noqa: B018


def test_namespace_falls_back_explicit_connection_context_default(
    emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = emu.kubeconfig_dict()
    kubeconfig["contexts"][0]["context"]["namespace"] = "from-context"
    with_ctx = connection(monkeypatch, {"kube_config": json.dumps(kubeconfig)})
    with_extra = connection(monkeypatch, {"kube_config": json.dumps(kubeconfig), "namespace": "from-conn"})
    del kubeconfig["contexts"][0]["context"]["namespace"]
    bare = connection(monkeypatch, {"kube_config": json.dumps(kubeconfig)})
    assert ClusterHook(with_ctx).get_namespace() == "from-context"
    assert ClusterHook(with_extra).get_namespace() == "from-conn"
    assert ClusterHook(with_extra).get_namespace("explicit") == "explicit"
    assert ClusterHook(with_extra, namespace="hook-level").get_namespace() == "hook-level"
    assert ClusterHook(bare).get_namespace() == "default"


# -- inline credentials for the triggerer ---------------------------------------------------------------
def _kubeconfig_with_files(e: KubeEmulator, directory: Path) -> Path:
    """A kubeconfig that references its CA and token by relative file paths."""
    directory.mkdir()
    assert e.ca_file is not None and e.token is not None
    shutil.copy(e.ca_file, directory / "ca.crt")
    (directory / "token").write_text(e.token + "\n")
    path = directory / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "emu",
                "clusters": [
                    {"name": "emu", "cluster": {"server": e.url, "certificate-authority": "ca.crt"}}
                ],
                "users": [{"name": "u", "user": {"tokenFile": "token"}}],
                "contexts": [
                    {"name": "emu", "context": {"cluster": "emu", "user": "u", "namespace": "default"}}
                ],
            }
        )
    )
    return path


async def test_sealed_trigger_kwargs_connect_after_the_files_are_gone(
    tls_emu: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fernet_key: str
) -> None:
    files = tmp_path / "worker-only"
    path = _kubeconfig_with_files(tls_emu, files)
    conn_id = connection(monkeypatch, {"kube_config_path": str(path)})
    hook = ClusterHook(conn_id)
    cfg = await asyncio.to_thread(lambda: hook.cluster_config)
    inline = json.loads(json.dumps(cfg.to_dict()))
    assert base64.b64decode(inline["certificate_authority_data"]).startswith(b"-----BEGIN CERTIFICATE")
    assert inline["token"] == tls_emu.token and not any(str(files) in str(v) for v in inline.values())

    kwargs = json.loads(json.dumps(await asyncio.to_thread(hook.trigger_kwargs)))  # stored as plain JSON
    assert set(kwargs) == {"kubernetes_conn_id", "sealed_cluster_config"}
    assert tls_emu.token not in json.dumps(kwargs)
    shutil.rmtree(files)
    monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}")  # the triggerer needs neither files nor connection

    ahook = AsyncClusterHook(**kwargs)
    assert (await ahook.get("v1", "Namespace", "default"))["metadata"]["name"] == "default"
    got = await ahook.wait_for("v1", "Namespace", "default", lambda o: o is not None, timeout=10)
    assert got is not None
    sync = ClusterHook(kubernetes_conn_id=None, cluster_config=inline)
    assert (await asyncio.to_thread(sync.get, "v1", "Namespace", "default"))["kind"] == "Namespace"


def test_without_a_fernet_key_only_the_connection_id_travels(
    emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.crypto import get_fernet

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "")
    get_fernet.cache_clear()
    try:
        conn_id = connection(monkeypatch, {"kube_config_path": emu.kubeconfig})
        assert ClusterHook(conn_id).trigger_kwargs() == {"kubernetes_conn_id": conn_id}
    finally:
        get_fernet.cache_clear()


async def test_a_seal_from_another_key_falls_back_to_the_connection(
    emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch, fernet_key: str
) -> None:
    from airflow.sdk.crypto import get_fernet
    from cryptography.fernet import Fernet

    conn_id = connection(monkeypatch, {"kube_config_path": emu.kubeconfig})
    kwargs = await asyncio.to_thread(ClusterHook(conn_id).trigger_kwargs)
    monkeypatch.setenv(
        "AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode()
    )  # the triggerer's key differs
    get_fernet.cache_clear()
    assert (await AsyncClusterHook(**kwargs).get("v1", "Namespace", "default"))["kind"] == "Namespace"
    with pytest.raises(ClusterConfigError, match="same on workers and triggerers"):
        await AsyncClusterHook(
            kubernetes_conn_id=None, sealed_cluster_config=kwargs["sealed_cluster_config"]
        ).get("v1", "Namespace", "default")


def test_tls_is_verified_by_default(tls_emu: KubeEmulator) -> None:
    good = ClusterHook(
        kubernetes_conn_id=None, cluster_config={"server": tls_emu.url, "token": tls_emu.token}
    )
    retries = retry_stats().retries
    with pytest.raises(KubeTLSError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        good.get("v1", "Namespace", "default")
    assert retry_stats().retries == retries  # a bad certificate is not retried


def test_disabling_tls_verification_is_explicit_and_warned_once(
    tls_emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kubeconfig = tls_emu.kubeconfig_dict()
    del kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
    conn_id = connection(monkeypatch, {"kube_config": json.dumps(kubeconfig), "disable_verify_ssl": "true"})
    caplog.set_level(logging.WARNING, logger="airflow_k8s_workflows.kube")
    for _ in range(2):
        hook = ClusterHook(conn_id)
        assert hook.cluster_config.verify_ssl is False
        assert hook.get("v1", "Namespace", "default")["metadata"]["name"] == "default"
    warnings = [r for r in caplog.records if "verification is OFF" in r.getMessage()]
    assert len(warnings) == 1


def test_wrong_token_is_unauthorized_with_a_clear_message(tls_emu: KubeEmulator) -> None:
    cfg = ClusterHook(kubernetes_conn_id=None, cluster_config={
        "server": tls_emu.url, "token": "wrong-token-value",
        "certificate_authority_data": tls_emu.kubeconfig_dict()["clusters"][0]["cluster"]["certificate-authority-data"],
    })  # fmt: skip
    with pytest.raises(Unauthorized) as info:
        cfg.get("v1", "ConfigMap", "x", "default")
    assert "unauthorized" in str(info.value)


def test_secrets_are_masked(tls_emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    conn_id = connection(monkeypatch, {"kube_config_path": tls_emu.kubeconfig})
    cfg = ClusterHook(conn_id).cluster_config
    assert tls_emu.token is not None and cfg.token == tls_emu.token
    assert tls_emu.token not in repr(cfg) and tls_emu.token not in str(cfg)
    assert "auth=token" in repr(cfg)
    assert tls_emu.token not in str(redact(f"Authorization: Bearer {tls_emu.token}"))


def test_identity_depends_on_credentials_not_on_namespace() -> None:
    a = ClusterConfig(server="https://k:6443", token="t1", namespace="x", context="c1")
    assert a.identity == ClusterConfig(server="https://k:6443", token="t1", namespace="y").identity
    assert a.identity != ClusterConfig(server="https://k:6443", token="t2").identity
    assert ClusterConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a


# -- clients ------------------------------------------------------------------------------------------------
def test_one_sync_client_per_process_and_cluster(emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(monkeypatch, {"kube_config_path": emu.kubeconfig})
    created = clients.stats().sync_created
    a, b = ClusterHook(conn_id), ClusterHook(conn_id, namespace="other")
    a.get("v1", "Namespace", "default")
    b.get("v1", "Namespace", "default")
    assert a.api_client is b.api_client
    assert clients.stats().sync_created - created == 1


async def test_one_async_client_per_loop_and_cluster(
    emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = connection(monkeypatch, {"kube_config_path": emu.kubeconfig})
    a, b = AsyncClusterHook(conn_id), AsyncClusterHook(conn_id)
    assert await a.api_client() is await b.api_client()
    assert (await a.get("v1", "Namespace", "default"))["metadata"]["name"] == "default"


# -- discovery and CRUD ---------------------------------------------------------------------------------------
def test_discovery_plurals_and_unknown_kinds(emu: KubeEmulator) -> None:
    hook = ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url})
    assert hook.discover("v1", "Endpoints").name == "endpoints"
    assert hook.discover("autoscaling/v2", "HorizontalPodAutoscaler").name == "horizontalpodautoscalers"
    assert hook.resource("v1", "Namespace", "ignored").namespace is None
    with pytest.raises(UnknownKind) as info:
        hook.discover("example.com/v1", "Foo")
    assert str(info.value) == 'no kind "Foo" is registered for version "example.com/v1" in the cluster'


def test_crud_and_server_side_apply(emu: KubeEmulator) -> None:
    hook = ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url, "namespace": "default"})
    created = hook.create({**CM, "metadata": {"name": "c1", "labels": {"app": "x"}}, "data": {"a": "1"}})
    assert created["metadata"]["namespace"] == "default" and created["metadata"]["uid"]
    with pytest.raises(AlreadyExists):
        hook.create({**CM, "metadata": {"name": "c1"}})
    patched = hook.patch("v1", "ConfigMap", "c1", {"data": {"b": "2"}})
    assert patched["data"] == {"a": "1", "b": "2"}
    assert [o["metadata"]["name"] for o in hook.list("v1", "ConfigMap", label_selector="app=x")] == ["c1"]

    applied = hook.apply({**CM, "metadata": {"name": "c2"}, "data": {"k": "v1"}})
    assert applied["data"] == {"k": "v1"}
    managers = [m["manager"] for m in applied["metadata"]["managedFields"]]
    assert managers == ["airflow-k8s-workflows"]
    # another manager takes the field; our apply conflicts until forced
    hook.apply(
        {**CM, "metadata": {"name": "c2"}, "data": {"k": "theirs"}}, field_manager="someone-else", force=True
    )
    with pytest.raises(Conflict) as info:
        hook.apply({**CM, "metadata": {"name": "c2"}, "data": {"k": "ours"}})
    assert info.value.causes and info.value.causes[0]["reason"] == "FieldManagerConflict"
    assert (
        hook.apply({**CM, "metadata": {"name": "c2"}, "data": {"k": "ours"}}, force=True)["data"]["k"]
        == "ours"
    )
    dry = hook.apply({**CM, "metadata": {"name": "c3"}, "data": {}}, dry_run=True)
    assert dry["metadata"]["name"] == "c3" and hook.get_or_none("v1", "ConfigMap", "c3") is None

    with pytest.raises(ValueError, match="does not match the namespace"):
        hook.apply({**CM, "metadata": {"name": "c4", "namespace": "kube-system"}}, namespace="default")
    assert hook.delete("v1", "ConfigMap", "c1") is not None
    with pytest.raises(NotFound, match='configmaps "c1" not found'):
        hook.get("v1", "ConfigMap", "c1")
    assert hook.delete("v1", "ConfigMap", "c1", ignore_missing=True) is None


def test_invalid_objects_report_their_causes(emu: KubeEmulator) -> None:
    hook = ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url})
    with pytest.raises(Invalid) as info:
        hook.create({**CM, "metadata": {"name": "Not_A_Valid_Name"}})
    assert info.value.code == 422 and info.value.causes


def test_list_paginates(emu: KubeEmulator) -> None:
    hook = ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url})
    for i in range(5):
        hook.create({**CM, "metadata": {"name": f"p{i}", "labels": {"page": "y"}}})
    before = emu.http.counter.total(verb="LIST", resource="configmaps")
    items = list(hook.iter_list("v1", "ConfigMap", label_selector="page=y", page_size=2))
    assert sorted(o["metadata"]["name"] for o in items) == [f"p{i}" for i in range(5)]
    assert all(o["kind"] == "ConfigMap" for o in items)
    assert emu.http.counter.total(verb="LIST", resource="configmaps") - before == 3


async def test_async_hook_crud_and_wait(emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(monkeypatch, {"kube_config_path": emu.kubeconfig, "namespace": "default"})
    hook = AsyncClusterHook(conn_id)
    await hook.apply({**CM, "metadata": {"name": "a1"}, "data": {"state": "pending"}})
    waiter = asyncio.create_task(
        hook.wait_for(
            "v1", "ConfigMap", "a1", lambda o: o is not None and o["data"]["state"] == "done", timeout=10
        )
    )
    await asyncio.sleep(0)
    await hook.patch("v1", "ConfigMap", "a1", {"data": {"state": "done"}})
    assert (await waiter)["data"]["state"] == "done"
    assert [o["metadata"]["name"] for o in await hook.list("v1", "ConfigMap")] == ["a1"]
    await hook.delete("v1", "ConfigMap", "a1")
    assert await hook.get_or_none("v1", "ConfigMap", "a1") is None
    assert await hook.delete("v1", "ConfigMap", "a1", ignore_missing=True) is None


# -- errors and retries --------------------------------------------------------------------------------------
def test_forbidden_names_the_verb_resource_and_namespace(emu: KubeEmulator) -> None:
    def authorize(user: str, verb: str, rt: Any, ns: str | None, name: str, sub: str) -> None:
        if rt.resource == "configmaps" and verb == "create":
            raise emu_errors.forbidden(user, verb, rt.group, rt.resource, ns)

    emu.http.authorize = authorize
    hook = ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url, "namespace": "default"})
    with pytest.raises(Forbidden) as info:
        hook.create({**CM, "metadata": {"name": "nope"}})
    assert str(info.value).startswith('forbidden: cannot create configmaps in namespace "default" (')


def _fail_first(
    emu: KubeEmulator, n: int, code: int, method: str, retry_after: int | None = None
) -> list[float]:
    import time

    hits: list[float] = []

    async def hook(request: web.Request) -> web.StreamResponse | None:
        if request.method == method and "/configmaps" in request.path:
            hits.append(time.monotonic())
            if len(hits) <= n:
                err = emu_errors.too_many_requests(retry_after) if code == 429 else emu_errors.ApiError(
                    code, "InternalError" if code == 500 else "ServiceUnavailable", "injected")  # fmt: skip
                return web.json_response(err.status(), status=code, headers=err.headers)
        return None

    emu.http.before.append(hook)
    return hits


def test_5xx_is_retried_with_backoff_then_succeeds(emu: KubeEmulator) -> None:
    emu.call(
        lambda: emu.api.create(
            emu.api.rt("", "configmaps"), "default", {"metadata": {"name": "r"}}, CONTROLLER
        )
    )
    hits = _fail_first(emu, 2, 503, "GET")
    hook = ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url}, **fast())
    retries = retry_stats().retries
    assert hook.get("v1", "ConfigMap", "r", "default")["metadata"]["name"] == "r"
    assert len(hits) == 3 and retry_stats().retries - retries == 2


def test_retries_give_up_after_max_retries(emu: KubeEmulator) -> None:
    hits = _fail_first(emu, 100, 503, "GET")
    hook = ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url}, **fast(max_retries=3))
    with pytest.raises(ServerError):
        hook.get("v1", "ConfigMap", "r", "default")
    assert len(hits) == 4


def test_4xx_is_never_retried_and_a_create_not_after_a_5xx(emu: KubeEmulator) -> None:
    hook = ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url}, **fast())
    with pytest.raises(NotFound):
        hook.get("v1", "ConfigMap", "absent", "default")
    assert emu.http.counter.total(verb="GET", resource="configmaps") == 1
    hits = _fail_first(emu, 1, 500, "POST")
    with pytest.raises(ServerError):
        hook.create({**CM, "metadata": {"name": "once"}}, namespace="default")
    assert len(hits) == 1


def test_429_is_retried_honouring_retry_after_even_for_a_create(emu: KubeEmulator) -> None:
    hits = _fail_first(emu, 1, 429, "POST", retry_after=1)
    hook = ClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url}, **fast())
    hook.create({**CM, "metadata": {"name": "throttled"}}, namespace="default")
    assert len(hits) == 2 and hits[1] - hits[0] >= 0.95


async def test_async_retries_and_connection_refused(emu: KubeEmulator) -> None:
    hits = _fail_first(emu, 2, 503, "GET")
    hook = AsyncClusterHook(kubernetes_conn_id=None, cluster_config={"server": emu.url}, **fast())
    assert await hook.get_or_none("v1", "ConfigMap", "x", "default") is None
    assert len(hits) == 3
    from airflow_k8s_workflows.emulator.core import free_port
    from airflow_k8s_workflows.kube.errors import KubeConnectionError

    dead = AsyncClusterHook(kubernetes_conn_id=None, cluster_config={"server": f"http://127.0.0.1:{free_port()}"},
                            **fast(max_retries=2))  # fmt: skip
    retries = retry_stats().retries
    with pytest.raises(KubeConnectionError, match="cannot connect"):
        await dead.discover("v1", "ConfigMap")
    assert retry_stats().retries - retries == 2


# -- import cost -------------------------------------------------------------------------------------------
def test_importing_the_hook_module_is_cheap() -> None:
    # on top of what ``import airflow.sdk`` (paid by every DAG file) already loads
    code = (
        "import sys, airflow.sdk\n"
        "base = set(sys.modules)\n"
        "import airflow_k8s_workflows.hooks.kubernetes\n"
        "heavy = ('kubernetes', 'kubernetes_asyncio', 'airflow.providers', 'tenacity', 'aiohttp', 'urllib3')\n"
        "print(sorted(m for m in set(sys.modules) - base if any(m == h or m.startswith(h + '.') for h in heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def _exec_plugin(directory: Path, token: str) -> dict[str, Any]:
    """A kubeconfig ``exec`` block running a credential plugin that prints ``token``."""
    script = directory / "cred-plugin.py"
    script.write_text(
        "import json\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential',\n"
        f"                  'status': {{'token': {token!r}}}}}))\n"
    )
    return {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable, "args": [str(script)],
            "interactiveMode": "Never"}  # fmt: skip


async def test_exec_plugin_settings_travel_inline_and_run_where_the_client_connects(
    tls_emu: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_emu.token is not None
    kubeconfig = tls_emu.kubeconfig_dict()
    kubeconfig["users"][0]["user"] = {"exec": _exec_plugin(tmp_path, tls_emu.token)}
    conn_id = connection(monkeypatch, {"kube_config": json.dumps(kubeconfig)})
    cfg = await asyncio.to_thread(lambda: ClusterHook(conn_id).cluster_config)
    assert cfg.token is None and cfg.exec_config is not None and cfg.auth_kind.startswith("exec:")
    serialized = json.loads(json.dumps(cfg.to_dict()))
    ahook = AsyncClusterHook(kubernetes_conn_id=None, cluster_config=serialized)
    assert (await ahook.get("v1", "Namespace", "default"))["metadata"]["name"] == "default"
    sync = ClusterHook(kubernetes_conn_id=None, cluster_config=serialized)
    assert (await asyncio.to_thread(sync.get, "v1", "Namespace", "default"))["metadata"]["name"] == "default"
