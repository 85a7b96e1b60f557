"""1,000 concurrent Job waits in one event loop: our JobTrigger vs the official KubernetesJobTrigger.

    .venv/bin/python benchmarks/job_waits.py [--n 1000] [--official-n 1000] [--hold 60] [--speed 50]

About 6 minutes on 2 cores. With ``--official-n`` below ``--n``, ours also runs at the official
trigger's N, and the summary compares the two at that N.

What a triggerer pays to wait for N running Jobs until each finishes. For each contender:

1. the emulator (its own process: its CPU is not counted) runs N Jobs whose pods block on a
   FIFO (``cat``), then sleep 1-3 s once it is opened; every pod is Running before the wait;
2. a fresh worker process (``--worker``) builds N triggers, runs them concurrently in one event
   loop, and records when each event arrives;
3. ``--hold`` seconds (default 60) later the FIFO opens; the Jobs finish within a few seconds;
   the worker exits after the last event.

Reported per contender: API requests the worker sent (the emulator's ``apiserver_request_total``
delta over the worker's lifetime) and per minute, CPU seconds of the worker while waiting
(``getrusage``), its peak RSS and RSS growth while waiting, and the latency from a Job's
completion (the moment the emulator committed its ``Complete`` condition, recorded inside the
emulator) to the event, p50/p99.

Ours: ``JobTrigger(name, namespace, uid)`` with ``kubernetes_default`` pointing at the emulator's
kubeconfig file. Official: ``KubernetesJobTrigger`` at its defaults (``poll_interval=10``,
``get_logs=True``, ``do_xcom_push=False``), given each Job's pod names, ``base_container_name``
and the kubeconfig file path (``config_file``), as ``KubernetesJobOperator`` builds it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPORT_FD_ENV = "JOB_WAITS_REPORT_FD"
"""The worker reports on this pipe; its stdout (the triggers' log lines) goes to a file."""


# -- the emulator, in its own process -----------------------------------------------------------------
def serve_emulator(args: argparse.Namespace) -> None:
    """``--serve``: run the emulator, append ``<job> <unix time>`` when a Job turns Complete."""
    from airflow_k8s_workflows.emulator import KubeEmulator

    out = open(args.completions, "a", buffering=1)  # noqa: SIM115 - closed at exit
    seen: set[tuple[str, str]] = set()

    def listener(change: Any) -> None:
        conditions = (change.obj.get("status") or {}).get("conditions") or []
        if change.key not in seen and any(
            c.get("type") == "Complete" and c.get("status") == "True" for c in conditions
        ):
            seen.add(change.key)
            out.write(f"{change.key[0]}/{change.key[1]} {time.time():.6f}\n")

    emu = KubeEmulator(port=args.port, speed=args.speed, nodes=args.nodes, node_cpu="64",
                       node_memory="256Gi", workdir=args.workdir)  # fmt: skip
    emu.start()
    emu.call(lambda: emu.store.subscribe(("batch", "jobs"), listener))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    emu.stop()


class Emulator:
    def __init__(self, workdir: Path, speed: float, nodes: int) -> None:
        from airflow_k8s_workflows.emulator.core import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.completions = workdir / "completions.txt"
        self.kubeconfig = workdir / "emu" / "kubeconfig.yaml"
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), "--serve", "--port", str(self.port), "--speed", str(speed),
             "--nodes", str(nodes), "--workdir", str(workdir / "emu"), "--completions", str(self.completions)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the emulator did not start")

    def requests(self) -> int:
        from airflow_k8s_workflows.emulator.metrics import RequestCounter

        return RequestCounter.scrape(self.url).total()

    def completed(self, namespace: str) -> dict[str, float]:
        out = {}
        for line in self.completions.read_text().splitlines():
            key, stamp = line.split()
            ns, name = key.split("/")
            if ns == namespace:
                out[name] = float(stamp)
        return out

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


# -- setting up the Jobs (the orchestrator's requests happen before the measured window) ---------------
def create_jobs(api: Any, namespace: str, n: int, fifo: Path) -> list[dict[str, Any]]:
    from kubernetes import client

    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    core.create_namespace({"metadata": {"name": namespace}})
    jobs = []
    for i in range(n):
        script = f"cat {fifo} > /dev/null; sleep {1 + (i % 21) * 0.1:.1f}"
        body = {"metadata": {"name": f"job-{i}"}, "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}]}}}}  # fmt: skip
        created = batch.create_namespaced_job(namespace, body)
        jobs.append({"name": created.metadata.name, "uid": created.metadata.uid})
    deadline = time.monotonic() + 600
    while True:
        pods = core.list_namespaced_pod(namespace).items
        running = [p for p in pods if p.status.phase == "Running"]
        if len(running) >= n:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(running)}/{n} pods running")
        time.sleep(0.5)
    by_job: dict[str, list[str]] = {}
    for p in pods:
        by_job.setdefault(p.metadata.labels["batch.kubernetes.io/job-name"], []).append(p.metadata.name)
    for job in jobs:
        job["pods"] = by_job[job["name"]]
    return jobs


