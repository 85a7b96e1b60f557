"""The wait loop the multi-object triggers share: look once, then follow the shared watch.

:func:`watch_until` judges one object (GET first, then its shared-watch stream) until the
judgement is ready or failed, logging each new progress message; :func:`all_ready` runs one
such wait per object and stops at the first failure. Judgements come from ``kube/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from airflow_k8s_workflows.kube.readiness import Readiness

T = TypeVar("T")
Judge = Callable[[Mapping[str, Any] | None], Readiness]


@dataclass(frozen=True)
class Target:
    """One object to wait for, as it travels in trigger kwargs (``to_ref`` / ``from_ref``)."""

    kind: str
    name: str
    api_version: str | None = None
    namespace: str | None = None
    uid: str | None = None

    @classmethod
    def from_ref(cls, ref: Mapping[str, Any]) -> Target:
        return cls(
            kind=str(ref["kind"]),
            name=str(ref["name"]),
            api_version=ref.get("apiVersion"),
            namespace=ref.get("namespace"),
            uid=ref.get("uid"),
        )

    def to_ref(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
        }

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


async def resolve(hook: Any, target: Target, default_namespace: str | None) -> Target:
    """``target`` with its apiVersion (discovery when missing), canonical kind and namespace
    (None for cluster-scoped kinds)."""
    from airflow_k8s_workflows.kube.kinds import aresolve_api_version

    await hook.get_cluster_config()
    api_version, kind = target.api_version, target.kind
    if not api_version:
        api_version, kind = await aresolve_api_version(hook.request, hook.identity, target.kind)
    resource = await hook.discover(api_version, kind)
    namespace = (
        (target.namespace or await hook.aget_namespace(default_namespace)) if resource.namespaced else None
    )
    return replace(target, api_version=api_version, kind=resource.kind, namespace=namespace)


async def watch_until(
    hook: Any,
    target: Target,
    judge: Judge,
    log: Callable[[str], None],
) -> tuple[Readiness, Mapping[str, Any] | None]:
    """Judge ``target`` now and at every change until ready or failed: ``(verdict, object)``.

    ``judge(None)`` means the object does not exist (yet, or any more).
    """
    from airflow_k8s_workflows.kube.watch import shared_watch

    assert target.api_version is not None
    last: list[str] = []

    def consider(obj: Mapping[str, Any] | None) -> Readiness:
        verdict = judge(obj)
        if not last or last[0] != verdict.message:
            last[:] = [verdict.message]
            log(verdict.message)
        return verdict

    obj = await hook.get_or_none(target.api_version, target.kind, target.name, target.namespace)
    verdict = consider(obj)
    if verdict.state != "waiting":
        return verdict, obj
    ref = await hook.resource(target.api_version, target.kind, target.namespace)
    async with shared_watch(hook, ref, name=target.name) as sub:
        if not sub.snapshot:
            verdict = consider(None)
            if verdict.state != "waiting":
                return verdict, None
        async for event_type, current in sub:
            obj = None if event_type == "DELETED" else current
            verdict = consider(obj)
            if verdict.state != "waiting":
                return verdict, obj
    raise RuntimeError("watch ended")  # pragma: no cover - a subscription never ends by itself


async def all_ready(waits: Sequence[Awaitable[T]], failed: Callable[[T], bool]) -> list[T]:
    """Await every wait concurrently; as soon as one result is ``failed``, cancel the rest and
    return just that one. Otherwise every result, in order."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        for next_done in asyncio.as_completed(tasks):
            result = await next_done
            if failed(result):
                return [result]
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
