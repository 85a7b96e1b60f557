"""kube.retry: full-jitter back-off, with a server's Retry-After waited in full and the jitter on top."""

from __future__ import annotations

import random
from types import SimpleNamespace

from airflow_k8s_workflows.kube.errors import TooManyRequests
from airflow_k8s_workflows.kube.retry import Backoff, full_jitter, tenacity_wait, with_retry_after


def test_full_jitter_stays_under_a_doubling_ceiling_up_to_the_cap() -> None:
    rng = random.Random(1)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (6, 30.0), (40, 30.0)]:
        draws = [full_jitter(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert min(draws) >= 0.0 and max(draws) <= ceiling
        assert max(draws) > 0.8 * ceiling and min(draws) < 0.2 * ceiling, "spread over the whole range"


def test_retry_after_is_waited_in_full_and_the_jitter_comes_on_top() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(2))
    delays = [
        Backoff(base=0.5, cap=30.0, rng=random.Random(seed)).next_delay(retry_after=1) for seed in range(100)
    ]
    assert all(1.0 <= d <= 1.5 for d in delays)
    assert max(delays) - min(delays) > 0.4, "clients told the same Retry-After do not come back together"
    assert backoff.next_delay() <= 0.5 and backoff.next_delay() <= 1.0
    backoff.reset()
    assert backoff.attempt == 0
    assert with_retry_after(0.3, None) == 0.3 and with_retry_after(0.3, 0) == 0.3
    assert with_retry_after(0.3, 5) == 5.3


def test_tenacity_wait_reads_retry_after_from_the_error() -> None:
    wait = tenacity_wait(0.5, 30.0)
    err = TooManyRequests(429, "TooManyRequests", "slow down", retry_after=2)
    state = SimpleNamespace(attempt_number=1, outcome=SimpleNamespace(exception=lambda: err))
    assert all(2.0 <= wait(state) <= 2.5 for _ in range(50))
    plain = SimpleNamespace(attempt_number=3, outcome=SimpleNamespace(exception=lambda: RuntimeError()))
    assert all(0.0 <= wait(plain) <= 2.0 for _ in range(50))
