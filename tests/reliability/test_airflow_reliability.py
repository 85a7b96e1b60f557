"""Reliability of this provider inside a real Airflow (``airflow standalone``, LocalExecutor,
SQLite, one triggerer) against the emulator (issue 6 §2).

One standalone serves every test of this module (start-up is 15-20 s); each test has its own
DAG, its own namespace and its own assertions, and passes alone (``-k``).

* ``test_no_twin_jobs_when_task_processes_are_killed``: 50 RunJobOperator task instances (25
  sync, 25 deferrable; retries=6, retry_delay=1 s: two planned kills at most, the rest is room
  for tries Airflow itself fails on a loaded machine with a late executor event, airflow-notes
  §12) whose task processes are SIGKILLed before the
  create, right after it, while waiting, while deferring, while reading the result. Airflow
  retries; every task instance must end with exactly one Job ever created, success, and its
  result in XCom. ``RELIABILITY_SEED=<n>`` replays a run's plan.
* ``test_no_lost_completions_across_a_triggerer_restart``: 100 deferred JobSensor waits; the
  triggerer is stopped, half of the Jobs finish (some fail) while it is down, the rest after
  the new one took over; every task must end in its Job's state. While the 100 wait, the
  triggerer sends no request at all (one shared watch). The 1,000-task figure comes from
  ``benchmarks/triggerer_load.py`` (same code, about 10 minutes here).
* ``test_secrets_never_reach_anything_airflow_writes``: a Secret applied by
  ApplyManifestsOperator, Jobs using it (one prints it), a connection with a bearer token;
  nothing Airflow wrote (logs, the SQLite file, standalone output) contains those values.

Run: ``.venv/bin/python -m pytest -m e2e tests/reliability/test_airflow_reliability.py -s``
(``-s`` shows the figures).
"""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.testing.standalone import AirflowStandalone
from benchmarks.triggerer_load import (
    ENV as LOAD_ENV,
)
from benchmarks.triggerer_load import (
    create_jobs,
    dag_source,
    finish_jobs,
    job_names,
    state_counts,
)
from tests.helpers import seed_from_env
from tests.reliability.airflow_rig import JobLedger, Kill, TaskKiller

# one standalone for the module (its tests stay on one xdist worker: --dist loadfile)
# the first test also pays the standalone's start (40 s under load): the per-test timeout must
# leave room for it, TWINS_DEADLINE and the report, or a slow run ends without its kill table
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

TWINS_DAG = "rel_twins"
TWINS_NS = "twins"
TRIALS_PER_MODE = 25
JOB_SECONDS = 2

TWINS_DAG_FILE = textwrap.dedent(
    f'''
    """RunJobOperator task instances whose task processes the test kills (sync and deferrable)."""
    from datetime import timedelta

    import pendulum
    from airflow.sdk import DAG

    from airflow_k8s_workflows.operators.job import RunJobOperator

    with DAG("{TWINS_DAG}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False,
             max_active_tasks=100):
        for mode in ("sync", "deferred"):
            RunJobOperator.partial(
                task_id=f"job_{{mode}}", namespace="{TWINS_NS}", image="busybox", cmds=["sh", "-c"],
                deferrable=mode == "deferred", retries=6, retry_delay=timedelta(seconds=1),
            ).expand(arguments=[[f"sleep {JOB_SECONDS}; echo result-{{mode}}-{{i}}"]
                                for i in range({TRIALS_PER_MODE})])
    '''
)


WAITS_DAG = "rel_waits"
WAITS_NS = "waits"
WAITS = 100
HOLD = 3.0  # seconds of waiting with every trigger running, requests counted
SECRETS_DAG = "rel_secrets"
SECRETS_NS = "secrets"

