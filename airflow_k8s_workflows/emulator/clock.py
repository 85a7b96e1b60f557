"""Wall-clock timestamps for objects and a speed factor for every controller delay."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone


def rfc3339(dt: datetime | None = None) -> str:
    """``2026-01-02T03:04:05Z``: how the API server writes timestamps (seconds)."""
    dt = dt or datetime.now(timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(dt: datetime | None = None) -> str:
    """``MicroTime`` fields (events' eventTime, leases): microsecond precision."""
    dt = dt or datetime.now(timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Clock:
    """Controller time: ``speed=10`` makes a 10 s back-off take 1 s of real time.

    Object timestamps stay real wall-clock times; durations that controllers compare against
    (deadlines, back-offs, probe delays, TTLs) are divided by ``speed``.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed

    def scaled(self, seconds: float) -> float:
        return seconds / self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.scaled(seconds))

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)

    def elapsed_scaled(self, since: datetime) -> float:
        """Seconds elapsed since ``since`` in controller time (real seconds × speed)."""
        return (self.now() - since).total_seconds() * self.speed
