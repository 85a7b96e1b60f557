"""A resolved, self-contained description of how to reach one cluster: :class:`ClusterConfig`.

A kubeconfig points at files (CA, client certificate and key, token files) that exist on the
machine that wrote it. A trigger runs on the triggerer, which may have none of them, so the
hooks resolve a connection once, on the worker, into a ``ClusterConfig`` whose credentials are
inline, and hand that to the trigger as a plain dict::

    cfg = config_from_kubeconfig(yaml.safe_load(open(path)), base_dir=os.path.dirname(path))
    kwargs = {"cluster": cfg.to_dict()}          # trigger kwargs (Airflow encrypts them)
    same = ClusterConfig.from_dict(kwargs["cluster"])
    assert same.identity == cfg.identity

Exec and auth-provider plugins are kept as settings (the process that connects runs the
plugin). Nothing here imports the Kubernetes clients; ``repr`` never shows a secret.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import KubeError

__all__ = [
    "DEFAULT_NAMESPACE",
    "ClusterConfig",
    "ClusterConfigError",
    "config_from_kubeconfig",
    "default_kubeconfig_paths",
    "in_cluster_config",
    "load_kubeconfig_files",
    "parse_kubeconfig",
    "resolve_cluster_config",
]

DEFAULT_NAMESPACE = "default"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_BASE_KEY = "__airflow_k8s_base_dir__"
_SECRET_HINTS = ("token", "secret", "password", "passwd", "key", "credential")


class ClusterConfigError(KubeError):
    """The connection or kubeconfig does not describe a usable cluster."""


@dataclass(frozen=True, eq=False)
class ClusterConfig:
    """Everything needed to connect, inline: server, CA, credentials, TLS flag, namespace.

    Certificate fields hold base64 PEM exactly like kubeconfig's ``*-data`` keys.
    ``exec_config`` / ``auth_provider`` are a kubeconfig user's ``exec`` / ``auth-provider``
    blocks. ``in_cluster`` marks a service-account config: a process that has the mounted
    service-account token prefers the fresh file over the inlined snapshot.
    """

    server: str
    certificate_authority_data: str | None = None
    client_certificate_data: str | None = None
    client_key_data: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    exec_config: Mapping[str, Any] | None = None
    auth_provider: Mapping[str, Any] | None = None
    verify_ssl: bool = True
    tls_server_name: str | None = None
    proxy_url: str | None = None
    context: str | None = None
    namespace: str | None = None
    in_cluster: bool = False

    # -- identity ----------------------------------------------------------------------------
    @property
    def identity(self) -> str:
        """Stable id of (server, credentials, TLS settings): what clients and watches are shared by.

        Two connections with different credentials never share a client or a watch (their
        permissions differ); the context name and default namespace do not matter.
        """
        data = self.to_dict()
        data.pop("context", None)
        data.pop("namespace", None)
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
        return f"{self.server}#{digest[:16]}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClusterConfig) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.identity)

    # -- (de)serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (includes the secrets: pass it only where Airflow encrypts it)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name in ("verify_ssl",) and value is True):
                continue
            if f.name == "in_cluster" and not value:
                continue
            out[f.name] = copy.deepcopy(dict(value)) if isinstance(value, Mapping) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | ClusterConfig) -> ClusterConfig:
        if isinstance(data, ClusterConfig):
            return data
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ClusterConfigError(f"unknown cluster config keys: {sorted(unknown)}")
        if not data.get("server"):
            raise ClusterConfigError("cluster config has no server")
        return cls(**dict(data))

    def with_namespace(self, namespace: str | None) -> ClusterConfig:
        return replace(self, namespace=namespace)

    def to_kubeconfig(self) -> dict[str, Any]:
        """A one-context kubeconfig dict the official clients' loaders accept."""
        cluster: dict[str, Any] = {"server": self.server}
        if self.certificate_authority_data:
            cluster["certificate-authority-data"] = self.certificate_authority_data
        if not self.verify_ssl:
            cluster["insecure-skip-tls-verify"] = True
        if self.tls_server_name:
            cluster["tls-server-name"] = self.tls_server_name
        if self.proxy_url:
            cluster["proxy-url"] = self.proxy_url
        user: dict[str, Any] = {}
        if self.client_certificate_data:
            user["client-certificate-data"] = self.client_certificate_data
        if self.client_key_data:
            user["client-key-data"] = self.client_key_data
        if self.token:
            user["token"] = self.token
        if self.username is not None and self.password is not None:
            user["username"], user["password"] = self.username, self.password
        if self.exec_config:
            user["exec"] = copy.deepcopy(dict(self.exec_config))
        if self.auth_provider:
            user["auth-provider"] = copy.deepcopy(dict(self.auth_provider))
        context: dict[str, Any] = {"cluster": "airflow", "user": "airflow"}
        if self.namespace:
            context["namespace"] = self.namespace
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "airflow", "cluster": cluster}],
            "users": [{"name": "airflow", "user": user}],
            "contexts": [{"name": "airflow", "context": context}],
            "current-context": "airflow",
        }

    # -- secrets -------------------------------------------------------------------------------
    def secrets(self) -> list[str]:
        """Every secret value in this config, for a log masker."""
        found = [v for v in (self.token, self.password, self.client_key_data) if v]
        for block in (self.exec_config, self.auth_provider):
            if block:
                found.extend(_secret_values(block))
        return found

    @property
    def auth_kind(self) -> str:
        if self.exec_config:
            return f"exec:{os.path.basename(str(self.exec_config.get('command', '?')))}"
        if self.auth_provider:
            return f"auth-provider:{self.auth_provider.get('name', '?')}"
        if self.client_certificate_data:
            return "client-certificate"
        if self.token:
            return "token"
        if self.username:
            return "basic"
        return "anonymous"

    def __repr__(self) -> str:
        parts = [f"server={self.server!r}", f"auth={self.auth_kind}"]
        if self.context:
            parts.append(f"context={self.context!r}")
        if self.namespace:
            parts.append(f"namespace={self.namespace!r}")
        if not self.verify_ssl:
            parts.append("verify_ssl=False")
        if self.in_cluster:
            parts.append("in_cluster=True")
        return f"ClusterConfig({', '.join(parts)})"

    __str__ = __repr__


