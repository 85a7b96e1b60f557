"""The logs of a Job's pods in the task log: followed live in sync mode, printed on resume.

:class:`JobLogStreamer` follows every container of every pod of one Job (``logs -f`` with
timestamps) while the Job runs, retried pods and restarted containers included, and writes
each line as ``[pod] text`` (``[pod/container] text`` when the pod has several containers).
Each container has a cursor (the last timestamp written and how many lines carried it), so
reconnecting, reading a restarted container's previous instance, or catching up after the
wait (:meth:`JobLogStreamer.drain`) never writes a line twice::

    streamer = JobLogStreamer(cfg, "batch", "batch.kubernetes.io/controller-uid=…", emit=log.info)
    self.wait(context, trigger, alongside=streamer.run)    # live, inside the wait's event loop
    streamer.drain(hook)                                    # whatever the follow had not shown yet
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_workflows.kube.rest import Call

__all__ = ["JobLogStreamer", "parse_log_timestamp"]

log = logging.getLogger(__name__)

Timestamp = tuple[int, int]


def parse_log_timestamp(text: str) -> Timestamp | None:
    """``2026-01-02T03:04:05.123456789Z`` (RFC 3339, any fraction length) as (seconds, nanoseconds)."""
    if len(text) < 20 or text[10] != "T":
        return None
    try:
        seconds = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    rest = text[19:]
    nanos = 0
    if rest.startswith("."):
        digits = ""
        for ch in rest[1:]:
            if not ch.isdigit():
                break
            digits += ch
        rest = rest[1 + len(digits) :]
        nanos = int((digits + "000000000")[:9])
    if rest in ("Z", "z", "+00:00", "-00:00"):
        return (seconds, nanos)
    if len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
        try:
            offset = int(rest[1:3]) * 3600 + int(rest[4:6]) * 60
        except ValueError:
            return None
        return (seconds - offset if rest[0] == "+" else seconds + offset, nanos)
    return None


@dataclass
class _Cursor:
    """Where the task log is in one container's output."""

    ts: Timestamp | None = None
    count: int = 0
    """Lines written that carry ``ts`` (lines read in one block share a timestamp)."""
    done: bool = False
    """Everything was read: the container ended for good while being followed."""


@dataclass
class _Read:
    """One request's pass over a container's output: which lines are new."""

    cursor: _Cursor
    same: int = 0

    def is_new(self, ts: Timestamp | None) -> bool:
        c = self.cursor
        if ts is None:
            return True
        if c.ts is None or ts > c.ts:
            c.ts, c.count, self.same = ts, 1, 1
            return True
        if ts < c.ts:
            return False
        self.same += 1
        if self.same <= c.count:
            return False
        c.count += 1
        return True


