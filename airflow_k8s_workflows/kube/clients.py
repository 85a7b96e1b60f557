"""One API client per process (sync) or per event loop (async) and cluster identity, reused.

The official provider builds a new client for every call; here a worker or a triggerer holds
one connection pool per cluster::

    api = sync_client(cfg)                 # kubernetes.client.ApiClient, shared in this process
    aapi = await async_client(cfg)         # kubernetes_asyncio ApiClient, shared on this loop

Async clients are closed when their loop shuts down (``asyncio.run`` / ``asyncio.Runner``
cancel a guardian task, which closes them while the loop still runs). Sync clients are dropped
in a forked child (their sockets belong to the parent) and closed at exit. The client
libraries are imported inside the functions.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from .cluster import SERVICE_ACCOUNT_DIR, ClusterConfig

__all__ = ["async_client", "close_async_clients", "close_sync_clients", "stats", "sync_client"]

log = logging.getLogger("airflow_k8s_workflows.kube")

_sync_lock = threading.Lock()
_sync_clients: dict[str, Any] = {}
_warned_insecure: set[str] = set()


@dataclass
class ClientStats:
    sync_created: int = 0
    async_created: int = 0
    async_closed: int = 0


_stats = ClientStats()


def stats() -> ClientStats:
    """How many clients were built and closed in this process (for tests)."""
    return _stats


def _warn_insecure(cfg: ClusterConfig) -> None:
    if not cfg.verify_ssl and cfg.identity not in _warned_insecure:
        _warned_insecure.add(cfg.identity)
        log.warning(
            "TLS certificate verification is OFF for %s (disable_verify_ssl / insecure-skip-tls-verify): "
            "anyone on the network path can impersonate this cluster",
            cfg.server,
        )


def _use_mounted_service_account(cfg: ClusterConfig) -> bool:
    return cfg.in_cluster and os.path.isfile(os.path.join(SERVICE_ACCOUNT_DIR, "token"))


# -- sync ------------------------------------------------------------------------------------------
def sync_client(cfg: ClusterConfig) -> Any:
    """The process's ``kubernetes.client.ApiClient`` for ``cfg`` (built on first use)."""
    key = cfg.identity
    client = _sync_clients.get(key)
    if client is not None:
        return client
    with _sync_lock:
        client = _sync_clients.get(key)
        if client is None:
            client = _build_sync(cfg)
            _sync_clients[key] = client
            _stats.sync_created += 1
    return client


def _build_sync(cfg: ClusterConfig) -> Any:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    conf = k8s_client.Configuration()
    if _use_mounted_service_account(cfg):
        k8s_config.load_incluster_config(client_configuration=conf)
    else:
        k8s_config.load_kube_config_from_dict(cfg.to_kubeconfig(), client_configuration=conf)
    conf.verify_ssl = cfg.verify_ssl
    if not cfg.verify_ssl:
        conf.assert_hostname = False
    # our retry policy (kube.retry) decides; urllib3's own silent retries would multiply it
    conf.retries = False
    _warn_insecure(cfg)
    api = k8s_client.ApiClient(configuration=conf)
    api.user_agent = "airflow-k8s-workflows"
    return api


def close_sync_clients() -> None:
    with _sync_lock:
        clients = list(_sync_clients.values())
        _sync_clients.clear()
    for c in clients:
        try:
            c.close()
        except Exception:  # closing at exit must not raise
            pass


def _forget_after_fork() -> None:
    _sync_clients.clear()
    _loops.clear()


atexit.register(close_sync_clients)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


# -- async -----------------------------------------------------------------------------------------
@dataclass(eq=False)
class _LoopClients:
    clients: dict[str, Any] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    guardian: asyncio.Task[None] | None = None


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = weakref.WeakKeyDictionary()


async def _guard(state: _LoopClients) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await _close_all(state)


async def _close_all(state: _LoopClients) -> None:
    clients = list(state.clients.values())
    state.clients.clear()
    for c in clients:
        try:
            await c.close()
            _stats.async_closed += 1
        except Exception:  # a broken connection must not stop the others from closing
            log.debug("closing an async Kubernetes client failed", exc_info=True)


def _loop_state() -> _LoopClients:
    loop = asyncio.get_running_loop()
    state = _loops.get(loop)
    if state is None:
        state = _LoopClients()
        state.guardian = loop.create_task(_guard(state), name="airflow-k8s-workflows-client-guardian")
        _loops[loop] = state
    return state


async def async_client(cfg: ClusterConfig) -> Any:
    """This loop's ``kubernetes_asyncio.client.ApiClient`` for ``cfg`` (built on first use)."""
    state = _loop_state()
    key = cfg.identity
    client = state.clients.get(key)
    if client is not None:
        return client
    async with state.lock:
        client = state.clients.get(key)
        if client is None:
            client = await _build_async(cfg)
            state.clients[key] = client
            _stats.async_created += 1
    return client


async def _build_async(cfg: ClusterConfig) -> Any:
    from kubernetes_asyncio import client as k8s_client
    from kubernetes_asyncio import config as k8s_config

    conf = k8s_client.Configuration()
    if _use_mounted_service_account(cfg):
        k8s_config.load_incluster_config(client_configuration=conf)
    else:
        loader = await k8s_config.load_kube_config_from_dict(cfg.to_kubeconfig(), client_configuration=conf)
        if cfg.exec_config:
            # kubernetes_asyncio runs the exec plugin once; renew its token when it expires
            async def refresh(configuration: Any) -> None:
                if hasattr(loader, "exec_plugin_expiry"):
                    await loader.load_from_exec_plugin()
                    if getattr(loader, "token", None):
                        configuration.api_key["BearerToken"] = loader.token

            conf.refresh_api_key_hook = refresh
    conf.verify_ssl = cfg.verify_ssl
    _warn_insecure(cfg)
    api = k8s_client.ApiClient(configuration=conf)
    api.user_agent = "airflow-k8s-workflows"
    return api


async def close_async_clients() -> None:
    """Close this loop's clients now (they are rebuilt on next use)."""
    state = _loops.get(asyncio.get_running_loop())
    if state is not None:
        await _close_all(state)
