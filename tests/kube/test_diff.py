"""kube.diff: a readable diff of live vs proposed with the server's noise removed and Secrets masked."""

from __future__ import annotations

import base64
from typing import Any

from airflow_k8s_workflows.kube.diff import comparable, manifest_diff


def live_deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "12", "generation": 3,
                     "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"manager": "x"}],
                     "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}},
        "status": {"replicas": 1},
    }  # fmt: skip


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_noise_is_removed_and_only_the_change_shows() -> None:
    live, proposed = live_deployment(1), live_deployment(3)
    proposed["metadata"]["resourceVersion"] = "13"
    proposed["status"] = {"replicas": 3}
    diff = manifest_diff(live, proposed, label="Deployment default/web")
    assert diff.startswith("--- live Deployment default/web\n+++ dry-run Deployment default/web\n")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert changed == ["-  replicas: 1", "+  replicas: 3"]
    assert manifest_diff(live, {**live, "status": {"replicas": 9}}, label="x") == ""
    assert "annotations" not in comparable(live)["metadata"]  # only noise annotations: dropped entirely


def test_new_objects_diff_against_nothing() -> None:
    diff = manifest_diff(None, live_deployment(1), label="Deployment default/web")
    assert diff.startswith("--- (absent) Deployment default/web\n")
    assert "+  replicas: 1\n" in diff


def test_secret_values_never_appear_and_changes_are_marked() -> None:
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"same": b64("unchanged-value"), "old": b64("old-password")}}  # fmt: skip
    proposed = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "data": {"same": b64("unchanged-value"), "old": b64("new-password"), "added": b64("brand-new")}}  # fmt: skip
    diff = manifest_diff(live, proposed, label="Secret default/s")
    for secret in ("unchanged-value", "old-password", "new-password", "brand-new"):
        assert secret not in diff and b64(secret) not in diff
    assert "-  old: '***'\n+  added: '***'\n+  old: '*** (changed)'\n" in diff
    assert "same" not in "".join(line for line in diff.splitlines() if line[:1] in "+-")
    # stringData (as written) against data (as stored): the same value is no change
    as_written = {**proposed, "data": {"same": b64("unchanged-value")}, "stringData": {"old": "old-password"}}
    assert manifest_diff({**live, "data": {"same": b64("unchanged-value"), "old": b64("old-password")}},
                         as_written, label="s").count("(changed)") == 0  # fmt: skip
