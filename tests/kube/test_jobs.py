"""Job outcomes. Condition sequences and texts are the Job controller's
(pkg/controller/job/job_controller.go, 1.31+): interim SuccessCriteriaMet/FailureTarget first,
Complete/Failed with the same reason and message once no pod is terminating."""

import pytest

from airflow_k8s_workflows.kube.jobs import FAILURE_REASONS, job_outcome


def job(status=None, **spec):
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "etl", "namespace": "data"},
        "spec": {"template": {"spec": {}}, **spec},
        "status": status or {},
    }


def cond(type_, status="True", reason=None, message=None):
    c = {"type": type_, "status": status}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def test_new_job_is_running_with_defaults():
    outcome = job_outcome(job())
    assert outcome.state == "running"
    assert not outcome.terminal
    assert outcome.completions == 1
    assert outcome.parallelism == 1
    assert outcome.reason is None
    assert outcome.progress_line() == "job etl: 0 active, 0/1 succeeded, 0 failed"


def test_running_counts():
    outcome = job_outcome(
        job({"active": 1, "ready": 1, "succeeded": 2, "failed": 0}, completions=5, parallelism=2)
    )
    assert (outcome.active, outcome.ready, outcome.succeeded, outcome.failed) == (1, 1, 2, 0)
    assert outcome.progress_line() == "job etl: 1 active (1 ready), 2/5 succeeded, 0 failed"
    assert outcome.describe() == "Job data/etl is running (1 active (1 ready), 2/5 succeeded, 0 failed)"


def test_work_queue_job_has_no_completion_count():
    outcome = job_outcome(job({"succeeded": 2}, parallelism=3))
    assert outcome.completions is None
    assert outcome.progress_line() == "job etl: 0 active, 2 succeeded, 0 failed"


def test_success_criteria_met_is_interim():
    status = {
        "succeeded": 1,
        "terminating": 1,
        "conditions": [
            cond(
                "SuccessCriteriaMet",
                reason="CompletionsReached",
                message="Reached expected number of succeeded pods",
            )
        ],
    }
    outcome = job_outcome(job(status))
    assert outcome.state == "running"
    assert not outcome.terminal
    assert outcome.interim == "SuccessCriteriaMet"
    assert outcome.will_succeed
    assert not outcome.will_fail
    assert outcome.reason == "CompletionsReached"
    assert outcome.progress_line() == (
        "job etl: 0 active, 1/1 succeeded, 0 failed, 1 terminating (succeeded; waiting for pods to terminate)"
    )


def test_complete():
    status = {
        "succeeded": 1,
        "conditions": [
            cond(
                "SuccessCriteriaMet",
                reason="CompletionsReached",
                message="Reached expected number of succeeded pods",
            ),
            cond(
                "Complete", reason="CompletionsReached", message="Reached expected number of succeeded pods"
            ),
        ],
    }
    outcome = job_outcome(job(status))
    assert outcome.state == "succeeded"
    assert outcome.terminal
    assert outcome.interim is None
    assert outcome.describe() == "Job data/etl succeeded (0 active, 1/1 succeeded, 0 failed)"


def test_complete_without_reason_on_older_clusters():
    outcome = job_outcome(job({"succeeded": 1, "conditions": [cond("Complete")]}))
    assert outcome.state == "succeeded"
    assert outcome.reason is None


def test_failure_target_is_interim():
    message = FAILURE_REASONS["BackoffLimitExceeded"]
    status = {
        "failed": 7,
        "terminating": 1,
        "conditions": [cond("FailureTarget", reason="BackoffLimitExceeded", message=message)],
    }
    outcome = job_outcome(job(status, backoffLimit=6))
    assert outcome.state == "running"
    assert outcome.interim == "FailureTarget"
    assert outcome.will_fail
    assert outcome.reason == "BackoffLimitExceeded"
    assert outcome.progress_line().endswith("(failing: BackoffLimitExceeded; waiting for pods to terminate)")


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ("DeadlineExceeded", "Job was active longer than specified deadline"),
        (
            "PodFailurePolicy",
            "Container main for pod data/etl-abcde failed with exit code 42 matching FailJob rule at index 0",
        ),
        ("MaxFailedIndexesExceeded", "Job has exceeded the specified maximal number of failed indexes"),
        ("FailedIndexes", "Job has failed indexes"),
    ],
)
def test_failed(reason, message):
    status = {
        "failed": 7,
        "conditions": [
            cond("FailureTarget", reason=reason, message=message),
            cond("Failed", reason=reason, message=message),
        ],
    }
    outcome = job_outcome(job(status))
    assert outcome.state == "failed"
    assert outcome.terminal
    assert outcome.will_fail
    assert outcome.reason == reason
    assert outcome.message == message
    assert (
        outcome.describe() == f"Job data/etl failed: {reason}: {message} (0 active, 0/1 succeeded, 7 failed)"
    )


def test_false_conditions_do_not_count():
    status = {"conditions": [cond("Failed", status="False"), cond("Complete", status="False")]}
    assert job_outcome(job(status)).state == "running"


def test_suspended_by_condition_or_spec():
    outcome = job_outcome(
        job({"conditions": [cond("Suspended", reason="JobSuspended", message="Job suspended")]})
    )
    assert outcome.state == "suspended"
    assert outcome.reason == "JobSuspended"
    assert outcome.progress_line().endswith("(suspended)")
    # just created with suspend: true, before the controller wrote the condition
    assert job_outcome(job(suspend=True)).state == "suspended"


def test_resumed_job_runs_again():
    status = {
        "active": 1,
        "conditions": [cond("Suspended", status="False", reason="JobResumed", message="Job resumed")],
    }
    assert job_outcome(job(status)).state == "running"


def test_indexed_job_indexes():
    status = {"completedIndexes": "0-2,4", "failedIndexes": "3", "succeeded": 4, "failed": 1}
    outcome = job_outcome(job(status, completions=5, completionMode="Indexed"))
    assert outcome.completed_indexes == "0-2,4"
    assert outcome.failed_indexes == "3"
