"""One pod on one node, from sandbox to termination: volumes, init containers in order, app
containers with restarts and back-offs, probes, fault annotations, graceful deletion.

Every wait is in controller time (divided by the emulator's speed) and ends early when the
pod is being stopped; state changes are written to the pod's status at the end of the loop
iteration that made them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_k8s_workflows.emulator.clock import rfc3339
from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.kubelet import images, status
from airflow_k8s_workflows.emulator.kubelet.container import Backoff, Container, go_duration
from airflow_k8s_workflows.emulator.kubelet.env import ConfigError, PodFacts, container_env, expand
from airflow_k8s_workflows.emulator.kubelet.faults import MISSING_IMAGE_SUFFIX, Faults
from airflow_k8s_workflows.emulator.kubelet.logs import LogBuffer
from airflow_k8s_workflows.emulator.kubelet.probes import ProbeTarget, run_probe
from airflow_k8s_workflows.emulator.kubelet.process import ContainerProcess, IdleProcess, StartError, spawn
from airflow_k8s_workflows.emulator.kubelet.sandbox import MountError, PathRewriter, Sandbox

if TYPE_CHECKING:
    from airflow_k8s_workflows.emulator.kubelet.kubelet import Kubelet, NodeInfo

log = logging.getLogger("airflow_k8s_workflows.emulator.kubelet")
Obj = dict[str, Any]

_CONFIG_RETRY = 10.0  # controller seconds between attempts at a missing ConfigMap/Secret/volume
_TERMINATION_MESSAGE_MAX = 4096


class PodWorker:
    def __init__(self, kubelet: Kubelet, pod: Obj, node: NodeInfo) -> None:
        self.kubelet = kubelet
        self.api = kubelet.api
        self.clock = kubelet.clock
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.node = node
        config = kubelet.config
        spec = pod.get("spec") or {}

        def container(c: Obj, init: bool) -> Container:
            return Container(c, init=init,
                             crash=Backoff(config.crashloop_backoff_base, config.crashloop_backoff_max),
                             pull=Backoff(config.crashloop_backoff_base, config.crashloop_backoff_max))  # fmt: skip

        self.init = [container(c, True) for c in spec.get("initContainers") or []]
        self.containers = [container(c, False) for c in spec.get("containers") or []]
        self.sandbox = Sandbox(kubelet.root / "pods" / self.uid, kubelet.root)
        self.pod_ip = ""
        self.start_time = ""
        self.sandbox_ready = False
        self.terminal = False
        self.reason: str | None = None
        self.message: str | None = None
        self.stopping = False
        self.stop_grace: float | None = None
        self.gone = False
        self.config_version = 0
        self.spec_version = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._deadline: asyncio.Task[None] | None = None
        self._sync_pending = False

    # -- called by the kubelet (synchronously, maybe from inside a write) ----------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._main(), name=f"pod-{self.namespace}/{self.name}"
        )

    def update(self, pod: Obj) -> None:
        old = self.pod
        self.pod = pod
        if (old.get("spec") != pod.get("spec")
                or old["metadata"].get("annotations") != pod["metadata"].get("annotations")):  # fmt: skip
            self.spec_version += 1
            self._refresh_specs()
            self._poke()
        if old["metadata"].get("generation") != pod["metadata"].get("generation"):
            self.sync()  # observedGeneration
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds") or 0
            if self.terminal:
                if grace:
                    self._later(self._final_delete())
            else:
                self.request_stop(float(grace))

    def config_changed(self) -> None:
        self.config_version += 1
        self._poke()

    def removed(self) -> None:
        """The pod is gone from the API (force delete, or our own final delete)."""
        self.gone = True
        self.stopping = True
        for c in self._all():
            if c.process is not None:
                c.process.signal(signal.SIGKILL)
            c.close_logs()
        self._poke()

    def halt(self) -> None:
        """The kubelet is stopping: start nothing more, write nothing more."""
        self.gone = True
        self.stopping = True
        self._poke()

    async def shutdown(self) -> None:
        """Stop everything at once (the kubelet is stopping); no status is written any more."""
        self.gone = True
        self.removed()
        tasks = [t for t in (self._task, self._deadline, *self._side_tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def request_stop(self, grace: float, message: str = "Stopping container {name}") -> None:
        if self.stopping and self.stop_grace is not None and grace >= self.stop_grace:
            return
        self.stopping = True
        self.stop_grace = grace
        self._poke()
        for c in self._all():
            if c.process is not None and not c.process.finished:
                self._later(self._kill(c, grace, message.format(name=c.name)))

    # -- helpers ----------------------------------------------------------------------------------
    def _all(self) -> list[Container]:
        return [*self.init, *self.containers]

    def container(self, name: str) -> Container | None:
        return next((c for c in self._all() if c.name == name), None)

    def _refresh_specs(self) -> None:
        spec = self.pod.get("spec") or {}
        for key, group in (("initContainers", self.init), ("containers", self.containers)):
            by_name = {c.get("name"): c for c in spec.get(key) or []}
            for c in group:
                new = by_name.get(c.name)
                if new is None:
                    continue
                if new.get("image") != c.spec.get("image") and c.process is not None and not self.stopping:
                    c.restart_now = True
                    self._later(
                        self._kill(
                            c, self._grace(), f"Container {c.name} definition changed, will be restarted"
                        )
                    )
                c.spec = new

    def _poke(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _later(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _wait(self, seconds: float | None, until: Callable[[], bool] | None = None,
                    container: Container | None = None) -> bool:  # fmt: skip
        """Wait ``seconds`` of controller time (None: no limit) or until ``until()``; False when stopping."""
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + self.clock.scaled(seconds)
        while not self.stopping and not (container is not None and container.stopping):
            if until is not None and until():
                return True
            timeout = None if deadline is None else deadline - loop.time()
            if timeout is not None and timeout <= 0:
                return True
            changed = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        return False

    def _config_moved(self) -> Callable[[], bool]:
        """A predicate: has a ConfigMap or Secret of the namespace changed since now?"""
        seen = self.config_version
        return lambda: self.config_version != seen

    def _spec_moved(self) -> Callable[[], bool]:
        seen = self.spec_version
        return lambda: self.spec_version != seen

    def _event(self, kind: str, reason: str, message: str, c: Container | None = None) -> None:
        if self.gone:
            return
        self.kubelet.recorder.record(self.pod, kind, reason, message, "kubelet", host=self.node.name,
                                     field_path=c.field_path if c else None)  # fmt: skip

    def _faults(self) -> Faults:
        return Faults.of(self.pod)

    def _grace(self) -> float:
        return float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))

    def _facts(self) -> PodFacts:
        return PodFacts(self.pod, self.node.name, self.node.host_ip, self.pod_ip, self.node.allocatable)

    # -- status --------------------------------------------------------------------------------
    def sync(self, now: bool = False) -> None:
        """Write the status; changes made in one loop iteration share one write unless ``now``
        (an intermediate state clients must see, like ``Error`` before ``CrashLoopBackOff``)."""
        self._poke()
        if now:
            self._write_status()
        elif not self._sync_pending:
            self._sync_pending = True
            asyncio.get_running_loop().call_soon(self._write_status)

    def _write_status(self) -> None:
        self._sync_pending = False
        if self.gone or self.kubelet.stopping or not self.pod_ip:  # not set up yet
            return
        uid = self.uid

        def write(live: Obj) -> None:
            if live["metadata"].get("uid") != uid:
                return
            gates = {
                c.get("type"): c.get("status") for c in (live.get("status") or {}).get("conditions") or []
            }
            state = status.PodState(
                spec=live.get("spec") or {}, generation=live["metadata"].get("generation"),
                host_ip=self.node.host_ip, pod_ip=self.pod_ip, start_time=self.start_time, init=self.init,
                containers=self.containers, sandbox_ready=self.sandbox_ready, terminal=self.terminal,
                reason=self.reason, message=self.message, readiness_gates=gates,
            )  # fmt: skip
            status.merge(live, status.build(state))

        self.api.update_status(
            self.api.rt("", "pods"), self.namespace, self.name, write, self.kubelet.request(self.node)
        )

    # -- lifecycle -------------------------------------------------------------------------------
    async def _main(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("kubelet: pod %s/%s failed", self.namespace, self.name)

    async def _run(self) -> None:
        self._setup()
        deadline = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
        if isinstance(deadline, int) and not self.stopping:
            self._deadline = asyncio.get_running_loop().create_task(self._active_deadline(deadline))
        faults = self._faults()
        ok = not faults.start_delay or await self._wait(faults.start_delay)
        ok = ok and await self._mount()
        ok = ok and await self._run_init_containers()
        if ok:
            await asyncio.gather(*(self._supervise(c) for c in self.containers))
        await self._finish()

    def _setup(self) -> None:
        live = self.pod.get("status") or {}
        self.pod_ip = self.kubelet.allocate_ip(self.node, self.uid, live.get("podIP"))
        self.start_time = live.get("startTime") or rfc3339()
        self.sandbox.create()
        self.sandbox_ready = True
        previous = {
            s.get("name"): s
            for s in (live.get("initContainerStatuses") or []) + (live.get("containerStatuses") or [])
        }
        for c in self._all():
            prior = previous.get(c.name) or {}
            if prior.get("containerID"):  # ran before the emulator restarted: this start is a restart
                c.instances = 1
                c.restart_count = int(prior.get("restartCount") or 0)
        for c in self.containers:
            c.waiting("PodInitializing" if self.init else "ContainerCreating")
        for c in self.init:
            c.waiting("PodInitializing")
        self.sync()

    async def _mount(self) -> bool:
        while True:
            try:
                self.sandbox.mount_volumes(self.api, self._facts())
                return True
            except MountError as e:
                self._event("Warning", "FailedMount", e.message)
            if not await self._wait(_CONFIG_RETRY, until=self._config_moved()):
                return False

    async def _run_init_containers(self) -> bool:
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        for c in self.init:
            if c.sidecar:
                task = asyncio.get_running_loop().create_task(self._supervise(c))
                self._side_tasks.add(task)

                def sidecar_started(c: Container = c, task: asyncio.Task[None] = task) -> bool:
                    return c.started or task.done()

                await self._wait(None, until=sidecar_started)
                if self.stopping:
                    return False
                continue
            while True:
                code = await self._run_once(c)
                if code is None or self.stopping:
                    return False
                if code == 0:
                    break
                if policy == "Never":
                    return False
                if not await self._crash_backoff(c):
                    return False
        return True

    async def _supervise(self, c: Container) -> None:
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        while True:
            code = await self._run_once(c)
            if code is None or self.stopping or c.stopping:
                return
            if c.restart_now:
                c.restart_now = False
                continue
            if not (c.sidecar or policy == "Always" or (policy == "OnFailure" and code != 0)):
                return
            if not await self._crash_backoff(c):
                return

    async def _crash_backoff(self, c: Container) -> bool:
        now = self.clock.monotonic() * self.clock.speed
        delay = c.crash_backoff.step(now)
        if delay is None:
            return True
        pod = f"{self.name}_{self.namespace}({self.uid})"
        self.sync(
            now=True
        )  # the terminated state first, as `kubectl get pods -w` shows Error before CrashLoopBackOff
        c.waiting(
            "CrashLoopBackOff",
            f"back-off {go_duration(delay)} restarting failed container={c.name} pod={pod}",
        )
        self._event("Warning", "BackOff", f"Back-off restarting failed container {c.name} in pod {pod}", c)
        self.sync()
        return await self._wait(delay, container=c)

    async def _finish(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        sidecars = [c for c in self.init if c.sidecar]
        for c in sidecars:
            c.stopping = True  # no restart, and an end to any back-off wait
        self._poke()
        for c in sidecars:
            if c.process is not None:
                await self._kill(c, self._grace(), f"Stopping container {c.name}")
        await asyncio.gather(*(t for t in list(self._side_tasks) if t is not asyncio.current_task()),
                             return_exceptions=True)  # fmt: skip
        if self.gone:
            return
        if self.stopping:
            for c in self.containers:
                if "terminated" not in c.state:
                    c.terminated(
                        137,
                        "ContainerStatusUnknown",
                        "The container could not be located when the pod was terminated",
                    )
        self.terminal = self.stopping or status.phase(self._state()) in ("Succeeded", "Failed")
        self.sandbox_ready = False
        for c in self._all():
            c.close_logs()
        self.sync(now=True)
        meta = self.pod["metadata"]
        if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds"):
            await self._final_delete()

    def _state(self) -> status.PodState:
        return status.PodState(spec=self.pod.get("spec") or {}, generation=None, host_ip="", pod_ip="",
                               start_time="", init=self.init, containers=self.containers, terminal=self.terminal)  # fmt: skip

    async def _final_delete(self) -> None:
        if self.gone or self.kubelet.stopping:
            return
        try:
            self.api.delete(self.api.rt("", "pods"), self.namespace, self.name, self.kubelet.request(self.node),
                            grace_period=0, preconditions={"uid": self.uid})  # fmt: skip
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    async def _active_deadline(self, seconds: int) -> None:
        if await self._wait(float(seconds)):
            self.reason = "DeadlineExceeded"
            self.message = "Pod was active on the node longer than the specified deadline"
            self._event("Normal", "DeadlineExceeded", self.message)
            self.request_stop(self._grace())

    # -- one container instance ------------------------------------------------------------------
    async def _run_once(self, c: Container) -> int | None:
        """Pull, configure, start and wait for one instance of ``c``; its exit code, or None if
        it never started because the pod is stopping."""
        if not await self._pull(c):
            return None
        prepared = await self._configure(c)
        if prepared is None:
            return None
        argv, env, rewrite = prepared
        buffer = c.new_instance(c.spec.get("image", ""))
        self.sandbox.reset_termination_file(c.spec)
        self._event("Normal", "Created", f"Created container: {c.name}", c)
        try:
            process: ContainerProcess = (IdleProcess() if argv is None
                                         else await spawn(argv, env, self.sandbox.root, buffer))  # fmt: skip
        except StartError as e:
            c.running(False)
            c.terminated(128, "StartError", e.args[0])
            buffer.close()
            self._event("Warning", "Failed", f"Error: {e.args[0]}", c)
            self.sync()
            return 128
        c.process = process
        self._event("Normal", "Started", f"Started container {c.name}", c)
        c.running(started="startupProbe" not in c.spec)
        c.ready = c.started and "readinessProbe" not in c.spec and not self._faults().never_ready
        self.sync()
        if self.stopping or c.stopping:
            self._later(self._kill(c, self.stop_grace or 0.0, f"Stopping container {c.name}"))
        target = ProbeTarget(env, self.sandbox.root, rewrite, c.spec.get("ports") or [], idle=argv is None)
        watchers = [asyncio.get_running_loop().create_task(self._probes(c, process, target))]
        oom_after = self._faults().oom_after
        if oom_after is not None and not c.init:
            watchers.append(asyncio.get_running_loop().create_task(self._oom(c, process, oom_after)))
        try:
            code = await process.wait()
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
        buffer.close()
        c.terminated(code, *self._termination(c, code, buffer))
        self.sync()
        return code

    def _termination(self, c: Container, code: int, buffer: LogBuffer) -> tuple[str, str]:
        reason = "OOMKilled" if c.oom_killed else ("Completed" if code == 0 else "Error")
        try:
            with self.sandbox.termination_file(c.spec).open("rb") as f:
                message = f.read(_TERMINATION_MESSAGE_MAX).decode("utf-8", "replace")
        except OSError:
            message = ""
        if not message and code != 0 and c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            message = buffer.tail_text(80, 2048)
        return reason, message

    async def _pull(self, c: Container) -> bool:
        while True:
            if self.stopping or c.stopping:
                return False
            image = c.spec.get("image", "")
            fails = self._faults().image_pull_fails or image.endswith(MISSING_IMAGE_SUFFIX)
            present = images.normalize(image) in self.kubelet.images(self.node)
            if not fails and (c.spec.get("imagePullPolicy") == "Never"
                              or (present and c.spec.get("imagePullPolicy") != "Always")):  # fmt: skip
                self._event("Normal", "Pulled", f'Container image "{image}" already present on machine', c)
                return True
            self._event("Normal", "Pulling", f'Pulling image "{image}"', c)
            if not fails:
                self.kubelet.images(self.node).add(images.normalize(image))
                self._event("Normal", "Pulled", f'Successfully pulled image "{image}" in 0s (0s including waiting). '
                                                "Image size: 0 bytes.", c)  # fmt: skip
                return True
            error = images.pull_error(image)
            self._event("Warning", "Failed", f'Failed to pull image "{image}": {error}', c)
            self._event("Warning", "Failed", "Error: ErrImagePull", c)
            c.waiting("ErrImagePull", error)
            self.sync(now=True)
            delay = c.pull_backoff.step(self.clock.monotonic() * self.clock.speed) or c.pull_backoff.base
            self._event("Normal", "BackOff", f'Back-off pulling image "{image}"', c)
            self._event("Warning", "Failed", "Error: ImagePullBackOff", c)
            c.waiting("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: {error}')
            self.sync()
            if not await self._wait(delay, until=self._spec_moved(), container=c):
                return False

    async def _configure(self, c: Container) -> tuple[list[str] | None, dict[str, str], PathRewriter] | None:
        """(argv or None for an idle container, env, path rewriter), retrying while config is missing."""
        while True:
            try:
                env = container_env(self.api, c.spec, self._facts(), self.kubelet.base_env(self, c))
                break
            except ConfigError as e:
                c.waiting("CreateContainerConfigError", e.message)
                self._event("Warning", "Failed", f"Error: {e.message}", c)
                self.sync()
            if not await self._wait(_CONFIG_RETRY, until=self._config_moved(), container=c):
                return None
        rewrite = self.sandbox.rewriter(c.spec)
        env = {k: rewrite(v) for k, v in env.items()}
        command = [expand(str(a), env) for a in c.spec.get("command") or []]
        args = [expand(str(a), env) for a in c.spec.get("args") or []]
        argv = [rewrite(a) for a in command + args] or None
        return argv, env, rewrite

    async def _kill(self, c: Container, grace: float, message: str) -> None:
        process = c.process
        if process is None or process.finished:
            return
        self._event("Normal", "Killing", message, c)
        await process.stop(self.clock.scaled(grace))

    async def _oom(self, c: Container, process: ContainerProcess, after: float) -> None:
        if after:
            await self.clock.sleep(after)
        c.oom_killed = True
        process.signal(signal.SIGKILL)

    # -- probes ------------------------------------------------------------------------------------
    async def _probes(self, c: Container, process: ContainerProcess, target: ProbeTarget) -> None:
        startup = c.spec.get("startupProbe")
        if isinstance(startup, dict):
            if not await self._probe_loop(c, process, startup, "Startup", target):
                self._later(
                    self._kill(
                        c,
                        self._probe_grace(startup),
                        f"Container {c.name} failed startup probe, will be restarted",
                    )
                )
                return
            c.started = True
            c.ready = "readinessProbe" not in c.spec and not self._faults().never_ready
            self.sync()
        loops = []
        for kind in ("Readiness", "Liveness"):
            probe = c.spec.get(f"{kind.lower()}Probe")
            if isinstance(probe, dict):
                loops.append(self._probe_loop(c, process, probe, kind, target))
        await asyncio.gather(*loops)

    def _probe_grace(self, probe: Obj) -> float:
        return float(probe.get("terminationGracePeriodSeconds") or self._grace())

    async def _probe_loop(self, c: Container, process: ContainerProcess, probe: Obj, kind: str,
                          target: ProbeTarget) -> bool:  # fmt: skip
        """Run ``probe`` every period; True once a startup probe succeeds, False once it (or a
        liveness probe) fails for good. Readiness only updates ``c.ready``."""
        period = float(probe.get("periodSeconds") or 10)
        success_threshold = int(probe.get("successThreshold") or 1)
        failure_threshold = int(probe.get("failureThreshold") or 3)
        if not await self._wait(float(probe.get("initialDelaySeconds") or 0), container=c):
            return False
        successes = failures = 0
        while not process.finished:
            result = await run_probe(probe, target)
            if process.finished or self.stopping:
                return False
            if result.ok:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                self._event("Warning", "Unhealthy", f"{kind} probe failed: {result.output}", c)
            if kind == "Startup" and successes >= success_threshold:
                return True
            if kind in ("Startup", "Liveness") and failures >= failure_threshold:
                if kind == "Liveness":
                    self._later(
                        self._kill(
                            c,
                            self._probe_grace(probe),
                            f"Container {c.name} failed liveness probe, will be restarted",
                        )
                    )
                return False
            if kind == "Readiness":
                ready = c.ready
                if successes >= success_threshold and not self._faults().never_ready:
                    ready = True
                elif failures >= failure_threshold:
                    ready = False
                if ready != c.ready:
                    c.ready = ready
                    self.sync()
            if not await self._wait(period, container=c):
                return False
        return False
