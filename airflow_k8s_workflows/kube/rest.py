"""Raw REST calls through the official clients' ``ApiClient`` (auth, TLS, exec plugins),
with every failure translated into ``kube.errors``.

A :class:`Call` describes one request once; :func:`arequest` sends it on a
``kubernetes_asyncio`` client, :func:`request` on a ``kubernetes`` client::

    call = Call("GET", ref.item_path("web"), verb="get", resource=ref.qualified,
                namespace=ref.namespace, name="web")
    obj = await arequest(aclient, call)    # dict, or raises NotFound / Forbidden / ...
    obj = request(client, call)            # same, synchronously

:func:`aopen` returns the open ``aiohttp`` response of a streaming call (watch, logs).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import KubeApiError, KubeConnectionError, KubeTLSError, from_status

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "Call",
    "aopen",
    "arequest",
    "request",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Call:
    """One API request and what it means (verb/resource/namespace/name for error messages)."""

    method: str
    path: str
    query: Sequence[tuple[str, str]] = ()
    body: Any = None
    content_type: str | None = None
    verb: str = ""
    resource: str = ""
    namespace: str | None = None
    name: str | None = None
    accept: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def idempotent(self) -> bool:
        return self.method.upper() != "POST"

    def error(self, status: Any, code: int, headers: Mapping[str, str] | None = None) -> KubeApiError:
        return from_status(
            status,
            code=code,
            headers=headers,
            verb=self.verb or self.method.lower(),
            resource=self.resource or self.path,
            namespace=self.namespace,
            name=self.name,
        )

    def describe(self) -> str:
        return f"{self.method} {self.path}"


def _headers(call: Call) -> dict[str, str]:
    headers = {"Accept": call.accept, **call.headers}
    if call.content_type:
        headers["Content-Type"] = call.content_type
    return headers


def _decode(raw: bytes, content_type: str | None) -> Any:
    if not raw:
        return None
    if content_type and "json" not in content_type:
        return raw.decode("utf-8", "replace")
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


# -- async -------------------------------------------------------------------------------------------
def _aiohttp_error(exc: BaseException, call: Call, server: str) -> KubeConnectionError:
    import aiohttp

    where = f"{call.describe()} on {server}"
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError)):
        return KubeTLSError(f"TLS error talking to {where}: {exc}", connect=True)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return KubeConnectionError(f"cannot connect to the Kubernetes API for {where}: {exc}", connect=True)
    if isinstance(exc, asyncio.TimeoutError):
        return KubeConnectionError(f"timed out waiting for {where}")
    return KubeConnectionError(f"connection to the Kubernetes API broke during {where}: {exc!r}")


async def aopen(client: Any, call: Call, *, timeout: Any = None) -> Any:
    """Send ``call`` and return the open ``aiohttp.ClientResponse`` (status 2xx) to read from.

    The caller must ``release()`` it. A failure answer raises the matching ``KubeApiError``.
    """
    import aiohttp

    try:
        resp = await client.call_api(
            call.path,
            call.method,
            query_params=list(call.query),
            header_params=_headers(call),
            body=call.body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=timeout,
        )
    except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError, OSError) as e:
        raise _aiohttp_error(e, call, client.configuration.host)
    if not 200 <= resp.status <= 299:
        try:
            raw = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            raw = b""
        finally:
            resp.release()
        raise call.error(raw, resp.status, resp.headers)
    return resp


async def arequest(client: Any, call: Call, *, timeout: float | None = 60.0) -> Any:
    """Send ``call``; the decoded answer (dict for JSON, str for text)."""
    import aiohttp

    resp = await aopen(client, call, timeout=timeout)
    try:
        raw = await resp.read()
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        raise _aiohttp_error(e, call, client.configuration.host)
    finally:
        resp.release()
    return _decode(raw, resp.headers.get("Content-Type"))


# -- sync ---------------------------------------------------------------------------------------------
def _urllib3_error(exc: BaseException, call: Call, server: str) -> KubeConnectionError:
    import urllib3.exceptions as u3

    where = f"{call.describe()} on {server}"
    reason = getattr(exc, "reason", None) if isinstance(exc, u3.MaxRetryError) else exc
    if isinstance(reason, (u3.SSLError, ssl.SSLError)):
        return KubeTLSError(f"TLS error talking to {where}: {reason}", connect=True)
    if isinstance(reason, (u3.NewConnectionError, u3.ConnectTimeoutError, ConnectionRefusedError)):
        return KubeConnectionError(
            f"cannot connect to the Kubernetes API for {where}: {reason}", connect=True
        )
    if isinstance(reason, (u3.ReadTimeoutError, TimeoutError)):
        return KubeConnectionError(f"timed out waiting for {where}")
    return KubeConnectionError(f"connection to the Kubernetes API broke during {where}: {reason!r}")


def request(client: Any, call: Call, *, timeout: float | None = 60.0) -> Any:
    """Send ``call`` on a sync ``kubernetes.client.ApiClient``; the decoded answer."""
    import urllib3.exceptions as u3
    from kubernetes.client.exceptions import ApiException

    # below call_api: its error path breaks on TLS failures (it decodes a body that is None)
    headers = {**client.default_headers, **_headers(call)}
    query = list(call.query)
    try:
        client.update_params_for_auth(headers, query, ["BearerToken"])
        resp = client.request(
            call.method,
            client.configuration.host + call.path,
            query_params=query,
            headers=headers,
            body=client.sanitize_for_serialization(call.body) if call.body is not None else None,
            _preload_content=False,
            _request_timeout=timeout,
        )
        raw = resp.data
    except ApiException as e:
        if e.status == 0:  # the client wraps TLS failures this way
            raise KubeTLSError(f"TLS error talking to {call.describe()}: {e.reason}", connect=True)
        raise call.error(e.body, e.status, dict(e.headers or {}))
    except (u3.HTTPError, OSError) as e:
        raise _urllib3_error(e, call, client.configuration.host)
    return _decode(raw, resp.headers.get("Content-Type"))
