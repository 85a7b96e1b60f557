"""A container's main process: a local process in its own process group, its output pumped
into a ``LogBuffer``, stopped like a runtime stops a container (SIGTERM, then SIGKILL).

When the main process ends, whatever it left behind in its group is killed, as a container's
processes die with its PID 1. An idle container (no command) is an ``IdleProcess`` that only
ends when signalled.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import subprocess
import weakref
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from airflow_k8s_workflows.emulator.kubelet.logs import LogBuffer

T = TypeVar("T")
_PARTIAL_LINE_MAX = 16 * 1024
_LIVE: weakref.WeakSet[ContainerProcess] = weakref.WeakSet()


class StartError(Exception):
    """The runtime could not start the process (``StartError``, exit code 128)."""


def exit_code(returncode: int) -> int:
    """A container's exit code: killed by signal N is ``128 + N`` (137 for SIGKILL, 143 for SIGTERM)."""
    return 128 - returncode if returncode < 0 else returncode


class ContainerProcess:
    """A running main process; ``wait()`` gives its container exit code once output is drained."""

    pid: int | None = None

    def __init__(self) -> None:
        self._done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def finished(self) -> bool:
        return self._done.done()

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    def signal(self, sig: int) -> None:
        raise NotImplementedError

    async def stop(self, grace: float) -> int:
        """SIGTERM, then SIGKILL after ``grace`` real seconds; returns the exit code."""
        if not self.finished:
            self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.wait(), timeout=max(grace, 0.0))
            except asyncio.TimeoutError:
                self.signal(signal.SIGKILL)
        return await self.wait()


class IdleProcess(ContainerProcess):
    """A container with neither command nor args: nothing runs; it ends when signalled
    (SIGTERM: exit 0, as a server that handles it; SIGKILL: 137)."""

    def signal(self, sig: int) -> None:
        if not self._done.done():
            self._done.set_result(0 if sig == signal.SIGTERM else 128 + sig)


