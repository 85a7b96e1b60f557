"""Pure Kubernetes knowledge: plain functions over plain dicts (objects as the API returns them).

No Airflow import, no network, no Kubernetes client import at module level. The sync operator
path and the async trigger path both call these, so every judgement about cluster state lives
here once:

* ``manifests``  — load manifests (dict, list, YAML, file, folder) and check them before sending
* ``naming``     — deterministic names/labels for task instances; the API server's name syntax
* ``jobs``       — is this Job running, succeeded, failed or suspended, and why
* ``rollout``    — ``kubectl rollout status`` and ``rollout undo`` for Deployments & co.
* ``pods``       — why a pod is stuck (image pulls, crash loops, OOM, unschedulable...)
* ``conditions`` — ``kubectl wait --for=condition|jsonpath|delete`` predicates
* ``events``     — event filters, server-side field selectors, JSON payloads
* ``quantities`` — CPU and memory quantities as numbers

Import the submodule you need (``from airflow_k8s_workflows.kube.jobs import job_outcome``);
this package imports nothing on purpose.
"""
