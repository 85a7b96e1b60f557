"""A JobTrigger waiting through an API server that goes away: restarted with its data, restarted
without it (etcd lost), and the whole emulator process restarted from its state file.

The Job finishes while the API server is unreachable, so the wait can only succeed if the trigger
reconnects and catches up on what it missed; the reconnect attempts during the downtime are
counted (full-jitter back-off, not a tight loop).
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.core import free_port
from airflow_k8s_workflows.kube import watch
from airflow_k8s_workflows.triggers.job import JobTrigger
from tests.helpers import wait_for
from tests.triggers.watch_support import emu, fast_watch

__all__ = ["emu", "fast_watch"]  # fixtures

JOB = {"metadata": {"name": "etl"}, "spec": {"template": {"spec": {
    "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}  # fmt: skip


def create_job(emu: KubeEmulator) -> str:
    job = emu.call(lambda: emu.api.create(emu.api.rt("batch", "jobs"), "default", JOB, CONTROLLER))
    return str(job["metadata"]["uid"])


def complete_job(emu: KubeEmulator) -> None:
    def done(job: dict[str, Any]) -> None:
        job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}

    emu.call(lambda: emu.api.update_status(emu.api.rt("batch", "jobs"), "default", "etl", done))


def refused(emu: KubeEmulator) -> bool:
    try:
        urllib.request.urlopen(f"{emu.url}/healthz", timeout=0.5).read()
        return False
    except OSError:
        return True


async def start_wait(emu: KubeEmulator, uid: str) -> asyncio.Future[Any]:
    wait = asyncio.ensure_future(anext(JobTrigger(name="etl", namespace="default", uid=uid).run()))
    await asyncio.to_thread(
        wait_for, lambda: emu.http.counter.watches_open == 1, message="the trigger's watch"
    )
    return wait


@pytest.mark.parametrize("keep_state", [True, False], ids=["api-restart", "api-restart-data-lost"])
async def test_a_job_wait_survives_an_api_server_restart(emu: KubeEmulator, keep_state: bool) -> None:
    uid = create_job(emu)
    wait = await start_wait(emu, uid)
    before = watch.watch_metrics()
    restart = threading.Thread(target=emu.restart_api, kwargs={"downtime": 1.5, "keep_state": keep_state})
    restart.start()
    await asyncio.to_thread(wait_for, lambda: refused(emu), timeout=5, message="the API server to go away")
    if keep_state:
        complete_job(emu)  # while nobody can see it
    await asyncio.to_thread(restart.join)
    event = (await asyncio.wait_for(wait, 30)).payload
    d = {k: getattr(watch.watch_metrics(), k) - v for k, v in vars(before).items()}
    print(f"restart_api(keep_state={keep_state}): {event['status']} ({event['message']}); "
          f"reconnects {d['reconnects']}, relists {d['relists']}, watches {d['watch_requests']}")  # fmt: skip
    assert 1 <= d["reconnects"] <= 15, d  # refused during 1.5 s: back-off from 0.05 s, capped at 0.5 s
    if keep_state:
        assert (event["status"], event["uid"]) == ("success", uid)
        assert d["relists"] == 0, "the history survived: the watch resumed where it was"
    else:
        assert event["status"] == "error"
        assert event["message"].startswith(f"Job default/etl (uid {uid}) was deleted before it finished")
        assert d["relists"] >= 1, "the history is gone: 410, then a relist that no longer has the Job"


async def test_a_job_wait_survives_an_emulator_process_restart_from_its_state_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_watch: None
) -> None:
    port, state = free_port(), tmp_path / "state.json"

    def emulator(name: str) -> KubeEmulator:
        return KubeEmulator(port=port, state_file=state, speed=20, controllers=False, kubelet=False,
                            workdir=tmp_path / name)  # fmt: skip

    first = emulator("one").start()
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", first.airflow_connection(inline=True))
    uid = create_job(first)
    wait = await start_wait(first, uid)
    before = watch.watch_metrics()
    await asyncio.to_thread(first.stop)  # objects written to the state file; the port closes
    # down until the trigger has found the door shut at least once
    await asyncio.to_thread(wait_for, lambda: watch.watch_metrics().reconnects > before.reconnects,
                            timeout=10, message="a refused reconnect")  # fmt: skip
    started = time.monotonic()
    second = await asyncio.to_thread(emulator("two").start)
    try:
        complete_job(second)
        event = (await asyncio.wait_for(wait, 30)).payload
        d = {k: getattr(watch.watch_metrics(), k) - v for k, v in vars(before).items()}
        print(f"emulator process restart: {event['status']} {time.monotonic() - started:.1f}s after it came "
              f"back; reconnects {d['reconnects']}, relists {d['relists']}")  # fmt: skip
        assert (event["status"], event["uid"]) == ("success", uid), event
        assert d["reconnects"] >= 1 and d["relists"] == 0, (
            d
        )  # resumed at its resourceVersion, kept in the file
        # the state file kept the Job with its uid and resourceVersion: the same Job, no duplicate
        assert second.call(lambda: len(second.api.select(second.api.rt("batch", "jobs"), "default"))) == 1
    finally:
        await asyncio.to_thread(second.stop)
