"""What a batch/v1 Job's status says: running, succeeded, failed or suspended, and why.

The Job controller (1.31+) first adds an interim condition — ``SuccessCriteriaMet`` or
``FailureTarget`` — and only once no pod is terminating any more the terminal ``Complete`` or
``Failed`` with the same reason and message. A Job is terminal only with ``Complete``/``Failed``
(``True``); while only the interim condition is present :func:`job_outcome` reports
``running`` and exposes the interim condition, its reason and message, so a caller can log
"failing: BackoffLimitExceeded, waiting for pods to terminate" and keep waiting for the end.
Older clusters set only the terminal conditions; that reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "FAILURE_REASONS",
    "JobOutcome",
    "JobState",
    "job_outcome",
]

JobState = Literal["running", "succeeded", "failed", "suspended"]

FAILURE_REASONS: dict[str, str] = {
    "BackoffLimitExceeded": "Job has reached the specified backoff limit",
    "DeadlineExceeded": "Job was active longer than specified deadline",
    "PodFailurePolicy": "a pod failure matched a FailJob rule of the podFailurePolicy",
    "MaxFailedIndexesExceeded": "Job has exceeded the specified maximal number of failed indexes",
    "FailedIndexes": "Job has failed indexes",
}
"""The Job controller's failure reasons and what they mean."""


def _true_condition(conditions: list[Mapping[str, Any]], condition_type: str) -> Mapping[str, Any] | None:
    for condition in conditions:
        if condition.get("type") == condition_type and condition.get("status") == "True":
            return condition
    return None


def _count(status: Mapping[str, Any], key: str) -> int:
    value = status.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class JobOutcome:
    """A Job's state as its controller reported it."""

    name: str
    namespace: str | None
    state: JobState
    reason: str | None
    """e.g. CompletionsReached, BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy,
    MaxFailedIndexesExceeded, FailedIndexes, SuccessPolicy, JobSuspended."""
    message: str | None
    active: int
    succeeded: int
    failed: int
    ready: int
    terminating: int
    completions: int | None
    """Wanted successful pods; None for a work-queue Job (parallelism set, completions unset)."""
    parallelism: int
    interim: Literal["SuccessCriteriaMet", "FailureTarget"] | None
    """The interim condition when the Job is decided but pods are still terminating."""
    completed_indexes: str | None = None
    failed_indexes: str | None = None

    @property
    def terminal(self) -> bool:
        """Complete or Failed: nothing will change any more."""
        return self.state in ("succeeded", "failed")

    @property
    def will_fail(self) -> bool:
        """Failed, or decided to fail (FailureTarget) and waiting for its pods to terminate."""
        return self.state == "failed" or self.interim == "FailureTarget"

    @property
    def will_succeed(self) -> bool:
        """Succeeded, or decided to succeed (SuccessCriteriaMet) and waiting for its pods."""
        return self.state == "succeeded" or self.interim == "SuccessCriteriaMet"

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def progress_line(self) -> str:
        """``job x: 1 active (1 ready), 2/5 succeeded, 0 failed`` — one line for the task log."""
        active = f"{self.active} active"
        if self.ready:
            active += f" ({self.ready} ready)"
        succeeded = (
            f"{self.succeeded}/{self.completions} succeeded"
            if self.completions is not None
            else f"{self.succeeded} succeeded"
        )
        parts = [active, succeeded, f"{self.failed} failed"]
        if self.terminating:
            parts.append(f"{self.terminating} terminating")
        line = f"job {self.name}: " + ", ".join(parts)
        if self.state == "suspended":
            line += " (suspended)"
        elif self.interim == "FailureTarget":
            line += f" (failing: {self.reason}; waiting for pods to terminate)"
        elif self.interim == "SuccessCriteriaMet":
            line += " (succeeded; waiting for pods to terminate)"
        return line

    def describe(self) -> str:
        """A sentence a user acts on, e.g.
        ``Job ns/x failed: BackoffLimitExceeded: Job has reached the specified backoff limit (0 active, 0/1 succeeded, 7 failed)``.
        """
        counts = self.progress_line().split(": ", 1)[1]
        why = ": ".join(part for part in (self.reason, self.message) if part)
        if self.state == "failed":
            return f"Job {self.ref} failed: {why or 'Failed'} ({counts})"
        if self.state == "succeeded":
            return f"Job {self.ref} succeeded ({counts})"
        if self.state == "suspended":
            return f"Job {self.ref} is suspended ({counts})"
        return f"Job {self.ref} is running ({counts})"


def job_outcome(job: Mapping[str, Any]) -> JobOutcome:
    """Judge a batch/v1 Job object (as the API returns it)."""
    meta = job.get("metadata") or {}
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]

    completions = spec.get("completions")
    parallelism = spec.get("parallelism")
    if completions is None and parallelism is None:
        completions, parallelism = 1, 1  # the API server's defaults
    if parallelism is None:
        parallelism = 1

    state: JobState = "running"
    reason: str | None = None
    message: str | None = None
    interim: Literal["SuccessCriteriaMet", "FailureTarget"] | None = None

    failed_cond = _true_condition(conditions, "Failed")
    complete_cond = _true_condition(conditions, "Complete")
    failure_target = _true_condition(conditions, "FailureTarget")
    success_met = _true_condition(conditions, "SuccessCriteriaMet")
    suspended_cond = _true_condition(conditions, "Suspended")

    if failed_cond is not None:
        state, reason, message = "failed", failed_cond.get("reason"), failed_cond.get("message")
    elif complete_cond is not None:
        state, reason, message = "succeeded", complete_cond.get("reason"), complete_cond.get("message")
    elif failure_target is not None:
        interim, reason, message = (
            "FailureTarget",
            failure_target.get("reason"),
            failure_target.get("message"),
        )
    elif success_met is not None:
        interim, reason, message = "SuccessCriteriaMet", success_met.get("reason"), success_met.get("message")
    elif suspended_cond is not None or spec.get("suspend") is True:
        state = "suspended"
        reason = suspended_cond.get("reason") if suspended_cond else "JobSuspended"
        message = suspended_cond.get("message") if suspended_cond else "Job suspended"

    return JobOutcome(
        name=str(meta.get("name") or ""),
        namespace=meta.get("namespace"),
        state=state,
        reason=reason or None,
        message=message or None,
        active=_count(status, "active"),
        succeeded=_count(status, "succeeded"),
        failed=_count(status, "failed"),
        ready=_count(status, "ready"),
        terminating=_count(status, "terminating"),
        completions=completions,
        parallelism=parallelism,
        interim=interim,
        completed_indexes=status.get("completedIndexes") or None,
        failed_indexes=status.get("failedIndexes") or None,
    )
