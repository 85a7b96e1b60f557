"""Real Prometheus and Alertmanager for the monitoring tests (a pytest plugin module).

Test modules load it with ``pytest_plugins = ["tests.monitoring_servers"]``; it is registered
once, so every module shares one of each per session:

* ``monitored_emulator``: a KubeEmulator whose ``/metrics`` Prometheus scrapes (tests use their
  own namespace in it: :func:`fresh_namespace`);
* ``prometheus``: Debian's ``/usr/bin/prometheus`` on 127.0.0.1:<free port>, scraping the
  emulator every second, temp data dir; ready once the target is up (Prometheus' own API);
* ``alertmanager``: ``/usr/bin/prometheus-alertmanager`` on 127.0.0.1:<free port>, clustering
  off, temp storage, routing every alert (one group per label set) to ``webhook``, a local
  receiver that records what Alertmanager sends, resolved notifications included;
* ``prometheus_conn`` / ``alertmanager_conn``: ``prometheus_default`` / ``alertmanager_default``
  pointing at them for one test (environment variables, as a user would set them).

Test modules import from here only under ``TYPE_CHECKING`` (a plugin module imported before
pytest registers it escapes assertion rewriting). The servers are stopped by their PID at the
end of the session. scripts/bootstrap.sh installs
both; a missing binary fails the test with that instruction (never a skip).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.core import free_port
from tests.helpers import wait_for

PROMETHEUS_BIN = "/usr/bin/prometheus"
ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager"
SLEEP_CONTAINER = {"name": "main", "image": "busybox:1", "command": ["sleep", "3600"]}


def require_binary(path: str) -> str:
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{path} is missing: run scripts/bootstrap.sh (it installs Debian's prometheus and "
            "prometheus-alertmanager packages)",
            pytrace=False,
        )
    return path


try:
    _LIBC: Any = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded here: a forked child must not dlopen
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, so a killed run leaves no server behind."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def http_json(url: str, data: bytes | None = None, timeout: float = 5) -> Any:
    request = urllib.request.Request(url, data=data)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


class ServerProcess:
    """A server binary run as a child process; ``stop()`` signals its PID."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)  # fmt: skip

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_until(self, predicate: Callable[[], Any], timeout: float, message: str) -> Any:
        def probe() -> Any:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                return predicate()
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                return None

        return wait_for(probe, timeout=timeout, interval=0.1, message=f"{self.name}: {message}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class Prometheus(ServerProcess):
    name = "prometheus"

    def __init__(self, workdir: Path, target: str) -> None:
        super().__init__(workdir)
        self.target = target
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "emulator", "static_configs": [{"targets": [target]}]}],
        }
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(json.dumps(config))  # YAML is a superset of JSON

    def args(self) -> list[str]:
        return [
            require_binary(PROMETHEUS_BIN),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
        ]

    def start(self) -> None:
        super().start()

        def target_up() -> bool:
            targets = http_json(f"{self.url}/api/v1/targets")["data"]["activeTargets"]
            return any(
                t["scrapeUrl"].startswith(f"http://{self.target}/") and t["health"] == "up" for t in targets
            )

        # Prometheus hands new targets to its scrapers every 5 s: the first scrape comes ~5 s in.
        self.wait_until(target_up, timeout=30, message=f"scraping {self.target}")

    def query(self, promql: str) -> list[dict[str, Any]]:
        body = urllib.parse.urlencode({"query": promql}).encode()
        result: list[dict[str, Any]] = http_json(f"{self.url}/api/v1/query", data=body)["data"]["result"]
        return result

    def wait_for_series(self, promql: str, count: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
        """Wait until ``promql`` returns ``count`` series (a scrape has seen what the test did)."""
        result: list[dict[str, Any]] = self.wait_until(
            lambda: (r := self.query(promql)) and len(r) == count and r,
            timeout,
            f"{count} series of {promql}",
        )
        return result


class WebhookSink:
    """What Alertmanager's webhook receiver posts, recorded (listens on 127.0.0.1 only)."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-sink", daemon=True)
        self._thread.start()

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """Every alert notified so far whose labels include ``labels``, in arrival order."""
        with self._lock:
            notified = [a for n in self.notifications for a in n.get("alerts", [])]
        return [a for a in notified if all(a["labels"].get(k) == v for k, v in labels.items())]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ScriptedServer:
    """For faults real servers will not produce on demand (429/503 with Retry-After): answers
    each request with the next scripted ``(status, headers, body)`` (the last one repeats) and
    records what came in. Listens on 127.0.0.1 only."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], Any]] = [(200, {}, {})]
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append({"method": self.command, "path": self.path,
                                        "headers": dict(self.headers), "body": body, "at": time.monotonic()})  # fmt: skip
                status, headers, payload = server.script[min(len(server.requests), len(server.script)) - 1]
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="scripted-http", daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Alertmanager(ServerProcess):
    name = "alertmanager"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.webhook = WebhookSink()
        config = {
            "route": {
                "receiver": "sink",
                "group_by": ["..."],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "sink", "webhook_configs": [{"url": self.webhook.url, "send_resolved": True}]}
            ],
        }
        self.config_path = workdir / "alertmanager.yml"
        self.config_path.write_text(json.dumps(config))

    def args(self) -> list[str]:
        return [
            require_binary(ALERTMANAGER_BIN),
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]

    def start(self) -> None:
        super().start()
        self.wait_until(lambda: urllib.request.urlopen(f"{self.url}/-/ready", timeout=2).status == 200, 20,
                        "ready")  # fmt: skip

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.webhook.stop()

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` filtered by label equality (what Alertmanager holds as not resolved)."""
        query = urllib.parse.urlencode([("filter", f'{k}="{v}"') for k, v in labels.items()])
        result: list[dict[str, Any]] = http_json(f"{self.url}/api/v2/alerts?{query}")
        return result


class MonitoredCluster:
    """The monitored emulator through the official client, with the few writes the tests need."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def namespace(self, name: str) -> str:
        """Create namespace ``name`` (each test keeps to its own in the shared emulator)."""
        from kubernetes import client

        client.CoreV1Api(self.api).create_namespace({"metadata": {"name": name}})
        return name

    def deploy(self, namespace: str, name: str, replicas: int) -> None:
        """A Deployment of ``replicas`` sleeping busybox pods (the emulator's kubelet runs them)."""
        from kubernetes import client

        labels = {"app": name}
        client.AppsV1Api(self.api).create_namespaced_deployment(namespace, {
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [SLEEP_CONTAINER]}}},
        })  # fmt: skip


def connection_json(conn_type: str, url: str, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_*`` value (JSON form) for a server of ours."""
    parts = urllib.parse.urlsplit(url)
    return json.dumps(
        {"conn_type": conn_type, "host": parts.hostname, "port": parts.port, "schema": "http", "extra": extra}
    )


@pytest.fixture(scope="session")
def monitored_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEmulator]:
    with KubeEmulator(speed=20, workdir=tmp_path_factory.mktemp("monitored-emulator")) as emu:
        yield emu


@pytest.fixture(scope="session")
def monitored_cluster(monitored_emulator: KubeEmulator) -> Iterator[MonitoredCluster]:
    from kubernetes import config

    api = config.new_client_from_config(monitored_emulator.kubeconfig)
    yield MonitoredCluster(api)
    api.close()


@pytest.fixture(scope="session")
def prometheus(
    monitored_emulator: KubeEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    server = Prometheus(
        tmp_path_factory.mktemp("prometheus"), f"{monitored_emulator.host}:{monitored_emulator.port}"
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    server = Alertmanager(tmp_path_factory.mktemp("alertmanager"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.stop()


@pytest.fixture
def prometheus_conn(prometheus: Prometheus, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_PROMETHEUS_DEFAULT", connection_json("prometheus", prometheus.url, max_retries=1)
    )
    return prometheus.url


@pytest.fixture
def alertmanager_conn(alertmanager: Alertmanager, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ALERTMANAGER_DEFAULT", connection_json("alertmanager", alertmanager.url, max_retries=1)
    )
    return alertmanager.url
