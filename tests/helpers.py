"""Small test utilities: waiting for a state instead of sleeping; the seed of a randomised test."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.05, message: str = ""
) -> T:
    """Call ``predicate`` until it returns something truthy; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {message or predicate!r}; last value: {last!r}"
    )


def seed_from_env() -> int:
    """``RELIABILITY_SEED`` when set (to replay a run), else a fresh random seed; tests print it."""
    given = os.environ.get("RELIABILITY_SEED")
    return int(given) if given else random.SystemRandom().randrange(2**32)
