"""Fault injection for reliability tests: what a flaky cluster does to its clients.

Set from Python (``emu.faults.set(...)``) or over HTTP (``POST /_emulator/faults`` with the same
fields as JSON; ``DELETE /_emulator/faults`` clears them)::

    emu.faults.set(drop_watch_every=50)                      # close every watch after 50 events
    emu.faults.set(drop_watch_every=(20, 200), seed=7)       # ... after a random 20-200 events each
    emu.faults.set(expire_watch_resumes=2)                   # the next 2 resumed watches get 410
    emu.faults.set(errors=[{"code": 429, "count": 5, "retry_after": 1}])   # a burst of 429s
    emu.faults.set(errors=[{"code": 503, "count": 3, "verbs": ["GET"], "resources": ["jobs"]}])
    emu.faults.set(errors=[{"code": 503, "duration": 5}])   # every API request for 5 s
    emu.faults.set(errors=[{"code": 503, "duration": 5, "from_first_match": True}])  # 5 s from the first hit
    emu.faults.set(latency=0.2)                              # every request 200 ms slower
    emu.restart_api(downtime=1.0, keep_state=True)           # the API server goes away and comes back

Counts are consumed per matching request; ``emu.faults.injected`` counts what was injected.
Injected answers are counted in ``/metrics`` (``apiserver_request_total``) like real ones.
"""

from __future__ import annotations

