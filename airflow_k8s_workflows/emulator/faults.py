"""Fault injection for reliability tests: what a flaky cluster does to its clients.

Set from Python (``emu.faults.set(...)``) or over HTTP (``POST /_emulator/faults`` with the same
fields as JSON; ``DELETE /_emulator/faults`` clears them)::

    emu.faults.set(drop_watch_every=50)                      # close every watch after 50 events
    emu.faults.set(expire_watch_resumes=2)                   # the next 2 resumed watches get 410
    emu.faults.set(errors=[{"code": 429, "count": 5, "retry_after": 1}])   # a burst of 429s
    emu.faults.set(errors=[{"code": 503, "count": 3, "verbs": ["GET"], "resources": ["jobs"]}])
    emu.faults.set(latency=0.2)                              # every request 200 ms slower
    emu.restart_api(downtime=1.0, keep_state=True)           # the API server goes away and comes back

Counts are consumed per matching request; ``emu.faults.injected`` counts what was injected.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import errors
from .errors import ApiError
from .store import dumps


@dataclass
class ErrorBurst:
    code: int
    count: int
    retry_after: int | None = None
    verbs: tuple[str, ...] = ()  # HTTP methods (GET, POST, ...); empty = all
    resources: tuple[str, ...] = ()  # resource plural names; empty = all

    def matches(self, method: str, path: str) -> bool:
        if self.count <= 0:
            return False
        if self.verbs and method not in self.verbs:
            return False
        if self.resources:
            parts = [p for p in path.split("/") if p]
            return any(r in parts for r in self.resources)
        return path.startswith(("/api/", "/apis/")) or path in ("/api", "/apis")


@dataclass
class Faults:
    drop_watch_every: int | None = None
    expire_watch_resumes: int = 0
    latency: float = 0.0
    bursts: list[ErrorBurst] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)

    def set(
        self,
        *,
        drop_watch_every: int | None = None,
        expire_watch_resumes: int | None = None,
        latency: float | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        if drop_watch_every is not None:
            self.drop_watch_every = drop_watch_every or None
        if expire_watch_resumes is not None:
            self.expire_watch_resumes = expire_watch_resumes
        if latency is not None:
            self.latency = max(0.0, latency)
        for spec in errors or []:
            self.bursts.append(
                ErrorBurst(
                    code=int(spec["code"]),
                    count=int(spec.get("count", 1)),
                    retry_after=spec.get("retry_after"),
                    verbs=tuple(v.upper() for v in spec.get("verbs") or ()),
                    resources=tuple(spec.get("resources") or ()),
                )
            )

    def clear(self) -> None:
        self.drop_watch_every = None
        self.expire_watch_resumes = 0
        self.latency = 0.0
        self.bursts.clear()

    def take_expired_resume(self) -> bool:
        if self.expire_watch_resumes > 0:
            self.expire_watch_resumes -= 1
            self.injected["watch-410"] += 1
            return True
        return False

    def error_for(self, method: str, path: str) -> ApiError | None:
        for burst in self.bursts:
            if burst.matches(method, path):
                burst.count -= 1
                self.injected[f"http-{burst.code}"] += 1
                return _burst_error(burst)
        self.bursts = [b for b in self.bursts if b.count > 0]
        return None

    async def before_request(self, request: web.Request) -> web.StreamResponse | None:
        """An ``HttpFront.before`` hook: latency first, then any error burst that matches."""
        if request.path.startswith("/_emulator/"):
            return None
        if self.latency:
            await asyncio.sleep(self.latency)
        err = self.error_for(request.method, request.path)
        if err is None:
            return None
        resp = web.Response(body=dumps(err.status()), status=err.code, content_type="application/json")
        for k, v in err.headers.items():
            resp.headers[k] = v
        return resp

    def as_dict(self) -> dict[str, Any]:
        return {
            "drop_watch_every": self.drop_watch_every,
            "expire_watch_resumes": self.expire_watch_resumes,
            "latency": self.latency,
            "errors": [
                {
                    "code": b.code,
                    "count": b.count,
                    "retry_after": b.retry_after,
                    "verbs": list(b.verbs),
                    "resources": list(b.resources),
                }
                for b in self.bursts
            ],
            "injected": dict(self.injected),
        }


def _burst_error(burst: ErrorBurst) -> ApiError:
    if burst.code == 429:
        return errors.too_many_requests(burst.retry_after or 1)
    if burst.code == 503:
        err = errors.service_unavailable()
    elif burst.code == 504:
        err = errors.timeout("the server was unable to return a response in the time allotted")
    else:
        err = errors.internal(
            "an error on the server (injected fault) has prevented the request from succeeding"
        )
        err.code = burst.code
    if burst.retry_after is not None:
        err.headers["Retry-After"] = str(burst.retry_after)
        err.details = {"retryAfterSeconds": burst.retry_after}
    return err
