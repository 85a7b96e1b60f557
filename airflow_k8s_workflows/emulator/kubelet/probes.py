"""Running one probe: ``exec`` really runs the command (with the container's env, cwd and path
rewriting); ``httpGet`` and ``tcpSocket`` really connect to ``127.0.0.1`` (or the probe's
``host``) when the container runs a process, and succeed for an idle container (no command:
nothing could listen); ``grpc`` always succeeds."""

from __future__ import annotations

import asyncio
import shlex
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_k8s_workflows.emulator.kubelet.process import run_command

Obj = dict[str, Any]
_MAX_OUTPUT = 10 * 1024


@dataclass
class ProbeResult:
    ok: bool
    output: str = ""


@dataclass
class ProbeTarget:
    """Where a container's probes run."""

    env: dict[str, str]
    cwd: Path
    rewrite: Callable[[str], str]
    ports: list[Obj]
    idle: bool


async def run_probe(probe: Obj, target: ProbeTarget) -> ProbeResult:
    timeout = float(max(int(probe.get("timeoutSeconds") or 1), 1))
    if isinstance(probe.get("exec"), dict):
        command = [target.rewrite(str(a)) for a in probe["exec"].get("command") or []]
        return await exec_probe(command, target.env, target.cwd, timeout)
    if target.idle or isinstance(probe.get("grpc"), dict):
        return ProbeResult(True)
    if isinstance(probe.get("httpGet"), dict):
        http = probe["httpGet"]
        port = _port(http.get("port"), target.ports)
        return await http_probe(http.get("host") or "127.0.0.1", port, http.get("path") or "/",
                                http.get("scheme") or "HTTP", http.get("httpHeaders") or [], timeout)  # fmt: skip
    if isinstance(probe.get("tcpSocket"), dict):
        tcp = probe["tcpSocket"]
        return await tcp_probe(tcp.get("host") or "127.0.0.1", _port(tcp.get("port"), target.ports), timeout)
    return ProbeResult(True)


def _port(value: Any, ports: list[Obj]) -> int:
    if isinstance(value, int):
        return value
    for port in ports:
        if port.get("name") == value:
            return int(port.get("containerPort", 0))
    try:
        return int(str(value))
    except ValueError:
        return 0


async def exec_probe(command: Sequence[str], env: dict[str, str], cwd: Path, timeout: float) -> ProbeResult:
    if not command:
        return ProbeResult(False, "")
    try:
        code, output = await run_command(command, env, cwd, timeout, _MAX_OUTPUT)
    except OSError as e:
        return ProbeResult(False, f'exec: "{command[0]}": {e.strerror or e}')
    if code is None:
        return ProbeResult(False, f"command {shlex.join(command)!r} timed out")
    return ProbeResult(code == 0, output.decode("utf-8", "replace"))


async def http_probe(
    host: str, port: int, path: str, scheme: str, headers: list[Obj], timeout: float
) -> ProbeResult:
    url = f"{scheme.lower()}://{host}:{port}{path}"
    context = None
    if scheme.upper() == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout)
    except asyncio.TimeoutError:
        return ProbeResult(
            False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        )
    except OSError:
        return ProbeResult(False, f'Get "{url}": dial tcp {host}:{port}: connect: connection refused')
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: kube-probe/1.37", "Accept: */*",
                 "Connection: close"]  # fmt: skip
        lines += [f"{h.get('name')}: {h.get('value')}" for h in headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
    except (asyncio.TimeoutError, OSError):
        return ProbeResult(
            False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        )
    finally:
        writer.close()
    parts = status_line.split()
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if 200 <= code < 400:
        return ProbeResult(True)
    return ProbeResult(False, f"HTTP probe failed with statuscode: {code}")


async def tcp_probe(host: str, port: int, timeout: float) -> ProbeResult:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (asyncio.TimeoutError, OSError):
        return ProbeResult(False, f"dial tcp {host}:{port}: connect: connection refused")
    writer.close()
    return ProbeResult(True)
