"""A real ``airflow standalone`` for end-to-end tests and the demo: start, wait until healthy,
REST helpers, restart the triggerer, stop without leaving a process behind.

Follows docs/dev/airflow-notes.md §9: free ports on 127.0.0.1 for the API and both log
servers, ``.venv/bin`` on PATH, ``PARALLELISM=4``, a new session for the process group; stop
with SIGINT, then SIGKILL whatever is left in the group. Authentication is off
(``SIMPLE_AUTH_MANAGER_ALL_ADMINS``) unless ``login=("user", "password")`` is given: then the
simple auth manager knows that one admin and the UI asks for it. :meth:`AirflowStandalone.token`
fetches a token either way, so requests look like a client's. Unless ``prewarm=False``,
``$AIRFLOW_HOME/config/airflow_local_settings.py`` imports the Kubernetes clients and this
provider in every Airflow process: the LocalExecutor forks task processes from the scheduler,
so each starts with them imported instead of paying about 1 s of CPU for them (measured: 100
deferrable JobSensor tasks, defer and resume, cost the workers 185 CPU-s without, 39 with)::

    with AirflowStandalone(tmp_path / "home", dags_folder, env={"AIRFLOW_CONN_X": "..."}) as af:
        af.wait_for_dag("my_dag")
        af.unpause("my_dag")
        run = af.trigger("my_dag", conf={"x": 1})
        af.wait_for_runs("my_dag", 1)
        af.restart_triggerer()
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

VENV_BIN = Path(sys.executable).parent
T = TypeVar("T")
WATCHED_COMPONENTS = ("scheduler", "dag-processor")
"""Components whose exit :meth:`AirflowStandalone.wait` reports (the triggerer is left out:
tests stop and replace it on purpose)."""
LIVENESS_EVERY = 2.0
"""Seconds between two looks at the components during a wait."""

__all__ = ["PREWARM", "AirflowStandalone", "TriggerLog", "free_port"]

PREWARM = """\
# written by airflow_k8s_workflows.testing.standalone: every Airflow process (and so every task
# process the LocalExecutor forks) starts with the Kubernetes clients and this provider imported
import airflow.providers.cncf.kubernetes.hooks.kubernetes  # noqa: F401
import kubernetes_asyncio.client  # noqa: F401
import airflow_k8s_workflows.hooks.kubernetes  # noqa: F401
import airflow_k8s_workflows.operators.job  # noqa: F401
import airflow_k8s_workflows.operators.apply  # noqa: F401
import airflow_k8s_workflows.sensors.job  # noqa: F401
import airflow_k8s_workflows.triggers.job  # noqa: F401
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def _wait_gone(procs: Iterable[Any], timeout: float) -> None:
    """Until every process has exited (a zombie counts as exited: its parent reaps it later)."""
    import psutil

    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending and time.monotonic() < deadline:
        still = []
        for proc in pending:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    still.append(proc)
            except psutil.NoSuchProcess:
                pass
        pending = still
        if pending:
            time.sleep(0.1)