import asyncio
import random
import time
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
    count: int | None  # None: unlimited (only with ``until``)
    retry_after: int | None = None
    verbs: tuple[str, ...] = ()  # HTTP methods (GET, POST, ...); empty = all
    resources: tuple[str, ...] = ()  # resource plural names; empty = all
    until: float | None = None  # time.monotonic() when the burst ends; None = when the count is used up
    duration: float | None = None  # with from_first_match: until is set at the first matching request
    from_first_match: bool = False

    def live(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return self.count is None or self.count > 0

    def matches(self, method: str, path: str, now: float) -> bool:
        if not self.live(now):
            return False
        if self.verbs and method not in self.verbs:
            return False
        if self.resources:
            parts = [p for p in path.split("/") if p]
            return any(r in parts for r in self.resources)
        return path.startswith(("/api/", "/apis/")) or path in ("/api", "/apis")


DropSpec = int | tuple[int, int] | None


def _drop_spec(value: Any) -> DropSpec:
    """``N`` (every N events), ``[low, high]`` (a random count in that range per stream), 0 = off."""
    if isinstance(value, bool):
        raise ValueError(f"drop_watch_every: a count or a [low, high] range, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"drop_watch_every: must be >= 0, got {value}")
        return value or None
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        low, high = int(value[0]), int(value[1])
        if not 1 <= low <= high:
            raise ValueError(f"drop_watch_every: a range needs 1 <= low <= high, got {list(value)}")
        return (low, high)
    raise ValueError(f"drop_watch_every: a count or a [low, high] range, got {value!r}")


@dataclass
class Faults:
    drop_watch_every: DropSpec = None
    expire_watch_resumes: int = 0
    latency: float = 0.0
    bursts: list[ErrorBurst] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)
    generation: int = 0
    """Bumped whenever the watch-drop setting changes (open streams then draw a new threshold)."""

    def set(
        self,
        *,
        drop_watch_every: int | tuple[int, int] | list[int] | None = None,
        expire_watch_resumes: int | None = None,
        latency: float | None = None,
        errors: list[dict[str, Any]] | None = None,
        seed: int | None = None,
    ) -> None:
        # validate everything first: a bad specification changes nothing
        drop = _drop_spec(drop_watch_every) if drop_watch_every is not None else None
        bursts = [_burst(spec) for spec in errors or []]
        expire = int(expire_watch_resumes) if expire_watch_resumes is not None else None
        added_latency = max(0.0, float(latency)) if latency is not None else None
        new_seed = int(seed) if seed is not None else None
        if new_seed is not None:
            self.seed = new_seed
            self.rng.seed(new_seed)
        if drop_watch_every is not None:
            self.drop_watch_every = drop
            self.generation += 1
        if expire is not None:
            self.expire_watch_resumes = expire
        if added_latency is not None:
            self.latency = added_latency
        self.bursts.extend(bursts)

    def clear(self) -> None:
        self.drop_watch_every = None
        self.generation += 1
        self.expire_watch_resumes = 0
        self.latency = 0.0
        self.bursts.clear()

    def watch_drop_threshold(self) -> int | None:
        """After how many events a watch stream is closed (drawn anew per stream and setting)."""
        spec = self.drop_watch_every
        if spec is None:
            return None
        if isinstance(spec, tuple):
            return self.rng.randint(spec[0], spec[1])
        return spec

    def take_expired_resume(self) -> bool:
        if self.expire_watch_resumes > 0:
            self.expire_watch_resumes -= 1
            self.injected["watch-410"] += 1
            return True
        return False

    def error_for(self, method: str, path: str) -> ApiError | None:
        if not self.bursts:
            return None
        now = time.monotonic()
        for burst in self.bursts:
            if burst.matches(method, path, now):
                if burst.until is None and burst.duration is not None:
                    burst.until = now + burst.duration  # a from_first_match burst starts its clock
                if burst.count is not None:
                    burst.count -= 1
                self.injected[f"http-{burst.code}"] += 1
                return _burst_error(burst)
        self.bursts[:] = [b for b in self.bursts if b.live(now)]
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
        now = time.monotonic()
        drop = self.drop_watch_every
        return {
            "drop_watch_every": list(drop) if isinstance(drop, tuple) else drop,
            "expire_watch_resumes": self.expire_watch_resumes,
            "latency": self.latency,
            "seed": self.seed,
            "errors": [
                {
                    "code": b.code,
                    "count": b.count,
                    "duration": b.duration if b.until is None else round(max(0.0, b.until - now), 3),
                    "from_first_match": b.from_first_match,
                    "retry_after": b.retry_after,
                    "verbs": list(b.verbs),
                    "resources": list(b.resources),
                }
                for b in self.bursts
                if b.live(now)
            ],
            "injected": dict(self.injected),
        }


_BURST_FIELDS = frozenset(
    {"code", "count", "duration", "from_first_match", "retry_after", "verbs", "resources"}
)


def _burst(spec: dict[str, Any]) -> ErrorBurst:
    unknown = set(spec) - _BURST_FIELDS
    if unknown:
        raise ValueError(f"unknown error burst fields: {sorted(unknown)}")
    code = int(spec["code"])
    if not 400 <= code <= 599:
        raise ValueError(f"code: an HTTP error status (400-599), got {code}")
    duration = None if spec.get("duration") is None else float(spec["duration"])
    from_first_match = spec.get("from_first_match", False)
    if not isinstance(from_first_match, bool):
        raise ValueError(f"from_first_match: true or false, got {from_first_match!r}")
    if from_first_match and duration is None:
        raise ValueError("from_first_match: needs a duration (it says when the duration starts)")
    until = None if duration is None or from_first_match else time.monotonic() + duration
    count = spec.get("count")
    if count is None:
        count = None if duration is not None else 1
    retry_after = spec.get("retry_after")
    return ErrorBurst(
        code=code,
        count=None if count is None else int(count),
        retry_after=None if retry_after is None else int(retry_after),
        verbs=tuple(str(v).upper() for v in spec.get("verbs") or ()),
        resources=tuple(spec.get("resources") or ()),
        until=until,
        duration=duration,
        from_first_match=from_first_match,
    )


def _burst_error(burst: ErrorBurst) -> ApiError:
    if burst.code == 429:
        return errors.too_many_requests(1 if burst.retry_after is None else burst.retry_after)
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