def report(message: str) -> None:
    """Worker side: one line to the orchestrator."""
    os.write(int(os.environ[REPORT_FD_ENV]), (message + "\n").encode())


def read_report(reports: Any, proc: subprocess.Popen[bytes]) -> str:
    line = reports.readline()
    if not line:
        raise RuntimeError(f"the worker exited ({proc.wait()}) without reporting; see its log")
    return str(line).strip()


def open_gate(fifo: Path, hold: float = 2.0) -> None:
    """Every blocked ``cat`` reads EOF once the writer closes (held open so late readers get in too)."""
    fd = os.open(fifo, os.O_WRONLY)
    time.sleep(hold)
    os.close(fd)


# -- the worker: N triggers in one event loop ---------------------------------------------------------
def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def make_triggers(kind: str, namespace: str, jobs: list[dict[str, Any]], kubeconfig: str) -> list[Any]:
    if kind == "ours":
        import kubernetes_asyncio.client  # noqa: F401 - imported before measuring, as a warm triggerer has it
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook  # noqa: F401

        import airflow_k8s_workflows.hooks.kubernetes
        import airflow_k8s_workflows.kube.watch  # noqa: F401
        from airflow_k8s_workflows.triggers.job import JobTrigger

        return [JobTrigger(name=j["name"], namespace=namespace, uid=j["uid"]) for j in jobs]
    from airflow.providers.cncf.kubernetes.triggers.job import KubernetesJobTrigger

    return [
        KubernetesJobTrigger(
            job_name=j["name"],
            job_namespace=namespace,
            pod_names=j["pods"],
            pod_namespace=namespace,
            base_container_name="main",
            kubernetes_conn_id=None,
            config_file=kubeconfig,
        )
        for j in jobs
    ]


async def wait_all(triggers: list[Any], names: list[str]) -> tuple[dict[str, float], dict[str, str]]:
    received: dict[str, float] = {}
    statuses: dict[str, str] = {}

    async def one(trigger: Any, name: str) -> None:
        gen = trigger.run()
        try:
            async for event in gen:
                received[name] = time.time()
                statuses[name] = event.payload["status"]
                return
        except Exception as e:  # in a triggerer this fails the task instance
            statuses[name] = f"raised {type(e).__name__}"
        finally:
            await gen.aclose()

    tasks = [asyncio.ensure_future(one(t, n)) for t, n in zip(triggers, names, strict=True)]
    await asyncio.sleep(3)  # every trigger has made its first request
    report("waiting")
    await asyncio.gather(*tasks)
    return received, statuses


def worker(args: argparse.Namespace) -> None:
    jobs = json.loads(Path(args.jobs).read_text())
    triggers = make_triggers(args.worker, args.namespace, jobs, args.kubeconfig)
    rss0 = rss_kib()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    received, statuses = asyncio.run(wait_all(triggers, [j["name"] for j in jobs]))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    report(json.dumps({
        "received": received, "statuses": statuses,
        "cpu": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        "peak_rss_kib": cpu1.ru_maxrss, "rss_before_kib": rss0,
    }))  # fmt: skip


