"""``ClusterHook`` / ``AsyncClusterHook``: the one place an Airflow connection becomes API clients.

The connection is the cncf provider's (conn type ``kubernetes``; extras ``kube_config_path``,
``kube_config``, ``in_cluster``, ``cluster_context``, ``namespace``, ``disable_verify_ssl``),
read through the provider's own hook so lookups, defaults and the legacy
``extra__kubernetes__`` prefix behave exactly as users know them. It is resolved once into an
inline :class:`~airflow_k8s_workflows.kube.cluster.ClusterConfig` — files the kubeconfig names
are read and embedded — so a trigger connects from a triggerer that has none of the worker's
files. Airflow stores a deferred trigger's kwargs in plain text, so the config travels sealed
with the deployment's Fernet key (:meth:`ClusterHook.trigger_kwargs`)::

    hook = ClusterHook("kubernetes_default")
    job = hook.get("batch/v1", "Job", "nightly")              # namespace from the connection
    hook.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}})
    self.defer(trigger=JobTrigger(..., cluster=hook.trigger_kwargs()), ...)

    ahook = AsyncClusterHook(**self.cluster)                  # in the triggerer
    done = await ahook.wait_for("batch/v1", "Job", "nightly", predicate, timeout=600)

Clients are shared per process (sync) and per event loop (async); requests are retried on
429, 5xx and connection errors with jittered back-off honouring ``Retry-After``; failures raise
``kube.errors`` exceptions. The Kubernetes client libraries and the cncf provider are imported
inside methods: importing this module stays cheap for DAG parsing.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_k8s_workflows.kube.cluster import DEFAULT_NAMESPACE, ClusterConfig, resolve_cluster_config
from airflow_k8s_workflows.kube.errors import NotFound, is_retryable
from airflow_k8s_workflows.kube.naming import check_namespace
from airflow_k8s_workflows.kube.resources import ApiResource, ResourceRef
from airflow_k8s_workflows.kube.retry import RetryStats, tenacity_wait

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from airflow_k8s_workflows.kube.rest import Call
    from airflow_k8s_workflows.kube.watch import Subscription

__all__ = [
    "DEFAULT_FIELD_MANAGER",
    "AsyncClusterHook",
    "ClusterHook",
    "retry_stats",
    "seal_cluster_config",
    "unseal_cluster_config",
]

log = logging.getLogger(__name__)

DEFAULT_FIELD_MANAGER = "airflow-k8s-workflows"
_CONN_FIELDS = (
    "in_cluster",
    "kube_config_path",
    "kube_config",
    "cluster_context",
    "namespace",
    "disable_verify_ssl",
)

_RETRY_STATS = RetryStats()


def retry_stats() -> RetryStats:
    """Request retries made by the hooks in this process."""
    return _RETRY_STATS


def _fernet() -> Any | None:
    """The deployment's Fernet (``[core] fernet_key``), or None when there is none usable."""
    from airflow.sdk.crypto import get_fernet

    try:
        fernet = get_fernet()
    except Exception as e:  # an invalid key: treat as none, say why
        log.warning("cannot use [core] fernet_key to seal Kubernetes credentials: %s", e)
        return None
    return fernet if fernet.is_encrypted else None


def seal_cluster_config(cfg: ClusterConfig) -> str | None:
    """``cfg`` encrypted with the deployment's Fernet key; None without a key."""
    fernet = _fernet()
    if fernet is None:
        return None
    return str(fernet.encrypt(json.dumps(cfg.to_dict(), sort_keys=True).encode()).decode())


def unseal_cluster_config(sealed: str) -> ClusterConfig:
    """The config :func:`seal_cluster_config` sealed (same Fernet key needed)."""
    from airflow_k8s_workflows.kube.cluster import ClusterConfigError

    fernet = _fernet()
    if fernet is None:
        raise ClusterConfigError(
            "cannot unseal the Kubernetes cluster config: no usable [core] fernet_key here"
        )
    try:
        return ClusterConfig.from_dict(json.loads(fernet.decrypt(sealed.encode())))
    except ClusterConfigError:
        raise
    except Exception as e:
        raise ClusterConfigError(
            f"cannot unseal the Kubernetes cluster config ({type(e).__name__}): is [core] fernet_key the same "
            "on workers and triggerers?"
        )


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _split_manifest(body: Mapping[str, Any]) -> tuple[str, str, str]:
    api_version, kind = body.get("apiVersion"), body.get("kind")
    name = (body.get("metadata") or {}).get("name")
    if not api_version or not kind:
        raise ValueError("a manifest needs apiVersion and kind")
    return str(api_version), str(kind), str(name or "")


