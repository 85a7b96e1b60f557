"""Kubernetes API errors as the real API server reports them: always a ``Status`` object."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the emulator answers with, carrying the exact ``Status`` body.

    >>> err = ApiError(404, "NotFound", 'pods "x" not found')
    >>> err.status()["code"]
    404
    """

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(name: str, group: str, resource: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return details


def qualified(group: str, resource: str) -> str:
    """``deployments.apps`` / ``pods``: how the API names a group-resource in messages."""
    return f"{resource}.{group}" if group else resource


def forbidden_create_by_apply(group: str, resource: str, name: str) -> ApiError:
    """403 for a server-side apply that would create an object the user may not create: the
    patch handler's own authorization check, which names no verb (``configmaps "x" is forbidden: ``)."""
    return ApiError(403, "Forbidden", f'{qualified(group, resource)} "{name}" is forbidden: ',
                    _details(name, group, resource))  # fmt: skip


def not_found(group: str, resource: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{qualified(group, resource)} "{name}" not found', _details(name, group, resource)
    )


def already_exists(group: str, resource: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(group, resource)} "{name}" already exists',
        _details(name, group, resource),
    )


def conflict(group: str, resource: str, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(group, resource)} "{name}": {why}',
        _details(name, group, resource),
    )


class Cause:
    """One ``details.causes`` entry of a 422 Invalid answer."""

    __slots__ = ("field", "message", "reason")

    def __init__(self, reason: str, field: str, message: str) -> None:
        self.reason = reason
        self.field = field
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def text(self) -> str:
        return f"{self.field}: {self.message}"


def required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))


def invalid_value(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", field, f"Invalid value: {_go_repr(value)}: {detail}")


def unsupported_value(field: str, value: Any, supported: list[str]) -> Cause:
    listed = ", ".join(f'"{s}"' for s in supported)
    return Cause(
        "FieldValueNotSupported", field, f"Unsupported value: {_go_repr(value)}: supported values: {listed}"
    )


def forbidden_field(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", field, f"Forbidden: {detail}")


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", field, f"Duplicate value: {_go_repr(value)}")


def too_long(field: str, value: Any, limit: int) -> Cause:
    return Cause("FieldValueTooLong", field, f"Too long: may not be more than {limit} bytes")


def _go_repr(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def invalid(group: str, kind: str, name: str, causes: list[Cause]) -> ApiError:
    """422 ``Invalid``: ``Deployment.apps "x" is invalid: spec.replicas: Invalid value: -1: ...``."""
    qualified_kind = f"{kind}.{group}" if group else kind
    if len(causes) == 1:
        summary = causes[0].text()
    else:
        summary = "[" + ", ".join(c.text() for c in causes) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{qualified_kind} "{name}" is invalid: {summary}',
        {"name": name, "group": group, "kind": kind, "causes": [c.as_dict() for c in causes]}
        if group
        else {"name": name, "kind": kind, "causes": [c.as_dict() for c in causes]},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(
    user: str,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
    name: str = "",
    subresource: str = "",
) -> ApiError:
    """403 as the RBAC authorizer words it, e.g. ``deployments.apps "web" is forbidden: User "u" cannot
    patch resource "deployments/scale" in API group "apps" in the namespace "default"``."""
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    target = f' "{name}"' if name else ""
    full = f"{resource}/{subresource}" if subresource else resource
    return ApiError(
        403,
        "Forbidden",
        f'{qualified(group, resource)}{target} is forbidden: User "{user}" cannot {verb} resource "{full}" '
        f'in API group "{group}"{where}',
        _details(name, group, resource) if name else {"group": group, "kind": resource},
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Gone", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def timeout(message: str) -> ApiError:
    return ApiError(504, "Timeout", message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", message)


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        {"retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def service_unavailable(message: str = "the server is currently unable to handle the request") -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)
