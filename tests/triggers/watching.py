"""Test helper: wait until a trigger running on this loop is following the shared watch."""

from __future__ import annotations

import asyncio

from airflow_k8s_workflows.kube.watch import watch_metrics


async def until_watching(baseline: int, timeout: float = 10.0) -> None:
    """Until a WATCH request beyond ``baseline`` (``watch_metrics().watch_requests`` before the
    trigger started) was sent: the trigger has looked at the current state and now waits for
    events, so a change made after this is seen as a watch event."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while watch_metrics().watch_requests <= baseline:
        if loop.time() > deadline:
            raise AssertionError(f"no watch started within {timeout}s")
        await asyncio.sleep(0.01)