SECRETS_DAG_FILE = textwrap.dedent(
    f'''
    """A Secret from an Airflow connection and a Variable, Jobs that use (and print) it."""
    import pendulum
    from airflow.sdk import DAG

    from airflow_k8s_workflows.operators.apply import ApplyManifestsOperator
    from airflow_k8s_workflows.operators.job import RunJobOperator

    SECRET = {{
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {{"name": "db-creds", "namespace": "{SECRETS_NS}"}},
        "stringData": {{"password": "{{{{ conn.rel_db.password }}}}", "setting": "{{{{ var.value.rel_setting }}}}"}},
    }}
    FROM_SECRET = [
        {{"name": "DB_PASSWORD", "valueFrom": {{"secretKeyRef": {{"name": "db-creds", "key": "password"}}}}}},
    ]
    PRINTS_IT = ['echo "connecting with $DB_PASSWORD"; echo "setting is $DB_setting"; echo "done $DB_PASSWORD"']

    with DAG("{SECRETS_DAG}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
        apply = ApplyManifestsOperator(task_id="apply_secret", namespace="{SECRETS_NS}", manifests=[SECRET])
        jobs = [
            RunJobOperator(
                task_id=f"uses_secret_{{mode}}", namespace="{SECRETS_NS}", image="busybox", cmds=["sh", "-c"],
                arguments=PRINTS_IT, deferrable=mode == "deferred", env_vars=FROM_SECRET,
                env_from=[{{"secretRef": {{"name": "db-creds"}}, "prefix": "DB_"}}],
            )
            for mode in ("sync", "deferred")
        ]
        prints = RunJobOperator(task_id="prints", namespace="{SECRETS_NS}", image="busybox", cmds=["sh", "-c"],
                                arguments=["echo hello from the job"])
        apply >> [*jobs, prints]
    '''
)


@dataclass
class Rig:
    af: AirflowStandalone
    emu: KubeEmulator
    light: KubeEmulator
    api: client.ApiClient
    light_api: client.ApiClient
    tokens: tuple[str, str]


def _namespace(api: client.ApiClient, name: str) -> None:
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("reliability")
    tokens = (secrets.token_hex(20), secrets.token_hex(20))
    dags = base / "dags"
    dags.mkdir()
    (dags / "rel_twins.py").write_text(TWINS_DAG_FILE)
    (dags / "rel_waits.py").write_text(dag_source(WAITS_DAG, WAITS, WAITS_NS, "k8s_light", prefix="wait"))
    (dags / "rel_secrets.py").write_text(SECRETS_DAG_FILE)
    home = base / "airflow"
    with (
        KubeEmulator(speed=20, tls=True, token=tokens[0], workdir=base / "emu") as emu,
        KubeEmulator(
            controllers=False, kubelet=False, tls=True, token=tokens[1], workdir=base / "light"
        ) as light,
    ):
        api = config.new_client_from_config(emu.kubeconfig)
        light_api = config.new_client_from_config(light.kubeconfig)
        _namespace(api, TWINS_NS)
        _namespace(api, SECRETS_NS)
        _namespace(light_api, WAITS_NS)
        env = {
            **LOAD_ENV,
            "AIRFLOW__CORE__PARALLELISM": "10",
        }
        af = AirflowStandalone(home, dags, env=env)
        af.start()
        try:
            for conn_id, target in (("kubernetes_default", emu), ("k8s_light", light)):
                extra = json.loads(target.airflow_connection(inline=True))["extra"]
                af.api(
                    "POST",
                    "/connections",
                    json={"connection_id": conn_id, "conn_type": "kubernetes", "extra": json.dumps(extra)},
                ).raise_for_status()
            print(f"\nairflow standalone healthy in {af.timings['start']:.1f}s")
            yield Rig(af, emu, light, api, light_api, tokens)
        finally:
            af.stop()
            api.close()
            light_api.close()


# -- 1. no twin workloads -------------------------------------------------------------------------------
POINTS = {
    "sync": ("before_create", "after_create", "waiting", "reading_result"),
    # no kill after the resume: see the test's docstring
    "deferred": ("before_create", "after_create", "deferring"),
}


TWINS_DEADLINE = float(os.environ.get("RELIABILITY_DEADLINE", "140"))


