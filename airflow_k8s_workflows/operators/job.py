"""``RunJobOperator``: run batch work as a Kubernetes Job, with live logs and a result in XCom."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_k8s_workflows.kube import naming
from airflow_k8s_workflows.kube.job_manifest import (
    SHORTHAND_FIELDS,
    JobArgumentError,
    build_job,
    check_cleanup,
    check_job_name,
    check_no_conflict,
    finalize_job,
    load_job_manifest,
    pod_selector,
)
from airflow_k8s_workflows.operators.base import KubernetesOperator, KubernetesTaskFailed, remaining_seconds

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

    from airflow_k8s_workflows.operators.job_adopt import JobHandle
    from airflow_k8s_workflows.operators.job_logs import JobLogStreamer

__all__ = ["RunJobOperator"]

_EXT_FIELDS = ("job_manifest",)


def _static(value: Any) -> bool:
    """No Jinja and no XComArg anywhere: the value is final at DAG parse time."""
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, Mapping):
        return all(_static(k) and _static(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_static(v) for v in value)
    return value is None or isinstance(value, int | float | bool)


class RunJobOperator(KubernetesOperator):
    """Run a Kubernetes Job and wait for it: its pods' logs stream into the task log while it
    runs, its result lands in XCom, and a failure says why in words a user acts on.

    Describe the Job with ``job_manifest`` (a dict, YAML text, or a ``.yaml``/``.json`` file
    in the DAG folder, templated) **or** with the shorthand arguments (one container named
    ``main``, ``restartPolicy: Never``)::

        RunJobOperator(
            task_id="train",
            image="python:3.12-slim",
            cmds=["python", "-c"],
            arguments=["import json; print(json.dumps({'auc': 0.91}))"],
            env_vars={"RUN": "{{ run_id }}"},
            container_resources={"limits": {"memory": "1Gi"}},
            backoff_limit=2,
        )

        RunJobOperator.partial(task_id="shard", image="busybox", cmds=["sh", "-c"]).expand(
            arguments=[["echo 1"], ["echo 2"], ["echo 3"]]
        )

    **Name and adoption.** Without ``name`` the Job is named from (dag_id, task_id, run_id,
    map_index) and labelled with them. A retry adopts the running Job, and a Job that
    succeeded while no try was watching (its result is handed back at once, without a
    deferral; the work is not redone); a retry after the Job failed, or a cleared task, starts
    a fresh Job. The Job is recorded in the task state store right after it is created, and
    its result once it succeeded (before the cleanup and XCom), so a try killed at any point is
    followed by one that adopts instead of running the work twice; a failed Job, or one from
    before a clear, is deleted (uid precondition) before the new one is created; a create that
    collides (409) adopts the Job it collided with when it carries this task instance's labels.

    **Result.** The termination message (``/dev/termination-log``) of the succeeded pod's main
    container (the pod template's ``kubectl.kubernetes.io/default-container``, else the first),
    else its last line of output; parsed as JSON when it is JSON. An Indexed Job with
    ``completions > 1`` returns a list ordered by completion index. Nothing with
    ``do_xcom_push=False``. With ``wait_until_complete=False`` the task returns
    ``{"name", "namespace", "uid"}`` right after the create.

    **Failure.** ``KubernetesTaskFailed`` naming the Job's reason (BackoffLimitExceeded,
    DeadlineExceeded, PodFailurePolicy...), the failing pod's problem, its last 20 log lines
    and recent Warning events.

    **Secrets.** The values of the Secrets the pods read (``secretKeyRef``, ``envFrom``
    ``secretRef``, secret volumes) are masked (``***``) in the task log, the failure message
    and the result; that needs ``get`` on those Secrets (a warning names one it cannot read).

    **Stopping.** Killing the task (sync: ``on_kill``; deferred: the trigger's ``on_kill``)
    deletes the Job and its pods, and so does running past ``timeout`` or
    ``execution_timeout`` (enforced in deferrable mode too). ``cleanup``: ``"on_success"``
    (default) deletes the Job after it succeeded and keeps a failed one for inspection,
    ``"always"`` deletes it either way, ``"never"`` keeps it.

    :param job_manifest: the whole Job (dict, YAML/JSON text or file path); excludes the
        shorthand arguments.
    :param image: container image (shorthand).
    :param cmds: the container's command (list of strings).
    :param arguments: the container's args (a list; a single string is one argument).
    :param env_vars: ``{"NAME": "value"}`` or a list of ``{"name", "value" | "valueFrom"}``.
    :param env_from: list of ``envFrom`` sources (``{"configMapRef": {"name": ...}}``).
    :param container_resources: ``{"requests": {...}, "limits": {...}}``.
    :param node_selector: pod ``nodeSelector``.
    :param tolerations: pod tolerations.
    :param service_account_name: the pods' service account.
    :param labels: labels of the Job and its pods.
    :param annotations: annotations of the Job and its pods.
    :param backoff_limit: failed pods allowed before the Job fails (Kubernetes default 6).
    :param active_deadline_seconds: the Job fails (DeadlineExceeded) after running this long.
    :param parallelism: pods running at once.
    :param completions: successful pods needed.
    :param completion_mode: ``"NonIndexed"`` or ``"Indexed"``.
    :param ttl_seconds_after_finished: Kubernetes deletes the finished Job after this long.
    :param name: the Job's name (default: deterministic, see above).
    :param cleanup: ``"on_success"``, ``"always"`` or ``"never"``.
    :param do_xcom_push: push the result.
    :param wait_until_complete: wait for the Job (else return right after creating it).
    """

    template_fields: Sequence[str] = (
        "namespace",
        "kubernetes_conn_id",
        "job_manifest",
        "name",
        *SHORTHAND_FIELDS,
    )
    template_ext: Sequence[str] = (".yaml", ".yml", ".json")
    template_fields_renderers = {"job_manifest": "yaml", "env_vars": "json", "arguments": "py"}
    ui_color = "#c9e2ff"

    def __init__(
        self,
        *,
        job_manifest: dict[str, Any] | str | None = None,
        image: str | None = None,
        cmds: list[str] | None = None,
        arguments: list[str] | str | None = None,
        env_vars: dict[str, Any] | list[Any] | None = None,
        env_from: list[Any] | None = None,
        container_resources: dict[str, Any] | None = None,
        node_selector: dict[str, str] | None = None,
        tolerations: list[Any] | None = None,
        service_account_name: str | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        backoff_limit: int | None = None,
        active_deadline_seconds: int | None = None,
        parallelism: int | None = None,
        completions: int | None = None,
        completion_mode: str | None = None,
        ttl_seconds_after_finished: int | None = None,
        name: str | None = None,
        cleanup: str = "on_success",
        do_xcom_push: bool = True,
        wait_until_complete: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(do_xcom_push=do_xcom_push, **kwargs)
        self.job_manifest = job_manifest
        self.image = image
        self.cmds = cmds
        self.arguments = arguments
        self.env_vars = env_vars
        self.env_from = env_from
        self.container_resources = container_resources
        self.node_selector = node_selector
        self.tolerations = tolerations
        self.service_account_name = service_account_name
        self.labels = labels
        self.annotations = annotations
        self.backoff_limit = backoff_limit
        self.active_deadline_seconds = active_deadline_seconds
        self.parallelism = parallelism
        self.completions = completions
        self.completion_mode = completion_mode
        self.ttl_seconds_after_finished = ttl_seconds_after_finished
        self.name = name
        self.cleanup = check_cleanup(cleanup)
        self.wait_until_complete = wait_until_complete
        self._check_static_arguments()

    # -- arguments -------------------------------------------------------------------------------------
    def _shorthand(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in SHORTHAND_FIELDS}

    def _check_static_arguments(self) -> None:
        """What can be checked at DAG parse time (templated values are checked in ``execute``)."""
        shorthand = self._shorthand()
        check_no_conflict(self.job_manifest, shorthand)
        if self.name is not None and _static(self.name):
            check_job_name(self.name)
        if self.job_manifest is None:
            if self.image is None:
                raise JobArgumentError("image", "is required unless job_manifest describes the Job")
            if _static(shorthand):
                build_job(shorthand)

    def _job_body(self, context: Context, identity: naming.TaskIdentity) -> dict[str, Any]:
        """The Job to create, fully checked; raises before anything reaches the cluster."""
        from airflow_k8s_workflows.kube.manifests import ManifestError, validate_manifest

        shorthand = self._shorthand()
        check_no_conflict(self.job_manifest, shorthand)
        if self.job_manifest is not None:
            dag = self.dag if self.has_dag() else None
            body = load_job_manifest(self.job_manifest, base_dir=getattr(dag, "folder", None))
        else:
            body = build_job(shorthand)
        declared_ns = (body.get("metadata") or {}).get("namespace")
        namespace = self.hook.get_namespace(self.namespace or declared_ns)
        job = finalize_job(body, name=self.name, namespace=namespace, identity=identity)
        try:
            validate_manifest(job, position=0)
        except ManifestError as e:
            field = "job_manifest" if self.job_manifest is not None else "job"
            raise JobArgumentError(f"{field}.{e.path}" if e.path else field, e.reason)
        return job

    @staticmethod
    def _identity(context: Context) -> naming.TaskIdentity:
        ti: Any = context.get("ti") or context.get("task_instance")
        run_id = context.get("run_id") or getattr(ti, "run_id", None)
        if ti is None or not run_id:
            raise KubernetesTaskFailed("RunJobOperator needs a task instance and run_id in its context")
        map_index = getattr(ti, "map_index", -1)
        return naming.TaskIdentity(
            dag_id=str(ti.dag_id),
            task_id=str(ti.task_id),
            run_id=str(run_id),
            map_index=-1 if map_index is None else int(map_index),
            try_number=getattr(ti, "try_number", None),
        )

    # -- templates: only job_manifest may name a file ---------------------------------------------------
    def resolve_template_files(self) -> None:
        self.template_fields = [f for f in type(self).template_fields if f in _EXT_FIELDS]
        try:
            super().resolve_template_files()
        finally:
            del self.template_fields

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        with_ext = [f for f in template_fields if f in _EXT_FIELDS]
        plain = [f for f in template_fields if f not in _EXT_FIELDS]
        super()._do_render_template_fields(parent, with_ext, context, jinja_env, seen_oids)
        # an argument such as "config.yaml" is a value, not a template file to load
        self.template_ext = ()
        try:
            super()._do_render_template_fields(parent, plain, context, jinja_env, seen_oids)
        finally:
            del self.template_ext

    # -- running ----------------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        from airflow_k8s_workflows.operators.job_adopt import (
            JobCollision,
            create_or_adopt,
            generation,
            mark_checked,
        )
        from airflow_k8s_workflows.triggers.job import JobTrigger, finished_job_event

        identity = self._identity(context)
        try:
            body = self._job_body(context, identity)
        except JobArgumentError as e:
            # bad arguments stay bad on a retry
            raise AirflowFailException(str(e)) from e
        try:
            handle = create_or_adopt(
                self.hook, body, identity, context.get("task_state_store"), self.log, generation(context)
            )
        except JobCollision as e:
            raise KubernetesTaskFailed(str(e))
        self._handle = handle
        self.job_name, self.job_namespace = handle.name, handle.namespace
        if handle.has_result:  # an earlier try saw the Job succeed, then died before the hand-back
            self._clean_up(handle.name, handle.namespace, handle.uid, succeeded=True)
            return handle.result if self.do_xcom_push else None
        self._mask_pod_secrets(handle.job, handle.namespace)
        if not self.wait_until_complete:
            mark_checked(self.hook, handle.name, handle.namespace, handle.uid)
            return handle.ref() if self.do_xcom_push else None

        finished = finished_job_event(handle.job) if handle.adopted else None
        if finished is not None:  # adopted after it ended: nothing to wait for, no trip to the triggerer
            return self.execute_complete(context, finished)

        timeout = remaining_seconds(context, self.execution_timeout, self.timeout)
        deadline = datetime.now(timezone.utc) + timedelta(seconds=timeout) if timeout else None
        trigger = JobTrigger(
            name=handle.name,
            namespace=handle.namespace,
            uid=handle.uid,
            cluster=self.trigger_cluster(),
            deadline=deadline,
            delete_on_kill=True,
        )
        alongside = None
        if not self.deferrable:
            self._streamer = self._log_streamer(handle.namespace, pod_selector(handle.job))
            alongside = self._streamer.run
        return self.wait(context, trigger, timeout=timeout, alongside=alongside)

    def _mask_pod_secrets(self, job: Mapping[str, Any], namespace: str) -> None:
        """Register the values of every Secret the Job's pods read (env, envFrom, volumes) with
        Airflow's masker before any pod log line is logged, and keep them to redact the result:
        a container that prints its secret env shows ``***`` in the task log and in XCom.
        Needs ``get`` on those Secrets; without it a warning says what cannot be masked."""
        from airflow.sdk.log import mask_secret

        from airflow_k8s_workflows.kube.errors import KubeError
        from airflow_k8s_workflows.kube.secret_refs import pod_spec_of, secret_data_values, secret_refs

        if getattr(self, "_secret_values", None) is not None or not job:
            return
        values: list[str] = []
        for name, keys in sorted(secret_refs(pod_spec_of(job)).items()):
            try:
                secret = self.hook.get_or_none("v1", "Secret", name, namespace)
            except KubeError as e:
                self.log.warning(
                    "Cannot read Secret %s/%s to mask its values in the pod logs and the result: %s",
                    namespace, name, e,
                )  # fmt: skip
                continue
            if secret is not None:
                values.extend(secret_data_values(secret, keys))
        for value in values:
            mask_secret(value)
        self._secret_values = values

    def _log_streamer(self, namespace: str, selector: str) -> JobLogStreamer:
        from airflow_k8s_workflows.operators.job_logs import JobLogStreamer

        return JobLogStreamer(self.hook.cluster_config, namespace, selector, emit=self._emit_log_line)

    def _emit_log_line(self, line: str) -> None:
        # redacted here, not only by Airflow's masker: the LocalExecutor's copy of task logs on
        # the scheduler's stdout is not masked (Airflow 3.3.2)
        self.log.info("%s", self._redact(line))

    def _redact(self, value: Any) -> Any:
        from airflow_k8s_workflows.kube.secret_refs import redact_values

        secrets = getattr(self, "_secret_values", None)
        return redact_values(value, secrets) if secrets else value

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume (both modes): logs, then the result or the failure story, then ``cleanup``."""
        from airflow_k8s_workflows.kube.job_ops import delete_job
        from airflow_k8s_workflows.operators.job_adopt import generation, mark_checked, remember_success
        from airflow_k8s_workflows.operators.job_report import failure_message, job_result

        status = event.get("status")
        name, namespace, uid = str(event.get("name")), str(event.get("namespace")), event.get("uid")
        self.job_name, self.job_namespace = name, namespace
        job = self.hook.get_or_none("batch/v1", "Job", name, namespace)
        if job is not None and uid and (job.get("metadata") or {}).get("uid") != uid:
            job = None  # the name belongs to another attempt's Job now
        streamer: JobLogStreamer | None = getattr(self, "_streamer", None)
        pods: list[dict[str, Any]] = []
        if job is not None:
            self._mask_pod_secrets(job, namespace)
            if streamer is None:
                self.log.info("Logs of the pods of Job %s/%s:", namespace, name)
                streamer = self._log_streamer(namespace, pod_selector(job))
            pods = streamer.drain(self.hook)

        if status == "timeout":
            if uid and delete_job(self.hook, name, namespace, uid):
                self.log.info("Deleted Job %s/%s and its pods", namespace, name)
            raise KubernetesTaskFailed(f"{event.get('message')}; the Job was deleted")
        if job is None or uid is None:
            if status == "success":  # e.g. ttlSecondsAfterFinished removed it right away
                self.log.warning(
                    "Job %s/%s succeeded but is gone already: no result to read from its pods",
                    namespace,
                    name,
                )
                return None
            raise KubernetesTaskFailed(str(event.get("message") or f"Job {namespace}/{name} is gone"))

        mark_checked(self.hook, name, namespace, uid)
        if status == "success":
            result = job_result(self.hook, job, pods) if self.do_xcom_push else None
            result = self._redact(result)
            # before the cleanup and the XCom push: a try that dies from here on is answered
            # from the task state store by the next one, without running the Job again
            remember_success(context.get("task_state_store"), job, generation(context), result)
            self._clean_up(name, namespace, uid, succeeded=True)
            return result
        message = failure_message(self.hook, job, pods) if status == "failed" else str(event.get("message"))
        message = self._redact(message)
        self._clean_up(name, namespace, uid, succeeded=False)
        raise KubernetesTaskFailed(message)

    def _clean_up(self, name: str, namespace: str, uid: str, *, succeeded: bool) -> None:
        from airflow_k8s_workflows.kube.job_ops import delete_job

        wanted = self.cleanup == "always" or (self.cleanup == "on_success" and succeeded)
        if wanted and delete_job(self.hook, name, namespace, uid):
            self.log.info("Deleted Job %s/%s and its pods (cleanup=%s)", namespace, name, self.cleanup)

    def on_wait_timeout(self, context: Context, message: str) -> Any:
        self._delete_own_job()
        raise KubernetesTaskFailed(f"{self.task_id}: Job {self.job_name} {message}; the Job was deleted")

    def on_kill(self) -> None:
        """Delete this attempt's Job and its pods (sync mode; deferred, the trigger does it)."""
        if self._delete_own_job():
            self.log.info(
                "Task killed: deleted Job %s/%s and its pods", self._handle.namespace, self._handle.name
            )

    def _delete_own_job(self) -> bool:
        from airflow_k8s_workflows.kube.job_ops import delete_job

        handle: JobHandle | None = getattr(self, "_handle", None)
        if handle is None:
            return False
        return delete_job(self.hook, handle.name, handle.namespace, handle.uid)
