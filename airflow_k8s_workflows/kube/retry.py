"""Exponential back-off with full jitter, honouring ``Retry-After``: the one retry rhythm.

Used by the watch's reconnect loop and, through :func:`tenacity_wait`, by the hooks'
request retries, so every retry in the project spreads out the same way and never storms.
A ``Retry-After`` is waited in full and the jitter comes on top: clients that were all told
the same wait (API priority and fairness answers ``Retry-After: 1`` to everyone it throttles)
do not come back as one herd the moment it ends::

    backoff = Backoff(base=0.5, cap=30)
    delay = backoff.next_delay()          # uniform(0, 0.5), then uniform(0, 1), ... up to 30
    delay = backoff.next_delay(retry_after=5)  # what the server asked for, plus the jitter
    backoff.reset()                       # after a success
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Backoff", "RetryStats", "full_jitter", "tenacity_wait", "with_retry_after"]


def with_retry_after(jitter: float, retry_after: float | None) -> float:
    """The wait before a retry: the server's ``Retry-After`` (if any) plus the jittered back-off."""
    if retry_after is None:
        return jitter
    return max(0.0, float(retry_after)) + jitter


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """AWS "full jitter": ``uniform(0, min(cap, base * 2**attempt))`` for attempt 0, 1, 2, ..."""
    ceiling = min(cap, base * (2 ** min(attempt, 30)))
    return (rng or random).uniform(0.0, ceiling)


@dataclass
class Backoff:
    """Stateful back-off for one reconnecting loop."""

    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self, retry_after: float | None = None) -> float:
        delay = full_jitter(self.attempt, self.base, self.cap, self.rng)
        self.attempt += 1
        return with_retry_after(delay, retry_after)

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class RetryStats:
    """How often requests were retried (for tests, benchmarks and a log line)."""

    retries: int = 0
    gave_up: int = 0


def tenacity_wait(base: float, cap: float) -> Any:
    """A tenacity ``wait`` callable: full jitter, on top of the error's ``retry_after``."""

    def wait(retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        return with_retry_after(full_jitter(retry_state.attempt_number - 1, base, cap), retry_after)

    return wait
