"""kube.secret_refs: which Secrets a pod template reads, what to mask, redaction of results."""

from __future__ import annotations

import base64

from airflow_k8s_workflows.kube.secret_refs import pod_spec_of, redact_values, secret_data_values, secret_refs


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_refs_cover_env_env_from_and_volumes() -> None:
    job = {
        "kind": "Job",
        "spec": {"template": {"spec": {
            "initContainers": [{"name": "i", "env": [
                {"name": "A", "valueFrom": {"secretKeyRef": {"name": "one", "key": "a"}}},
            ]}],
            "containers": [{"name": "c", "env": [
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "one", "key": "b"}}},
                {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "c"}}},
                {"name": "D", "value": "plain"},
            ], "envFrom": [{"secretRef": {"name": "two"}}, {"configMapRef": {"name": "cm"}}]}],
            "volumes": [
                {"name": "v", "secret": {"secretName": "three"}},
                {"name": "p", "projected": {"sources": [{"secret": {"name": "four"}}, {"configMap": {"name": "cm"}}]}},
            ],
        }}},
    }  # fmt: skip
    assert secret_refs(pod_spec_of(job)) == {"one": {"a", "b"}, "two": None, "three": None, "four": None}
    assert secret_refs(
        pod_spec_of({"kind": "Pod", "spec": {"containers": [{"envFrom": [{"secretRef": {"name": "x"}}]}]}})
    ) == {"x": None}
    assert secret_refs({}) == {}


def test_a_whole_secret_wins_over_single_keys() -> None:
    spec = {"containers": [{"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a"}}}],
                            "envFrom": [{"secretRef": {"name": "s"}}]}]}  # fmt: skip
    assert secret_refs(spec) == {"s": None}


def test_values_to_mask_decoded_and_base64_short_ones_left_out() -> None:
    secret = {"data": {"password": b64("hunter2-long"), "pem": b64("line-one\nline-two"), "flag": b64("1")},
              "stringData": {"token": "tok-123456"}}  # fmt: skip
    values = secret_data_values(secret)
    assert "hunter2-long" in values and b64("hunter2-long") in values
    assert "line-one" in values and "line-two" in values
    assert "1" not in values and "tok-123456" in values
    assert secret_data_values(secret, {"password"}) == [b64("hunter2-long"), "hunter2-long"]


def test_redaction_of_results() -> None:
    secrets = ["hunter2-long", "hunter2"]
    assert redact_values("done hunter2-long", secrets) == "done ***"
    assert redact_values({"a": ["x hunter2 y", 3], "hunter2": True}, secrets) == {
        "a": ["x *** y", 3],
        "***": True,
    }
    assert redact_values(None, secrets) is None
    assert redact_values("nothing", []) == "nothing"