class _ClusterHookBase(BaseHook):
    conn_name_attr = "kubernetes_conn_id"
    default_conn_name = "kubernetes_default"
    conn_type = "kubernetes"
    hook_name = "Kubernetes cluster (airflow-k8s-workflows)"

    def __init__(
        self,
        kubernetes_conn_id: str | None = default_conn_name,
        *,
        cluster_config: ClusterConfig | Mapping[str, Any] | None = None,
        sealed_cluster_config: str | None = None,
        namespace: str | None = None,
        cluster_context: str | None = None,
        config_file: str | None = None,
        in_cluster: bool | None = None,
        disable_verify_ssl: bool | None = None,
        field_manager: str = DEFAULT_FIELD_MANAGER,
        max_retries: int = 5,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
        request_timeout: float = 60.0,
    ) -> None:
        super().__init__()
        self.kubernetes_conn_id = kubernetes_conn_id
        self._given_config = ClusterConfig.from_dict(cluster_config) if cluster_config is not None else None
        self.sealed_cluster_config = sealed_cluster_config
        self.namespace = namespace
        self.cluster_context = cluster_context
        self.config_file = config_file
        self.in_cluster = in_cluster
        self.disable_verify_ssl = disable_verify_ssl
        self.field_manager = field_manager
        self.max_retries = max_retries
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.request_timeout = request_timeout

    # -- connection → ClusterConfig ----------------------------------------------------------------
    def _config_from_fields(self, fields: Mapping[str, Any]) -> ClusterConfig:
        disable = _first(self.disable_verify_ssl, _as_bool(fields.get("disable_verify_ssl")))
        cfg = resolve_cluster_config(
            in_cluster=_first(self.in_cluster, _as_bool(fields.get("in_cluster"))),
            kube_config_path=_first(self.config_file, fields.get("kube_config_path")),
            kube_config=fields.get("kube_config"),
            cluster_context=_first(self.cluster_context, fields.get("cluster_context")),
            namespace=fields.get("namespace") or None,
            disable_verify_ssl=bool(disable),
        )
        log.debug("Kubernetes connection %s resolved to %r", self.kubernetes_conn_id, cfg)
        return cfg

    def get_namespace(self, namespace: str | None = None) -> str:
        """explicit → hook's → connection extra → kubeconfig context → ``default``.

        Raises ``ValueError`` naming ``namespace`` when the explicit one is not a valid
        namespace name (e.g. a templated value rendered to ``team_a``): before any request.
        """
        check_namespace(namespace)
        return namespace or self.namespace or self._config().namespace or DEFAULT_NAMESPACE

    def _config(self) -> ClusterConfig:
        raise NotImplementedError

    def _ref(self, res: ApiResource, namespace: str | None, all_namespaces: bool = False) -> ResourceRef:
        if not res.namespaced:
            return res.ref(None)
        return res.ref(None if all_namespaces else self.get_namespace(namespace))

    def _manifest_namespace(self, body: Mapping[str, Any], namespace: str | None) -> str:
        declared = (body.get("metadata") or {}).get("namespace")
        if namespace and declared and namespace != declared:
            raise ValueError(
                f"the namespace from the provided object {declared!r} does not match the namespace "
                f"{namespace!r} sent on the request"
            )
        return self.get_namespace(declared or namespace)

    @staticmethod
    def _with_namespace(body: Mapping[str, Any], ref: ResourceRef) -> dict[str, Any]:
        out = copy.deepcopy(dict(body))
        if ref.namespaced and ref.namespace:
            out.setdefault("metadata", {})["namespace"] = ref.namespace
        return out

    def _retrying_kwargs(self, call: Call) -> dict[str, Any]:
        from tenacity import retry_if_exception, stop_after_attempt

        def before_sleep(state: Any) -> None:
            _RETRY_STATS.retries += 1
            exc = state.outcome.exception()
            delay = state.next_action.sleep if state.next_action else 0
            self.log.warning(
                "%s failed (%s); retry %d in %.1fs", call.describe(), exc, state.attempt_number, delay
            )

        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": tenacity_wait(self.retry_base, self.retry_cap),
            "retry": retry_if_exception(lambda e: is_retryable(e, idempotent=call.idempotent)),
            "before_sleep": before_sleep,
            "reraise": True,
        }


