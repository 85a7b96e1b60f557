"""N concurrent deferred tasks in ONE real triggerer (``airflow standalone``, LocalExecutor,
SQLite) against the emulator.

    .venv/bin/python benchmarks/triggerer_load.py [--n 1000] [--hold 30] [--parallelism 10] [--no-prewarm]

The cheapest deferred task: a mapped ``JobSensor(deferrable=True)`` over N Jobs created
beforehand in an emulator without controllers or kubelet (the Jobs run nowhere; the benchmark
writes their status, as the Job controller would). Each task instance runs once on a worker
(one GET, then defer) and once more to resume. Phases and figures:

1. **to all deferred**: from triggering the run until N task instances are ``deferred``, and
   until the triggerer has started N triggers (one ``*.log.trigger.*.log`` file each);
2. **waiting** (``--hold`` s, nothing changes): triggerer CPU seconds and API requests to the
   emulator (all of them are the triggerer's: the tasks are deferred);
3. **completion**: every Job is marked Complete (status subresource, from 16 threads); time
   from the first write to the last one, and from the last write to N ``success``; per task
   instance, Job completion to TI ``end_date`` (p50, p99, max);
4. the triggerer: peak RSS of its TriggerRunner process (and of its supervisor), CPU seconds
   over the whole run, API requests by verb and resource.

Task processes start with the Kubernetes clients imported (``airflow_local_settings.py``, see
``AirflowStandalone(prewarm=True)``) unless ``--no-prewarm``: otherwise each of the 2 N task
process runs pays about 1 s of CPU for ``import kubernetes``/``kubernetes_asyncio``/the cncf
hook, which is what dominates "to all deferred" on 2 cores, not the triggerer.

``tests/reliability/test_airflow_reliability.py::test_no_lost_completions_across_a_triggerer_restart``
runs the same DAG and helpers at N=100 inside the shared standalone of that module.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
if str(HERE.parent.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent.parent))

DAG_TEMPLATE = '''
"""{n} deferred JobSensor waits on Jobs created beforehand (benchmarks/triggerer_load.py)."""
import pendulum
from airflow.sdk import DAG

from airflow_k8s_workflows.sensors.job import JobSensor

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False,
         max_active_tasks={n}):
    JobSensor.partial(
        task_id="wait", namespace="{namespace}", kubernetes_conn_id="{conn_id}", deferrable=True,
        timeout=3600, poke_interval=60, retries=0,
    ).expand(name=[f"{prefix}-{{i:05d}}" for i in range({n})])
'''

ENV = {
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "100000",
    "AIRFLOW__CORE__MAX_MAP_LENGTH": "100000",
    "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "64",
}
"""What the load needs beyond the harness's defaults (PARALLELISM is set by the caller)."""


def dag_source(dag_id: str, n: int, namespace: str, conn_id: str, prefix: str = "load") -> str:
    return textwrap.dedent(DAG_TEMPLATE).format(
        dag_id=dag_id, n=n, namespace=namespace, conn_id=conn_id, prefix=prefix
    )


def job_names(n: int, prefix: str = "load") -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(n)]


def _job(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}
            }
        },
    }


def _parallel(fn: Any, items: list[str], threads: int = 16) -> None:
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(fn, item) for item in items]:
            future.result()


def create_jobs(api: Any, namespace: str, names: list[str]) -> None:
    from kubernetes import client

    batch = client.BatchV1Api(api)
    _parallel(lambda name: batch.create_namespaced_job(namespace, _job(name)), names)