def _stop_group(proc: subprocess.Popen[bytes], first: int, grace: float) -> None:
    pgid = proc.pid
    if proc.poll() is None:
        try:
            os.kill(proc.pid, first)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_members(pgid):
        time.sleep(0.1)
    if _group_members(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
        pass


@dataclass(frozen=True)
class TriggerLog:
    """A trigger log file, ``.../task_id=<t>/[map_index=<i>/]attempt=<try>.log.trigger.<triggerer
    job id>.log``, read from its path."""

    path: Path
    task_id: str
    map_index: int  # -1: not mapped
    try_number: int
    triggerer_job: str

    @classmethod
    def parse(cls, path: Path) -> TriggerLog | None:
        name = _TRIGGER_LOG_NAME.fullmatch(path.name)
        folders = [path.parent.name, path.parent.parent.name]
        map_index = -1
        if folders[0].startswith("map_index="):
            map_index = int(folders.pop(0).removeprefix("map_index="))
        if name is None or not folders[0].startswith("task_id="):
            return None
        task_id = folders[0].removeprefix("task_id=")
        return cls(path, task_id, map_index, int(name["try"]), name["triggerer"])


_TRIGGER_LOG_NAME = re.compile(r"attempt=(?P<try>\d+)\.log\.trigger\.(?P<triggerer>[^.]+)\.log")


class AirflowStandalone:
    """``airflow standalone`` in ``home`` with ``dags_folder`` (see the module docstring).

    :param env: extra environment (connections, config) for every component.
    :param startup_timeout: seconds to wait for all components to be healthy.
    :param port: the API server's port on 127.0.0.1 (default: a free one).
    :param login: ``(username, password)`` of the one admin; default: no login at all.
    :param fix_defer_race: install :mod:`airflow_k8s_workflows.testing.defer_race` in the
        scheduler (through a ``sitecustomize`` on the components' ``PYTHONPATH``): without it a
        deferred task whose trigger fires within seconds can be failed as "killed externally"
        on a busy machine (an Airflow 3.3 race, apache/airflow#72716).
    :param prewarm: write :data:`PREWARM` as ``airflow_local_settings.py`` (module docstring).
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        *,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 120.0,
        port: int | None = None,
        login: tuple[str, str] | None = None,
        fix_defer_race: bool = True,
        prewarm: bool = True,
    ) -> None:
        self.home = Path(home)
        self.dags_folder = Path(dags_folder)
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.login = login
        self.fix_defer_race = fix_defer_race
        self.prewarm = prewarm
        self.site_dir = self.home / "site"
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.triggerers: list[subprocess.Popen[bytes]] = []
        self.log_path = self.home / "standalone.log"
        self._token: str | None = None
        self._client = httpx.Client(base_url=self.base_url, timeout=60)
        self._seen_alive: set[str] = set()
        self.timings: dict[str, float] = {}
        """Seconds spent starting, restarting the triggerer and stopping (for slow-test hunting)."""

    # -- lifecycle ------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "airflow_k8s_workflows.testing.sqlite.CONNECT_ARGS",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            **self._auth_env(),
            **self._site_env(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "8",
            **self.extra_env,
        }

    def _auth_env(self) -> dict[str, str]:
        if self.login is None:
            return {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
        return {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.login[0]}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                self.home / "simple_auth_passwords.json"
            ),
        }

    def _site_env(self) -> dict[str, str]:
        if not self.fix_defer_race:
            return {}
        paths = [str(self.site_dir), *filter(None, [os.environ.get("PYTHONPATH")])]
        return {"PYTHONPATH": os.pathsep.join(paths)}

    def start(self) -> AirflowStandalone:
        began = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        if self.fix_defer_race:
            from airflow_k8s_workflows.testing.defer_race import SITECUSTOMIZE

            self.site_dir.mkdir(exist_ok=True)
            (self.site_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
        if self.prewarm:
            (self.home / "config").mkdir(exist_ok=True)
            (self.home / "config" / "airflow_local_settings.py").write_text(PREWARM)
        if self.login is not None:
            passwords = self.home / "simple_auth_passwords.json"
            passwords.write_text(json.dumps({self.login[0]: self.login[1]}))
            passwords.chmod(0o600)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "airflow"), "standalone"],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            self.wait_healthy(self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - began
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            response = self._client.get("/api/v2/monitor/health")
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def healthy(
        self, components: Iterable[str] = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    ) -> bool:
        found = self.health() or {}
        return all((found.get(c) or {}).get("status") == "healthy" for c in components)

    def wait_healthy(self, timeout: float) -> None:
        self.wait(self.healthy, timeout, "all components healthy")

    def wait(self, predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
        deadline = time.monotonic() + timeout
        checked = 0.0
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited ({self.proc.returncode}):\n{self.log_tail()}")
            if time.monotonic() - checked > LIVENESS_EVERY:
                checked = time.monotonic()
                self._raise_if_a_component_died()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.log_tail()}")
            time.sleep(interval)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGINT (standalone stops its components), then SIGKILL what is left; extra
        triggerers get SIGTERM first."""
        began = time.monotonic()
        for proc in self.triggerers:
            _stop_group(proc, signal.SIGTERM, 3)
        self.triggerers.clear()
        if self.proc is not None:
            _stop_group(self.proc, signal.SIGINT, 20)
            self.proc = None
        self._client.close()
        self.timings["stop"] = time.monotonic() - began

    def __enter__(self) -> AirflowStandalone:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- components -------------------------------------------------------------------------------
    def _raise_if_a_component_died(self) -> None:
        """``airflow standalone`` keeps serving when its scheduler or dag-processor exits (e.g.
        the scheduler on an error in its loop): say so at once instead of letting a wait time out."""
        import psutil

        if self.proc is None:
            return
        for name, process in self._components(WATCHED_COMPONENTS).items():
            try:
                alive = process is not None and process.status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                alive = False
            if alive:
                self._seen_alive.add(name)
            elif name in self._seen_alive:
                raise RuntimeError(f"the {name} of airflow standalone exited:\n{self.log_tail(120)}")

    def _component(self, name: str) -> Any:
        return self._components((name,))[name]

    def _components(self, names: Iterable[str]) -> dict[str, Any]:
        """name -> standalone's child process running ``airflow <name>`` (a ``psutil.Process``),
        None when there is none; one look at the children for all names."""
        import psutil

        assert self.proc is not None
        found: dict[str, Any] = dict.fromkeys(names)
        for child in psutil.Process(self.proc.pid).children():
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.Error:  # gone, or a zombie (e.g. the triggerer restart_triggerer stopped)
                continue
            for name in found:
                if found[name] is None and f"airflow {name}" in cmdline:
                    found[name] = child
        return found

    def triggerer_process(self) -> Any:
        """The running triggerer's top process (a ``psutil.Process``): the one
        :meth:`restart_triggerer` started last, else the one ``airflow standalone`` started."""
        import psutil

        if self.triggerers:
            return psutil.Process(self.triggerers[-1].pid)
        top = self._component("triggerer")
        if top is None:
            raise RuntimeError("no triggerer process found")
        return top

    def restart_triggerer(self, timeout: float = 60.0, while_down: Callable[[], Any] | None = None) -> None:
        """Stop the running triggerer and start a new one (own process group, stopped by
        :meth:`stop`); returns once the new one is healthy. ``while_down`` is called after the
        old one is gone and before the new one starts.

        The old one gets SIGTERM: its TriggerRunner cancels every trigger (their ``finally`` and
        ``cleanup()`` run) and exits; the rest of its supervisor's graceful exit (about 10 s, the
        log server) is cut short with SIGKILL. Its job then looks dead after
        ``[triggerer] triggerer_health_check_threshold`` and the new triggerer takes its triggers
        over, as after a crash.
        """
        import psutil

        began = time.monotonic()
        top = self.triggerer_process()
        running = self.triggerers.pop() if self.triggerers else None
        family = [top, *top.children(recursive=True)]
        runners = [p for p in family[1:] if "airflow triggerer" in " ".join(p.cmdline())]
        top.terminate()
        _wait_gone(runners, 20)
        for proc in family:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        _wait_gone(family, 10)
        if running is not None:
            running.wait(10)
        self.timings["triggerer_stopped"] = time.monotonic() - began
        if while_down is not None:
            while_down()
        restarted = datetime.now(timezone.utc)
        log = (self.home / f"triggerer-{len(self.triggerers) + 1}.log").open("ab")
        env = {**self.env(), "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        self.triggerers.append(
            subprocess.Popen(
                [str(VENV_BIN / "airflow"), "triggerer"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()
        self.wait(
            lambda: self._triggerer_heartbeat_after(restarted), timeout, "the new triggerer's heartbeat"
        )
        self.timings["triggerer_restarted"] = time.monotonic() - began

    def _triggerer_heartbeat_after(self, when: datetime) -> bool:
        beat = ((self.health() or {}).get("triggerer") or {}).get("latest_triggerer_heartbeat")
        return bool(beat) and datetime.fromisoformat(str(beat).replace("Z", "+00:00")) > when

    # -- REST ---------------------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None and self.login is not None:
            response = self._client.post(
                "/auth/token", json={"username": self.login[0], "password": self.login[1]}
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        if self._token is None:
            response = self._client.get("/auth/token")
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        for attempt in range(3 if method == "GET" else 1):  # a loaded machine: reads are safe to repeat
            try:
                return self._client.request(method, f"/api/v2{path}", headers=headers, **kwargs)
            except httpx.TimeoutException:
                if attempt == 2 or method != "GET":
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str, **params: Any) -> Any:
        response = self.api("GET", path, params=params or None)
        response.raise_for_status()
        return response.json()

    def wait_for_dag(self, dag_id: str, timeout: float = 60.0) -> dict[str, Any]:
        def parsed() -> dict[str, Any] | None:
            response = self.api("GET", f"/dags/{dag_id}")
            return response.json() if response.status_code == 200 else None

        return self.wait(parsed, timeout, f"DAG {dag_id} to be parsed")

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.get("/importErrors")["import_errors"])

    def unpause(self, dag_id: str) -> None:
        self.set_paused(dag_id, False)

    def pause(self, dag_id: str) -> None:
        """The scheduler starts no queued run and queues no task of a paused DAG."""
        self.set_paused(dag_id, True)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": paused}).raise_for_status()

    def trigger(
        self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)
        response.raise_for_status()
        return dict(response.json())

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns", order_by="run_after", limit=100)["dag_runs"])

    def wait_for_runs(
        self, dag_id: str, count: int, *, states: Iterable[str] = ("success",), timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        wanted = set(states)
        finished = {"success", "failed"}

        def done() -> list[dict[str, Any]] | None:
            runs = self.runs(dag_id)
            if len(runs) >= count and all(r["state"] in finished for r in runs):
                bad = [r for r in runs if r["state"] not in wanted]
                if bad:
                    raise AssertionError(
                        f"runs of {dag_id} ended {[(r['dag_run_id'], r['state']) for r in bad]}"
                    )
                return runs
            return None

        return self.wait(done, timeout, f"{count} finished run(s) of {dag_id}")

    @staticmethod
    def run_path(dag_id: str, run_id: str) -> str:
        """The run's path in ``/api/v2`` (run ids hold ``:`` and ``+``)."""
        return f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The run as ``GET /dags/{dag_id}/dagRuns/{run_id}`` returns it."""
        return dict(self.get(self.run_path(dag_id, run_id)))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (all pages: mapped tasks make many)."""
        path = f"{self.run_path(dag_id, run_id)}/taskInstances"
        found: list[dict[str, Any]] = []
        while True:
            page = self.get(path, limit=100, offset=len(found))
            found.extend(page["task_instances"])
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """The task instance's ``return_value``, None when it pushed none."""
        response = self.api(
            "GET",
            f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"map_index": map_index, "deserialize": True},
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()["value"]

    def count_task_instances(self, dag_id: str, run_id: str, *states: str) -> int:
        """How many task instances of the run are in one of ``states``."""
        page = self.get(f"{self.run_path(dag_id, run_id)}/taskInstances", state=list(states), limit=1)
        return int(page["total_entries"])

    def upstream_asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"{self.run_path(dag_id, run_id)}/upstreamAssetEvents")["asset_events"])

    def trigger_logs(self, dag_id: str, run_id: str) -> list[TriggerLog]:
        """The run's trigger log files: one per trigger a triggerer started."""
        base = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        found = (TriggerLog.parse(p) for p in base.glob("task_id=*/**/*.log.trigger.*.log"))
        return sorted((log for log in found if log is not None), key=lambda log: log.path)

    def asset(self, name: str) -> dict[str, Any] | None:
        for found in self.get("/assets", name_pattern=name)["assets"]:
            if found["name"] == name:
                return dict(found)
        return None

    def asset_events(self, asset_id: int) -> list[dict[str, Any]]:
        return list(self.get("/assets/events", asset_id=asset_id, limit=100)["asset_events"])

    def asset_state(self, asset_id: int) -> list[dict[str, Any]]:
        return list(self.get(f"/assets/{asset_id}/state-store")["asset_state_store"])