class ClusterHook(_ClusterHookBase):
    """Synchronous access to one cluster: discovery, CRUD, server-side apply, raw requests.

    ``ClusterHook(kubernetes_conn_id="prod")`` reads the connection on first use;
    ``ClusterHook(cluster_config=cfg_dict)`` skips Airflow entirely. Every method takes
    ``(api_version, kind, name, namespace)`` or a manifest; namespaces default as
    :meth:`get_namespace` describes::

        hook = ClusterHook()
        hook.apply(deployment_manifest, force=True)
        hook.patch("apps/v1", "Deployment", "web", {"spec": {"replicas": 3}}, subresource="scale")
        hook.delete("batch/v1", "Job", "old", ignore_missing=True)
    """

    @cached_property
    def cluster_config(self) -> ClusterConfig:
        """The connection resolved into an inline config (cached; secrets registered for masking)."""
        if self._given_config is not None:
            cfg = self._given_config
        else:
            cfg = self._config_from_fields(self._connection_fields())
        try:
            from airflow.sdk.log import mask_secret
        except ImportError:  # pragma: no cover - older task SDKs
            return cfg
        for secret in cfg.secrets():
            mask_secret(secret)
        return cfg

    def _config(self) -> ClusterConfig:
        return self.cluster_config

    def trigger_kwargs(self) -> dict[str, Any]:
        """How a trigger reaches this cluster from the triggerer: ``AsyncClusterHook(**kwargs)``.

        ``{"kubernetes_conn_id": ..., "sealed_cluster_config": <Fernet token>}``: the resolved
        inline config (no file paths) encrypted with ``[core] fernet_key``, because Airflow keeps
        a deferred trigger's kwargs in plain text. Without a key only the connection id goes
        (the triggerer then reads the connection itself, so files only the worker has are
        missing there; a warning says so). Not for ``AssetWatcher`` triggers: their kwargs must
        be identical on every parse, so give those the connection id alone.
        """
        out: dict[str, Any] = {"kubernetes_conn_id": self.kubernetes_conn_id}
        sealed = seal_cluster_config(self.cluster_config)
        if sealed is not None:
            out["sealed_cluster_config"] = sealed
        else:
            self.log.warning(
                "No usable [core] fernet_key: the triggerer will read connection %r itself; credentials "
                "in files only this worker has (kube_config_path, certificates, tokenFile) will be missing there",
                self.kubernetes_conn_id,
            )
        return out

    def _connection_fields(self) -> dict[str, Any]:
        if not self.kubernetes_conn_id:
            return {}
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        provider_hook = KubernetesHook(conn_id=self.kubernetes_conn_id)
        return {name: provider_hook._get_field(name) for name in _CONN_FIELDS}

    # -- clients -------------------------------------------------------------------------------------
    @property
    def api_client(self) -> Any:
        """The process's shared ``kubernetes.client.ApiClient`` for this cluster."""
        from airflow_k8s_workflows.kube.clients import sync_client

        return sync_client(self.cluster_config)

    def get_conn(self) -> Any:
        return self.api_client

    def request(self, call: Call) -> Any:
        """Send a :class:`~airflow_k8s_workflows.kube.rest.Call` with retries; the decoded answer."""
        from tenacity import Retrying

        from airflow_k8s_workflows.kube.rest import request

        for attempt in Retrying(**self._retrying_kwargs(call)):
            with attempt:
                return request(self.api_client, call, timeout=self.request_timeout)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- discovery -----------------------------------------------------------------------------------
    def discover(self, api_version: str, kind: str) -> ApiResource:
        """The API resource serving ``kind`` (cached per cluster); raises ``UnknownKind``."""
        from airflow_k8s_workflows.kube.discovery import discover

        return discover(self.request, self.cluster_config.identity, api_version, kind)

    def resource(
        self, api_version: str, kind: str, namespace: str | None = None, *, all_namespaces: bool = False
    ) -> ResourceRef:
        return self._ref(self.discover(api_version, kind), namespace, all_namespaces)

    # -- CRUD ------------------------------------------------------------------------------------------
    def get(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        from airflow_k8s_workflows.kube.calls import get_call

        return self.request(get_call(self.resource(api_version, kind, namespace), name, subresource))

    def get_or_none(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return self.get(api_version, kind, name, namespace)
        except NotFound:
            return None

    def iter_list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        all_namespaces: bool = False,
        page_size: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Objects of a collection, page by page (each with ``kind`` and ``apiVersion`` set)."""
        from airflow_k8s_workflows.kube.calls import list_call

        res = self.discover(api_version, kind)
        ref = self._ref(res, namespace, all_namespaces)
        token: str | None = None
        while True:
            doc = self.request(list_call(ref, label_selector=label_selector, field_selector=field_selector,
                                         limit=page_size, continue_token=token))  # fmt: skip
            for item in doc.get("items") or []:
                item.setdefault("kind", res.kind)
                item.setdefault("apiVersion", res.api_version)
                yield item
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                return

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        all_namespaces: bool = False,
    ) -> list[dict[str, Any]]:
        return [*self.iter_list(api_version, kind, namespace, label_selector=label_selector,
                                field_selector=field_selector, all_namespaces=all_namespaces)]  # fmt: skip

    def create(
        self, body: Mapping[str, Any], namespace: str | None = None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        from airflow_k8s_workflows.kube.calls import create_call

        api_version, kind, _ = _split_manifest(body)
        ref = self._ref(self.discover(api_version, kind), self._manifest_namespace(body, namespace))
        return self.request(create_call(ref, self._with_namespace(body, ref), dry_run=dry_run))

    def replace(
        self, body: Mapping[str, Any], namespace: str | None = None, *, subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        from airflow_k8s_workflows.kube.calls import replace_call

        api_version, kind, name = _split_manifest(body)
        ref = self._ref(self.discover(api_version, kind), self._manifest_namespace(body, namespace))
        call = replace_call(
            ref, name, self._with_namespace(body, ref), subresource=subresource, dry_run=dry_run
        )
        return self.request(call)

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """``patch_type``: ``merge`` (default), ``strategic``, ``json`` or a content type."""
        from airflow_k8s_workflows.kube.calls import patch_call

        ref = self.resource(api_version, kind, namespace)
        call = patch_call(ref, name, patch, patch_type=patch_type, subresource=subresource, dry_run=dry_run,
                          field_manager=self.field_manager if patch_type != "json" else None)  # fmt: skip
        return self.request(call)

    def apply(
        self,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply (creates or updates); ``force`` takes over conflicting fields."""
        from airflow_k8s_workflows.kube.calls import apply_call

        api_version, kind, name = _split_manifest(body)
        if not name:
            raise ValueError(f"server-side apply needs metadata.name ({kind})")
        ref = self._ref(self.discover(api_version, kind), self._manifest_namespace(body, namespace))
        call = apply_call(ref, name, self._with_namespace(body, ref), field_manager=field_manager or self.field_manager,
                          force=force, dry_run=dry_run, subresource=subresource)  # fmt: skip
        return self.request(call)

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = "Background",
        grace_period_seconds: int | None = None,
        ignore_missing: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any] | None:
        """Delete; the answer (object or Status), or ``None`` when missing and ``ignore_missing``."""
        from airflow_k8s_workflows.kube.calls import delete_call

        ref = self.resource(api_version, kind, namespace)
        call = delete_call(ref, name, propagation_policy=propagation_policy,
                           grace_period_seconds=grace_period_seconds, dry_run=dry_run)  # fmt: skip
        try:
            return self.request(call)
        except NotFound:
            if ignore_missing:
                return None
            raise


class AsyncClusterHook(_ClusterHookBase):
    """The async twin of :class:`ClusterHook` for triggers and async operators.

    Build it from the inline config the operator handed over (no connection lookup, no files)
    or from a connection id (read with the provider's async connection lookup)::

        hook = AsyncClusterHook(**self.cluster)      # ClusterHook.trigger_kwargs() from the worker
        job = await hook.get("batch/v1", "Job", "nightly", "etl")
        async with await hook.watch("batch/v1", "Job", "etl", name="nightly") as sub:
            async for event_type, obj in sub: ...
    """

    _resolved: ClusterConfig | None = None

    async def get_cluster_config(self) -> ClusterConfig:
        if self._resolved is None:
            cfg = self._given_config or self._unsealed()
            if cfg is None:
                cfg = self._config_from_fields(await self._connection_fields())
            try:
                from airflow.sdk.log import amask_secret
            except ImportError:  # pragma: no cover - older task SDKs
                pass
            else:
                for secret in cfg.secrets():
                    await amask_secret(secret)
            self._resolved = cfg
        return self._resolved

    def _unsealed(self) -> ClusterConfig | None:
        if not self.sealed_cluster_config:
            return None
        try:
            return unseal_cluster_config(self.sealed_cluster_config)
        except Exception as e:
            if not self.kubernetes_conn_id:
                raise
            self.log.warning("%s; reading connection %r instead", e, self.kubernetes_conn_id)
            return None

    def _config(self) -> ClusterConfig:
        if self._resolved is None:
            if self._given_config is None:
                raise RuntimeError("await get_cluster_config() first")
            self._resolved = self._given_config
        return self._resolved

    async def _connection_fields(self) -> dict[str, Any]:
        if not self.kubernetes_conn_id:
            return {}
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook

        provider_hook = AsyncKubernetesHook(conn_id=self.kubernetes_conn_id)
        return {name: await provider_hook._get_field(name) for name in _CONN_FIELDS}

    @property
    def identity(self) -> str:
        return self._config().identity

    async def api_client(self) -> Any:
        """This loop's shared ``kubernetes_asyncio`` ``ApiClient`` (so the hook is a watch ``ClientSource``)."""
        from airflow_k8s_workflows.kube.clients import async_client

        return await async_client(await self.get_cluster_config())

    async def aget_namespace(self, namespace: str | None = None) -> str:
        await self.get_cluster_config()
        return self.get_namespace(namespace)

    async def request(self, call: Call) -> Any:
        from tenacity import AsyncRetrying

        from airflow_k8s_workflows.kube.rest import arequest

        client = await self.api_client()
        async for attempt in AsyncRetrying(**self._retrying_kwargs(call)):
            with attempt:
                return await arequest(client, call, timeout=self.request_timeout)
        raise AssertionError("unreachable")  # pragma: no cover

    async def discover(self, api_version: str, kind: str) -> ApiResource:
        from airflow_k8s_workflows.kube.discovery import adiscover

        await self.get_cluster_config()
        return await adiscover(self.request, self.identity, api_version, kind)

    async def resource(
        self, api_version: str, kind: str, namespace: str | None = None, *, all_namespaces: bool = False
    ) -> ResourceRef:
        return self._ref(await self.discover(api_version, kind), namespace, all_namespaces)

    async def get(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        from airflow_k8s_workflows.kube.calls import get_call

        ref = await self.resource(api_version, kind, namespace)
        return await self.request(get_call(ref, name, subresource))

    async def get_or_none(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return await self.get(api_version, kind, name, namespace)
        except NotFound:
            return None

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        all_namespaces: bool = False,
        page_size: int = 500,
    ) -> list[dict[str, Any]]:
        from airflow_k8s_workflows.kube.calls import list_call

        res = await self.discover(api_version, kind)
        ref = self._ref(res, namespace, all_namespaces)
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            doc = await self.request(list_call(ref, label_selector=label_selector, field_selector=field_selector,
                                               limit=page_size, continue_token=token))  # fmt: skip
            for item in doc.get("items") or []:
                item.setdefault("kind", res.kind)
                item.setdefault("apiVersion", res.api_version)
                out.append(item)
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                return out

    async def apply(
        self,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        from airflow_k8s_workflows.kube.calls import apply_call

        await self.get_cluster_config()
        api_version, kind, name = _split_manifest(body)
        if not name:
            raise ValueError(f"server-side apply needs metadata.name ({kind})")
        ref = self._ref(await self.discover(api_version, kind), self._manifest_namespace(body, namespace))
        call = apply_call(ref, name, self._with_namespace(body, ref), field_manager=field_manager or self.field_manager,
                          force=force, dry_run=dry_run)  # fmt: skip
        return await self.request(call)

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
    ) -> dict[str, Any]:
        from airflow_k8s_workflows.kube.calls import patch_call

        ref = await self.resource(api_version, kind, namespace)
        call = patch_call(ref, name, patch, patch_type=patch_type, subresource=subresource,
                          field_manager=self.field_manager if patch_type != "json" else None)  # fmt: skip
        return await self.request(call)

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = "Background",
        ignore_missing: bool = False,
    ) -> dict[str, Any] | None:
        from airflow_k8s_workflows.kube.calls import delete_call

        ref = await self.resource(api_version, kind, namespace)
        try:
            return await self.request(delete_call(ref, name, propagation_policy=propagation_policy))
        except NotFound:
            if ignore_missing:
                return None
            raise

    # -- waiting (kube.watch) --------------------------------------------------------------------------
    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        name: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        all_namespaces: bool = False,
    ) -> AbstractAsyncContextManager[Subscription]:
        """A shared-watch subscription context (``async with await hook.watch(...) as sub``)."""
        from airflow_k8s_workflows.kube.watch import shared_watch

        ref = await self.resource(api_version, kind, namespace, all_namespaces=all_namespaces)
        return shared_watch(
            self, ref, name=name, label_selector=label_selector, field_selector=field_selector
        )

    async def wait_for(
        self,
        api_version: str,
        kind: str,
        name: str | None,
        predicate: Callable[[dict[str, Any] | None], bool],
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout: float | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> dict[str, Any] | None:
        """The first state of the object(s) satisfying ``predicate`` (``None`` = absent)."""
        from airflow_k8s_workflows.kube.watch import wait_for

        ref = await self.resource(api_version, kind, namespace)
        return await wait_for(self, ref, predicate, name=name, label_selector=label_selector,
                              field_selector=field_selector, timeout=timeout, on_event=on_event)  # fmt: skip
