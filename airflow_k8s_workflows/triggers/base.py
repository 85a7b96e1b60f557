"""What every trigger of this provider shares: the cluster it talks to and how it is serialized.

A trigger here is the one implementation of a wait. Deferrable operators hand it to the
triggerer; in sync mode the operator runs the very same ``run()`` in-process with
:func:`run_trigger_inline`, so no wait is written twice.

Payload convention for single-event triggers: ``{"status": "success" | "failed" | "error",
"message": str, ...}``; operators turn anything but success into a task failure with that message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

DEFAULT_CONN_ID = "kubernetes_default"


class KubernetesTrigger(BaseTrigger):
    """Base class: ``cluster`` comes from ``ClusterHook.trigger_kwargs()`` (connection id plus,
    when the worker can seal it, the resolved config encrypted with the Fernet key), never a
    plain kubeconfig or a file path.

    Subclasses implement ``_kwargs()`` (their own serialized arguments) and ``run()``.
    """

    def __init__(
        self,
        *,
        cluster: dict[str, Any] | None = None,
        kubernetes_conn_id: str = DEFAULT_CONN_ID,
        namespace: str | None = None,
    ) -> None:
        super().__init__()
        self.cluster = dict(cluster) if cluster else {"kubernetes_conn_id": kubernetes_conn_id}
        self.namespace = namespace

    @property
    def kubernetes_conn_id(self) -> str:
        return str(self.cluster.get("kubernetes_conn_id", DEFAULT_CONN_ID))

    def _kwargs(self) -> dict[str, Any]:
        return {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", {
            "cluster": self.cluster,
            "namespace": self.namespace,
            **self._kwargs(),
        }

    def hook(self) -> Any:
        """The async cluster hook (one per trigger; clients underneath are shared per loop)."""
        hook = getattr(self, "_hook", None)
        if hook is None:
            from airflow_k8s_workflows.hooks.kubernetes import AsyncClusterHook

            hook = AsyncClusterHook(**self.cluster)
            self._hook = hook
        return hook

    async def resolved_namespace(self) -> str:
        return str(await self.hook().aget_namespace(self.namespace))

    async def run(self) -> AsyncIterator[TriggerEvent]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield


def success(message: str, **extra: Any) -> TriggerEvent:
    return TriggerEvent({"status": "success", "message": message, **extra})


def failed(message: str, **extra: Any) -> TriggerEvent:
    return TriggerEvent({"status": "failed", "message": message, **extra})


def error(message: str, **extra: Any) -> TriggerEvent:
    return TriggerEvent({"status": "error", "message": message, **extra})


class WaitTimeout(Exception):
    """A sync-mode wait ran past its ``timeout``."""


async def first_event(trigger: BaseTrigger, timeout: float | None = None) -> dict[str, Any]:
    """Run ``trigger`` until its first event and return the payload (what the triggerer would send)."""

    async def take() -> dict[str, Any]:
        gen: AsyncGenerator[TriggerEvent, None] = trigger.run()  # type: ignore[assignment]
        try:
            async for event in gen:
                return dict(event.payload) if isinstance(event.payload, dict) else {"value": event.payload}
        finally:
            await gen.aclose()
            await trigger.cleanup()
        raise RuntimeError(f"{type(trigger).__name__} ended without an event")

    try:
        return await asyncio.wait_for(take(), timeout)
    except asyncio.TimeoutError:
        raise WaitTimeout(f"timed out after {timeout:g}s") from None


def run_trigger_inline(
    trigger: BaseTrigger,
    timeout: float | None = None,
    alongside: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Sync mode: the same wait the triggerer would run, in this process.

    ``alongside`` is an optional coroutine factory run concurrently until the wait ends (e.g.
    streaming pod logs into the task log while a Job runs).
    """

    async def main() -> dict[str, Any]:
        if alongside is None:
            return await first_event(trigger, timeout)
        side = asyncio.ensure_future(alongside())
        try:
            return await first_event(trigger, timeout)
        finally:
            side.cancel()
            try:
                await side
            except (asyncio.CancelledError, Exception):
                pass

    return asyncio.run(main())
