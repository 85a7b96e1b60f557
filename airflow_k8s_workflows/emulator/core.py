"""``KubeEmulator``: a local Kubernetes API server with controllers and a kubelet, in one object."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml
from aiohttp import web

from .api import CONTROLLER, ApiServer
from .clock import Clock, rfc3339
from .controllers.base import Controller, ControllerContext, EmulatorConfig
from .events import EventRecorder
from .rbac import (
    ADMIN,
    RbacAuthorizer,
    TokenAuthenticator,
    default_cluster_role_bindings,
    default_cluster_roles,
)
from .registry import Registry
from .server import HttpFront
from .store import Store

log = logging.getLogger("airflow_k8s_workflows.emulator")
T = TypeVar("T")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class KubeEmulator:
    """A Kubernetes API server with controllers and a kubelet that runs containers as local processes.

    Real clients (``kubernetes``, ``kubernetes_asyncio``, ``kubectl``) talk to it over HTTP(S)
    through the kubeconfig it writes::

        from airflow_k8s_workflows.emulator import KubeEmulator

        with KubeEmulator(speed=10) as emu:
            from kubernetes import client, config

            config.load_kube_config(emu.kubeconfig)
            print(client.CoreV1Api().list_namespace().items[0].metadata.name)

    ``speed`` divides every controller delay (back-offs, deadlines, probe delays);
    ``tls=True`` serves HTTPS with a generated self-signed certificate and requires the bearer
    token written into the kubeconfig; ``rbac=True`` (HTTPS too) authorizes tokens from
    :meth:`issue_token` by the stored Roles and bindings.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        speed: float = 1.0,
        nodes: int = 1,
        node_cpu: str = "4",
        node_memory: str = "8Gi",
        tls: bool | None = None,
        token: str | None = None,
        workdir: str | Path | None = None,
        history_size: int = 10_000,
        bookmark_interval: float = 30.0,
        state_file: str | Path | None = None,
        controllers: bool = True,
        kubelet: bool = True,
        namespace: str = "default",
        rbac: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        # kubectl (client-go) sends bearer tokens over HTTPS only: RBAC mode serves TLS unless told otherwise
        self.tls = rbac if tls is None else tls
        self.rbac = rbac
        self.token = token or (secrets.token_urlsafe(24) if self.tls or rbac else None)
        self.namespace = namespace
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kube-emulator-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_file = Path(state_file) if state_file else None
        self.config = EmulatorConfig(nodes=nodes, node_cpu=node_cpu, node_memory=node_memory,
                                     workdir=str(self.workdir))  # fmt: skip
        self.clock = Clock(speed)
        self.store = Store(history_size=history_size)
        self.registry = Registry()
        self.api = ApiServer(self.store, self.registry, self.clock)
        self.recorder = EventRecorder(self.api)
        self.http = HttpFront(self.api, bookmark_interval=bookmark_interval,
                              server_address=f"{host}:{self.port}")  # fmt: skip
        self.faults = self.http.faults
        self.authenticator = TokenAuthenticator()
        self._ssl_ctx: ssl.SSLContext | None = None
        self._with_controllers = controllers
        self._with_kubelet = kubelet
        self.controllers: list[Controller] = []
        self.kubelet: Any = None
        self.extensions: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.kubeconfig = str(self.workdir / "kubeconfig.yaml")
        self.ca_file: str | None = None
        self._started = False
        self._saved_state: dict[str, Any] | None = None

    # -- public properties ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the emulator is not running")
        return self._loop

    def kubeconfig_dict(self) -> dict[str, Any]:
        cluster: dict[str, Any] = {"server": self.url}
        if self.tls and self.ca_file:
            import base64

            cluster["certificate-authority-data"] = base64.b64encode(Path(self.ca_file).read_bytes()).decode()
        user: dict[str, Any] = {"token": self.token} if self.token else {}
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": cluster}],
            "users": [{"name": "emulator-admin", "user": user}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "emulator-admin",
                                                           "namespace": self.namespace}}],
            "current-context": "emulator",
            "preferences": {},
        }  # fmt: skip

    def airflow_connection(self, *, inline: bool = False) -> str:
        """The value of ``AIRFLOW_CONN_KUBERNETES_DEFAULT`` (JSON form) pointing Airflow here."""
        extra: dict[str, Any] = {"namespace": self.namespace}
        if inline:
            extra["kube_config"] = json.dumps(self.kubeconfig_dict())
        else:
            extra["kube_config_path"] = self.kubeconfig
        return json.dumps({"conn_type": "kubernetes", "extra": extra})

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> KubeEmulator:
        if self._started:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []
        if self.state_file is not None and self.state_file.exists():
            self._saved_state = json.loads(self.state_file.read_text())

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as e:  # report start failures to the caller
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="kube-emulator", daemon=True)
        self._thread.start()
        ready.wait(60)
        if errors:
            raise errors[0]
        Path(self.kubeconfig).write_text(yaml.safe_dump(self.kubeconfig_dict(), sort_keys=False))
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started or self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._astop(), self._loop).result(30)
            if self.state_file is not None:
                state = self.call(self.store.dump_state)
                self.state_file.write_text(json.dumps(state))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(30)
            self._started = False
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> KubeEmulator:
        await asyncio.get_running_loop().run_in_executor(None, self.start)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    def call(self, fn: Callable[[], T], timeout: float = 30) -> T:
        """Run ``fn`` on the emulator's loop thread (where its state lives) and return its result."""

        async def wrapper() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the emulator's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def issue_token(self, service_account: str | None = None, *, user: str | None = None,
                    groups: tuple[str, ...] = ()) -> str:  # fmt: skip
        """A bearer token for ``"namespace/name"`` of a ServiceAccount, or for ``user``, authorized by RBAC.

        Needs an emulator started with ``tls=True``, ``token=...`` or ``rbac=True``.
        """
        if not self.token:
            raise RuntimeError(
                "authentication is off: start the emulator with rbac=True, tls=True or a token"
            )
        if service_account:
            ns, _, name = service_account.partition("/")
            return self.authenticator.issue_for_service_account(ns, name)
        return self.authenticator.issue(user or "anonymous", groups)

    def kubeconfig_for(self, token: str, path: str | Path) -> str:
        """Write a kubeconfig like ``self.kubeconfig`` that authenticates with ``token``."""
        doc = self.kubeconfig_dict()
        doc["users"][0]["user"] = {"token": token}
        Path(path).write_text(yaml.safe_dump(doc, sort_keys=False))
        return str(path)

    def restart_api(self, downtime: float = 1.0, *, keep_state: bool = True) -> None:
        """Take the API server away for ``downtime`` seconds: connections drop, the port refuses,
        then it serves again on the same port. ``keep_state=False`` comes back empty (like an
        etcd that lost its data: workloads are deleted, history is gone, clients must relist)."""

        async def restart() -> None:
            for watcher in list(self.http.active_watchers):
                watcher.close()
            if self._runner is not None:
                await self._runner.cleanup()
            await asyncio.sleep(downtime)
            if not keep_state:
                self._wipe()
            await self._serve()

        self.run(restart(), timeout=downtime + 30)

    def _wipe(self) -> None:
        for type_key in self.store.types():
            for stored in self.store.items(type_key):
                meta = stored.obj["metadata"]
                gone = dict(stored.obj)
                gone["metadata"] = {**meta, "resourceVersion": str(self.store.next_rv())}
                self.store.commit(type_key, (meta.get("namespace", ""), meta["name"]), "DELETED", gone)
        self.store.compact()
        self._bootstrap()

    def compact(self) -> int:
        """Drop watch history up to now (as etcd compaction): older resourceVersions answer 410."""
        return self.call(self.store.compact)

    # -- inside the loop -----------------------------------------------------------------------------
    async def _astart(self) -> None:
        from . import admin, extensions

        if self._saved_state is not None:
            self.store.load_state(self._saved_state)
        self._bootstrap()
        extensions.install(self)
        from .openapi import OpenApiV3

        self.http.openapi = OpenApiV3(self.registry)
        self.http.tables = self._table
        ssl_ctx = None
        if self.tls:
            from .tls import make_self_signed

            cert, key = make_self_signed(self.workdir / "tls", self.host)
            self.ca_file = str(cert)
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(str(cert), str(key))
        self._ssl_ctx = ssl_ctx
        if self.token:
            self.authenticator.add(self.token, ADMIN)
            self.http.authenticate = lambda request: self.authenticator.authenticate(
                request.headers.get("Authorization", "")
            )
            self.http.authorize = RbacAuthorizer(self.store).check
        ctx = ControllerContext(self.api, self.clock, self.recorder, self.config)
        if self._with_controllers:
            from .controllers import all_controllers

            self.controllers = [cls(ctx) for cls in all_controllers()]
            for c in self.controllers:
                c.start()
        if self._with_kubelet:
            from .kubelet import Kubelet

            self.kubelet = Kubelet(ctx)
            self.http.logs = self.kubelet
            await self.kubelet.start()
        admin.install(self)
        await self._serve()

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self.http.app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl_ctx, backlog=2048)
        await site.start()

    async def _astop(self) -> None:
        for c in self.controllers:
            await c.stop()
        if self.kubelet is not None:
            await self.kubelet.stop()
        for watcher in list(self.http.active_watchers):
            watcher.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _table(self, rt: Any, objects: list[dict[str, Any]], include_object: bool) -> dict[str, Any]:
        from .tables import table

        columns = None
        if rt.crd_schema is not None:
            for stored in self.store.items(("apiextensions.k8s.io", "customresourcedefinitions")):
                spec = stored.obj.get("spec", {})
                if spec.get("group") == rt.group and spec.get("names", {}).get("plural") == rt.resource:
                    version: dict[str, Any] = next(
                        (v for v in spec.get("versions", []) if v.get("name") == rt.version), {}
                    )
                    columns = version.get("additionalPrinterColumns")
        return table(rt, objects, include_object, columns)

    def _bootstrap(self) -> None:
        api = self.api
        ns_rt = api.rt("", "namespaces")
        for ns in SYSTEM_NAMESPACES:
            if api.try_get(ns_rt, None, ns) is None:
                api.create(
                    ns_rt,
                    None,
                    {"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}},
                    CONTROLLER,
                )
        node_rt = api.rt("", "nodes")
        for i in range(self.config.nodes):
            name = f"emulator-node-{i}"
            if api.try_get(node_rt, None, name) is None:
                api.create(node_rt, None, self._node(name, i), CONTROLLER)
                status = self._node_status(i)

                def set_status(node: dict[str, Any], status: dict[str, Any] = status) -> None:
                    node["status"] = status

                api.update_status(node_rt, None, name, set_status)
        role_rt = api.rt("rbac.authorization.k8s.io", "clusterroles")
        for role in default_cluster_roles():
            if api.try_get(role_rt, None, role["metadata"]["name"]) is None:
                api.create(role_rt, None, role, CONTROLLER)
        binding_rt = api.rt("rbac.authorization.k8s.io", "clusterrolebindings")
        for binding in default_cluster_role_bindings():
            if api.try_get(binding_rt, None, binding["metadata"]["name"]) is None:
                api.create(binding_rt, None, binding, CONTROLLER)
        svc_rt = api.rt("", "services")
        if api.try_get(svc_rt, "default", "kubernetes") is None:
            api.create(svc_rt, "default", {
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.port}],
                         "clusterIP": "10.96.0.1", "type": "ClusterIP"},
            }, CONTROLLER)  # fmt: skip

    def _node(self, name: str, index: int) -> dict[str, Any]:
        return {
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                           "node-role.kubernetes.io/control-plane": "" if index == 0 else "worker"},
            },
            "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"]},
        }  # fmt: skip

    def _node_status(self, index: int) -> dict[str, Any]:
        now = rfc3339()
        cap = {"cpu": self.config.node_cpu, "memory": self.config.node_memory, "pods": str(self.config.node_pods),
               "ephemeral-storage": "100Gi"}  # fmt: skip

        def cond(t: str, status: str, reason: str, message: str) -> dict[str, str]:
            return {"type": t, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": now, "lastTransitionTime": now}  # fmt: skip

        return {
            "capacity": cap,
            "allocatable": dict(cap),
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": f"172.18.0.{index + 2}"},
                          {"type": "Hostname", "address": f"emulator-node-{index}"}],
            "nodeInfo": {"kubeletVersion": "v1.37.0-emulator", "containerRuntimeVersion": "emulator://1.0",
                         "operatingSystem": "linux", "architecture": "amd64", "osImage": "airflow-k8s-workflows emulator",
                         "kernelVersion": "", "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
            "phase": "Running",
        }  # fmt: skip