JOB_ENDINGS = {  # the Job controller's conditions, interim then terminal: (types..., reason, message)
    True: (
        "SuccessCriteriaMet",
        "Complete",
        "CompletionsReached",
        "Reached expected number of succeeded pods",
    ),
    False: ("FailureTarget", "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
}


def finish_jobs(api: Any, namespace: str, outcomes: dict[str, bool]) -> dict[str, float]:
    """Write Complete (True) or Failed (False) into each Job's status; name -> wall time of the write."""
    from kubernetes import client

    batch = client.BatchV1Api(api)
    written: dict[str, float] = {}

    def finish(name: str) -> None:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        interim, terminal, reason, message = JOB_ENDINGS[outcomes[name]]
        conditions = [{"type": kind, "status": "True", "reason": reason, "message": message,
                       "lastTransitionTime": now} for kind in (interim, terminal)]  # fmt: skip
        counts = {"succeeded": 1, "completionTime": now} if outcomes[name] else {"failed": 1}
        status = {"conditions": conditions, "startTime": now, **counts}
        batch.patch_namespaced_job_status(name, namespace, {"status": status})
        written[name] = time.time()

    _parallel(finish, list(outcomes))
    return written


# -- Airflow side -------------------------------------------------------------------------------------
def state_counts(tis: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(str(ti["state"]) for ti in tis))


def triggerer_processes(af: Any) -> list[Any]:
    """The running triggerer's supervisor and TriggerRunner (not its log server)."""
    top = af.triggerer_process()
    family = [top, *top.children(recursive=True)]
    return [p for p in family if "triggerer" in " ".join(p.cmdline())]


@dataclass
class Sampler:
    """Peak RSS (MiB) of each triggerer process, sampled every ``interval`` s in a thread."""

    processes: list[Any]
    interval: float = 0.5
    peak: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        for p in self.processes:
            try:
                rss = p.memory_info().rss / 2**20
            except Exception:
                continue
            self.peak[p.pid] = max(self.peak.get(p.pid, 0.0), rss)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sample()


def cpu_seconds(processes: list[Any]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
        except Exception:
            continue
        total += t.user + t.system
    return total


@dataclass
class Figures:
    n: int
    to_all_deferred: float = 0.0
    to_all_triggers_started: float = 0.0
    hold: float = 0.0
    hold_cpu: float = 0.0
    hold_requests: int = 0
    completion_writes: float = 0.0
    last_write_to_all_success: float = 0.0
    event_p50: float = 0.0
    event_p99: float = 0.0
    event_max: float = 0.0
    events: int = 0
    latency_p50: float = 0.0
    latency_p99: float = 0.0
    latency_max: float = 0.0
    runner_peak_rss_mib: float = 0.0
    supervisor_peak_rss_mib: float = 0.0
    triggerer_cpu: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        req = ", ".join(f"{k} {v}" for k, v in sorted(self.requests.items()))
        return [
            f"N = {self.n} deferred JobSensor tasks, one triggerer",
            f"to all deferred:               {self.to_all_deferred:7.1f} s (all {self.n} triggers started: "
            f"{self.to_all_triggers_started:.1f} s)",
            f"waiting {self.hold:.0f} s:                 triggerer CPU {self.hold_cpu:.2f} s, "
            f"API requests {self.hold_requests}",
            f"completion writes:             {self.completion_writes:7.1f} s for {self.n} Jobs",
            f"last write -> all success:     {self.last_write_to_all_success:7.1f} s",
            f"Job complete -> trigger event: p50 {self.event_p50:.2f} s, p99 {self.event_p99:.2f} s, "
            f"max {self.event_max:.2f} s ({self.events} events, from the triggerer's log)",
            f"Job complete -> TI end_date:   p50 {self.latency_p50:.1f} s, p99 {self.latency_p99:.1f} s, "
            f"max {self.latency_max:.1f} s (the resumes queue for {self.n} worker runs)",
            f"triggerer peak RSS:            runner {self.runner_peak_rss_mib:.0f} MiB, supervisor "
            f"{self.supervisor_peak_rss_mib:.0f} MiB",
            f"triggerer CPU (whole run):     {self.triggerer_cpu:.1f} s",
            f"API requests to the emulator:  {sum(self.requests.values())} ({req}; GET = each task's "
            "poke before it defers, PATCH = the benchmark's status writes, LIST/WATCH = the triggerer)",
            f"final states:                  {self.states}",
        ]


def run_load(
    af: Any,
    emu: Any,
    api: Any,
    *,
    dag_id: str,
    namespace: str,
    n: int,
    hold: float = 10.0,
    timeout: float = 600.0,
    prefix: str = "load",
    log: Any = print,
) -> Figures:
    """One run of the DAG written by :func:`dag_source` (the Jobs are created here)."""
    figures = Figures(n)
    names = job_names(n, prefix)
    create_jobs(api, namespace, names)
    af.wait_for_dag(dag_id, timeout=120)
    processes = triggerer_processes(af)
    sampler = Sampler(processes).start()
    cpu_start = cpu_seconds(processes)
    requests_start = emu.http.counter.by_request()
    try:
        began = time.monotonic()
        run_id = af.trigger(dag_id, run_id=f"load-{int(time.time())}")["dag_run_id"]
        af.wait(
            lambda: af.count_task_instances(dag_id, run_id, "deferred") >= n, timeout, f"{n} deferred", 2.0
        )
        figures.to_all_deferred = time.monotonic() - began
        log(f"[load] {n} deferred after {figures.to_all_deferred:.1f}s")
        af.wait(lambda: len(af.trigger_logs(dag_id, run_id)) >= n, timeout, f"{n} triggers started", 1.0)
        figures.to_all_triggers_started = time.monotonic() - began

        hold_cpu, hold_requests = cpu_seconds(processes), emu.http.counter.by_request()
        hold_began = time.monotonic()
        time.sleep(hold)  # the measurement window itself, not a synchronisation
        figures.hold = time.monotonic() - hold_began
        figures.hold_cpu = cpu_seconds(processes) - hold_cpu
        figures.hold_requests = sum((emu.http.counter.by_request() - hold_requests).values())

        writes_began = time.monotonic()
        written = finish_jobs(api, namespace, dict.fromkeys(names, True))
        last_write = time.monotonic()
        figures.completion_writes = last_write - writes_began
        af.wait(lambda: af.count_task_instances(dag_id, run_id, "success", "failed") >= n,
                timeout, f"{n} finished", 1.0)  # fmt: skip
        figures.last_write_to_all_success = time.monotonic() - last_write
    finally:
        sampler.stop()
    figures.triggerer_cpu = cpu_seconds(processes) - cpu_start
    figures.requests = dict(emu.http.counter.by_request() - requests_start)
    runner = [p for p in processes if p.pid != processes[0].pid]
    figures.supervisor_peak_rss_mib = sampler.peak.get(processes[0].pid, 0.0)
    figures.runner_peak_rss_mib = max((sampler.peak.get(p.pid, 0.0) for p in runner), default=0.0)

    tis = af.task_instances(dag_id, run_id)
    figures.states = state_counts(tis)
    latencies = []
    for ti in tis:
        done = ti.get("end_date")
        name = f"{prefix}-{int(ti['map_index']):05d}"
        if done and name in written:
            latencies.append(datetime.fromisoformat(done.replace("Z", "+00:00")).timestamp() - written[name])
    if latencies:
        figures.latency_p50, figures.latency_p99, figures.latency_max = _spread(latencies)
    fired = fired_events(af, dag_id, run_id, prefix, written)
    if fired:
        figures.events = len(fired)
        figures.event_p50, figures.event_p99, figures.event_max = _spread(fired)
    return figures


def _spread(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], ordered[-1]


def fired_events(af: Any, dag_id: str, run_id: str, prefix: str, written: dict[str, float]) -> list[float]:
    """Per task instance: seconds from its Job's status write to the trigger's judgement
    (JobTrigger's "1/1 succeeded" line, or the triggerer's "Trigger fired event" line,
    whichever comes first in its trigger log file; the latter is missing from about 2 % of the
    files at N=1000, the task all the same ends ``success``)."""
    out = []
    for log in af.trigger_logs(dag_id, run_id):
        name = f"{prefix}-{log.map_index:05d}"
        if name not in written:
            continue
        stamps = [
            json.loads(line)["timestamp"]
            for line in log.path.read_text(errors="replace").splitlines()
            if '"Trigger fired event"' in line or " 1/1 succeeded" in line
        ]
        if stamps:
            first = min(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() for t in stamps)
            out.append(first - written[name])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds of waiting measured (default 30)")
    parser.add_argument(
        "--parallelism", type=int, default=10, help="[core] parallelism (LocalExecutor workers)"
    )
    parser.add_argument(
        "--no-prewarm", action="store_true", help="task processes import the clients themselves"
    )
    args = parser.parse_args()

    from kubernetes import config

    from airflow_k8s_workflows.emulator import KubeEmulator
    from airflow_k8s_workflows.testing.standalone import AirflowStandalone

    base = Path(tempfile.mkdtemp(prefix="triggerer-load-"))
    dags = base / "dags"
    dags.mkdir()
    (dags / "load.py").write_text(dag_source("triggerer_load", args.n, "load", "kubernetes_default"))
    home = base / "airflow"
    home.mkdir()
    with KubeEmulator(controllers=False, kubelet=False, workdir=base / "emu") as emu:
        api = config.new_client_from_config(emu.kubeconfig)
        from kubernetes import client

        client.CoreV1Api(api).create_namespace({"metadata": {"name": "load"}})
        env = {
            **ENV,
            "AIRFLOW__CORE__PARALLELISM": str(args.parallelism),
            "AIRFLOW_CONN_KUBERNETES_DEFAULT": emu.airflow_connection(inline=True),
        }
        with AirflowStandalone(home, dags, env=env, startup_timeout=180, prewarm=not args.no_prewarm) as af:
            print(
                f"airflow standalone healthy in {af.timings['start']:.1f}s (AIRFLOW_HOME {home})", flush=True
            )
            figures = run_load(
                af, emu, api, dag_id="triggerer_load", namespace="load", n=args.n, hold=args.hold,
                timeout=max(600.0, args.n * 2.0), log=lambda m: print(m, flush=True),
            )  # fmt: skip
        api.close()
    print(f"prewarm: {'no' if args.no_prewarm else 'yes'}; parallelism {args.parallelism}")
    for line in figures.lines():
        print(line)


if __name__ == "__main__":
    main()
