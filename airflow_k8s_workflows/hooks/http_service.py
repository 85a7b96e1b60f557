"""``HttpServiceHook``: the shared base of the Prometheus and Alertmanager hooks.

One Airflow connection → one :class:`~airflow_k8s_workflows.monitoring.endpoint.HttpEndpoint`
(URL, auth, TLS, timeout, retries; see that module for the fields), then JSON requests, sync
with ``requests`` (workers, notifiers) or async with ``aiohttp`` (triggers). Refused or broken
connections, timeouts and HTTP 429/500/502/503/504 are retried with full-jitter back-off that
waits at least what ``Retry-After`` asks; a server asking for more than ``retry_cap`` seconds is
not waited for. When the retries run out, a connection failure raises
:class:`~airflow_k8s_workflows.monitoring.endpoint.ServiceUnreachable` and an HTTP error is
returned to the subclass, which knows how its API words errors.

``requests``, ``aiohttp`` and ``tenacity`` are imported inside methods: importing a hook stays
cheap for DAG parsing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow.sdk import BaseHook

from airflow_k8s_workflows.kube.retry import tenacity_wait
from airflow_k8s_workflows.monitoring.endpoint import (
    HttpEndpoint,
    ServiceUnreachable,
    endpoint_from_fields,
    parse_retry_after,
)

__all__ = ["RETRY_STATUSES", "HttpResponse", "HttpServiceHook"]

Params = Mapping[str, str] | Sequence[tuple[str, str]] | None

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class HttpResponse:
    status: int
    text: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The decoded body, or None when it is not JSON."""
        try:
            return json.loads(self.text) if self.text else None
        except ValueError:
            return None


def _cause(exc: BaseException) -> str:
    """The root of a connection failure in few words (``[Errno 111] Connection refused``)."""
    match = re.search(r"\[(?:Errno -?\d+|SSL: [A-Z_]+)\] [^'\"()\]]+", str(exc))
    return match.group(0).strip() if match else f"{type(exc).__name__}: {exc}"


class _TLSFailure(Exception):
    def __str__(self) -> str:
        return f"TLS failed: {self.args[0]} (trust the server's CA with extra 'ca_bundle', or set verify_tls false)"


class _Retryable(Exception):
    """A failure worth another attempt: a broken connection or a retryable HTTP status."""

    def __init__(self, message: str, *, response: HttpResponse | None = None) -> None:
        super().__init__(message)
        self.response = response
        self.retry_after = (
            parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
        )


