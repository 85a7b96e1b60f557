"""Container output kept in memory, and its streaming as ``pods/log`` serves it.

Output is stored in blocks of whole lines (one read from a pipe), each with the time it was
read; lines of one block share that timestamp. The buffer keeps the newest ``limit`` bytes of
one container instance. Rendering (timestamps, tail, since, limitBytes) happens per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from airflow_k8s_workflows.emulator.clock import parse_time

DEFAULT_LIMIT = 10 * 1024 * 1024
_CHUNK = 256 * 1024


def timestamp(ns: int) -> bytes:
    """The kubelet's fixed-width RFC 3339 form: ``2026-01-02T03:04:05.123456789Z``."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z").encode()


class LogBuffer:
    """The output of one container instance."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.blocks: deque[tuple[int, bytes]] = deque()
        self.first = 0  # absolute index of blocks[0]
        self.size = 0
        self.closed = False
        self._changed = asyncio.Event()

    @property
    def end(self) -> int:
        return self.first + len(self.blocks)

    def append(self, data: bytes, ts_ns: int | None = None) -> None:
        if not data:
            return
        self.blocks.append((ts_ns or time.time_ns(), data))
        self.size += len(data)
        while self.size > self.limit and len(self.blocks) > 1:
            _, dropped = self.blocks.popleft()
            self.size -= len(dropped)
            self.first += 1
        self._notify()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_beyond(self, index: int) -> None:
        """Return once there are blocks at or after ``index``, or the buffer is closed."""
        while index >= self.end and not self.closed:
            await self._changed.wait()

    def since(self, index: int) -> list[tuple[int, bytes]]:
        start = max(index, self.first) - self.first
        if start >= len(self.blocks):
            return []
        return [self.blocks[i] for i in range(start, len(self.blocks))]

    def tail_start(self, lines: int) -> tuple[int, int]:
        """(block index, lines to skip in that block) where the last ``lines`` lines begin."""
        if lines <= 0:
            return self.end, 0
        count = 0
        for offset in range(len(self.blocks) - 1, -1, -1):
            n = _line_count(self.blocks[offset][1])
            if count + n >= lines:
                return self.first + offset, n - (lines - count)
            count += n
        return self.first, 0

    def tail_text(self, lines: int, max_bytes: int) -> str:
        """The end of the output, for ``FallbackToLogsOnError`` messages."""
        index, skip = self.tail_start(lines)
        data = b"".join(
            _skip_lines(block, skip if i == 0 else 0) for i, (_, block) in enumerate(self.since(index))
        )
        return data[-max_bytes:].decode("utf-8", "replace")


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def _skip_lines(data: bytes, skip: int) -> bytes:
    pos = 0
    for _ in range(skip):
        pos = data.find(b"\n", pos) + 1
        if pos == 0:
            return b""
    return data[pos:]


def _with_timestamps(data: bytes, ts_ns: int) -> bytes:
    prefix = timestamp(ts_ns) + b" "
    ends = data.endswith(b"\n")
    body = data[:-1] if ends else data
    return prefix + body.replace(b"\n", b"\n" + prefix) + (b"\n" if ends else b"")


@dataclass
class StreamRequest:
    follow: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: str | None = None
    timestamps: bool = False
    limit_bytes: int | None = None

    def since_ns(self) -> int | None:
        if self.since_seconds is not None:
            return time.time_ns() - self.since_seconds * 1_000_000_000
        parsed = parse_time(self.since_time)
        return int(parsed.timestamp() * 1_000_000_000) if parsed else None


async def stream(buffer: LogBuffer, req: StreamRequest) -> AsyncIterator[bytes]:
    """Yield ``buffer``'s output as ``req`` asks; with ``follow``, until the buffer is closed."""
    since = req.since_ns()
    index, skip = buffer.tail_start(req.tail_lines) if req.tail_lines is not None else (buffer.first, 0)
    remaining = req.limit_bytes if req.limit_bytes and req.limit_bytes > 0 else None
    while True:
        blocks = buffer.since(index)
        if index < buffer.first:
            skip = 0
        index = max(index, buffer.first) + len(blocks)
        parts: list[bytes] = []
        size = 0
        for ts_ns, data in blocks:
            if skip:
                data, skip = _skip_lines(data, skip), 0
            if since is not None and ts_ns < since:
                continue
            if req.timestamps:
                data = _with_timestamps(data, ts_ns)
            parts.append(data)
            size += len(data)
            if size >= _CHUNK:
                out, parts, size = b"".join(parts), [], 0
                out, remaining = _limit(out, remaining)
                yield out
                if remaining == 0:
                    return
        if parts:
            out, remaining = _limit(b"".join(parts), remaining)
            yield out
            if remaining == 0:
                return
        if not req.follow or (buffer.closed and index >= buffer.end):
            return
        await buffer.wait_beyond(index)


def _limit(data: bytes, remaining: int | None) -> tuple[bytes, int | None]:
    if remaining is None:
        return data, None
    data = data[:remaining]
    return data, remaining - len(data)