# -- one contender ---------------------------------------------------------------------------------------
def run_contender(emu: Emulator, api: Any, kind: str, n: int, workdir: Path, hold: float) -> dict[str, Any]:
    namespace = f"{kind}-{n}"
    fifo = workdir / f"gate-{namespace}"
    os.mkfifo(fifo)
    print(f"[{kind} n={n}] creating {n} Jobs and waiting for their pods...", flush=True)
    jobs = create_jobs(api, namespace, n, fifo)
    jobs_file = workdir / f"jobs-{namespace}.json"
    jobs_file.write_text(json.dumps(jobs))
    read_fd, write_fd = os.pipe()
    env = {**os.environ, REPORT_FD_ENV: str(write_fd), "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config_path": str(emu.kubeconfig)}})}  # fmt: skip
    requests_before = emu.requests()
    started = time.time()
    with open(workdir / f"worker-{namespace}.log", "wb") as worker_log:
        proc = subprocess.Popen(
            [sys.executable, str(HERE), "--worker", kind, "--namespace", namespace, "--jobs", str(jobs_file),
             "--kubeconfig", str(emu.kubeconfig)],
            stdout=worker_log, stderr=subprocess.STDOUT, env=env, pass_fds=(write_fd,),
        )  # fmt: skip
    os.close(write_fd)
    with os.fdopen(read_fd, "r") as reports:
        if read_report(reports, proc) != "waiting":
            raise RuntimeError("the worker did not start its triggers")
        print(f"[{kind} n={n}] all triggers waiting; the Jobs run {hold:g} s more", flush=True)
        time.sleep(hold)
        open_gate(fifo)
        result = json.loads(read_report(reports, proc))
    proc.wait(60)
    ended = time.time()
    requests = emu.requests() - requests_before
    completed = emu.completed(namespace)
    ok = [name for name, status in result["statuses"].items() if status == "success" and name in completed]
    failures = Counter(s for s in result["statuses"].values() if s != "success")
    latencies = sorted(result["received"][name] - completed[name] for name in ok) or [float("nan")]
    minutes = (ended - started) / 60
    return {
        "kind": kind,
        "n": n,
        "requests": requests,
        "requests_per_min": requests / minutes,
        "window_s": ended - started,
        "cpu_s": result["cpu"],
        "peak_rss_mib": result["peak_rss_kib"] / 1024,
        "rss_growth_mib": (result["peak_rss_kib"] - result["rss_before_kib"]) / 1024,
        "p50_s": statistics.median(latencies),
        "p99_s": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_s": latencies[-1],
        "ok": len(ok),
        "failures": dict(failures),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'contender':<22}{'N':>6}{'events ok':>10}{'requests':>10}{'req/min':>10}{'CPU s':>8}"
        f"{'peak RSS':>10}{'RSS +':>8}{'p50 s':>8}{'p99 s':>8}{'max s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        name = "JobTrigger (ours)" if r["kind"] == "ours" else "KubernetesJobTrigger"
        lines.append(
            f"{name:<22}{r['n']:>6}{r['ok']:>10}{r['requests']:>10}{r['requests_per_min']:>10.1f}"
            f"{r['cpu_s']:>8.2f}{r['peak_rss_mib']:>9.0f}M{r['rss_growth_mib']:>7.0f}M{r['p50_s']:>8.3f}"
            f"{r['p99_s']:>8.3f}{r['max_s']:>8.3f}"
        )
    for r in rows:
        if r["failures"]:
            lines.append(f"  {r['kind']} N={r['n']}: triggers that did not succeed: {r['failures']}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1000, help="Jobs waited on by ours (default 1000)")
    p.add_argument("--official-n", type=int, default=1000, help="Jobs waited on by the official trigger")
    p.add_argument(
        "--hold", type=float, default=60, help="seconds the Jobs keep running once all triggers wait"
    )
    p.add_argument("--speed", type=float, default=50)
    p.add_argument("--nodes", type=int, default=0, help="default: enough for the pods (110 per node)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker", choices=["ours", "official"], help=argparse.SUPPRESS)
    for hidden in ("--port", "--workdir", "--completions", "--namespace", "--jobs", "--kubeconfig"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        args.port, args.nodes = int(args.port), int(args.nodes)
        serve_emulator(args)
        return 0
    if args.worker:
        worker(args)
        return 0

    from kubernetes import config

    contenders = [("ours", args.n), ("official", args.official_n)]
    if args.official_n != args.n:
        contenders.insert(1, ("ours", args.official_n))  # the same N as the official trigger
    nodes = args.nodes or (max(args.n, args.official_n) // 100 + 1)
    with tempfile.TemporaryDirectory(prefix="job-waits-") as tmp:
        workdir = Path(tmp)
        emu = Emulator(workdir, args.speed, nodes)
        try:
            api = config.new_client_from_config(str(emu.kubeconfig))
            rows = [run_contender(emu, api, kind, n, workdir, args.hold) for kind, n in contenders]
        finally:
            with contextlib.suppress(Exception):
                emu.stop()
    print()
    print(table(rows))
    theirs = rows[-1]
    ours = next(r for r in rows if r["kind"] == "ours" and r["n"] == theirs["n"])
    print(
        f"\nat N={theirs['n']}: {theirs['requests'] / max(ours['requests'], 1):.0f}x fewer requests "
        f"({ours['requests']} vs {theirs['requests']}), {theirs['cpu_s'] / max(ours['cpu_s'], 1e-9):.1f}x less CPU, "
        f"peak RSS {ours['peak_rss_mib']:.0f} vs {theirs['peak_rss_mib']:.0f} MiB "
        f"(+{ours['rss_growth_mib']:.0f} vs +{theirs['rss_growth_mib']:.0f} MiB while waiting), "
        f"p99 {ours['p99_s']:.3f} s vs {theirs['p99_s']:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
