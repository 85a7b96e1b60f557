"""batch/v1 Jobs and CronJobs: defaulting (generated selectors, pod template labels) and the
API server's validation, with its messages."""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping
from typing import Any

from airflow_k8s_workflows.emulator import cron, errors
from airflow_k8s_workflows.emulator.errors import Cause
from airflow_k8s_workflows.emulator.kinds._fields import (
    go_label_selector,
    go_string_map,
    immutable,
    invalid_rendered,
    is_int,
    nonnegative,
    pod_template_causes,
    pod_template_defaults,
)
from airflow_k8s_workflows.emulator.selectors import LabelSelector
from airflow_k8s_workflows.emulator.strategy import Strategy, register

Obj = dict[str, Any]

CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
MAX_INT32 = 2**31 - 1
MAX_INDEXED_PARALLELISM = 100_000
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TIME_ZONE_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")
_ACTIONS = ["Count", "FailIndex", "FailJob", "Ignore"]


# -- Job ------------------------------------------------------------------------------------
def job_spec_defaults(spec: Obj) -> None:
    """SetDefaults_Job's spec part (also used for CronJob job templates' pod specs)."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    policy = spec.get("podFailurePolicy")
    if isinstance(policy, dict):
        for rule in policy.get("rules") or []:
            for pattern in (rule or {}).get("onPodConditions") or []:
                if isinstance(pattern, dict) and not pattern.get("status"):
                    pattern["status"] = "True"
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if policy is not None else "TerminatingOrFailed"


def _job_defaults(obj: Obj, ctx: Any) -> None:
    meta = obj.setdefault("metadata", {})
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    job_spec_defaults(spec)
    template = spec.setdefault("template", {})
    if isinstance(template, dict):
        pod_template_defaults(template)
        if not spec.get("manualSelector"):
            _generate_selector(meta, spec, template)
        if not meta.get("labels") and (template.get("metadata") or {}).get("labels"):
            meta["labels"] = dict(template["metadata"]["labels"])


def _generate_selector(meta: Obj, spec: Obj, template: Obj) -> None:
    uid, name = meta.get("uid", ""), meta.get("name", "")
    tmeta = template.setdefault("metadata", {})
    labels = tmeta.setdefault("labels", {})
    if isinstance(labels, dict):
        labels.setdefault(CONTROLLER_UID_LABEL, uid)
        labels.setdefault(JOB_NAME_LABEL, name)
        labels.setdefault(LEGACY_CONTROLLER_UID_LABEL, uid)
        labels.setdefault(LEGACY_JOB_NAME_LABEL, name)
    selector = spec.get("selector")
    if selector is None:
        selector = spec["selector"] = {}
    if isinstance(selector, dict):
        # a user's own selector gets the uid too; validation then rejects it as not auto-generated
        match_labels = selector.setdefault("matchLabels", {})
        if isinstance(match_labels, dict):
            match_labels.setdefault(CONTROLLER_UID_LABEL, uid)


def validate_job_spec(spec: Mapping[str, Any], path: str) -> list[Cause]:
    """validateJobSpec: everything but the selector."""
    causes: list[Cause] = []
    for key in (
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ):
        causes += nonnegative(spec, key, path)
    if spec.get("maxFailedIndexes") is not None and spec.get("backoffLimitPerIndex") is None:
        causes.append(errors.required(f"{path}.backoffLimitPerIndex", "when maxFailedIndexes is specified"))
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        causes.append(errors.unsupported_value(f"{path}.completionMode", mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed":
        completions, parallelism = spec.get("completions"), spec.get("parallelism")
        if completions is None:
            causes.append(errors.required(f"{path}.completions", "when completion mode is Indexed"))
        if is_int(parallelism) and parallelism > MAX_INDEXED_PARALLELISM:
            causes.append(
                errors.invalid_value(
                    f"{path}.parallelism",
                    parallelism,
                    "must be less than or equal to 100000 when completion mode is Indexed",
                )
            )
        max_failed = spec.get("maxFailedIndexes")
        if is_int(completions) and is_int(max_failed) and max_failed > completions:
            causes.append(
                errors.invalid_value(
                    f"{path}.maxFailedIndexes", max_failed, "must be less than or equal to completions"
                )
            )
    else:
        for key in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if spec.get(key) is not None:
                causes.append(
                    errors.invalid_value(f"{path}.{key}", spec[key], "requires indexed completion mode")
                )
    template = spec.get("template") or {}
    if spec.get("podFailurePolicy") is not None:
        causes += _pod_failure_policy_causes(spec, f"{path}.podFailurePolicy")
    causes += _pod_replacement_policy_causes(spec, f"{path}.podReplacementPolicy")
    causes += pod_template_causes(template, f"{path}.template")
    restart = ((template.get("spec") or {}) if isinstance(template, dict) else {}).get("restartPolicy") or ""
    restart_path = f"{path}.template.spec.restartPolicy"
    if restart in ("", "Always"):
        causes.append(errors.required(restart_path, 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        causes.append(errors.unsupported_value(restart_path, restart, ["OnFailure", "Never"]))
    elif spec.get("podFailurePolicy") is not None and restart != "Never":
        causes.append(
            errors.invalid_value(
                restart_path, restart, 'only "Never" is supported when podFailurePolicy is specified'
            )
        )
    return causes


def _pod_replacement_policy_causes(spec: Mapping[str, Any], path: str) -> list[Cause]:
    policy = spec.get("podReplacementPolicy")
    if policy is None:
        return []
    if spec.get("podFailurePolicy") is not None:
        return [] if policy == "Failed" else [errors.unsupported_value(path, policy, ["Failed"])]
    if policy not in ("Failed", "TerminatingOrFailed"):
        return [errors.unsupported_value(path, policy, ["Failed", "TerminatingOrFailed"])]
    return []


def _pod_failure_policy_causes(spec: Mapping[str, Any], path: str) -> list[Cause]:
    policy = spec.get("podFailurePolicy") or {}
    rules = policy.get("rules") or []
    tspec = (spec.get("template") or {}).get("spec") or {}
    names = {c.get("name") for c in (tspec.get("containers") or []) + (tspec.get("initContainers") or [])}
    causes: list[Cause] = []
    if len(rules) > 20:
        causes.append(
            Cause("FieldValueTooMany", f"{path}.rules", f"Too many: {len(rules)}: must have at most 20 items")
        )
    for i, rule in enumerate(rules):
        rpath = f"{path}.rules[{i}]"
        action = rule.get("action") or ""
        if not action:
            causes.append(errors.required(f"{rpath}.action", "valid values: " + _go_list(_ACTIONS)))
        elif action == "FailIndex":
            if spec.get("backoffLimitPerIndex") is None:
                causes.append(
                    errors.invalid_value(
                        f"{rpath}.action", action, "requires the backoffLimitPerIndex to be set"
                    )
                )
        elif action not in _ACTIONS:
            causes.append(errors.unsupported_value(f"{rpath}.action", action, _ACTIONS))
        on_exit = rule.get("onExitCodes")
        on_conditions = rule.get("onPodConditions") or []
        if on_exit is not None:
            causes += _on_exit_codes_causes(on_exit, f"{rpath}.onExitCodes", names)
        for j, pattern in enumerate(on_conditions):
            status = (pattern or {}).get("status") or ""
            spath = f"{rpath}.onPodConditions[{j}].status"
            if not status:
                causes.append(errors.required(spath, 'valid values: ["False" "True" "Unknown"]'))
            elif status not in ("False", "True", "Unknown"):
                causes.append(errors.unsupported_value(spath, status, ["False", "True", "Unknown"]))
        if on_exit is not None and on_conditions:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    rpath,
                    "Invalid value: specifying both OnExitCodes and OnPodConditions is not supported",
                )
            )
        if on_exit is None and not on_conditions:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    rpath,
                    "Invalid value: specifying one of OnExitCodes and OnPodConditions is required",
                )
            )
    return causes


def _on_exit_codes_causes(req: Mapping[str, Any], path: str, names: set[Any]) -> list[Cause]:
    causes: list[Cause] = []
    operator = req.get("operator") or ""
    if not operator:
        causes.append(errors.required(f"{path}.operator", 'valid values: ["In" "NotIn"]'))
    elif operator not in ("In", "NotIn"):
        causes.append(errors.unsupported_value(f"{path}.operator", operator, ["In", "NotIn"]))
    container = req.get("containerName")
    if container is not None and container not in names:
        causes.append(
            errors.invalid_value(
                f"{path}.containerName",
                container,
                "must be one of the container or initContainer names in the pod template",
            )
        )
    values = req.get("values") or []
    if not values:
        causes.append(invalid_rendered(f"{path}.values", "[]int32(nil)", "at least one value is required"))
    seen: set[int] = set()
    for j, value in enumerate(values):
        if operator == "In" and value == 0:
            causes.append(
                errors.invalid_value(f"{path}.values[{j}]", value, "must not be 0 for the In operator")
            )
        if value in seen:
            causes.append(errors.duplicate(f"{path}.values[{j}]", value))
        seen.add(value)
    if any(a > b for a, b in itertools.pairwise(values)):
        rendered = "[]int32{" + ", ".join(str(v) for v in values) + "}"
        causes.append(invalid_rendered(f"{path}.values", rendered, "must be ordered"))
    return causes


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(f'"{i}"' for i in items) + "]"


def _validate_job(obj: Obj) -> list[Cause]:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    causes = _generated_selector_causes(meta, spec)
    causes += validate_job_spec(spec, "spec")
    selector = spec.get("selector")
    if selector is None:
        causes.append(errors.required("spec.selector", ""))
    else:
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        try:
            matches = LabelSelector.from_label_selector(selector).matches(labels)
        except (KeyError, TypeError, ValueError):
            matches = False
        if not matches:
            causes.append(
                invalid_rendered(
                    "spec.template.metadata.labels",
                    go_string_map(labels),
                    "`selector` does not match template `labels`",
                )
            )
    completions = spec.get("completions")
    if spec.get("completionMode") == "Indexed" and isinstance(completions, int) and completions > 0:
        hostname = f"{meta.get('name', '')}-{completions - 1}"
        if len(hostname) > 63 or not _DNS1123_LABEL.match(hostname):
            causes.append(
                errors.invalid_value(
                    "metadata.name",
                    meta.get("name", ""),
                    f"will not able to create pod with invalid DNS label: {hostname}",
                )
            )
    return causes


def _generated_selector_causes(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Cause]:
    selector = spec.get("selector")
    if spec.get("manualSelector") or selector is None:
        return []
    uid, name = meta.get("uid", ""), meta.get("name", "")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    causes: list[Cause] = []
    expected = {
        CONTROLLER_UID_LABEL: uid,
        JOB_NAME_LABEL: name,
        LEGACY_CONTROLLER_UID_LABEL: uid,
        LEGACY_JOB_NAME_LABEL: name,
    }
    for key in (LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL, CONTROLLER_UID_LABEL, JOB_NAME_LABEL):
        if key not in labels:
            causes.append(errors.required(f"spec.template.metadata.labels[{key}]", ""))
        elif labels[key] != expected[key]:
            causes.append(
                errors.invalid_value(
                    f"spec.template.metadata.labels[{key}]", labels[key], f"must be '{expected[key]}'"
                )
            )
    try:
        matches = LabelSelector.from_label_selector(selector).matches(expected)
    except (KeyError, TypeError, ValueError):
        matches = False
    if not matches:
        causes.append(
            invalid_rendered("spec.selector", go_label_selector(selector), "`selector` not auto-generated")
        )
    return causes


def _validate_job_update(old: Obj, new: Obj) -> list[Cause]:
    o, n = old.get("spec") or {}, new.get("spec") or {}
    causes: list[Cause] = []
    if n.get("completionMode") == "Indexed" and o.get("completions") != n.get("completions"):
        completions = n.get("completions")
        if completions is not None and completions != n.get("parallelism"):
            causes.append(
                errors.invalid_value(
                    "spec.completions", completions, "can only be modified in tandem with spec.parallelism"
                )
            )
    else:
        causes += immutable(o, n, "completions", "spec")
    causes += immutable(o, n, "selector", "spec", render=go_label_selector)
    causes += _template_update_causes(old, n)
    for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"):
        causes += immutable(o, n, key, "spec")
    return causes


def _template_update_causes(old: Obj, new_spec: Mapping[str, Any]) -> list[Cause]:
    """The template is immutable, but a suspended Job that never started may change its scheduling
    directives (node selector, node affinity, tolerations, scheduling gates, labels, annotations)."""
    old_spec = old.get("spec") or {}
    old_t = copy.deepcopy(old_spec.get("template") or {})
    new_t = new_spec.get("template") or {}
    if old_spec.get("suspend") and not (old.get("status") or {}).get("startTime"):
        new_meta, new_pod = new_t.get("metadata") or {}, new_t.get("spec") or {}
        meta, pod = old_t.setdefault("metadata", {}), old_t.setdefault("spec", {})
        for key in ("labels", "annotations"):
            _copy_key(new_meta, meta, key)
        for key in ("nodeSelector", "tolerations", "schedulingGates"):
            _copy_key(new_pod, pod, key)
        affinity = {k: v for k, v in (pod.get("affinity") or {}).items() if k != "nodeAffinity"}
        node_affinity = (new_pod.get("affinity") or {}).get("nodeAffinity")
        if node_affinity is not None:
            affinity["nodeAffinity"] = node_affinity
        if affinity or "affinity" in new_pod:
            pod["affinity"] = affinity
        else:
            pod.pop("affinity", None)
    return immutable({"template": old_t}, {"template": new_t}, "template", "spec")


def _copy_key(src: Mapping[str, Any], dst: Obj, key: str) -> None:
    if key in src:
        dst[key] = copy.deepcopy(src[key])
    else:
        dst.pop(key, None)


register(
    Strategy(
        ("batch", "jobs"),
        defaults=_job_defaults,
        validate=_validate_job,
        validate_update=_validate_job_update,
    )
)


# -- CronJob --------------------------------------------------------------------------------
def _cronjob_defaults(obj: Obj, ctx: Any) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if isinstance(template, dict):
        pod_template_defaults(template)


def _validate_cronjob(obj: Obj) -> list[Cause]:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    name = meta.get("name", "")
    if len(name) > 52:
        causes.append(errors.invalid_value("metadata.name", name, "must be no more than 52 characters"))
    schedule = spec.get("schedule") or ""
    if not schedule:
        causes.append(errors.required("spec.schedule", ""))
    else:
        try:
            cron.parse(schedule)
        except cron.CronError as e:
            causes.append(errors.invalid_value("spec.schedule", schedule, str(e)))
        if "TZ" in schedule:
            causes.append(
                errors.invalid_value(
                    "spec.schedule",
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                )
            )
    causes += nonnegative(spec, "startingDeadlineSeconds", "spec")
    causes += _time_zone_causes(spec)
    policy = spec.get("concurrencyPolicy") or ""
    if not policy:
        causes.append(errors.required("spec.concurrencyPolicy", ""))
    elif policy not in ("Allow", "Forbid", "Replace"):
        causes.append(
            errors.unsupported_value("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"])
        )
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    causes += validate_job_spec(job_spec, "spec.jobTemplate.spec")
    if job_spec.get("selector") is not None:
        causes.append(
            invalid_rendered(
                "spec.jobTemplate.spec.selector",
                go_label_selector(job_spec["selector"]),
                "`selector` will be auto-generated",
            )
        )
    if job_spec.get("manualSelector"):
        causes.append(
            errors.unsupported_value("spec.jobTemplate.spec.manualSelector", True, ["nil", "false"])
        )
    causes += nonnegative(spec, "successfulJobsHistoryLimit", "spec")
    causes += nonnegative(spec, "failedJobsHistoryLimit", "spec")
    return causes


def _time_zone_causes(spec: Mapping[str, Any]) -> list[Cause]:
    tz = spec.get("timeZone")
    if tz is None:
        return []
    if tz == "":
        return [errors.invalid_value("spec.timeZone", tz, "timeZone must be nil or non-empty string")]
    for part in tz.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TIME_ZONE_PART.match(part):
            return [errors.invalid_value("spec.timeZone", tz, f"unknown time zone {tz}")]
    if tz.lower() == "local":
        return [
            errors.invalid_value(
                "spec.timeZone",
                tz,
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            )
        ]
    try:
        cron.load_zone(tz)
    except cron.CronError as e:
        return [errors.invalid_value("spec.timeZone", tz, str(e))]
    return []


register(Strategy(("batch", "cronjobs"), defaults=_cronjob_defaults, validate=_validate_cronjob))