def _secret_values(block: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in block.items():
        if isinstance(value, Mapping):
            out.extend(_secret_values(value))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    name = str(item.get("name", "")).lower()
                    if "value" in item and any(h in name for h in _SECRET_HINTS) and item["value"]:
                        out.append(str(item["value"]))
        elif isinstance(value, str) and value and any(h in key.lower() for h in _SECRET_HINTS):
            out.append(value)
    return out


# -- kubeconfig ----------------------------------------------------------------------------------
def parse_kubeconfig(text: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """A kubeconfig given as a dict, JSON or YAML text."""
    if isinstance(text, Mapping):
        return copy.deepcopy(dict(text))
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ClusterConfigError(f"the kubeconfig is neither JSON nor YAML: {e}")
    if not isinstance(data, dict):
        raise ClusterConfigError("the kubeconfig is not a mapping")
    return data


def default_kubeconfig_paths(env: Mapping[str, str] | None = None) -> list[str]:
    """``$KUBECONFIG`` (``os.pathsep``-separated) or ``~/.kube/config``, existing files only."""
    env = os.environ if env is None else env
    raw = env.get("KUBECONFIG") or "~/.kube/config"
    paths = [os.path.expanduser(p) for p in raw.split(os.pathsep) if p]
    return [p for p in paths if os.path.isfile(p)]


def load_kubeconfig_files(paths: str | list[str]) -> dict[str, Any]:
    """Read and merge kubeconfig files like kubectl: the first file naming an entry wins.

    Each cluster and user remembers its file's directory, so relative file references
    resolve against the file that made them.
    """
    if isinstance(paths, str):
        paths = [p for p in paths.split(os.pathsep) if p]
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {"clusters": set(), "users": set(), "contexts": set()}
    for path in paths:
        path = os.path.expanduser(path)
        try:
            with open(path, encoding="utf-8") as fh:
                data = parse_kubeconfig(fh.read()) if os.path.getsize(path) else {}
        except OSError as e:
            raise ClusterConfigError(f"cannot read kubeconfig {path}: {e.strerror or e}")
        base = os.path.dirname(os.path.abspath(path))
        for section in ("clusters", "users", "contexts"):
            for entry in data.get(section) or []:
                name = entry.get("name")
                if name in seen[section]:
                    continue
                seen[section].add(name)
                entry = copy.deepcopy(entry)
                entry[_BASE_KEY] = base
                merged[section].append(entry)
        if data.get("current-context") and not merged.get("current-context"):
            merged["current-context"] = data["current-context"]
    if not any(merged[s] for s in ("clusters", "contexts")):
        raise ClusterConfigError(f"no cluster configuration found in {', '.join(paths) or '(no files)'}")
    return merged


def _named(config: Mapping[str, Any], section: str, name: str) -> Mapping[str, Any] | None:
    for entry in config.get(section) or []:
        if entry.get("name") == name:
            return entry
    return None


def _read_file_b64(path: str, base_dir: str) -> str:
    full = os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))
    try:
        with open(full, "rb") as fh:
            return base64.b64encode(fh.read()).decode()
    except OSError as e:
        raise ClusterConfigError(f"cannot read {full} referenced by the kubeconfig: {e.strerror or e}")