def _wait_finished(af: AirflowStandalone, dag_id: str, run_id: str, timeout: float) -> None:
    """Until the run has finished; on a timeout the test goes on and fails on the states."""
    try:
        af.wait(
            lambda: af.run(dag_id, run_id)["state"] in ("success", "failed"),
            timeout,
            f"{dag_id} to finish",
            1.0,
        )
    except TimeoutError:
        print(f"[{dag_id}] not finished after {timeout:.0f}s")


def _delay(rng: random.Random, point: str) -> float:
    if point == "before_create":
        return rng.uniform(0.0, 0.3)
    if point == "after_create":
        return 0.0 if rng.random() < 0.5 else rng.uniform(0.02, 0.3)
    if point == "waiting":
        return rng.uniform(0.3, JOB_SECONDS * 0.75)
    if point == "deferring":
        return rng.uniform(0.005, 0.12)  # the task process exits a few 100 ms after the create
    return 0.0 if rng.random() < 0.5 else -1.0  # reading_result: at the checked mark / at the cleanup


def _plan(rng: random.Random) -> dict[tuple[str, int, int], Kill]:
    plan: dict[tuple[str, int, int], Kill] = {}
    for mode, points in POINTS.items():
        task_id = f"job_{mode}"
        firsts = [points[i % len(points)] for i in range(TRIALS_PER_MODE)]
        rng.shuffle(firsts)
        for index, point in enumerate(firsts):
            plan[(task_id, index, 1)] = Kill(task_id, index, 1, point, _delay(rng, point))
            if rng.random() < 0.2:  # and the retry too
                again = rng.choice(points)
                plan[(task_id, index, 2)] = Kill(task_id, index, 2, again, _delay(rng, again))
    return plan


