"""Emulator throughput: requests/s for GET, LIST and PATCH, and one event fanned out to N watchers.

Runs the emulator in its own process (``python -m airflow_k8s_workflows.emulator``) and drives
it over HTTP with aiohttp, so the numbers include the whole HTTP path. Targets (issue 2):
>= 1,000 simple requests/s; an event delivered to 1,000 watchers within 1 s.

    .venv/bin/python benchmarks/emulator.py [--seconds 5] [--concurrency 16] [--watchers 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from airflow_k8s_workflows.emulator.core import free_port


def start_emulator(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_k8s_workflows.emulator",
            "--port",
            str(port),
            "--workdir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the emulator did not start")


async def hammer(
    session: aiohttp.ClientSession, seconds: float, concurrency: int, request: Any
) -> tuple[int, list[float]]:
    end = time.monotonic() + seconds
    latencies: list[float] = []
    count = 0

    async def worker(i: int) -> None:
        nonlocal count
        while time.monotonic() < end:
            t0 = time.perf_counter()
            await request(session, i, count)
            latencies.append(time.perf_counter() - t0)
            count += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return count, latencies


async def requests_per_second(url: str, seconds: float, concurrency: int) -> dict[str, tuple[float, float]]:
    base = f"{url}/api/v1/namespaces/default/configmaps"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        for i in range(50):
            body = {"metadata": {"name": f"bench-{i}"}, "data": {"k": "v"}}
            async with session.post(base, json=body) as resp:
                assert resp.status == 201, await resp.text()

        async def get(s: aiohttp.ClientSession, i: int, n: int) -> None:
            async with s.get(f"{base}/bench-{n % 50}") as resp:
                await resp.read()
                assert resp.status == 200

        async def lst(s: aiohttp.ClientSession, i: int, n: int) -> None:
            async with s.get(base) as resp:
                await resp.read()
                assert resp.status == 200

        async def patch(s: aiohttp.ClientSession, i: int, n: int) -> None:
            async with s.patch(f"{base}/bench-{i % 50}", data=json.dumps({"data": {"n": str(n)}}),
                               headers={"Content-Type": "application/merge-patch+json"}) as resp:  # fmt: skip
                await resp.read()
                assert resp.status == 200, await resp.text()

        results = {}
        for name, fn in (("GET", get), ("LIST (50 objects)", lst), ("PATCH (merge)", patch)):
            count, lat = await hammer(session, seconds, concurrency, fn)
            p50 = statistics.median(lat) * 1000
            results[name] = (count / seconds, p50)
        return results


async def fan_out(url: str, watchers: int) -> tuple[float, float, int]:
    """Open ``watchers`` watch streams, write once, time until every stream has the event."""
    base = f"{url}/api/v1/namespaces/default/configmaps"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None)
    ) as session:
        async with session.get(base) as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]
        received: list[float] = []
        ready = 0
        all_ready = asyncio.Event()

        async def watch() -> None:
            nonlocal ready
            params = {
                "watch": "1",
                "resourceVersion": rv,
                "fieldSelector": "metadata.name=fanout",
                "timeoutSeconds": "60",
            }
            async with session.get(base, params=params) as resp:
                ready += 1
                if ready == watchers:
                    all_ready.set()
                line = await resp.content.readline()
                if json.loads(line)["type"] == "ADDED":
                    received.append(time.perf_counter())

        tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
        await asyncio.wait_for(all_ready.wait(), 120)
        await asyncio.sleep(0.5)  # let the server register the last streams
        t0 = time.perf_counter()
        async with session.post(base, json={"metadata": {"name": "fanout"}}) as resp:
            assert resp.status == 201
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        last = max(received) - t0
        median = statistics.median(received) - t0
        return median, last, len(received)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--watchers", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_emulator(Path(tmp))
        try:
            rps = asyncio.run(requests_per_second(url, args.seconds, args.concurrency))
            median, last, got = asyncio.run(fan_out(url, args.watchers))
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    print(f"emulator over HTTP, {args.concurrency} concurrent clients, {args.seconds:g} s per request type")
    print(f"{'request':<22}{'requests/s':>12}{'p50 ms':>10}")
    for name, (per_second, p50) in rps.items():
        print(f"{name:<22}{per_second:>12.0f}{p50:>10.2f}")
    print(f"\nwatch fan-out: one create delivered to {got}/{args.watchers} watchers: "
          f"median {median * 1000:.0f} ms, last {last * 1000:.0f} ms")  # fmt: skip
    ok = (
        all(v[0] >= 1000 for k, v in rps.items() if k != "LIST (50 objects)")
        and got == args.watchers
        and last < 1.0
    )
    print("targets (>= 1,000 GET/PATCH per s; all watchers within 1 s):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
