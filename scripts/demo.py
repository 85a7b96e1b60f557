"""The main job: Airflow drives a Kubernetes cluster through this provider.

Starts the local Kubernetes API emulator (or uses your cluster when ``KUBECONFIG`` or
``--kubeconfig`` names one), starts ``airflow standalone`` on 127.0.0.1:8080 with the repo's
``dags/``, unpauses and triggers the flagship DAG ``deploy_scale_monitor``, follows it to the
end, prints the outcome, the UI address and the login, and keeps everything running until
Ctrl-C; then stops what it started. Run it again at any time: a demo still running from
before is stopped first; Airflow's database (and its run history) is kept in the state folder.

    .venv/bin/python scripts/demo.py [--port 8080] [--kubeconfig PATH] [--exit-when-done]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FLAGSHIP = "deploy_scale_monitor"
FINISHED = {"success", "failed"}


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")),
                        help="the Airflow UI/API port on 127.0.0.1 (default 8080)")  # fmt: skip
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG") or None,
                        help="use this cluster instead of the emulator (default: $KUBECONFIG)")  # fmt: skip
    parser.add_argument("--state-dir", type=Path, default=REPO / ".airflow-demo",
                        help="where Airflow's home, the emulator and the login live")  # fmt: skip
    parser.add_argument("--speed", type=float, default=5.0, help="emulator speed (default 5)")
    parser.add_argument("--exit-when-done", action="store_true",
                        help="stop everything once the run has finished (exit 0 on success)")  # fmt: skip
    return parser.parse_args(argv)


def stop_previous(pidfile: Path) -> None:
    """A demo that is still running (its pid in our pidfile) is stopped before we start."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return
    if pid == os.getpid() or "demo.py" not in cmdline:
        return
    say(f"stopping the demo still running from before (pid {pid})")
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def password(state: Path) -> str:
    path = state / "admin-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


@contextmanager
def cluster(args: argparse.Namespace, state: Path) -> Iterator[tuple[str, str]]:
    """(Airflow connection value, how to run kubectl against it)."""
    if args.kubeconfig:
        path = Path(args.kubeconfig).expanduser().resolve()
        if not path.is_file():
            raise SystemExit(f"[demo] kubeconfig: {path} is not a file")
        say(f"using your cluster from {path} (current context)")
        yield (json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(path)}}),
               f".venv/bin/kubectl --kubeconfig {path}")  # fmt: skip
        return
    from airflow_k8s_workflows.emulator import KubeEmulator

    say(f"no cluster configured: starting the local Kubernetes API emulator (speed {args.speed:g})")
    with KubeEmulator(speed=args.speed, nodes=2, workdir=state / "emulator") as emu:
        kubeconfig = state / "kubeconfig"
        kubeconfig.write_text(Path(emu.kubeconfig).read_text())
        say(f"emulator at {emu.url}, kubeconfig {kubeconfig}")
        yield emu.airflow_connection(inline=True), f".venv/bin/kubectl --kubeconfig {kubeconfig}"


def follow(af: Any, run_id: str, timeout: float = 900) -> str:
    """Print each task's state changes until the run finishes; returns the run's state."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    import httpx

    while time.monotonic() < deadline:
        try:
            instances = af.task_instances(FLAGSHIP, run_id)
            run = af.run(FLAGSHIP, run_id)
        except httpx.HTTPError as e:  # a busy API server: ask again
            say(f"  (Airflow API: {e!r}; asking again)")
            continue
        for ti in instances:
            state = ti.get("state") or "none"
            if seen.get(ti["task_id"]) != state:
                seen[ti["task_id"]] = state
                say(f"  {ti['task_id']:<13} {state}")
        if run["state"] in FINISHED:
            return str(run["state"])
        time.sleep(0.5)
    return "timed out"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    pidfile = state / "demo.pid"
    stop_previous(pidfile)
    if not port_is_free(args.port):
        say(f"port {args.port} on 127.0.0.1 is in use: stop what uses it, or run with PORT=<another port>")
        return 2
    pidfile.write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    login = ("admin", password(state))
    from airflow_k8s_workflows.testing.standalone import AirflowStandalone

    try:
        with ExitStack() as stack:
            connection, kubectl = stack.enter_context(cluster(args, state))
            say(f"starting airflow standalone on http://127.0.0.1:{args.port} (about 20 s)")
            af = stack.enter_context(
                AirflowStandalone(state / "airflow", REPO / "dags", port=args.port, login=login,
                                  env={"AIRFLOW_CONN_KUBERNETES_DEFAULT": connection}, startup_timeout=240)
            )  # fmt: skip
            af.wait_for_dag(FLAGSHIP, timeout=120)
            errors = af.import_errors()
            if errors:
                say(f"DAG import errors: {errors}")
            af.unpause(FLAGSHIP)
            run = af.trigger(FLAGSHIP)
            say(f"triggered {FLAGSHIP} run {run['dag_run_id']}:")
            outcome = follow(af, run["dag_run_id"])
            say(f"{FLAGSHIP} finished: {outcome.upper()}")
            say(f"Airflow UI: http://127.0.0.1:{args.port}   login: {login[0]} / {login[1]}")
            say(f"the cluster: {kubectl} get deploy,svc,pods,jobs -n demo")
            if args.exit_when_done:
                return 0 if outcome == "success" else 1
            say("running until Ctrl-C")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    finally:
        pidfile.unlink(missing_ok=True)
        say("stopped everything the demo started")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
