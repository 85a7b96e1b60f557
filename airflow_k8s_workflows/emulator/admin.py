"""``/_emulator/*``: control the emulator over HTTP (for tests in other processes).

- ``GET|POST|DELETE /_emulator/faults`` — read, add to, or clear injected faults (faults.py)
- ``POST /_emulator/compact`` — drop watch history (older resourceVersions then get 410)
- ``POST /_emulator/tokens`` ``{"serviceAccount": "ns/name"}`` or ``{"user": "u", "groups": [...]}``
  — issue a bearer token (admin only)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import errors
from .store import dumps

if TYPE_CHECKING:
    from .core import KubeEmulator


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type="application/json")


def _error(err: errors.ApiError) -> web.Response:
    return _json(err.status(), err.code)


def install(emu: KubeEmulator) -> None:
    faults = emu.http.faults

    def admin_only(request: web.Request) -> errors.ApiError | None:
        if emu.http.authenticate is None:
            return None
        user = emu.http.authenticate(request)
        if user is None:
            return errors.unauthorized()
        if not user.superuser:
            return errors.ApiError(403, "Forbidden", f'User "{user.name}" may not control the emulator')
        return None

    async def handle(request: web.Request) -> web.StreamResponse:
        denied = admin_only(request)
        if denied is not None:
            return _error(denied)
        path = request.path.rstrip("/")
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as e:
            return _error(errors.bad_request(f"invalid JSON: {e}"))
        if path == "/_emulator/faults":
            if request.method == "DELETE":
                faults.clear()
            elif request.method == "POST":
                try:
                    faults.set(**body)
                except (TypeError, KeyError, ValueError) as e:
                    return _error(errors.bad_request(f"invalid fault specification: {e}"))
            return _json(faults.as_dict())
        if path == "/_emulator/compact" and request.method == "POST":
            return _json({"compactedResourceVersion": str(emu.store.compact())})
        if path == "/_emulator/tokens" and request.method == "POST":
            if "serviceAccount" in body:
                ns, _, name = str(body["serviceAccount"]).partition("/")
                token = emu.authenticator.issue_for_service_account(ns, name)
            else:
                token = emu.authenticator.issue(str(body.get("user", "")), body.get("groups") or ())
            return _json({"token": token}, 201)
        return _error(errors.ApiError(404, "NotFound", f"no emulator admin endpoint {request.method} {path}"))

    emu.http.extra_routes["/_emulator/*"] = handle
