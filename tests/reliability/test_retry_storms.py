"""No retry storms: bursts of 429 (with Retry-After), 5xx and 403 injected by the emulator's fault
API, and every request the clients sent counted by the emulator itself (``apiserver_request_total``
in ``/metrics``, which counts injected answers like served ones).

Complements tests/hooks/test_kubernetes_hook.py (single requests against a hand-written hook)
with the product's fault API and request counter: exact request totals for both hooks, a 403
that is sent once, 100 concurrent requests against a 429 burst (retries spread, not a herd), and
100 concurrent JobTrigger waits through seconds of 503 / 429 (one shared stream backing off).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.metrics import RequestCounter
from airflow_k8s_workflows.hooks.kubernetes import AsyncClusterHook, ClusterHook
from airflow_k8s_workflows.kube import watch
from airflow_k8s_workflows.kube.errors import Forbidden, ServerError
from airflow_k8s_workflows.triggers.job import JobTrigger
from tests.helpers import wait_for

CM = {"apiVersion": "v1", "kind": "ConfigMap"}


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeEmulator]:
    e = KubeEmulator(speed=20, controllers=False, kubelet=False, workdir=tmp_path / "emu").start()
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", e.airflow_connection(inline=True))
    e.call(
        lambda: e.api.create(e.api.rt("", "configmaps"), "default", {"metadata": {"name": "cm"}}, CONTROLLER)
    )
    yield e
    e.stop()


def metric(emu: KubeEmulator, verb: str, resource: str, code: int | None = None) -> int:
    """apiserver_request_total from /metrics, summed over codes unless ``code`` is given."""
    return RequestCounter.scrape(emu.url).total(verb, resource, code)


def arrivals(emu: KubeEmulator, method: str, resource: str) -> list[float]:
    """When requests for ``resource`` arrived (recorded ahead of the fault injection)."""
    times: list[float] = []

    async def record(request: web.Request) -> None:
        if request.method == method and f"/{resource}" in request.path:
            times.append(time.monotonic())

    emu.http.before.insert(0, record)
    return times


def hooks(emu: KubeEmulator, **kw: Any) -> tuple[ClusterHook, AsyncClusterHook]:
    cfg = {"server": emu.url, "namespace": "default"}
    return (
        ClusterHook(kubernetes_conn_id=None, cluster_config=cfg, **kw),
        AsyncClusterHook(kubernetes_conn_id=None, cluster_config=cfg, **kw),
    )


# -- one request, a burst: exactly errors + 1 requests ------------------------------------------------
@pytest.mark.parametrize("side", ["sync", "async"])
@pytest.mark.parametrize(
    ("code", "errors", "retry_after"),
    [(429, 3, 1), (503, 3, None), (500, 2, None), (503, 2, 1)],
)
async def test_a_burst_costs_exactly_errors_plus_one_requests_and_honours_retry_after(
    emu: KubeEmulator, side: str, code: int, errors: int, retry_after: int | None
) -> None:
    times = arrivals(emu, "GET", "configmaps")
    emu.faults.set(errors=[{"code": code, "count": errors, "retry_after": retry_after, "verbs": ["GET"],
                            "resources": ["configmaps"]}])  # fmt: skip
    sync_hook, async_hook = hooks(emu, retry_base=0.05, retry_cap=0.2)
    started = time.monotonic()
    if side == "sync":
        got = await asyncio.to_thread(sync_hook.get, "v1", "ConfigMap", "cm", "default")
    else:
        got = await async_hook.get("v1", "ConfigMap", "cm", "default")
    elapsed = time.monotonic() - started
    assert got["metadata"]["name"] == "cm"
    assert emu.http.counter.total(verb="GET", resource="configmaps") == errors + 1
    assert (metric(emu, "GET", "configmaps", code), metric(emu, "GET", "configmaps", 200)) == (errors, 1)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if retry_after is not None:
        assert all(g >= retry_after - 0.02 for g in gaps), gaps
        assert elapsed >= errors * retry_after - 0.05
    else:  # full jitter under the cap: never a fixed rhythm, never longer than the ceiling
        ceilings = [min(0.2, 0.05 * 2**i) for i in range(errors)]
        assert all(g <= c + 0.3 for g, c in zip(gaps, ceilings, strict=True)), (gaps, ceilings)


async def test_writes_429_is_retried_a_create_never_after_a_5xx_an_apply_is(emu: KubeEmulator) -> None:
    sync_hook, async_hook = hooks(emu, retry_base=0.05, retry_cap=0.2)
    counter = emu.http.counter
    emu.faults.set(errors=[{"code": 429, "count": 2, "retry_after": 0, "verbs": ["POST"]}])
    await asyncio.to_thread(sync_hook.create, {**CM, "metadata": {"name": "throttled"}}, "default")
    assert counter.total(verb="POST", resource="configmaps") == 3
    emu.faults.set(errors=[{"code": 503, "count": 1, "verbs": ["POST"]}])
    with pytest.raises(ServerError):  # a create that failed with a 5xx may have happened: not resent
        await asyncio.to_thread(sync_hook.create, {**CM, "metadata": {"name": "maybe"}}, "default")
    assert counter.total(verb="POST", resource="configmaps") == 4
    # server-side apply is idempotent: retried after a 5xx, by both hooks
    emu.faults.set(errors=[{"code": 503, "count": 2, "verbs": ["PATCH"]}])
    await asyncio.to_thread(sync_hook.apply, {**CM, "metadata": {"name": "applied"}}, "default")
    assert counter.total(verb="PATCH", resource="configmaps") == 3
    emu.faults.set(errors=[{"code": 503, "count": 2, "verbs": ["PATCH"]}])
    await async_hook.apply({**CM, "metadata": {"name": "applied-async"}}, "default")
    assert counter.total(verb="PATCH", resource="configmaps") == 6


# -- 403: one request, a message that says what is missing -------------------------------------------
@pytest.fixture
def rbac_emu(tmp_path: Path) -> Iterator[KubeEmulator]:
    e = KubeEmulator(speed=20, controllers=False, kubelet=False, rbac=True, workdir=tmp_path / "rbac").start()
    yield e
    e.stop()


def _robot_config(emu: KubeEmulator) -> dict[str, Any]:
    assert emu.ca_file is not None
    return {
        "server": emu.url,
        "certificate_authority_data": base64.b64encode(Path(emu.ca_file).read_bytes()).decode(),
        "token": emu.issue_token("default/robot"),
        "namespace": "default",
    }


async def test_forbidden_is_one_request_naming_verb_resource_and_namespace(
    rbac_emu: KubeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _robot_config(rbac_emu)
    counter = rbac_emu.http.counter
    sync_hook = ClusterHook(kubernetes_conn_id=None, cluster_config=cfg)  # default retry settings
    with pytest.raises(Forbidden) as info:
        await asyncio.to_thread(sync_hook.get, "v1", "ConfigMap", "cm", "default")
    assert str(info.value).startswith('forbidden: cannot get configmaps "cm" in namespace "default"')
    assert counter.total(resource="configmaps") == 1

    async_hook = AsyncClusterHook(kubernetes_conn_id=None, cluster_config=cfg)
    with pytest.raises(Forbidden) as info:
        await async_hook.apply({**CM, "metadata": {"name": "x"}}, "default")
    assert str(info.value).startswith('forbidden: cannot patch configmaps "x" in namespace "default"')
    assert counter.total(resource="configmaps") == 2

    # a wait: the shared stream's LIST is refused once and the trigger reports it, no retry loop
    path = rbac_emu.kubeconfig_for(cfg["token"], rbac_emu.workdir / "robot.yaml")
    monkeypatch.setenv(
        "AIRFLOW_CONN_ROBOT", f'{{"conn_type": "kubernetes", "extra": {{"kube_config_path": "{path}"}}}}'
    )
    event = await anext(JobTrigger(name="etl", namespace="default", kubernetes_conn_id="robot").run())
    assert event.payload["status"] == "error"
    assert 'cannot list jobs.batch in namespace "default"' in event.payload["message"], event.payload
    assert counter.total(resource="jobs") == 1


# -- many clients, one burst ----------------------------------------------------------------------------
async def test_100_concurrent_requests_against_a_429_burst_retry_once_each_spread_out(
    emu: KubeEmulator,
) -> None:
    n = 100
    times = arrivals(emu, "GET", "configmaps")
    emu.faults.set(errors=[{"code": 429, "count": n, "retry_after": 1, "resources": ["configmaps"]}])
    _, hook = hooks(emu)  # default retry settings (base 0.5 s, cap 30 s)
    started = time.monotonic()
    got = await asyncio.gather(*(hook.get("v1", "ConfigMap", "cm", "default") for _ in range(n)))
    elapsed = time.monotonic() - started
    assert len(got) == n
    total = emu.http.counter.total(verb="GET", resource="configmaps")
    firsts, retries = sorted(times)[:n], sorted(times)[n:]
    first_spread, retry_spread = firsts[-1] - firsts[0], retries[-1] - retries[0]
    print(f"{n} concurrent GETs, burst of {n} x 429 Retry-After 1: {total} requests; first tries arrived "
          f"within {first_spread:.2f}s, the retries within {retry_spread:.2f}s "
          f"(stdev {statistics.pstdev(firsts):.2f}s -> {statistics.pstdev(retries):.2f}s); "
          f"all done in {elapsed:.2f}s")  # fmt: skip
    assert total == 2 * n, "every client retried exactly once"
    assert retries[0] - firsts[0] >= 0.98, "Retry-After honoured"
    # the jitter on top of Retry-After (up to 0.5 s at the first retry) spreads them out; without
    # it they would come back as the same herd, as close together as the first tries
    assert retry_spread >= first_spread + 0.2, (first_spread, retry_spread)


@pytest.mark.parametrize(
    ("code", "retry_after", "seconds"), [(503, None, 5.0), (429, 1, 3.0)], ids=["503-for-5s", "429-for-3s"]
)
async def test_100_job_waits_through_a_burst_cost_a_handful_of_requests(
    emu: KubeEmulator, code: int, retry_after: int | None, seconds: float
) -> None:
    n = 100
    jobs = emu.api.rt("batch", "jobs")

    def create_jobs() -> None:
        for i in range(n):
            emu.api.create(jobs, "default", {"metadata": {"name": f"job-{i}"}, "spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}, CONTROLLER)  # fmt: skip

    emu.call(create_jobs)
    list_times = arrivals(emu, "GET", "jobs")
    before = watch.watch_metrics()
    emu.faults.set(
        # the burst's clock starts at the first request it answers: a loaded machine may take
        # seconds to get a hundred triggers going
        errors=[
            {
                "code": code,
                "duration": seconds,
                "from_first_match": True,
                "retry_after": retry_after,
                "resources": ["jobs"],
            }
        ]
    )
    burst_start = time.monotonic()
    triggers = [JobTrigger(name=f"job-{i}", namespace="default") for i in range(n)]
    waits = [asyncio.ensure_future(anext(t.run())) for t in triggers]
    # the shared stream gets going once the burst is over; then every Job completes
    await asyncio.to_thread(wait_for, lambda: watch.watch_metrics().watch_requests > before.watch_requests,
                            timeout=seconds + 40, message="the shared watch to start")  # fmt: skip

    def complete_all() -> None:
        for i in range(n):
            emu.api.update_status(jobs, "default", f"job-{i}", lambda j: j.__setitem__("status", {
                "succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}))  # fmt: skip

    emu.call(complete_all)
    events = await asyncio.wait_for(asyncio.gather(*waits), 30)
    done = time.monotonic()
    assert [e.payload["status"] for e in events] == ["success"] * n
    # the stream lingers, then closes: its WATCH is counted when it ends
    await asyncio.to_thread(wait_for, lambda: emu.http.counter.watches_open == 0, timeout=15)
    total = emu.http.counter.total(resource="jobs")
    failed = metric(emu, "LIST", "jobs", code) + metric(emu, "WATCH", "jobs", code)
    gaps = [b - a for a, b in itertools.pairwise(list_times)]
    print(f"{n} JobTrigger waits through {seconds:.0f}s of {code}: {total} requests to jobs in all "
          f"({failed} answered {code}, {total / n:.2f} per wait), done {done - burst_start:.1f}s after the "
          f"burst began")  # fmt: skip
    assert failed >= 1 and emu.faults.injected[f"http-{code}"] == failed
    # one shared stream backs off: ~log2(seconds / base) attempts during the burst, not n per poll
    assert total <= 15, f"{total} requests for {n} waits"
    if retry_after is not None:
        assert all(g >= retry_after - 0.02 for g in gaps[:failed]), gaps