class _Protocol(asyncio.SubprocessProtocol):
    """Output into a ``LogBuffer`` in blocks of whole lines; exit noticed as soon as it happens
    (``Process.wait()`` would also wait for every pipe to close, which a grandchild may hold)."""

    def __init__(self, output: LogBuffer) -> None:
        loop = asyncio.get_running_loop()
        self.output = output
        self.partial: dict[int, bytes] = {1: b"", 2: b""}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        pending = self.partial.get(fd, b"")
        if pending:
            data = pending + data
        cut = data.rfind(b"\n") + 1
        if cut:
            self.output.append(data[:cut])
            data = data[cut:]
        if len(data) >= _PARTIAL_LINE_MAX:
            self.output.append(data)
            data = b""
        self.partial[fd] = data

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.flush(fd)

    def flush(self, fd: int) -> None:
        pending = self.partial.pop(fd, b"")
        if pending:
            self.output.append(pending)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class LocalProcess(ContainerProcess):
    def __init__(self, transport: asyncio.SubprocessTransport, protocol: _Protocol) -> None:
        super().__init__()
        self.transport = transport
        self.protocol = protocol
        self.pid = transport.get_pid()
        self._waiter = asyncio.ensure_future(self._wait_exit())
        _LIVE.add(self)

    def signal(self, sig: int) -> None:
        """SIGTERM goes to the main process only (a runtime signals a container's PID 1); other
        signals, SIGKILL included, to the whole process group."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if sig == signal.SIGTERM:
                if not self.protocol.exited.done():
                    os.kill(self.pid, sig)
            else:
                os.killpg(self.pid, sig)

    async def _wait_exit(self) -> None:
        try:
            await self.protocol.exited
            self.signal(signal.SIGKILL)  # what the main process left behind
            with contextlib.suppress(asyncio.TimeoutError):
                # a daemon that escaped the group may still hold the pipes
                await asyncio.wait_for(asyncio.shield(self.protocol.closed), 2.0)
            returncode = self.transport.get_returncode()
            self.transport.close()
            for fd in (1, 2):
                self.protocol.flush(fd)
            self._done.set_result(exit_code(returncode if returncode is not None else -signal.SIGKILL))
        except asyncio.CancelledError:
            self.signal(signal.SIGKILL)
            if not self._done.done():
                self._done.set_result(137)
            raise
        finally:
            self.transport.close()
            _LIVE.discard(self)

    async def reap(self) -> None:
        """Kill the whole group now and wait until the process is gone."""
        self.signal(signal.SIGKILL)
        await asyncio.wait([self._waiter], timeout=3.0)


async def spawn(argv: Sequence[str], env: dict[str, str], cwd: Path, output: LogBuffer) -> LocalProcess:
    """Start ``argv`` in a new session (its own process group) with output into ``output``."""
    protocol = _Protocol(output)
    try:
        transport, _ = await start_uncancelled(
            asyncio.get_running_loop().subprocess_exec(
                lambda: protocol,
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=str(cwd),
                env=env,
                start_new_session=True,
            ),
            lambda started: dispose(started[0]),
        )
    except FileNotFoundError:
        raise StartError(_start_error(f'exec: "{argv[0]}": executable file not found in $PATH'))
    except PermissionError:
        raise StartError(_start_error(f'exec: "{argv[0]}": permission denied'))
    except OSError as e:
        raise StartError(_start_error(f'exec: "{argv[0]}": {e.strerror or e}'))
    return LocalProcess(transport, protocol)


async def start_uncancelled(start: Awaitable[T], orphan: Callable[[T], None]) -> T:
    """Await a process start that cancellation must not interrupt: Python 3.11's
    ``subprocess_exec`` hangs for ever when cancelled half-way. If the caller is cancelled, the
    start completes in the background and ``orphan`` disposes of what it started."""
    task = asyncio.ensure_future(start)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:

        def dispose(done: asyncio.Future[T]) -> None:
            if not done.cancelled() and done.exception() is None:
                orphan(done.result())

        task.add_done_callback(dispose)
        raise


class _Collect(asyncio.SubprocessProtocol):
    def __init__(self, limit: int) -> None:
        loop = asyncio.get_running_loop()
        self.output = bytearray()
        self.limit = limit
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        room = self.limit - len(self.output)
        if room > 0:
            self.output += data[:room]

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def run_command(argv: Sequence[str], env: dict[str, str], cwd: Path, timeout: float,
                      limit: int = 10 * 1024) -> tuple[int | None, bytes]:  # fmt: skip
    """Run a short command (a probe) in its own process group: (exit code or None on timeout,
    the first ``limit`` bytes of stdout and stderr together). Its whole group is killed after."""
    protocol = _Collect(limit)
    transport, _ = await start_uncancelled(
        asyncio.get_running_loop().subprocess_exec(
            lambda: protocol, *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=str(cwd), env=env, start_new_session=True,
        ),
        lambda started: dispose(started[0]),
    )  # fmt: skip
    try:
        await asyncio.wait_for(asyncio.shield(protocol.exited), timeout)
        kill_group(transport.get_pid())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(protocol.closed), 1.0)
        return transport.get_returncode(), bytes(protocol.output)
    except asyncio.TimeoutError:
        return None, bytes(protocol.output)
    finally:
        dispose(transport)


def dispose(transport: asyncio.SubprocessTransport) -> None:
    """Kill what a transport started, group and all, and release its pipes."""
    kill_group(transport.get_pid())
    transport.close()


def kill_group(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _start_error(detail: str) -> str:
    return (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
        f"failed: unable to start container process: error during container init: {detail}: unknown"
    )


def live_processes() -> list[ContainerProcess]:
    return list(_LIVE)


@atexit.register
def _kill_leftovers() -> None:
    """Last resort when the interpreter exits without stopping the emulator."""
    for process in list(_LIVE):
        process.signal(signal.SIGKILL)