def _containers(pod: Mapping[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
    return [str(n) for n in names if n]


def _status(pod: Mapping[str, Any], container: str) -> Mapping[str, Any]:
    status = pod.get("status") or {}
    for item in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        if item.get("name") == container:
            return item
    return {}


def _started(pod: Mapping[str, Any], container: str) -> bool:
    status = _status(pod, container)
    state = status.get("state") or {}
    return bool(
        state.get("running") or state.get("terminated") or (status.get("lastState") or {}).get("terminated")
    )


def _restarts(pod: Mapping[str, Any], container: str) -> int:
    value = _status(pod, container).get("restartCount")
    return value if isinstance(value, int) else 0


def _finished_for_good(pod: Mapping[str, Any] | None, container: str) -> bool:
    """No further output will come from this container."""
    if pod is None:
        return True
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return True
    terminated = (_status(pod, container).get("state") or {}).get("terminated")
    if not terminated:
        return False
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy", "Always")
    for init in spec.get("initContainers") or []:
        if init.get("name") == container:
            policy = init.get("restartPolicy") or ("Never" if policy == "Never" else "OnFailure")
    if policy == "Never":
        return True
    return policy == "OnFailure" and terminated.get("exitCode") == 0


def _changed_from(pod: Mapping[str, Any]) -> Callable[[dict[str, Any] | None], bool]:
    return lambda p: p is None or p is not pod


def _next_instance(container: str, restarts: int) -> Callable[[dict[str, Any] | None], bool]:
    def ready(p: dict[str, Any] | None) -> bool:
        return p is None or _finished_for_good(p, container) or _restarts(p, container) > restarts

    return ready


class JobLogStreamer:
    """Writes the output of a Job's pods to ``emit``, one call per line, each line once.

    :param cluster: what ``kube.watch`` accepts (a ``ClusterConfig`` or the async hook).
    :param namespace: the Job's namespace.
    :param selector: label selector of the Job's pods (``kube.job_manifest.pod_selector``).
    :param emit: where lines go, e.g. the operator's ``self.log.info``.
    :param max_streams: concurrent follow streams (the rest are read once a slot frees, from
        their start, so nothing is lost); keeps connections free for the Job's own watch.
    """

    def __init__(
        self,
        cluster: Any,
        namespace: str,
        selector: str,
        emit: Callable[[str], Any],
        *,
        max_streams: int = 20,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.selector = selector
        self.emit = emit
        self.max_streams = max_streams
        self.cursors: dict[tuple[str, str], _Cursor] = {}
        self.lines = 0
        self._pods: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Event()
        self._slots: asyncio.Semaphore | None = None

    # -- writing lines -----------------------------------------------------------------------------
    def _prefix(self, pod: Mapping[str, Any], container: str) -> str:
        name = (pod.get("metadata") or {}).get("name")
        return f"[{name}/{container}]" if len(_containers(pod)) > 1 else f"[{name}]"

    def _take(self, read: _Read, prefix: str, line: str) -> None:
        stamp, sep, text = line.partition(" ")
        ts = parse_log_timestamp(stamp) if sep else None
        if ts is None:
            text = line
        if read.is_new(ts):
            self.lines += 1
            self.emit(f"{prefix} {text.rstrip(chr(13))}")

    def _take_text(self, pod: Mapping[str, Any], container: str, text: str) -> None:
        read = _Read(self._cursor(pod, container))
        prefix = self._prefix(pod, container)
        for line in text.splitlines():
            self._take(read, prefix, line)

    def _cursor(self, pod: Mapping[str, Any], container: str) -> _Cursor:
        uid = str((pod.get("metadata") or {}).get("uid") or (pod.get("metadata") or {}).get("name"))
        return self.cursors.setdefault((uid, container), _Cursor())

    def _log_call(self, pod_name: str, container: str, *, follow: bool = False, previous: bool = False,
                  tail: int | None = None) -> Call:  # fmt: skip
        query = [("container", container), ("timestamps", "true")]
        if follow:
            query.append(("follow", "true"))
        if previous:
            query.append(("previous", "true"))
        if tail is not None:
            query.append(("tailLines", str(tail)))
        return Call("GET", f"/api/v1/namespaces/{self.namespace}/pods/{pod_name}/log", query, verb="get",
                    resource="pods/log", namespace=self.namespace, name=pod_name, accept="*/*")  # fmt: skip

    # -- live: inside the wait's event loop ---------------------------------------------------------
    async def run(self) -> None:
        """Follow the pods until cancelled (the wait for the Job ends)."""
        from airflow_k8s_workflows.kube.resources import ResourceRef
        from airflow_k8s_workflows.kube.watch import shared_watch

        self._slots = asyncio.Semaphore(self.max_streams)
        ref = ResourceRef("v1", "pods", kind="Pod", namespace=self.namespace)
        followers: dict[tuple[str, str], asyncio.Task[None]] = {}
        try:
            async with shared_watch(self.cluster, ref, label_selector=self.selector) as sub:
                async for event_type, pod in sub:
                    name = str((pod.get("metadata") or {}).get("name"))
                    if event_type == "DELETED":
                        self._pods.pop(name, None)
                    else:
                        self._pods[name] = pod
                        for container in _containers(pod):
                            key = (name, container)
                            if key not in followers:
                                followers[key] = asyncio.ensure_future(self._follow(name, container))
                    self._changed.set()
                    self._changed = asyncio.Event()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the logs are a courtesy: never fail the wait for them
            log.warning("following the logs of the Job's pods stopped: %s", e)
        finally:
            for task in followers.values():
                task.cancel()
            await asyncio.gather(*followers.values(), return_exceptions=True)

    async def _until(
        self, name: str, predicate: Callable[[dict[str, Any] | None], bool]
    ) -> dict[str, Any] | None:
        while True:
            pod = self._pods.get(name)
            if predicate(pod):
                return pod
            await self._changed.wait()

    async def _follow(self, name: str, container: str) -> None:
        from airflow_k8s_workflows.kube.errors import BadRequest, KubeConnectionError, NotFound

        def started(p: dict[str, Any] | None) -> bool:
            return p is None or _started(p, container)

        followed = False
        while True:
            pod = await self._until(name, started)
            if pod is None:
                return
            restarts = _restarts(pod, container)
            assert self._slots is not None
            try:
                async with self._slots:
                    if followed or restarts:
                        await self._read_previous(pod, container)
                    await self._stream(pod, container)
            except NotFound:
                return
            except BadRequest:
                # not started after all (still waiting): try again on the next change
                await self._until(name, _changed_from(pod))
                continue
            except KubeConnectionError as e:
                log.debug("log stream of %s/%s broke (%s); reconnecting", name, container, e)
                await asyncio.sleep(0.5)
                continue
            followed = True
            # the follow ends with the container instance: does another one come?
            after = await self._until(name, _next_instance(container, restarts))
            if after is None or _finished_for_good(after, container):
                if after is not None:
                    self._cursor(after, container).done = True
                return

    async def _read_previous(self, pod: Mapping[str, Any], container: str) -> None:
        from airflow_k8s_workflows.kube.errors import BadRequest
        from airflow_k8s_workflows.kube.rest import arequest
        from airflow_k8s_workflows.kube.watch import as_source

        client = await as_source(self.cluster).api_client()
        name = str((pod.get("metadata") or {}).get("name"))
        try:
            text = await arequest(client, self._log_call(name, container, previous=True))
        except BadRequest:
            return
        self._take_text(pod, container, text if isinstance(text, str) else "")

    async def _stream(self, pod: Mapping[str, Any], container: str) -> None:
        import aiohttp

        from airflow_k8s_workflows.kube.rest import _aiohttp_error, aopen
        from airflow_k8s_workflows.kube.watch import as_source

        client = await as_source(self.cluster).api_client()
        name = str((pod.get("metadata") or {}).get("name"))
        call = self._log_call(name, container, follow=True)
        resp = await aopen(client, call, timeout=aiohttp.ClientTimeout(total=None, sock_connect=15))
        read = _Read(self._cursor(pod, container))
        prefix = self._prefix(pod, container)
        buf = b""
        try:
            async for chunk in resp.content.iter_any():
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self._take(read, prefix, line.decode("utf-8", "replace"))
            if buf:
                self._take(read, prefix, buf.decode("utf-8", "replace"))
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise _aiohttp_error(e, call, getattr(client.configuration, "host", ""))
        finally:
            resp.close()

    # -- catching up: after the wait, or on resume -------------------------------------------------
    def drain(self, hook: Any, pods: Iterable[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Write what has not been written yet, reading each container once (sync ``hook``).

        Returns the pods it read (oldest first), for callers that need them next.
        """
        from airflow_k8s_workflows.kube.errors import BadRequest, NotFound

        if pods is None:
            pods = hook.list("v1", "Pod", self.namespace, label_selector=self.selector)
        ordered = sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
        for pod in ordered:
            name = str((pod.get("metadata") or {}).get("name"))
            for container in _containers(pod):
                if self._cursor(pod, container).done or not _started(pod, container):
                    continue
                calls = [self._log_call(name, container)]
                if _restarts(pod, container):
                    calls.insert(0, self._log_call(name, container, previous=True))
                for call in calls:
                    try:
                        text = hook.request(call)
                    except (BadRequest, NotFound):
                        continue
                    self._take_text(pod, container, text if isinstance(text, str) else "")
        return [dict(p) for p in ordered]


@dataclass
class LogTail:
    """The last lines of one container, for failure messages."""

    pod: str
    container: str
    lines: list[str] = field(default_factory=list)


def tail_lines(hook: Any, namespace: str, pod: Mapping[str, Any], container: str, lines: int = 20) -> LogTail:
    """The last ``lines`` lines a container wrote (its current or last instance)."""
    from airflow_k8s_workflows.kube.errors import BadRequest, NotFound

    name = str((pod.get("metadata") or {}).get("name"))
    call = Call("GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log",
                [("container", container), ("tailLines", str(lines))], verb="get", resource="pods/log",
                namespace=namespace, name=name, accept="*/*")  # fmt: skip
    try:
        text = hook.request(call)
    except (BadRequest, NotFound):
        return LogTail(name, container)
    return LogTail(name, container, (text if isinstance(text, str) else "").splitlines()[-lines:])
