"""The kubelet of every emulator node: one ``PodWorker`` per pod bound to a node, fed by store
changes; container output served to ``pods/log``; every process reaped on ``stop()``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_k8s_workflows.emulator.api import Request
from airflow_k8s_workflows.emulator.controllers.base import ControllerContext
from airflow_k8s_workflows.emulator.kubelet import logs
from airflow_k8s_workflows.emulator.kubelet.container import Container
from airflow_k8s_workflows.emulator.kubelet.process import LocalProcess
from airflow_k8s_workflows.emulator.kubelet.worker import PodWorker
from airflow_k8s_workflows.emulator.server import LogOptions
from airflow_k8s_workflows.emulator.store import Change

Obj = dict[str, Any]
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_STOP_GRACE = 0.5  # real seconds between SIGTERM and SIGKILL when the emulator stops


@dataclass
class NodeInfo:
    name: str
    host_ip: str
    pod_prefix: str  # "10.244.0."
    allocatable: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, node: Obj, index: int) -> NodeInfo:
        status = node.get("status") or {}
        host_ip = next((a["address"] for a in status.get("addresses") or [] if a.get("type") == "InternalIP"),
                       f"172.18.0.{index + 2}")  # fmt: skip
        cidr = (node.get("spec") or {}).get("podCIDR") or f"10.244.{index}.0/24"
        prefix = cidr.split("/")[0].rsplit(".", 1)[0] + "."
        return cls(node["metadata"]["name"], host_ip, prefix, dict(status.get("allocatable") or {}))


class Kubelet:
    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.api = ctx.api
        self.clock = ctx.clock
        self.recorder = ctx.recorder
        self.config = ctx.config
        self.root = Path(ctx.config.workdir or tempfile.mkdtemp(prefix="kube-emulator-")) / "kubelet"
        self.workers: dict[str, PodWorker] = {}
        self.nodes: dict[str, NodeInfo] = {}
        self.stopping = False
        self._images: dict[str, set[str]] = {}
        self._ips: dict[str, dict[str, str]] = {}
        self._next_ip: dict[str, int] = {}
        self._requests: dict[str, Request] = {}
        self._unsubscribe: list[Any] = []
        self._cleanups: set[asyncio.Task[None]] = set()
        self._retiring: set[PodWorker] = set()  # pods gone from the API whose worker is winding down

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        store = self.api.store
        for stored in store.items(("", "nodes")):
            self._node_changed(
                Change("ADDED", 0, ("", stored.obj["metadata"]["name"]), stored.obj, stored.raw)
            )
        self._unsubscribe = [
            store.subscribe(("", "nodes"), self._node_changed),
            store.subscribe(("", "pods"), self._pod_changed),
            store.subscribe(("", "configmaps"), self._config_changed),
            store.subscribe(("", "secrets"), self._config_changed),
        ]
        for stored in store.items(("", "pods")):
            meta = stored.obj["metadata"]
            self._pod_changed(
                Change("ADDED", 0, (meta.get("namespace", ""), meta["name"]), stored.obj, stored.raw)
            )

    async def stop(self) -> None:
        """Stop every container: SIGTERM to each process group, SIGKILL shortly after, then reap."""
        self.stopping = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        workers = [*self.workers.values(), *self._retiring]
        for worker in workers:
            worker.halt()
        processes = [
            c.process for w in workers for c in _containers(w) if isinstance(c.process, LocalProcess)
        ]
        for process in processes:
            process.signal(signal.SIGTERM)
        if processes:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for p in processes], timeout=_STOP_GRACE)
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        await asyncio.gather(*(p.reap() for p in processes), return_exceptions=True)
        for task in list(self._cleanups):
            task.cancel()
        self.workers.clear()

    # -- store listeners (synchronous, possibly inside a write) --------------------------------------
    def _node_changed(self, change: Change) -> None:
        name = change.obj["metadata"]["name"]
        if change.type == "DELETED":
            self.nodes.pop(name, None)
            return
        index = int(name.rsplit("-", 1)[-1]) if name.rsplit("-", 1)[-1].isdigit() else len(self.nodes)
        self.nodes[name] = NodeInfo.of(change.obj, index)

    def _pod_changed(self, change: Change) -> None:
        pod = change.obj
        uid = pod["metadata"].get("uid", "")
        if change.type == "DELETED":
            worker = self.workers.pop(uid, None)
            if worker is not None:
                worker.removed()
                self._release(worker)
            return
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None or self.stopping or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        worker = PodWorker(self, pod, node)
        self.workers[uid] = worker
        worker.start()

    def _config_changed(self, change: Change) -> None:
        namespace = change.key[0]
        for worker in self.workers.values():
            if worker.namespace == namespace and not worker.terminal:
                worker.config_changed()

    def _release(self, worker: PodWorker) -> None:
        self._ips.get(worker.node.name, {}).pop(worker.uid, None)
        self._retiring.add(worker)

        async def cleanup() -> None:
            try:
                if worker._task is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait([worker._task], timeout=10)
            finally:
                self._retiring.discard(worker)
            await asyncio.get_running_loop().run_in_executor(None, worker.sandbox.remove)

        task = asyncio.get_running_loop().create_task(cleanup())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    # -- what workers ask for --------------------------------------------------------------------------
    def request(self, node: NodeInfo) -> Request:
        req = self._requests.get(node.name)
        if req is None:
            req = self._requests[node.name] = Request(
                user=f"system:node:{node.name}", field_manager="kubelet"
            )
        return req

    def images(self, node: NodeInfo) -> set[str]:
        return self._images.setdefault(node.name, set())

    def allocate_ip(self, node: NodeInfo, uid: str, wanted: str | None) -> str:
        """The pod's IP in its node's pod CIDR (10.244.N.2-254), handed out round-robin."""
        used = self._ips.setdefault(node.name, {})
        if uid in used:
            return used[uid]
        taken = set(used.values())
        if wanted and wanted.startswith(node.pod_prefix) and wanted not in taken:
            used[uid] = wanted
            return wanted
        start = self._next_ip.get(node.name, 2)
        for step in range(253):
            host = (start - 2 + step) % 253 + 2
            ip = f"{node.pod_prefix}{host}"
            if ip not in taken:
                self._next_ip[node.name] = host + 1
                used[uid] = ip
                return ip
        used[uid] = f"{node.pod_prefix}254"
        return used[uid]

    def base_env(self, worker: PodWorker, container: Container) -> dict[str, str]:
        """What every container starts with: PATH, HOME, HOSTNAME and the API server's address."""
        spec = worker.pod.get("spec") or {}
        port = str(self._api_port())
        return {
            "PATH": os.environ.get("PATH") or _DEFAULT_PATH,
            "HOME": str(worker.sandbox.home),
            "HOSTNAME": spec.get("hostname") or worker.name,
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "KUBERNETES_PORT": f"tcp://127.0.0.1:{port}",
        }

    def _api_port(self) -> int:
        svc = self.api.try_get(self.api.rt("", "services"), "default", "kubernetes") or {}
        ports = (svc.get("spec") or {}).get("ports") or [{}]
        target = ports[0].get("targetPort", 443)
        return target if isinstance(target, int) else 443

    # -- pods/log --------------------------------------------------------------------------------------
    async def stream(self, pod: Obj, opts: LogOptions) -> AsyncIterator[bytes]:
        worker = self.workers.get(pod["metadata"].get("uid", ""))
        container = worker.container(opts.container) if worker is not None else None
        buffer = container.log_buffer(opts.previous) if container is not None else None
        if buffer is None:
            return
        request = logs.StreamRequest(follow=opts.follow and not opts.previous, tail_lines=opts.tail_lines,
                                     since_seconds=opts.since_seconds, since_time=opts.since_time,
                                     timestamps=opts.timestamps, limit_bytes=opts.limit_bytes)  # fmt: skip
        async for chunk in logs.stream(buffer, request):
            yield chunk


def _containers(worker: PodWorker) -> list[Container]:
    return [*worker.init, *worker.containers]
