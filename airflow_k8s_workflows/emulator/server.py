"""The emulator's HTTP front: Kubernetes REST paths, watches, subresources, discovery, metrics.

Behaviour follows ../shared/reference/kubernetes-api.md; the semantics live in ``api.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import yaml
from aiohttp import web

from . import discovery, errors
from .api import ApiServer, Request
from .errors import ApiError
from .faults import Faults
from .metrics import RequestCounter, render
from .patch import APPLY_PATCH, media_type
from .rbac import ADMIN, UserInfo
from .registry import ResourceType
from .selectors import FieldSelector, LabelSelector, object_matcher
from .store import Change, Watcher, dumps

JSON = "application/json"
log = logging.getLogger("airflow_k8s_workflows.emulator")
Obj = dict[str, Any]


@dataclass
class LogOptions:
    container: str
    follow: bool = False
    previous: bool = False
    since_seconds: int | None = None
    since_time: str | None = None
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None


class LogSource(Protocol):
    def stream(self, pod: Obj, opts: LogOptions) -> AsyncIterator[bytes]: ...


Authenticator = Callable[[web.Request], "UserInfo | None"]
Authorizer = Callable[["UserInfo", str, ResourceType, "str | None", str, str], None]
Hook = Callable[[web.Request], Awaitable["web.StreamResponse | None"]]


@dataclass
class Route:
    rt: ResourceType
    namespace: str | None
    name: str
    subresource: str


def _bool(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def _int(params: Any, name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f"invalid {name} {value!r}: must be an integer")


class HttpFront:
    """aiohttp application serving the emulated API."""

    def __init__(self, api: ApiServer, *, bookmark_interval: float = 30.0, server_address: str = "127.0.0.1:0",
                 max_watch_queue: int = 100_000) -> None:  # fmt: skip
        self.api = api
        self.counter = RequestCounter()
        self.bookmark_interval = bookmark_interval
        self.server_address = server_address
        self.max_watch_queue = max_watch_queue
        self.logs: LogSource | None = None
        self.authenticate: Authenticator | None = None
        self.authorize: Authorizer | None = None
        # fault injection and admin endpoints hook in here; a hook may answer the request itself
        self.before: list[Hook] = []
        self.extra_routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {}
        self.openapi: Callable[[str], Obj | None] | None = None
        # (type, objects, include full objects) -> meta.k8s.io/v1 Table
        self.tables: Callable[[ResourceType, list[Obj], bool], Obj] | None = None
        self._watch_tasks: set[asyncio.Task[Any]] = set()
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.active_watchers: set[Watcher] = set()
        self.faults = Faults()
        self.before.append(self.faults.before_request)

    # -- entry ---------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        for hook in self.before:
            answered = await hook(request)
            if answered is not None:
                self._count_answered(request, answered.status)
                return answered
        path = request.path.rstrip("/") or "/"
        extra = self.extra_routes.get(path)
        if extra is None and path.startswith("/_emulator/"):
            extra = self.extra_routes.get("/_emulator/*")
        if extra is not None:
            return await extra(request)
        verb, group, resource, sub = "GET", "", "", ""
        try:
            # health and metrics stay anonymous so probes and a Prometheus scrape need no token
            if path in ("/healthz", "/livez", "/readyz"):
                return web.Response(text="ok")
            if path == "/metrics":
                return web.Response(text=render(self.counter, self.api.store), content_type="text/plain")
            user = self._authenticate(request)
            if path == "/version":
                return _json(discovery.version())
            if path.startswith("/openapi/"):
                return self._openapi(request, path)
            parts = [p for p in path.split("/") if p]
            if parts and parts[0] in ("api", "apis"):
                doc = self._discovery(parts)
                if doc is not None:
                    return _json(doc)
            route = self._route(parts)
            group, resource, sub = route.rt.group, route.rt.resource, route.subresource
            verb = self._verb(request, route)
            if self.authorize is not None:
                self.authorize(user, _rbac_verb(verb), route.rt, route.namespace, route.name, sub)
            req = Request(
                user=user.name,
                groups=user.groups,
                field_manager=request.query.get("fieldManager"),
                dry_run=request.query.get("dryRun") == "All",
                field_validation=request.query.get("fieldValidation") or "Warn",
                user_agent=request.headers.get("User-Agent", ""),
            )
            if req.field_validation not in ("Strict", "Warn", "Ignore"):
                raise errors.bad_request(f"fieldValidation parameter unsupported: {req.field_validation}")
            response = await self._handle(request, route, verb, req)
            for w in req.warnings:
                response.headers.add("Warning", f'299 - "{w}"')
            self.counter.add(verb, group, resource, sub, response.status)
            return response
        except ApiError as e:
            self.counter.add(verb, group, resource, sub, e.code)
            return _error(e)
        except Exception as e:  # a bug in the emulator: answer like the real server, log the traceback
            log.exception("emulator: %s %s failed", request.method, request.path_qs)
            self.counter.add(verb, group, resource, sub, 500)
            return _error(errors.internal(f"emulator error: {type(e).__name__}: {e}"))

    def _count_answered(self, request: web.Request, code: int) -> None:
        """A ``before`` hook (an injected fault) answered: count it like a served request, so
        ``apiserver_request_total`` shows every request a client sent to a resource path."""
        parts = [p for p in request.path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            return
        try:
            route = self._route(parts)
            verb = self._verb(request, route)
        except ApiError:
            return  # discovery and unknown paths are not counted (as when served)
        self.counter.add(verb, route.rt.group, route.rt.resource, route.subresource, code)

    def _authenticate(self, request: web.Request) -> UserInfo:
        if self.authenticate is None:
            return ADMIN
        user = self.authenticate(request)
        if user is None:
            raise errors.unauthorized()
        return user

    @staticmethod
    def _verb(request: web.Request, route: Route) -> str:
        method = request.method
        if method == "GET":
            if route.name:
                return "GET"
            return "WATCH" if _bool(request.query.get("watch")) else "LIST"
        if method == "DELETE" and not route.name:
            return "DELETECOLLECTION"
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            return method
        raise errors.method_not_allowed()

    # -- discovery and openapi ------------------------------------------------------------
    def _discovery(self, parts: list[str]) -> Obj | None:
        reg = self.api.registry
        if parts == ["api"]:
            return discovery.api_versions(self.server_address)
        if parts == ["apis"]:
            return discovery.api_group_list(reg)
        if parts[0] == "api" and len(parts) == 2:
            doc = discovery.api_resource_list(reg, "", parts[1])
            if doc is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            return doc
        if parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(reg, parts[1])
            if doc is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            return doc
        if parts[0] == "apis" and len(parts) == 3:
            doc = discovery.api_resource_list(reg, parts[1], parts[2])
            if doc is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            return doc
        return None

    def _openapi(self, request: web.Request, path: str) -> web.Response:
        doc = self.openapi(path) if self.openapi is not None else None
        if doc is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json(doc)

    # -- routing -------------------------------------------------------------------------
    def _route(self, parts: list[str]) -> Route:
        not_found = errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        if len(parts) < 3:
            raise not_found
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise not_found
        reg = self.api.registry
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and reg.get(group, version, rest[2]) is not None:
            namespace, rest = rest[1], rest[2:]
        rt = reg.get(group, version, rest[0])
        if rt is None:
            raise not_found
        if namespace is not None and not rt.namespaced:
            raise not_found
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if len(rest) > 3 or (sub and not rt.has_subresource(sub)):
            raise not_found
        return Route(rt, namespace, name, sub)

    # -- handlers ------------------------------------------------------------------------
    async def _handle(
        self, request: web.Request, route: Route, verb: str, req: Request
    ) -> web.StreamResponse:
        api, rt, q = self.api, route.rt, request.query
        ns, name, sub = route.namespace, route.name, route.subresource
        if verb == "WATCH":
            return await self._watch(request, route)
        if verb == "LIST":
            return self._list(request, route)
        if verb == "GET":
            if sub == "log":
                return await self._log(request, route)
            obj = api.get(rt, ns, name)
            if sub == "scale":
                return _json(api.scale_of(rt, obj))
            return self._object_response(request, rt, obj)
        if verb == "POST":
            body = await _read_body(request)
            if name and sub == "binding":
                return _json(self._bind(route, body, req), 201)
            if name and sub == "eviction":
                api.delete(rt, ns, name, req)
                return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}, 201)
            if name:
                raise errors.method_not_allowed()
            if rt.key in (("authorization.k8s.io", "selfsubjectaccessreviews"),
                          ("authorization.k8s.io", "subjectaccessreviews")):  # fmt: skip
                return _json(self._access_review(rt, body, req), 201)
            return _json(api.create(rt, ns, body, req), 201)
        if verb == "PUT":
            body = await _read_body(request)
            if sub == "scale":
                return _json(api.replace_scale(rt, ns, name, body, req))
            return _json(api.replace(rt, ns, name, body, req, subresource=sub))
        if verb == "PATCH":
            raw = await request.read()
            existed = api.try_get(rt, ns, name) is not None
            content_type = request.headers.get("Content-Type", "")
            if (
                not existed
                and not sub
                and media_type(content_type) == APPLY_PATCH
                and self.authorize is not None
            ):
                # an apply that creates needs "create" as well as "patch": kube-apiserver's patch
                # handler authorizes the create it turns into, and words a denial without the verb
                try:
                    self.authorize(UserInfo(req.user, tuple(req.groups)), "create", rt, ns, name, "")
                except ApiError as denied:
                    raise errors.forbidden_create_by_apply(rt.group, rt.resource, name) from denied
            obj = api.patch(rt, ns, name, raw, content_type, req, subresource=sub,
                            force=_bool(q.get("force")))  # fmt: skip
            return _json(obj, 200 if existed or sub else 201)
        if verb == "DELETE":
            opts = await _delete_options(request)
            result, _ = api.delete(
                rt, ns, name, req, opts["propagation"], opts["grace"], opts["preconditions"]
            )
            return _json(result)
        if verb == "DELETECOLLECTION":
            opts = await _delete_options(request)
            deleted = api.delete_collection(rt, ns, q.get("labelSelector"), q.get("fieldSelector"), req,
                                            opts["propagation"], opts["grace"])  # fmt: skip
            return _json(
                {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": {}, "items": deleted}
            )
        raise errors.method_not_allowed()

    def _object_response(self, request: web.Request, rt: ResourceType, obj: Obj) -> web.Response:
        if self.tables is not None and _wants_table(request):
            return _json(self.tables(rt, [obj], _include_object(request)))
        return _json(obj)

    def _list(self, request: web.Request, route: Route) -> web.Response:
        q = request.query
        rt = route.rt
        _check_list_options(q, watch=False)
        rv_match = q.get("resourceVersionMatch")
        if rv_match == "Exact" and q.get("resourceVersion") != str(self.api.store.rv):
            raise errors.expired(
                f"too old resource version: {q.get('resourceVersion')} ({self.api.store.rv})"
            )
        items, list_rv, cont, remaining = self.api.list_page(
            rt,
            route.namespace,
            q.get("labelSelector"),
            q.get("fieldSelector"),
            _int(q, "limit"),
            q.get("continue"),
        )
        if self.tables is not None and _wants_table(request):
            table = self.tables(rt, [self.api.present(rt, s.obj) for s in items], _include_object(request))
            table["metadata"] = {"resourceVersion": list_rv, **({"continue": cont} if cont else {})}
            return _json(table)
        meta: Obj = {"resourceVersion": list_rv}
        if cont:
            meta["continue"] = cont
            if remaining is not None:
                meta["remainingItemCount"] = remaining
        head = dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta})
        body = head[:-1] + b',"items":[' + b",".join(self.api.present_raw(rt, s) for s in items) + b"]}"
        return web.Response(body=body, content_type=JSON)

    async def _watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        q = request.query
        rt = route.rt
        _check_list_options(q, watch=True)
        label = LabelSelector.parse(q.get("labelSelector"))
        fields = FieldSelector.parse(q.get("fieldSelector"), rt.field_selectors)
        matcher = object_matcher(label, fields)
        store = self.api.store
        rs = store.resource(rt.key)
        send_initial = _bool(q.get("sendInitialEvents"))
        bookmarks = _bool(q.get("allowWatchBookmarks"))
        rv_text = q.get("resourceVersion") or ""
        timeout = _int(q, "timeoutSeconds")
        if timeout is None:
            timeout = random.randint(1800, 3600)
        if rv_text and rv_text != "0" and not send_initial:
            try:
                since = int(rv_text)
            except ValueError:
                raise errors.bad_request(f'invalid resource version "{rv_text}"')
            if since > store.rv:
                deadline = asyncio.get_running_loop().time() + 3.0
                # rare path (a client ahead of this server): poll briefly like the real watch cache
                while since > store.rv and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                if since > store.rv:
                    raise ApiError(
                        504,
                        "Timeout",
                        "Too large resource version",
                        {
                            "causes": [
                                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
                            ],
                            "retryAfterSeconds": 1,
                        },
                    )
        else:
            since = -1

        ns = route.namespace if rt.namespaced else None
        watcher = Watcher(ns, matcher, self.max_watch_queue)
        expired = False
        # Replay and registration happen with no await in between: no event can slip through.
        if since == -1:
            for stored in self.api.select(rt, ns, label, fields):
                watcher.queue.put_nowait(("ADDED", _initial_change(stored.obj, stored.raw), 0))
            if send_initial:
                watcher.queue.put_nowait(("BOOKMARK-INITIAL", None, store.rv))
        elif since < rs.compacted_rv or self.faults.take_expired_resume():
            expired = True
        else:
            for change in rs.since(since):
                watcher.offer(change)
        if not expired:
            rs.watchers.add(watcher)
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"}
        )
        resp.enable_chunked_encoding()
        try:
            await resp.prepare(request)
        except ConnectionResetError:  # the connection went away before the headers (e.g. a stop)
            rs.watchers.discard(watcher)
            watcher.closed = True
            return resp
        if expired:
            status = errors.expired(f"too old resource version: {since} ({rs.compacted_rv})").status()
            await resp.write(dumps({"type": "ERROR", "object": status}) + b"\n")
            await resp.write_eof()
            return resp
        self.counter.watches_open += 1
        self.active_watchers.add(watcher)
        as_table = self.tables is not None and _wants_table(request)
        try:
            await self._pump(
                resp,
                rt,
                watcher,
                timeout,
                bookmarks,
                _WatchFormat(rt.is_custom, as_table, _include_object(request)),
            )
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            rs.watchers.discard(watcher)
            self.active_watchers.discard(watcher)
            watcher.closed = True
            self.counter.watches_open -= 1
        try:
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    async def _pump(self, resp: web.StreamResponse, rt: ResourceType, watcher: Watcher, timeout: float,
                    bookmarks: bool, fmt: _WatchFormat) -> None:  # fmt: skip
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        next_bookmark = loop.time() + self.bookmark_interval
        queue = watcher.queue
        sent = 0
        faults = self.faults
        drop_generation = faults.generation
        drop_after = faults.watch_drop_threshold()
        while True:
            now = loop.time()
            if now >= end:
                return
            wait = end - now
            if bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            try:
                item = await asyncio.wait_for(queue.get(), timeout=wait)
            except asyncio.TimeoutError:
                if bookmarks and loop.time() >= next_bookmark:
                    await resp.write(self._bookmark(rt, self.api.store.rv, initial=False))
                    next_bookmark = loop.time() + self.bookmark_interval
                continue
            if faults.generation != drop_generation:  # the setting changed: count afresh from here
                drop_generation, drop_after, sent = faults.generation, faults.watch_drop_threshold(), 0
            chunks: list[bytes] = []
            limit = 256
            if drop_after:
                limit = max(1, min(limit, drop_after - sent))
            while item is not None:
                chunks.append(self._line(rt, item, fmt))
                if queue.empty() or len(chunks) >= limit:
                    break
                item = queue.get_nowait()
            if chunks:
                await resp.write(b"".join(chunks))
                sent += len(chunks)
                if drop_after and sent >= drop_after:
                    faults.injected["watch-drop"] += 1
                    return
            if item is None:
                return

    def _line(self, rt: ResourceType, item: tuple[str, Change | None, int], fmt: _WatchFormat) -> bytes:
        event, change, rv = item
        if event == "BOOKMARK-INITIAL":
            return self._bookmark(rt, rv, initial=True)
        if event == "BOOKMARK":
            return self._bookmark(rt, rv, initial=False)
        assert change is not None
        converted = fmt.custom and change.obj.get("apiVersion") != rt.api_version
        if converted or fmt.table:
            moved_out = event == "DELETED" and change.type == "MODIFIED" and change.old
            shown = self.api.present(rt, change.old if moved_out and change.old else change.obj)
            if fmt.table and self.tables is not None:
                shown = self.tables(rt, [shown], fmt.include_object)
            return dumps({"type": event, "object": shown}) + b"\n"
        return change.line(event)

    @staticmethod
    def _bookmark(rt: ResourceType, rv: int, initial: bool) -> bytes:
        meta: Obj = {"resourceVersion": str(rv)}
        if initial:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return (
            dumps(
                {
                    "type": "BOOKMARK",
                    "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta},
                }
            )
            + b"\n"
        )

    # -- pods/log, binding, access reviews --------------------------------------------------
    async def _log(self, request: web.Request, route: Route) -> web.StreamResponse:
        q = request.query
        pod = self.api.get(route.rt, route.namespace, route.name)
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        init = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
        container = q.get("container")
        if not container:
            if len(containers) != 1:
                choices = " ".join(containers)
                extra = f" or one of the init containers: [{' '.join(init)}]" if init else ""
                raise errors.bad_request(
                    f"a container name must be specified for pod {route.name}, choose one of: [{choices}]{extra}"
                )
            container = containers[0]
        elif container not in containers and container not in init:
            raise errors.bad_request(f"container {container} is not valid for pod {route.name}")
        opts = LogOptions(
            container=container,
            follow=_bool(q.get("follow")),
            previous=_bool(q.get("previous")),
            since_seconds=_int(q, "sinceSeconds"),
            since_time=q.get("sinceTime"),
            timestamps=_bool(q.get("timestamps")),
            tail_lines=_int(q, "tailLines"),
            limit_bytes=_int(q, "limitBytes"),
        )
        if not (pod.get("spec") or {}).get("nodeName") or self.logs is None:
            return web.Response(body=b"", content_type="text/plain")
        statuses = (pod.get("status") or {}).get("containerStatuses", []) + (pod.get("status") or {}).get(
            "initContainerStatuses", []
        )
        cs = next((s for s in statuses if s.get("name") == container), None)
        waiting = ((cs or {}).get("state") or {}).get("waiting")
        if opts.previous:
            if not (cs or {}).get("lastState", {}).get("terminated"):
                raise errors.bad_request(
                    f'previous terminated container "{container}" in pod "{route.name}" not found'
                )
        elif cs is None or (waiting and not (cs.get("lastState") or {}).get("terminated")):
            reason = (waiting or {}).get("reason", "ContainerCreating")
            raise errors.bad_request(
                f'container "{container}" in pod "{route.name}" is waiting to start: {reason}'
            )
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            async for chunk in self.logs.stream(pod, opts):
                await resp.write(chunk)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    def _bind(self, route: Route, body: Obj, req: Request) -> Obj:
        node = ((body or {}).get("target") or {}).get("name")
        if not node:
            raise errors.invalid("", "Binding", route.name, [errors.required("target.name")])

        uid = ((body or {}).get("metadata") or {}).get("uid")
        self.api.bind(route.rt, route.namespace, route.name, node, req, uid=uid)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def _access_review(self, rt: ResourceType, body: Obj, req: Request) -> Obj:
        spec = body.get("spec") or {}
        attrs = spec.get("resourceAttributes") or {}
        user = UserInfo(req.user, req.groups)
        if rt.resource == "subjectaccessreviews":
            user = UserInfo(spec.get("user", ""), tuple(spec.get("groups") or ()))
        allowed, reason = True, ""
        if self.authorize is not None:
            target = self.api.registry.preferred(attrs.get("group", ""), attrs.get("resource", ""))
            if target is not None:
                try:
                    self.authorize(user, attrs.get("verb", "get"), target, attrs.get("namespace") or None,
                                   attrs.get("name", ""), attrs.get("subresource", ""))  # fmt: skip
                except ApiError as e:
                    allowed, reason = False, e.message
        out = dict(body)
        out["status"] = {"allowed": allowed, **({"reason": reason} if reason else {})}
        return out


def _initial_change(obj: Obj, raw: bytes) -> Change:
    meta = obj["metadata"]
    return Change("ADDED", int(meta["resourceVersion"]), (meta.get("namespace", ""), meta["name"]), obj, raw)


def _rbac_verb(verb: str) -> str:
    return {"GET": "get", "LIST": "list", "WATCH": "watch", "POST": "create", "PUT": "update",
            "PATCH": "patch", "DELETE": "delete", "DELETECOLLECTION": "deletecollection"}[verb]  # fmt: skip


def _check_list_options(q: Any, *, watch: bool) -> None:
    """422 Invalid on ListOptions.meta.k8s.io, exactly where the real server gives it."""
    match = q.get("resourceVersionMatch")
    send_initial = q.get("sendInitialEvents")
    causes = []
    if watch:
        if match and not send_initial:
            causes.append(
                errors.forbidden_field(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                )
            )
        elif send_initial and match != "NotOlderThan":
            causes.append(errors.unsupported_value("resourceVersionMatch", match or "", ["NotOlderThan"]))
        if send_initial and not _bool(q.get("allowWatchBookmarks")):
            causes.append(
                errors.forbidden_field(
                    "allowWatchBookmarks",
                    "allowWatchBookmarks must be set to true when sendInitialEvents is provided",
                )
            )
    else:
        if send_initial:
            causes.append(
                errors.forbidden_field("sendInitialEvents", "sendInitialEvents is forbidden for list")
            )
        if match and not q.get("resourceVersion"):
            causes.append(
                errors.forbidden_field(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            )
        if match and match not in ("Exact", "NotOlderThan"):
            causes.append(errors.unsupported_value("resourceVersionMatch", match, ["Exact", "NotOlderThan"]))
    if causes:
        raise errors.invalid("meta.k8s.io", "ListOptions", "", causes)


@dataclass(frozen=True)
class _WatchFormat:
    custom: bool  # CRD versions share one store: rewrite apiVersion per request
    table: bool
    include_object: bool


def _include_object(request: web.Request) -> bool:
    return request.query.get("includeObject") == "Object"


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "as=Table" in accept


_BODY_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml", "*/*", "")


async def _read_body(request: web.Request) -> Any:
    raw = await request.read()
    ctype = media_type(request.headers.get("Content-Type", JSON))
    if ctype not in _BODY_TYPES:
        # kubectl's generators (create configmap/deployment, run, expose) send protobuf; the emulator
        # serves JSON and YAML only (docs/emulator.md, "Limitations")
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format ({ctype}): this Kubernetes API emulator accepts "
            "application/json and application/yaml bodies only; use `kubectl apply -f` or `kubectl create -f` "
            "instead of kubectl's protobuf generators",
        )
    if not raw:
        return {}
    try:
        if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise errors.bad_request(f"the body of the request was in an unknown format: {e}")


async def _delete_options(request: web.Request) -> dict[str, Any]:
    q = request.query
    body: Obj = {}
    raw = await request.read()
    if raw:
        try:
            body = json.loads(raw) or {}
        except ValueError as e:
            raise errors.bad_request(f"error decoding DeleteOptions: {e}")
    # a non-empty body overrides the query parameters
    propagation = body.get("propagationPolicy") or q.get("propagationPolicy")
    orphan = body.get("orphanDependents", None)
    if orphan is None and q.get("orphanDependents") is not None:
        orphan = _bool(q.get("orphanDependents"))
    if propagation is None and orphan is not None:
        propagation = "Orphan" if orphan else "Background"
    grace = body.get("gracePeriodSeconds")
    if grace is None:
        grace = _int(q, "gracePeriodSeconds")
    return {"propagation": propagation, "grace": grace, "preconditions": body.get("preconditions") or {}}


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type=JSON)


def _error(e: ApiError) -> web.Response:
    resp = web.Response(body=dumps(e.status()), status=e.code, content_type=JSON)
    for k, v in e.headers.items():
        resp.headers[k] = v
    return resp
