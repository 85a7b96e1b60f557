"""What the reliability tests need around a real ``airflow standalone``: a ledger of every Job
the emulator ever stored, and a killer that SIGKILLs a task instance's task process at chosen
moments. (The standalone's task processes start with the clients imported: ``prewarm``,
:mod:`airflow_k8s_workflows.testing.standalone`.)

**Which process is killed.** Under the LocalExecutor a task try runs in two processes, both
descendants of the scheduler and both in the standalone's session:

* the *supervisor*: a LocalExecutor worker that called ``supervise()``; its title is
  ``airflow worker -- LocalExecutor: <ti id>``;
* the *task process*: the supervisor's forked child that runs ``task_runner``; it inherits that
  title and renames itself ``airflow worker -- <ti id>`` once it has its startup message; it
  has a process group of its own (``setpgid``, so the supervisor can signal its subprocesses).

The ``ti id`` is the task instance's UUID for this try (REST ``GET .../taskInstances`` gives it
with ``task_id``, ``map_index`` and ``try_number``). :class:`TaskKiller` kills the **task
process**: a process of the standalone's session whose title carries a ti id that its parent's
title carries too. That is what an OOM kill or a node losing a pod does to a task; the
supervisor survives, reports the try failed and Airflow retries it. The pid's title and session
are read again right before ``kill`` so that a recycled pid is never hit.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.kube import naming
from airflow_k8s_workflows.kube.jobs import job_outcome
from airflow_k8s_workflows.operators.job_adopt import CHECKED_ANNOTATION
from airflow_k8s_workflows.testing.standalone import AirflowStandalone

WORKER_PREFIX = "airflow worker -- "
SUPERVISOR_PREFIX = "airflow worker -- LocalExecutor: "


# -- the Jobs the emulator ever stored ----------------------------------------------------------------
@dataclass
class JobRecord:
    uid: str
    name: str
    namespace: str
    task_id: str
    map_index: int
    try_number: int
    added: float
    terminal: str | None = None  # "succeeded" | "failed" (kube.jobs.job_outcome)
    checked: float | None = None
    deleting: float | None = None


class JobLedger:
    """Every Job created in the emulator, per task instance, from an in-process store listener
    (it sees each commit, so a Job created and deleted between two LISTs is counted too)."""

    def __init__(self, emu: KubeEmulator) -> None:
        self.lock = threading.Lock()
        self.by_uid: dict[str, JobRecord] = {}
        self.hooks: list[Any] = []
        """Called as ``hook(kind, record)`` on the emulator's loop, ``kind`` one of added,
        terminal, checked, deleting. Must be quick and must not raise."""
        self.errors: list[BaseException] = []
        self._unsubscribe = emu.call(lambda: emu.store.subscribe(("batch", "jobs"), self._changed))

    def close(self) -> None:
        self._unsubscribe()

    def _changed(self, change: Any) -> None:
        try:
            self._record(change)
        except BaseException as e:  # never break the emulator's commit
            self.errors.append(e)

    def _record(self, change: Any) -> None:
        meta = change.obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        uid = meta.get("uid")
        if not uid or naming.TASK_ID_KEY not in labels:
            return
        events: list[tuple[str, JobRecord]] = []
        with self.lock:
            record = self.by_uid.get(uid)
            if record is None:
                if change.type != "ADDED":
                    return
                record = JobRecord(
                    uid=uid,
                    name=meta["name"],
                    namespace=meta.get("namespace", ""),
                    task_id=(meta.get("annotations") or {}).get(
                        naming.TASK_ID_KEY, labels[naming.TASK_ID_KEY]
                    ),
                    map_index=int(labels.get(naming.MAP_INDEX_KEY, -1)),
                    try_number=int(labels.get(naming.TRY_NUMBER_KEY, 0)),
                    added=time.monotonic(),
                )
                self.by_uid[uid] = record
                events.append(("added", record))
            outcome = job_outcome(change.obj)
            if outcome.terminal and record.terminal is None:
                record.terminal = outcome.state
                events.append(("terminal", record))
            if (meta.get("annotations") or {}).get(CHECKED_ANNOTATION) == "true" and record.checked is None:
                record.checked = time.monotonic()
                events.append(("checked", record))
            if (change.type == "DELETED" or meta.get("deletionTimestamp")) and record.deleting is None:
                record.deleting = time.monotonic()
                events.append(("deleting", record))
        for kind, rec in events:
            for hook in self.hooks:
                hook(kind, rec)

    def created(self) -> dict[tuple[str, int], list[JobRecord]]:
        """(task_id, map_index) -> the Jobs created for it, oldest first."""
        out: dict[tuple[str, int], list[JobRecord]] = defaultdict(list)
        with self.lock:
            for record in sorted(self.by_uid.values(), key=lambda r: r.added):
                out[(record.task_id, record.map_index)].append(record)
        return dict(out)

    def jobs_of(self, task_id: str, map_index: int) -> list[JobRecord]:
        return self.created().get((task_id, map_index), [])


# -- finding and killing task processes ------------------------------------------------------------------
def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, session id) of a live, non-zombie process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[3])


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _ti_id(title: str) -> str | None:
    """The ti id in a supervisor's or a task process's title (module docstring)."""
    if title.startswith(SUPERVISOR_PREFIX):
        words = title.removeprefix(SUPERVISOR_PREFIX).split()
    elif title.startswith(WORKER_PREFIX):
        words = title.removeprefix(WORKER_PREFIX).split()
        if words and words[0].startswith("LocalExecutor"):  # a worker without a ti id yet
            return None
    else:
        return None
    return words[0] if words else None


def task_processes(session: int) -> dict[str, int]:
    """ti id -> pid of its task process (see the module docstring), in session ``session`` (the
    task process has a process group of its own, the standalone's session all the same)."""
    titles: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        stat = _stat(pid)
        if stat is None or stat[1] != session:
            continue
        titles[pid] = (_title(pid), stat[0])
    found: dict[str, int] = {}
    for pid, (title, ppid) in titles.items():
        ti_id = _ti_id(title)
        parent = titles.get(ppid)
        if ti_id and parent is not None and _ti_id(parent[0]) == ti_id:
            found[ti_id] = pid
    return found


@dataclass
class Kill:
    """A planned kill of one try of one task instance."""

    task_id: str
    map_index: int
    try_number: int
    point: str
    delay: float
    done: bool = False
    pid: int | None = None
    at: float | None = None
    job_state: str | None = None
    """What the Job of this task instance looked like when the signal went out."""


@dataclass
class _Seen:
    ti_id: str
    pid: int
    task_id: str
    map_index: int
    try_number: int
    first_seen: float
    resumed: bool = False
    """Not the try's first task process: the resume of a deferred task."""


@dataclass
class TaskKiller:
    """SIGKILLs task processes of one DAG run as planned; see the module docstring.

    ``plan`` maps (task_id, map_index, try_number) to a :class:`Kill`. Points:

    * ``before_create``: ``delay`` s after the try's first task process appears (before it
      creates or adopts a Job, unless it is quicker than ``delay``);
    * ``after_create``: ``delay`` s after its Job was stored (0: from inside the emulator's
      commit, before the create's HTTP response is even sent);
    * ``waiting`` / ``deferring``: ``delay`` s after its Job was stored (while the Job runs, or
      while the deferrable task hands over to the triggerer);
    * ``reading_result``: when the try annotates the finished Job as checked (``delay`` 0), or
      when it deletes the Job after reading its result (``delay`` < 0), i.e. before the XCom
      push.

    A resumed task process (a deferred try's second one) is never killed: Airflow 3.3.2 leaves
    that try ``running`` for good (docs/dev/airflow-notes.md §13).
    """

    af: AirflowStandalone
    ledger: JobLedger
    dag_id: str
    run_id: str
    plan: dict[tuple[str, int, int], Kill]
    interval: float = 0.05
    kills: list[Kill] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _ids: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    _current: dict[tuple[str, int], _Seen] = field(default_factory=dict)
    _first_pid: dict[tuple[str, int, int], int] = field(default_factory=dict)
    _due: list[tuple[float, Kill, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TaskKiller:
        self.ledger.hooks.append(self._on_job)
        self._thread = threading.Thread(target=self._loop, name="task-killer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._on_job in self.ledger.hooks:
            self.ledger.hooks.remove(self._on_job)
        if self._thread is not None:
            self._thread.join(10)

    # -- the emulator side: Job stored / finished / checked / deleted --------------------------------
    def _on_job(self, kind: str, record: JobRecord) -> None:
        seen = self._current.get((record.task_id, record.map_index))
        if seen is None:
            return
        kill = self.plan.get((seen.task_id, seen.map_index, seen.try_number))
        if kill is None or kill.done:
            return
        wanted = {
            "after_create": kind == "added",
            "waiting": kind == "added",
            "deferring": kind == "added",
            "reading_result": (kind == "checked" and kill.delay >= 0)
            or (kind == "deleting" and kill.delay < 0),
        }.get(kill.point, False)
        if not wanted:
            return
        if seen.resumed:
            return  # a resumed task process is never killed (class docstring)
        if kill.delay <= 0:
            self._kill(kill, seen)
        else:
            with self._lock:
                self._due.append((time.monotonic() + kill.delay, kill, seen.pid))

    # -- the process side ------------------------------------------------------------------------------
    @property
    def _session(self) -> int:
        """The standalone's session id: ``airflow standalone`` leads its own session."""
        return self.af.proc.pid if self.af.proc is not None else -1

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except BaseException as e:  # reported by check()
                self.errors.append(e)
            self._stop.wait(self.interval)

    def _identify(self, ti_id: str) -> tuple[str, int, int] | None:
        if ti_id not in self._ids:
            for ti in self.af.task_instances(self.dag_id, self.run_id):
                self._ids[str(ti["id"])] = (ti["task_id"], int(ti["map_index"]), int(ti["try_number"]))
        return self._ids.get(ti_id)

    def _tick(self) -> None:
        now = time.monotonic()
        for ti_id, pid in task_processes(self._session).items():
            who = self._identify(ti_id)
            if who is None:
                continue
            task_id, map_index, try_number = who
            seen = self._current.get((task_id, map_index))
            if seen is None or seen.pid != pid:
                seen = _Seen(ti_id, pid, task_id, map_index, try_number, now)
                self._current[(task_id, map_index)] = seen
                self._on_process(seen)
        with self._lock:
            due = [(k, pid) for t, k, pid in self._due if t <= now]
            self._due = [(t, k, pid) for t, k, pid in self._due if t > now]
        for kill, pid in due:
            seen = self._current.get((kill.task_id, kill.map_index))
            if seen is not None and seen.try_number == kill.try_number and seen.pid == pid:
                self._kill(kill, seen)

    def _deferred_already(self, seen: _Seen) -> bool:
        """A trigger of this try has started: a process of the try seen from now on is the
        resumed one, even when the rig never saw the process that deferred (a loaded machine can
        start and end it between two ticks)."""
        return any(
            (log.task_id, log.map_index, log.try_number) == (seen.task_id, seen.map_index, seen.try_number)
            for log in self.af.trigger_logs(self.dag_id, self.run_id)
        )

    def _on_process(self, seen: _Seen) -> None:
        key = (seen.task_id, seen.map_index, seen.try_number)
        first = self._first_pid.setdefault(key, seen.pid)
        seen.resumed = first != seen.pid or self._deferred_already(seen)
        kill = self.plan.get(key)
        if kill is None or kill.done:
            return
        if kill.point == "before_create" and not seen.resumed:
            with self._lock:
                self._due.append((seen.first_seen + kill.delay, kill, seen.pid))

    def _kill(self, kill: Kill, seen: _Seen) -> None:
        with self._lock:
            if kill.done:
                return
            stat = _stat(seen.pid)
            if stat is None or stat[1] != self._session or _ti_id(_title(seen.pid)) != seen.ti_id:
                return  # gone already (deferred, finished) or not ours any more
            if seen.resumed or self._deferred_already(seen):
                return  # a resumed task process is never killed (class docstring)
            kill.job_state = self._job_state(seen)
            os.kill(seen.pid, signal.SIGKILL)
            kill.done, kill.pid, kill.at = True, seen.pid, time.monotonic()
            self.kills.append(kill)

    def _job_state(self, seen: _Seen) -> str:
        jobs = self.ledger.jobs_of(seen.task_id, seen.map_index)
        if not jobs:
            return "no Job yet"
        job = jobs[-1]
        if job.deleting:
            return "Job deleted"
        if job.checked:
            return "Job finished, checked"
        if job.terminal:
            return "Job finished"
        return "Job running"

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]
        if self.ledger.errors:
            raise self.ledger.errors[0]
