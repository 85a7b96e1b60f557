"""Helpers for the watcher-trigger tests: a light emulator, Events and objects written through the
official client, and a trigger run in the background whose events are read one by one."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.triggers.base import BaseEventTrigger

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.kube import watch


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def fast_watch() -> Iterator[None]:
    saved = dataclasses.replace(watch.SETTINGS)
    watch.SETTINGS.linger = 0.05
    watch.SETTINGS.backoff_base = 0.05
    watch.SETTINGS.backoff_cap = 0.5
    yield
    for f in dataclasses.fields(saved):
        setattr(watch.SETTINGS, f.name, getattr(saved, f.name))


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_watch: None) -> Iterator[KubeEmulator]:
    """An API server without controllers or kubelet; ``kubernetes_default`` points at it."""
    e = KubeEmulator(speed=20, controllers=False, kubelet=False, workdir=tmp_path / "emu").start()
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", e.airflow_connection(inline=True))
    yield e
    e.stop()


class Cluster:
    """Writes through the official ``kubernetes`` client (off the test's event loop)."""

    def __init__(self, emu: KubeEmulator) -> None:
        from kubernetes import client, config

        self.emu = emu
        self.api_client = config.new_client_from_config(emu.kubeconfig)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.batch = client.BatchV1Api(self.api_client)

    def close(self) -> None:
        self.api_client.close()

    def event_body(
        self,
        name: str,
        *,
        reason: str = "BackOff",
        event_type: str = "Warning",
        kind: str = "Pod",
        object_name: str = "web-1",
        namespace: str = "default",
        count: int = 1,
        message: str | None = None,
    ) -> dict[str, Any]:
        stamp = now_text()
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": kind, "name": object_name, "namespace": namespace, "apiVersion": "v1",
                               "uid": f"uid-{object_name}"},
            "reason": reason,
            "message": message or f"{reason} for {kind} {object_name}",
            "type": event_type,
            "count": count,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": "kubelet", "host": "emulator-node-0"},
        }  # fmt: skip

    async def event(self, name: str, **kw: Any) -> dict[str, Any]:
        body = self.event_body(name, **kw)
        namespace = body["metadata"]["namespace"]
        created = await asyncio.to_thread(self.core.create_namespaced_event, namespace, body)
        return dict(self.api_client.sanitize_for_serialization(created))

    async def bump(self, name: str, namespace: str = "default") -> int:
        """A repeat: count + 1 and a new lastTimestamp, as the event recorder does."""

        def run() -> int:
            current = self.core.read_namespaced_event(name, namespace)
            count = (current.count or 1) + 1
            self.core.patch_namespaced_event(name, namespace, {"count": count, "lastTimestamp": now_text()})
            return count

        return await asyncio.to_thread(run)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)


@pytest.fixture
def cluster(emu: KubeEmulator) -> Iterator[Cluster]:
    c = Cluster(emu)
    yield c
    c.close()


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def open_watches(emu: KubeEmulator) -> int:
    return int(emu.http.counter.watches_open)


class Fired:
    """Runs ``trigger.run()`` (or any event stream) in a task; ``await next()`` per event."""

    def __init__(self, stream: AsyncIterator[Any], trigger: Any = None) -> None:
        self.stream = stream
        self.trigger = trigger
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    async def _pump(self) -> None:
        try:
            async for event in self.stream:
                await self.queue.put(event.payload)
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            self.error = e
            raise

    async def __aenter__(self) -> Fired:
        self.task = asyncio.create_task(self._pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        getter = asyncio.ensure_future(self.queue.get())
        assert self.task is not None
        done, _ = await asyncio.wait(
            {getter, self.task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if getter in done:
            return getter.result()
        getter.cancel()
        if self.task in done:
            raise AssertionError(f"the trigger stopped: {self.error!r}")
        raise AssertionError(f"no trigger event within {timeout}s")

    def pending(self) -> int:
        return self.queue.qsize()

    async def ready(self) -> None:
        """Until the trigger has judged the current state (later writes are changes to it)."""
        await until(lambda: self.trigger.watching or (self.task is not None and self.task.done()),
                    what="the trigger to watch")  # fmt: skip


def start(trigger: BaseEventTrigger) -> Fired:
    return Fired(trigger.run(), trigger)