def test_no_twin_jobs_when_task_processes_are_killed(rig: Rig) -> None:
    """50 trials, each a mapped task instance whose try 1 (and, for a fifth of them, try 2)
    gets its task process SIGKILLed (tests/reliability/airflow_rig.py says which process and
    how it is found) at a point drawn from a seeded plan:

    * sync: before the create, right after it (inside the emulator's commit, or up to 0.3 s
      later), while waiting for the Job, while reading the result (at the checked mark, or
      after the cleanup deleted the Job, before the XCom push);
    * deferrable: before the create, right after it, while deferring.

    Not for deferrable: killing the *resumed* task process (after the trigger fired). On
    Airflow 3.3.2 that try then stays ``running`` for good: the supervisor derives
    ``up_for_retry`` from the exit code but sends nothing (it counts ``up_for_retry`` among
    the states the task runner sends itself), and the scheduler neither treats the executor's
    event as an external kill nor resolves the heartbeat timeout it reports every few seconds
    (measured: 11 task instances stuck for 4 minutes). The same ``execute_complete`` code is
    killed at the same points in sync mode.
    """
    seed = seed_from_env()
    print(f"\n[twins] RELIABILITY_SEED={seed}")
    rng = random.Random(seed)
    af = rig.af
    af.wait_for_dag(TWINS_DAG)
    ledger = JobLedger(rig.emu)
    began = time.monotonic()
    run_id = af.trigger(TWINS_DAG, run_id=f"twins-{seed}")["dag_run_id"]
    plan = _plan(rng)
    killer = TaskKiller(af, ledger, TWINS_DAG, run_id, plan).start()
    try:
        _wait_finished(af, TWINS_DAG, run_id, TWINS_DEADLINE)
    finally:
        killer.stop()
        ledger.close()
    elapsed = time.monotonic() - began
    killer.check()
    tis = af.task_instances(TWINS_DAG, run_id)
    created = ledger.created()

    # the figures, before any assertion
    kills_by_ti: dict[tuple[str, int], list[Kill]] = defaultdict(list)
    for kill in killer.kills:
        kills_by_ti[(kill.task_id, kill.map_index)].append(kill)
    landed = Counter((k.task_id, k.point) for k in killer.kills)
    planned = Counter((k.task_id, k.point) for k in plan.values())
    states_at_kill = Counter(k.job_state for k in killer.kills)
    twins = {key: jobs for key, jobs in created.items() if len(jobs) > 1}
    tries = {(ti["task_id"], ti["map_index"]): int(ti["try_number"]) for ti in tis}
    retried = sum(1 for key in kills_by_ti if tries.get(key, 0) > 1)
    print(f"[twins] {len(tis)} task instances, run {af.run(TWINS_DAG, run_id)['state']} in {elapsed:.1f}s, "
          f"states {state_counts(tis)}")  # fmt: skip
    print(f"[twins] kills landed {len(killer.kills)} of {len(plan)} planned; trials killed "
          f"{len(kills_by_ti)} of {2 * TRIALS_PER_MODE}, retried {retried}; tries "
          f"{dict(sorted(Counter(tries.values()).items()))}; Job state at kill {dict(states_at_kill)}")  # fmt: skip
    for (task_id, point), n in sorted(planned.items()):
        print(f"[twins]   {task_id:13} {point:15} planned {n:2} landed {landed[(task_id, point)]:2}")
    print(f"[twins] Jobs created {sum(len(j) for j in created.values())}; task instances with more "
          f"than one Job: {len(twins)}")  # fmt: skip
    for (task_id, index), jobs in sorted(twins.items()):
        kills = [(k.try_number, k.point, k.delay, k.job_state) for k in kills_by_ti[(task_id, index)]]
        print(
            f"[twins]   TWIN {task_id}[{index}]: Jobs from tries {[j.try_number for j in jobs]}, kills {kills}"
        )

    assert af.run(TWINS_DAG, run_id)["state"] == "success", state_counts(tis)
    assert len(tis) == 2 * TRIALS_PER_MODE and all(ti["state"] == "success" for ti in tis), state_counts(tis)
    assert not twins, f"{len(twins)} task instances ran more than one Job: {sorted(twins)}"
    assert sorted(created) == sorted((ti["task_id"], ti["map_index"]) for ti in tis)
    for ti in tis:
        mode = ti["task_id"].removeprefix("job_")
        assert (
            af.xcom(TWINS_DAG, run_id, ti["task_id"], ti["map_index"]) == f"result-{mode}-{ti['map_index']}"
        )
    # the kills really happened, at every point of both modes, and made Airflow retry
    assert len(kills_by_ti) >= 0.8 * 2 * TRIALS_PER_MODE, f"only {len(kills_by_ti)} trials were killed"
    assert retried >= 0.7 * 2 * TRIALS_PER_MODE, f"only {retried} killed trials were retried"
    for ti in tis:
        kills = kills_by_ti.get((ti["task_id"], ti["map_index"]), [])
        if ti["task_id"] == "job_sync":  # a deferrable try killed after its defer went through goes on
            assert ti["try_number"] >= len(kills) + 1, (ti, kills)
    for mode, points in POINTS.items():
        for point in points:
            if point != "deferring":  # whether the process is still there is a matter of ms
                assert landed[(f"job_{mode}", point)] >= 1, f"no kill landed at {point} ({mode})"


