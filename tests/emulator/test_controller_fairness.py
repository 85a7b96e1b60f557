"""Controllers take turns: one that keeps requeueing itself does not starve the others."""

from __future__ import annotations

import asyncio

from airflow_k8s_workflows.emulator.api import ApiServer
from airflow_k8s_workflows.emulator.clock import Clock
from airflow_k8s_workflows.emulator.controllers.base import Controller, ControllerContext, EmulatorConfig, Key
from airflow_k8s_workflows.emulator.events import EventRecorder
from airflow_k8s_workflows.emulator.registry import Registry
from airflow_k8s_workflows.emulator.store import Store


class _Busy(Controller):
    name = "busy"
    enabled = False

    def __init__(self, ctx: ControllerContext, log: list[str]) -> None:
        super().__init__(ctx)
        self.log = log

    async def reconcile(self, key: Key) -> float | None:
        self.log.append(f"{self.name}:{key[1]}")
        return 0 if len(self.log) < 50 else None


async def test_a_self_requeueing_controller_lets_the_others_run() -> None:
    api = ApiServer(Store(), Registry(), Clock())
    ctx = ControllerContext(api, Clock(), EventRecorder(api), EmulatorConfig())
    log: list[str] = []
    busy, other = _Busy(ctx, log), _Busy(ctx, log)
    other.name = "other"
    busy.start()
    other.start()
    busy.queue.add(("", "a"))
    other.queue.add(("", "b"))
    for _ in range(200):
        await asyncio.sleep(0)
    await busy.stop()
    await other.stop()
    assert log.index("other:b") <= 2, log[:5]
