"""An Airflow connection's fields → where and how to send HTTP requests (no Airflow import).

The fields are read the way users expect from HTTP-ish connections::

    endpoint = endpoint_from_fields(
        "prometheus_default", "Prometheus",
        host="prometheus.monitoring", schema="https", port=9090,
        login=None, password=None, extra={"token": "s3cr3t", "timeout": 5},
    )
    endpoint.url("/api/v1/query")   # 'https://prometheus.monitoring:9090/api/v1/query'

- URL: extra ``url`` wins; else ``host`` (may be a full URL with a path prefix, e.g.
  ``https://example.com/prometheus``) with ``schema`` as the scheme (``http`` when empty) and
  ``port`` when the host names none.
- Auth: extra ``token`` → bearer; else ``login`` (+ ``password``) → basic; else ``password``
  alone → bearer.
- TLS: verified by default; extra ``verify_tls: false`` turns it off, extra ``ca_bundle`` names a
  PEM file of CAs to trust.
- Extra ``timeout`` (seconds per request, default 10), ``max_retries`` (default 3) and
  ``headers`` (a dict sent with every request, e.g. ``X-Scope-OrgID`` for Mimir/Cortex).

Every extra key may also carry the UI's legacy prefix ``extra__<conn_type>__``.
"""

from __future__ import annotations

import base64
import email.utils
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "HttpEndpoint",
    "ServiceError",
    "ServiceUnreachable",
    "endpoint_from_fields",
    "parse_retry_after",
]

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 3


class ServiceUnreachable(Exception):
    """No answer from the service (refused, DNS, timeout, TLS), after the retries."""


class ServiceError(Exception):
    """The service answered with an HTTP error that is not one of its API's own error replies."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HttpEndpoint:
    """Where a hook sends requests. ``authorization`` never shows in ``repr``."""

    base_url: str
    authorization: str | None = field(default=None, repr=False)
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def request_headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        out = {"Accept": "application/json", "User-Agent": "airflow-k8s-workflows", **self.headers}
        if self.authorization:
            out["Authorization"] = self.authorization
        return {**out, **(extra or {})}


def _extra(extra: Mapping[str, Any], conn_type: str, key: str) -> Any:
    for name in (key, f"extra__{conn_type}__{key}"):
        value = extra.get(name)
        if value not in (None, ""):
            return value
    return None


def _as_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"{what} must be true or false, got {value!r}")


def _as_number(value: Any, what: str, *, integer: bool = False, minimum: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if (
        isinstance(value, bool)
        or math.isnan(number)
        or number < minimum
        or (integer and number != int(number))
    ):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{what} must be {kind} >= {minimum:g}, got {value!r}")
    return number


def _base_url(conn_id: str, host: str | None, schema: str | None, port: int | None, url: Any) -> str:
    if url:
        raw = str(url)
        if "://" not in raw:
            raise ValueError(
                f"connection {conn_id!r}: extra 'url' must start with http:// or https://, got {raw!r}"
            )
    else:
        if not host:
            raise ValueError(
                f"connection {conn_id!r} names no server: set its host (e.g. http://prometheus:9090) or extra 'url'"
            )
        scheme = (schema or "http").strip().lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"connection {conn_id!r}: schema must be http or https, got {schema!r}")
        raw = host if "://" in host else f"{scheme}://{host}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"connection {conn_id!r}: not an http(s) URL: {raw!r}")
    netloc = parts.netloc
    if port and parts.port is None and not url:
        netloc = f"{netloc}:{int(port)}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def endpoint_from_fields(
    conn_id: str,
    conn_type: str,
    *,
    host: str | None,
    schema: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
) -> HttpEndpoint:
    """The endpoint a connection describes (see the module docstring); errors name the field."""

    def field_name(key: str) -> str:
        return f"connection {conn_id!r}: extra {key!r}"

    base = _base_url(conn_id, host, schema, port, _extra(extra, conn_type, "url"))
    token = _extra(extra, conn_type, "token")
    if token:
        authorization: str | None = f"Bearer {token}"
    elif login:
        pair = f"{login}:{password or ''}".encode()
        authorization = f"Basic {base64.b64encode(pair).decode()}"
    elif password:
        authorization = f"Bearer {password}"
    else:
        authorization = None
    verify: bool | str = True
    raw_verify = _extra(extra, conn_type, "verify_tls")
    if raw_verify is not None:
        verify = _as_bool(raw_verify, field_name("verify_tls"))
    ca_bundle = _extra(extra, conn_type, "ca_bundle")
    if ca_bundle and verify:
        verify = str(ca_bundle)
    timeout = _extra(extra, conn_type, "timeout")
    retries = _extra(extra, conn_type, "max_retries")
    headers = _extra(extra, conn_type, "headers") or {}
    if not isinstance(headers, Mapping):
        raise ValueError(
            f"{field_name('headers')} must be an object of header names to values, got {headers!r}"
        )
    return HttpEndpoint(
        base_url=base,
        authorization=authorization,
        verify=verify,
        timeout=DEFAULT_TIMEOUT
        if timeout is None
        else _as_number(timeout, field_name("timeout"), minimum=0.001),
        max_retries=DEFAULT_MAX_RETRIES
        if retries is None
        else int(_as_number(retries, field_name("max_retries"), integer=True)),
        headers={str(k): str(v) for k, v in headers.items()},
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
