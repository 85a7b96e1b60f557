"""RunJobOperator masks what its pods read from Secrets: a container that prints its secret env
shows ``***`` in the task log (both modes) and in the result, as in Airflow
(tests/reliability/test_airflow_reliability.py checks every file Airflow writes)."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import TaskDeferred
from kubernetes import client

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.operators.job import RunJobOperator
from tests.operators.job_support import NS, captured_task_log, context, run_trigger

IMAGE = "busybox:1.36"
PASSWORD = "s3cr3t-value-91"
PRINTS = ["sh", "-c", 'echo "using $DB_PASSWORD and $DB_token"; echo "done $DB_PASSWORD"']
ENV = [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}]
ENV_FROM = [{"secretRef": {"name": "creds"}, "prefix": "DB_"}]


@pytest.fixture
def api(emulator: KubeEmulator, airflow_conn: str, k8s: client.ApiClient) -> client.ApiClient:
    client.CoreV1Api(k8s).create_namespaced_secret(
        NS, {"metadata": {"name": "creds"}, "stringData": {"password": PASSWORD, "token": "tok-abcdef-42"}}
    )
    return k8s


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_secret_values_are_masked_in_logs_and_result(api: client.ApiClient, deferrable: bool) -> None:
    op = RunJobOperator(task_id="uses_secret", image=IMAGE, cmds=PRINTS, env_vars=ENV, env_from=ENV_FROM,
                        deferrable=deferrable)  # fmt: skip
    ctx = context("uses_secret")
    with captured_task_log() as log:
        if deferrable:
            with pytest.raises(TaskDeferred) as deferred:
                op.execute(ctx)
            resumed = RunJobOperator(task_id="uses_secret", image=IMAGE, cmds=PRINTS, env_vars=ENV,
                                     env_from=ENV_FROM, deferrable=True)  # fmt: skip
            result = resumed.execute_complete(ctx, run_trigger(deferred.value.trigger))
        else:
            result = op.execute(ctx)
    lines = log.messages()
    assert result == "done ***"
    assert any("using *** and ***" in line for line in lines), lines
    assert not [line for line in lines if PASSWORD in line or "tok-abcdef-42" in line]


def test_a_missing_optional_secret_is_nothing_to_mask(api: client.ApiClient) -> None:
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k", "optional": True}}}]
    op = RunJobOperator(task_id="optional", image=IMAGE, cmds=["sh", "-c", "echo fine"], env_vars=env,
                        deferrable=False)  # fmt: skip
    assert op.execute(context("optional")) == "fine"  # a missing Secret: nothing to mask, no failure