def _read_text(path: str, base_dir: str) -> str:
    full = os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))
    try:
        with open(full, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as e:
        raise ClusterConfigError(f"cannot read {full} referenced by the kubeconfig: {e.strerror or e}")


def config_from_kubeconfig(
    kubeconfig: Mapping[str, Any],
    *,
    context: str | None = None,
    base_dir: str | None = None,
) -> ClusterConfig:
    """Resolve one context of a kubeconfig into an inline :class:`ClusterConfig`.

    Files it references (``certificate-authority``, ``client-certificate``, ``client-key``,
    ``tokenFile``) are read now, relative to ``base_dir`` (or the directory of the file that
    defined the entry).
    """
    ctx_name = context or kubeconfig.get("current-context")
    if not ctx_name:
        contexts = kubeconfig.get("contexts") or []
        if len(contexts) != 1:
            raise ClusterConfigError("the kubeconfig has no current-context; name one (cluster_context)")
        ctx_name = contexts[0].get("name")
    ctx_entry = _named(kubeconfig, "contexts", str(ctx_name))
    if ctx_entry is None:
        raise ClusterConfigError(f'context "{ctx_name}" does not exist in the kubeconfig')
    ctx = ctx_entry.get("context") or {}
    cluster_entry = _named(kubeconfig, "clusters", str(ctx.get("cluster", "")))
    if cluster_entry is None:
        raise ClusterConfigError(f'cluster "{ctx.get("cluster")}" of context "{ctx_name}" is not defined')
    cluster = cluster_entry.get("cluster") or {}
    user_entry = _named(kubeconfig, "users", str(ctx.get("user", ""))) if ctx.get("user") else None
    user = (user_entry or {}).get("user") or {}
    cbase = str(cluster_entry.get(_BASE_KEY) or base_dir or os.getcwd())
    ubase = str((user_entry or {}).get(_BASE_KEY) or base_dir or os.getcwd())

    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise ClusterConfigError(f'cluster "{ctx.get("cluster")}" has no server')
    ca = cluster.get("certificate-authority-data") or None
    if not ca and cluster.get("certificate-authority"):
        ca = _read_file_b64(cluster["certificate-authority"], cbase)
    cert = user.get("client-certificate-data") or None
    if not cert and user.get("client-certificate"):
        cert = _read_file_b64(user["client-certificate"], ubase)
    key = user.get("client-key-data") or None
    if not key and user.get("client-key"):
        key = _read_file_b64(user["client-key"], ubase)
    token = user.get("token") or None
    if not token and user.get("tokenFile"):
        token = _read_text(user["tokenFile"], ubase)
    exec_config = copy.deepcopy(user.get("exec")) if user.get("exec") else None
    if exec_config:
        command = str(exec_config.get("command", ""))
        # client-go: a relative command with a path separator is relative to the kubeconfig
        if os.sep in command and not os.path.isabs(command):
            exec_config["command"] = os.path.normpath(os.path.join(ubase, command))
    skip_verify = cluster.get("insecure-skip-tls-verify")
    return ClusterConfig(
        server=server,
        certificate_authority_data=ca,
        client_certificate_data=cert,
        client_key_data=key,
        token=token,
        username=user.get("username"),
        password=user.get("password"),
        exec_config=exec_config,
        auth_provider=copy.deepcopy(user.get("auth-provider")) if user.get("auth-provider") else None,
        verify_ssl=not bool(skip_verify),
        tls_server_name=cluster.get("tls-server-name"),
        proxy_url=cluster.get("proxy-url"),
        context=str(ctx_name),
        namespace=ctx.get("namespace") or None,
    )


def in_cluster_config(
    env: Mapping[str, str] | None = None, service_account_dir: str = SERVICE_ACCOUNT_DIR
) -> ClusterConfig:
    """The pod's service account, as ``load_incluster_config`` sees it, inlined."""
    env = os.environ if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ClusterConfigError(
            "in_cluster is set but KUBERNETES_SERVICE_HOST/PORT are not: not running in a pod"
        )
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    token_path = os.path.join(service_account_dir, "token")
    if not os.path.isfile(token_path):
        raise ClusterConfigError(f"in_cluster is set but {token_path} does not exist")
    ca_path = os.path.join(service_account_dir, "ca.crt")
    ns_path = os.path.join(service_account_dir, "namespace")
    namespace = _read_text(ns_path, "/") if os.path.isfile(ns_path) else None
    return ClusterConfig(
        server=f"https://{host}:{port}",
        certificate_authority_data=_read_file_b64(ca_path, "/") if os.path.isfile(ca_path) else None,
        token=_read_text(token_path, "/"),
        namespace=namespace,
        in_cluster=True,
    )


def resolve_cluster_config(
    *,
    in_cluster: bool | None = None,
    kube_config_path: str | None = None,
    kube_config: str | Mapping[str, Any] | None = None,
    config_dict: Mapping[str, Any] | None = None,
    cluster_context: str | None = None,
    namespace: str | None = None,
    disable_verify_ssl: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> ClusterConfig:
    """The cncf provider's connection semantics, producing an inline config.

    At most one of ``in_cluster``, ``kube_config_path``, ``kube_config`` and ``config_dict``;
    with none, in-cluster when running in a pod, else the default kubeconfig
    (``$KUBECONFIG`` or ``~/.kube/config``). ``namespace`` (the connection's) overrides the
    context's; ``disable_verify_ssl`` turns TLS verification off.
    """
    chosen = sum(1 for o in (in_cluster, kube_config, kube_config_path, config_dict) if o)
    if chosen > 1:
        raise ClusterConfigError(
            "Invalid connection configuration. Options kube_config_path, kube_config, in_cluster, "
            "config_dict are mutually exclusive. You can only use one option at a time."
        )
    env = os.environ if env is None else env
    if in_cluster:
        cfg = in_cluster_config(env)
    elif kube_config_path:
        cfg = config_from_kubeconfig(load_kubeconfig_files([kube_config_path]), context=cluster_context)
    elif kube_config:
        cfg = config_from_kubeconfig(parse_kubeconfig(kube_config), context=cluster_context)
    elif config_dict:
        cfg = config_from_kubeconfig(parse_kubeconfig(config_dict), context=cluster_context)
    elif env.get("KUBERNETES_SERVICE_HOST") and os.path.isfile(os.path.join(SERVICE_ACCOUNT_DIR, "token")):
        cfg = in_cluster_config(env)
    else:
        paths = default_kubeconfig_paths(env)
        if not paths:
            raise ClusterConfigError(
                "no Kubernetes configuration: the connection names no kube_config_path, kube_config "
                "or in_cluster, this is not a pod, and there is no $KUBECONFIG or ~/.kube/config"
            )
        cfg = config_from_kubeconfig(load_kubeconfig_files(paths), context=cluster_context)
    if namespace:
        cfg = replace(cfg, namespace=namespace)
    if disable_verify_ssl:
        cfg = replace(cfg, verify_ssl=False)
    return cfg
