"""``JobSensor``: wait for an existing Job (created by anyone) to finish."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_k8s_workflows.kube.jobs import job_outcome
from airflow_k8s_workflows.operators.base import KubernetesTaskFailed
from airflow_k8s_workflows.sensors.base import KubernetesSensor

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_k8s_workflows.triggers.job import JobTrigger

__all__ = ["JobSensor"]


class JobSensor(KubernetesSensor):
    """Succeeds when the Job ``name`` is Complete; fails when it Failed, with the reason, the
    failing pod's problem, its last log lines and Warning events. A Job that does not exist
    yet is waited for (a CronJob or another system may create it).

    Poke mode reads the Job (``kube.jobs.job_outcome``, the same judgement the trigger uses);
    ``deferrable=True`` waits on the triggerer's shared watch instead::

        JobSensor(task_id="wait_for_import", name="nightly-import-{{ ds_nodash }}",
                  namespace="etl", deferrable=True, timeout=3600)

    :param name: the Job's name (templated).
    """

    template_fields: Sequence[str] = ("namespace", "kubernetes_conn_id", "name")

    def __init__(self, *, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not name:
            raise ValueError("name: the Job to wait for is required")
        self.name = name
        if "{{" not in str(name):
            self._checked_name()

    def _checked_name(self) -> str:
        from airflow_k8s_workflows.kube.manifests import check_object_name

        return check_object_name(self.name, "name", api_version="batch/v1", kind="Job")

    def execute(self, context: Context) -> Any:
        self._checked_name()  # rendered by now
        return super().execute(context)

    def poke(self, context: Context) -> bool:
        job = self.hook.get_or_none("batch/v1", "Job", self.name, self.resolved_namespace)
        if job is None:
            self.log.info("Job %s/%s does not exist yet", self.resolved_namespace, self.name)
            return False
        outcome = job_outcome(job)
        self.log.info("%s", outcome.progress_line())
        if outcome.state == "failed":
            raise KubernetesTaskFailed(self._failure(job))
        return outcome.state == "succeeded"

    def trigger(self) -> JobTrigger:
        from airflow_k8s_workflows.triggers.job import JobTrigger

        deadline = datetime.now(timezone.utc) + timedelta(seconds=self.timeout) if self.timeout else None
        return JobTrigger(
            name=self.name,
            namespace=self.resolved_namespace,
            cluster=self.trigger_cluster(),
            deadline=deadline,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        if event.get("status") == "failed":
            job = self.hook.get_or_none(
                "batch/v1", "Job", str(event.get("name")), str(event.get("namespace"))
            )
            if job is not None and (job.get("metadata") or {}).get("uid") == event.get("uid"):
                raise KubernetesTaskFailed(self._failure(job))
        return super().execute_complete(context, event)

    def _failure(self, job: dict[str, Any]) -> str:
        from airflow_k8s_workflows.operators.job_report import failure_message, job_pods

        return failure_message(self.hook, job, job_pods(self.hook, job))
