"""Kubernetes API failures as exceptions that say what happened in the cluster.

Every error the API server answers with is a ``Status`` object; :func:`from_status` turns one
into the matching :class:`KubeApiError` subclass, keeping code, reason, message and causes, and
adding what the client was doing (verb, resource, namespace, name) so a message reads
``forbidden: cannot list pods in namespace "ns"``::

    err = from_status({"kind": "Status", "code": 404, "reason": "NotFound",
                       "message": 'jobs.batch "x" not found'}, verb="get", resource="jobs.batch",
                      namespace="ns", name="x")
    assert isinstance(err, NotFound) and err.code == 404

Transport failures (connection refused, reset, TLS) are :class:`KubeConnectionError`.
:func:`is_retryable` is the one rule for what may be retried: 429, 5xx and transport errors;
never another 4xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AlreadyExists",
    "BadRequest",
    "Conflict",
    "Expired",
    "Forbidden",
    "Invalid",
    "KubeApiError",
    "KubeConnectionError",
    "KubeError",
    "KubeTLSError",
    "NotFound",
    "ServerError",
    "TooManyRequests",
    "Unauthorized",
    "UnknownKind",
    "from_status",
    "is_retryable",
    "parse_retry_after",
]


class KubeError(Exception):
    """Base of every error this package raises about the cluster."""


class KubeConnectionError(KubeError):
    """The API server could not be reached or the connection broke (retryable)."""

    def __init__(self, message: str, *, connect: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.connect = connect
        """True when the request never reached the server (safe to retry even a create)."""


class KubeTLSError(KubeConnectionError):
    """The TLS handshake failed (untrusted or mismatched certificate): not retryable."""


class UnknownKind(KubeError):
    """Discovery does not know the kind: ``no kind "Foo" is registered for version "x/v1" ...``."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f'no kind "{kind}" is registered for version "{api_version}" in the cluster')
        self.api_version = api_version
        self.kind = kind


class KubeApiError(KubeError):
    """The API server answered with a failure ``Status``."""

    code: int = 0

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        causes: list[dict[str, Any]] | None = None,
        details: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = list(causes or [])
        self.details = dict(details or {})
        self.retry_after = retry_after
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.name = name
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line for a task log: what failed, the server's reason and message."""
        return f"{self.code} {self.reason}: {self.message}" if self.reason else f"{self.code}: {self.message}"

    def _target(self) -> str:
        what = self.resource or "resource"
        # a create is authorized on the collection: its name would mislead
        if self.name and self.verb != "create":
            what += f' "{self.name}"'
        if self.namespace:
            what += f' in namespace "{self.namespace}"'
        return what


class BadRequest(KubeApiError):
    code = 400


class Unauthorized(KubeApiError):
    code = 401

    def describe(self) -> str:
        action = f"{self.verb} {self._target()}" if self.verb else self._target()
        return (
            f"unauthorized: the cluster rejected the credentials while trying to {action} "
            f"(401 {self.reason}: {self.message}); check the token, certificate or exec plugin "
            "of the Kubernetes connection"
        )


# how the RBAC authorizer words a denial: ... cannot list resource "pods" in API group "" in the
# namespace "etl" (or: at the cluster scope)
_RBAC_DENIAL = re.compile(
    r'cannot (?P<verb>[a-z]+) resource "(?P<resource>[^"]*)" in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]*)"| (?P<cluster>at the cluster scope))?'
)


class Forbidden(KubeApiError):
    """403: the connection's identity lacks a permission.

    The message names the verb the authorizer refused (which may differ from the request's:
    a server-side apply is authorized as ``patch``, and also as ``create`` when it creates the
    object), the resource and the namespace, or "at the cluster scope" for a request across
    namespaces or on a cluster-scoped kind.
    """

    code = 403

    def describe(self) -> str:
        found = _RBAC_DENIAL.search(self.message)
        verb = (found["verb"] if found else None) or self.verb or "access"
        target = self._target()
        if found is not None and found["cluster"] and not self.namespace:
            target += " at the cluster scope"
        text = f"forbidden: cannot {verb} {target}"
        if found is None and self.verb == "apply":
            # the API server authorizes the create an apply makes with its own, reason-less denial
            text += '; server-side apply needs "patch", and "create" while the object does not exist yet'
        return f"{text} ({self.message})"


class NotFound(KubeApiError):
    code = 404


class Conflict(KubeApiError):
    """409 Conflict: a stale resourceVersion or a server-side apply field conflict."""

    code = 409


class AlreadyExists(KubeApiError):
    code = 409


class Expired(KubeApiError):
    """410 Expired/Gone: a resourceVersion or continue token too old (relist)."""

    code = 410


class Invalid(KubeApiError):
    code = 422

    def describe(self) -> str:
        fields = "; ".join(f"{c.get('field', '')}: {c.get('message', '')}".strip(": ") for c in self.causes)
        base = f"{self.code} {self.reason}: {self.message}"
        return base if not fields or fields in self.message else f"{base} [{fields}]"


class TooManyRequests(KubeApiError):
    code = 429


class ServerError(KubeApiError):
    """5xx: the API server (or something in front of it) failed; retryable."""

    code = 500


_BY_REASON: dict[str, type[KubeApiError]] = {
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Expired": Expired,
    "Gone": Expired,
    "Invalid": Invalid,
}
_BY_CODE: dict[int, type[KubeApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Expired,
    422: Invalid,
    429: TooManyRequests,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds only, as the API server sends)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


def from_status(
    status: Mapping[str, Any] | str | bytes | None,
    *,
    code: int | None = None,
    headers: Mapping[str, str] | None = None,
    verb: str | None = None,
    resource: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
) -> KubeApiError:
    """The exception for a failure answer: a ``Status`` dict, or a raw body that may be one."""
    body: Mapping[str, Any] = {}
    text = ""
    if isinstance(status, (bytes, str)):
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = {}
        body = parsed if isinstance(parsed, Mapping) else {}
    elif status is not None:
        body = status
    code = int(body.get("code") or code or 0)
    reason = str(body.get("reason") or "")
    message = str(body.get("message") or text.strip()[:500] or reason or f"HTTP {code}")
    details = body.get("details") or {}
    retry_after = parse_retry_after((headers or {}).get("Retry-After"))
    if retry_after is None and isinstance(details, Mapping) and details.get("retryAfterSeconds"):
        retry_after = float(details["retryAfterSeconds"])
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code)
    if cls is None:
        cls = ServerError if code >= 500 else KubeApiError
    return cls(
        code,
        reason,
        message,
        causes=list(details.get("causes") or []) if isinstance(details, Mapping) else [],
        details=details if isinstance(details, Mapping) else {},
        retry_after=retry_after,
        verb=verb,
        resource=resource,
        namespace=namespace,
        name=name,
    )


def is_retryable(exc: BaseException, *, idempotent: bool = True) -> bool:
    """May the request that raised ``exc`` be sent again?

    429 always (the server did not process it); 5xx and broken connections only for idempotent
    requests (a create that timed out may have happened); a connection that was never
    established always; any other 4xx never.
    """
    if isinstance(exc, TooManyRequests):
        return True
    if isinstance(exc, KubeTLSError):
        return False
    if isinstance(exc, KubeConnectionError):
        return idempotent or exc.connect
    if isinstance(exc, KubeApiError):
        return idempotent and exc.code >= 500
    return False