class HttpServiceHook(BaseHook):
    """Base class (not registered as a connection type): a JSON-over-HTTP service behind a connection.

    Subclasses set ``conn_name_attr``, ``default_conn_name``, ``conn_type``, ``hook_name`` and
    ``service_name``, and add the service's API methods on top of :meth:`request` /
    :meth:`arequest`::

        class PrometheusHook(HttpServiceHook):
            conn_type, default_conn_name, service_name = "prometheus", "prometheus_default", "Prometheus"

        PrometheusHook("prom").request("GET", "/api/v1/status/buildinfo").json()
    """

    conn_name_attr: ClassVar[str] = "conn_id"
    default_conn_name: ClassVar[str] = ""
    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = ""
    service_name: ClassVar[str] = "HTTP service"

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        endpoint: HttpEndpoint | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name
        self._endpoint = endpoint
        self.max_retries = max_retries
        self.timeout = timeout
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self._session: Any = None

    # -- connection → endpoint ----------------------------------------------------------------------
    def _endpoint_from(self, conn: Any, extra: Mapping[str, Any]) -> HttpEndpoint:
        return endpoint_from_fields(
            self.conn_id,
            self.conn_type,
            host=conn.host,
            schema=conn.schema,
            port=conn.port,
            login=conn.login,
            password=conn.password,
            extra=extra,
        )

    def get_endpoint(self) -> HttpEndpoint:
        """The connection read once (sync lookup: workers, the dag-processor)."""
        if self._endpoint is None:
            conn = self.get_connection(self.conn_id)
            self._endpoint = self._endpoint_from(conn, conn.extra_dejson)
        return self._endpoint

    async def aget_endpoint(self) -> HttpEndpoint:
        """The connection read once with Airflow's async lookup (triggerer, async notifiers)."""
        if self._endpoint is None:
            from airflow.providers.common.compat.connection import (
                get_async_connection,
                get_async_extra_dejson,
            )

            conn = await get_async_connection(self.conn_id, hook=type(self))
            self._endpoint = self._endpoint_from(conn, await get_async_extra_dejson(conn))
        return self._endpoint

    def get_conn(self) -> HttpEndpoint:
        return self.get_endpoint()

    # -- retry policy --------------------------------------------------------------------------------
    def _retrying_kwargs(self, endpoint: HttpEndpoint, what: str) -> dict[str, Any]:
        from tenacity import retry_if_exception_type

        attempts = (self.max_retries if self.max_retries is not None else endpoint.max_retries) + 1
        cap = self.retry_cap

        def stop(state: Any) -> bool:
            """Out of attempts, or the server asks us to come back later than ``retry_cap``."""
            exc = state.outcome.exception() if state.outcome is not None else None
            asked = getattr(exc, "retry_after", None)
            return bool(state.attempt_number >= attempts or (asked is not None and asked > cap))

        def before_sleep(state: Any) -> None:
            delay = state.next_action.sleep if state.next_action else 0.0
            self.log.warning(
                "%s: %s; attempt %d of %d, next in %.1fs",
                what,
                state.outcome.exception(),
                state.attempt_number,
                attempts,
                delay,
            )

        return {
            "stop": stop,
            "wait": tenacity_wait(self.retry_base, cap),
            "retry": retry_if_exception_type(_Retryable),
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def _timeout(self, endpoint: HttpEndpoint) -> float:
        return self.timeout if self.timeout is not None else endpoint.timeout

    def _unreachable(self, endpoint: HttpEndpoint, cause: BaseException, attempts: int) -> ServiceUnreachable:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        return ServiceUnreachable(
            f"cannot reach {self.service_name} at {endpoint.base_url} (connection {self.conn_id!r}){tries}: {cause}"
        )

    @staticmethod
    def _answer(response: HttpResponse) -> HttpResponse:
        if response.status in RETRY_STATUSES:
            raise _Retryable(f"HTTP {response.status}", response=response)
        return response

    # -- sync ------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        form: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> HttpResponse:
        """Send one request with retries; the final answer, whatever its status.

        Raises ``ServiceUnreachable`` when no answer came (after the retries).
        """
        import requests
        from tenacity import Retrying

        endpoint = self.get_endpoint()
        url = endpoint.url(path)
        if self._session is None:
            self._session = requests.Session()
        session = self._session
        attempts = 0

        def once() -> HttpResponse:
            nonlocal attempts
            attempts += 1
            try:
                r = session.request(
                    method,
                    url,
                    params=params,
                    data=form,
                    json=json_body,
                    headers=endpoint.request_headers(),
                    verify=endpoint.verify,
                    timeout=self._timeout(endpoint),
                )
            except requests.exceptions.SSLError as e:
                raise self._unreachable(endpoint, _TLSFailure(_cause(e)), attempts) from e
            except (requests.ConnectionError, requests.Timeout) as e:
                raise _Retryable(_cause(e)) from e
            return self._answer(HttpResponse(r.status_code, r.text, url, dict(r.headers)))

        try:
            for attempt in Retrying(**self._retrying_kwargs(endpoint, f"{method} {url}")):
                with attempt:
                    return once()
        except _Retryable as e:
            if e.response is not None:
                return e.response
            raise self._unreachable(endpoint, e, attempts) from e
        raise AssertionError("unreachable")  # pragma: no cover

    # -- async -----------------------------------------------------------------------------------------
    async def arequest(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        form: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> HttpResponse:
        """:meth:`request` on the running event loop (``aiohttp``)."""
        import asyncio
        import ssl

        import aiohttp
        from tenacity import AsyncRetrying

        endpoint = await self.aget_endpoint()
        url = endpoint.url(path)
        ssl_arg: Any = None
        if endpoint.verify is False:
            ssl_arg = False
        elif isinstance(endpoint.verify, str):
            ssl_arg = ssl.create_default_context(cafile=endpoint.verify)
        attempts = 0

        async def once(session: aiohttp.ClientSession) -> HttpResponse:
            nonlocal attempts
            attempts += 1
            try:
                async with session.request(
                    method,
                    url,
                    params=params,
                    data=dict(form) if form is not None else None,
                    json=json_body,
                    headers=endpoint.request_headers(),
                    ssl=ssl_arg,
                ) as r:
                    text = await r.text()
                    return self._answer(HttpResponse(r.status, text, url, dict(r.headers)))
            except (aiohttp.ClientSSLError, ssl.SSLError) as e:
                raise self._unreachable(endpoint, _TLSFailure(_cause(e)), attempts) from e
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                raise _Retryable(_cause(e)) from e

        timeout = aiohttp.ClientTimeout(total=self._timeout(endpoint))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                async for attempt in AsyncRetrying(**self._retrying_kwargs(endpoint, f"{method} {url}")):
                    with attempt:
                        return await once(session)
            except _Retryable as e:
                if e.response is not None:
                    return e.response
                raise self._unreachable(endpoint, e, attempts) from e
        raise AssertionError("unreachable")  # pragma: no cover