# -- 2. no lost completions across a triggerer restart -------------------------------------------------
def test_no_lost_completions_across_a_triggerer_restart(rig: Rig) -> None:
    """100 deferred JobSensor waits (Jobs in an emulator without controllers: the test writes
    their status). Once the triggerer runs all 100 triggers it is stopped (SIGTERM, then
    SIGKILL of what is left; ``AirflowStandalone.restart_triggerer``); while no triggerer runs,
    a seeded half of the Jobs finish (about 30 % of all Jobs fail); a new triggerer takes the
    triggers over once the old one's heartbeat is stale; then the other half finish. Every task
    instance must end in its Job's state: success for Complete, failed for Failed (retries=0).
    """
    seed = seed_from_env()
    print(f"\n[waits] RELIABILITY_SEED={seed}")
    rng = random.Random(seed)
    af = rig.af
    names = job_names(WAITS, "wait")
    outcomes = {name: rng.random() < 0.7 for name in names}
    outcomes[names[0]], outcomes[names[1]] = True, False
    while_down = set(rng.sample(names, WAITS // 2))
    create_jobs(rig.light_api, WAITS_NS, names)
    af.wait_for_dag(WAITS_DAG)
    began = time.monotonic()
    run_id = af.trigger(WAITS_DAG, run_id=f"waits-{seed}")["dag_run_id"]
    af.wait(
        lambda: af.count_task_instances(WAITS_DAG, run_id, "deferred") >= WAITS, 120, f"{WAITS} deferred", 1.0
    )
    deferred = time.monotonic() - began
    af.wait(lambda: len(af.trigger_logs(WAITS_DAG, run_id)) >= WAITS, 60, f"{WAITS} triggers running", 0.5)
    running = time.monotonic() - began
    before_hold = rig.light.http.counter.by_request()
    time.sleep(HOLD)
    # the triggerer's requests: every task is deferred
    hold_requests = rig.light.http.counter.by_request() - before_hold

    finished_while_down: dict[str, float] = {}
    af.restart_triggerer(
        while_down=lambda: finished_while_down.update(
            finish_jobs(rig.light_api, WAITS_NS, {n: outcomes[n] for n in sorted(while_down)})
        )
    )
    restarted = time.monotonic()
    finish_jobs(rig.light_api, WAITS_NS, {n: outcomes[n] for n in names if n not in while_down})

    try:
        af.wait(lambda: af.count_task_instances(WAITS_DAG, run_id, "success", "failed") >= WAITS, 120,
                "every wait to end", 1.0)  # fmt: skip
    except TimeoutError:
        print("[waits] not all task instances ended within 120 s")
    settled = time.monotonic() - restarted
    tis = af.task_instances(WAITS_DAG, run_id)
    expected = {i: "success" if outcomes[name] else "failed" for i, name in enumerate(names)}
    wrong = {ti["map_index"]: (ti["state"], expected[ti["map_index"]]) for ti in tis
             if ti["state"] != expected[ti["map_index"]]}  # fmt: skip
    right = len(tis) - len(wrong)
    print(f"[waits] {WAITS} deferred after {deferred:.1f}s, all triggers running after {running:.1f}s; "
          f"triggerer stopped in {af.timings['triggerer_stopped']:.1f}s, {len(finished_while_down)} Jobs "
          f"finished while down ({sum(not outcomes[n] for n in while_down)} failed), new triggerer up "
          f"after {af.timings['triggerer_restarted']:.1f}s; all ended {settled:.1f}s after the restart")  # fmt: skip
    print(f"[waits] requests while {WAITS} waits held for {HOLD:.0f} s: {sum(hold_requests.values())} "
          f"{dict(hold_requests)}")  # fmt: skip
    print(f"[waits] final states {state_counts(tis)}; correct {right}/{WAITS} ({100 * right / WAITS:.0f} %); "
          f"expected {dict(Counter(expected.values()))}")  # fmt: skip
    assert sum(hold_requests.values()) <= 2, hold_requests  # a watch re-opened at most: no polling
    assert len(finished_while_down) == WAITS // 2
    assert len(tis) == WAITS
    # the Jobs that finished while no triggerer ran were seen by the new one
    runners = _trigger_runners(af, WAITS_DAG, run_id)
    assert all(len(runners.get(names.index(n), ())) == 2 for n in while_down), runners
    assert not wrong, f"task instances not in their Job's state (map_index: (state, expected)): {wrong}"


def _trigger_runners(af: AirflowStandalone, dag_id: str, run_id: str) -> dict[int, set[str]]:
    """map_index -> ids of the triggerer jobs that ran its trigger (``*.log.trigger.<id>.log``)."""
    out: dict[int, set[str]] = defaultdict(set)
    for log in af.trigger_logs(dag_id, run_id):
        out[log.map_index].add(log.triggerer_job)
    return dict(out)


# -- 3. secrets never leak ----------------------------------------------------------------------------
def _airflow_files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file() and p.name != "airflow_local_settings.py"]


def test_secrets_never_reach_anything_airflow_writes(rig: Rig) -> None:
    """A Secret whose values come from an Airflow connection's password and a Variable with
    an unremarkable name (so Airflow itself would not mask it) is applied with
    ApplyManifestsOperator; two Jobs (sync and deferrable) take it as env (``secretKeyRef``
    and ``envFrom``) and print it, in their last line (their result) too; a third Job prints
    something harmless. Both Kubernetes connections carry bearer tokens (TLS emulators).

    Then every file under AIRFLOW_HOME (task and trigger logs, dag-processor logs, the SQLite
    file with its WAL: rendered_task_instance_fields, xcom, trigger kwargs, task state store,
    connections, variables, ...; the standalone's and triggerers' output) is searched for the
    two values (raw, and base64 as in a Secret's ``data``) and both tokens: no hit. The task
    logs must show the printed lines masked (``connecting with ***``), so the Jobs did print
    the values and the search would have found them.
    """
    af = rig.af
    password, setting = f"pw{secrets.token_hex(12)}", f"st{secrets.token_hex(12)}"
    af.api("POST", "/connections", json={"connection_id": "rel_db", "conn_type": "generic", "login": "app",
                                          "password": password}).raise_for_status()  # fmt: skip
    af.api("POST", "/variables", json={"key": "rel_setting", "value": setting}).raise_for_status()
    af.wait_for_dag(SECRETS_DAG)
    began = time.monotonic()
    run_id = af.trigger(SECRETS_DAG, run_id="secrets-1")["dag_run_id"]
    _wait_finished(af, SECRETS_DAG, run_id, 90)
    ran = time.monotonic() - began
    tis = {ti["task_id"]: ti["state"] for ti in af.task_instances(SECRETS_DAG, run_id)}
    print(
        f"\n[secrets] run {af.run(SECRETS_DAG, run_id)['state']} in {ran:.1f}s, states {dict(sorted(tis.items()))}"
    )
    assert af.run(SECRETS_DAG, run_id)["state"] == "success", tis

    # the Secret is right in the cluster
    stored = client.CoreV1Api(rig.api).read_namespaced_secret("db-creds", SECRETS_NS).data
    assert base64.b64decode(stored["password"]).decode() == password
    assert base64.b64decode(stored["setting"]).decode() == setting
    needles = {
        "connection password": password,
        "variable": setting,
        "emulator token": rig.tokens[0],
        "light emulator token": rig.tokens[1],
    }
    for what, value in list(needles.items())[:2]:
        needles[f"{what} (base64)"] = base64.b64encode(value.encode()).decode()
    files = _airflow_files(af.home)
    contents = {path: path.read_bytes() for path in files}
    hits = sorted(
        {(what, str(path.relative_to(af.home))) for path, data in contents.items()
         for what, value in needles.items() if value.encode() in data}
    )  # fmt: skip
    masked = {mode: sum(data.count(b"connecting with ***") for path, data in contents.items()
                        if f"task_id=uses_secret_{mode}" in str(path)) for mode in ("sync", "deferred")}  # fmt: skip
    size = sum(len(data) for data in contents.values())
    print(f"[secrets] searched {len(files)} files ({size / 2**20:.1f} MiB) under AIRFLOW_HOME for "
          f"{len(needles)} values: {len(hits)} hits {hits}; masked lines per Job: {masked}")  # fmt: skip
    results = {mode: af.xcom(SECRETS_DAG, run_id, f"uses_secret_{mode}") for mode in ("sync", "deferred")}
    assert results == {"sync": "done ***", "deferred": "done ***"}, results
    assert af.xcom(SECRETS_DAG, run_id, "prints") == "hello from the job"

    assert not hits, hits
    assert all(masked.values()), masked  # the Jobs printed the password; the task logs show it masked
