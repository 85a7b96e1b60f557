"""apps/v1 Deployments, ReplicaSets, StatefulSets and DaemonSets: the API server's defaulting
(``SetDefaults_*`` of apps/v1) and validation (``pkg/apis/apps/validation``), with its messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_k8s_workflows.emulator import errors
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
from airflow_k8s_workflows.emulator.selectors import _KEY_RE, _VALUE_RE, LabelSelector
from airflow_k8s_workflows.emulator.strategy import Strategy, register

Obj = dict[str, Any]

_PERCENT = re.compile(r"^[0-9]+%$")
_PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
    "regex used for validation is '[0-9]+%')"
)
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


# -- shared pieces ------------------------------------------------------------------------------
def int_or_percent_value(value: Any) -> int | None:
    """The number of an IntOrString (``3`` or ``"25%"`` → 25), None when malformed."""
    if is_int(value):
        return value
    if isinstance(value, str) and _PERCENT.match(value):
        return int(value[:-1])
    return None


def _render_intstr(value: Any) -> str:
    # IntOrString is a fmt.Stringer: printed bare, "25%" or "0"
    return str(value)


def positive_int_or_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str):
        if not _PERCENT.match(value):
            return [invalid_rendered(path, _render_intstr(value), _PERCENT_MESSAGE)]
        return []
    if is_int(value):
        if value < 0:
            return [errors.invalid_value(path, value, "must be greater than or equal to 0")]
        return []
    if value is None:
        return []
    return [invalid_rendered(path, _render_intstr(value), "must be an integer or percentage (e.g '5%')")]


def not_more_than_100_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str) and _PERCENT.match(value) and int(value[:-1]) > 100:
        return [invalid_rendered(path, value, "must not be greater than 100%")]
    return []


def label_selector_causes(selector: Mapping[str, Any], path: str) -> list[Cause]:
    """``ValidateLabelSelector``: keys and values of matchLabels, operators and values of expressions."""
    causes: list[Cause] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        if not _KEY_RE.match(str(key)):
            causes.append(
                errors.invalid_value(
                    f"{path}.matchLabels",
                    key,
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                )
            )
        if not isinstance(value, str) or len(value) > 63 or not _VALUE_RE.match(value):
            causes.append(
                errors.invalid_value(
                    f"{path}.matchLabels",
                    value,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                    "'my_value',  or '12345', regex used for validation is "
                    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                )
            )
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        epath = f"{path}.matchExpressions[{i}]"
        op = (expr or {}).get("operator")
        values = (expr or {}).get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                causes.append(
                    errors.required(f"{epath}.values", "must be specified when `operator` is 'In' or 'NotIn'")
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                causes.append(
                    errors.forbidden_field(
                        f"{epath}.values",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            causes.append(errors.invalid_value(f"{epath}.operator", op, "not a valid selector operator"))
    return causes


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    if any((e or {}).get("operator") not in _OPERATORS for e in selector.get("matchExpressions") or []):
        return True  # reported as an invalid operator instead
    try:
        return LabelSelector.from_label_selector(selector).matches(labels)
    except (KeyError, TypeError, ValueError):
        return False


def workload_selector_causes(spec: Mapping[str, Any], kind_word: str) -> list[Cause]:
    """The selector part of ``Validate<Kind>Spec``: required, valid, non-empty, matching the template."""
    selector = spec.get("selector")
    if selector is None:
        return [errors.required("spec.selector", "")]
    if not isinstance(selector, dict):
        return []
    causes = label_selector_causes(selector, "spec.selector")
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        causes.append(
            invalid_rendered(
                "spec.selector", go_label_selector(selector), f"empty selector is invalid for {kind_word}"
            )
        )
        return causes
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not _selector_matches(selector, labels):
        causes.append(
            invalid_rendered(
                "spec.template.metadata.labels",
                go_string_map(labels),
                "`selector` does not match template `labels`",
            )
        )
    return causes


def workload_template_causes(spec: Mapping[str, Any], kind: str) -> list[Cause]:
    """``ValidatePodTemplateSpecForReplicaSet`` and friends: a valid pod template that restarts Always."""
    template = spec.get("template")
    if not isinstance(template, dict):
        return [errors.required("spec.template", "")]
    causes = pod_template_causes(template, "spec.template")
    pod_spec = template.get("spec") or {}
    policy = pod_spec.get("restartPolicy", "Always")
    if policy != "Always":
        causes.append(errors.unsupported_value("spec.template.spec.restartPolicy", policy, ["Always"]))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        if kind in ("StatefulSet", "DaemonSet"):
            causes.append(
                errors.forbidden_field(
                    "spec.template.spec.activeDeadlineSeconds",
                    f"activeDeadlineSeconds in {kind} is not Supported",
                )
            )
        else:
            causes.append(
                errors.invalid_value(
                    "spec.template.spec.activeDeadlineSeconds",
                    pod_spec["activeDeadlineSeconds"],
                    "activeDeadlineSeconds in ReplicaSet is not Supported",
                )
            )
    return causes


def _template_defaults(spec: Obj) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        pod_template_defaults(template)


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
        obj["spec"] = spec
    return spec


def _common_causes(spec: Mapping[str, Any], kind: str, kind_word: str) -> list[Cause]:
    causes = nonnegative(spec, "replicas", "spec") if "replicas" in spec else []
    causes += workload_selector_causes(spec, kind_word)
    causes += workload_template_causes(spec, kind)
    causes += nonnegative(spec, "minReadySeconds", "spec")
    if spec.get("revisionHistoryLimit") is not None:
        causes += nonnegative(spec, "revisionHistoryLimit", "spec")
    return causes


# -- Deployment ---------------------------------------------------------------------------------
def _deployment_defaults(obj: Obj, ctx: Any) -> None:
    spec = _spec(obj)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = spec.get("strategy")
    if not isinstance(strategy, dict):
        strategy = {}
        spec["strategy"] = strategy
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = {}
            strategy["rollingUpdate"] = rolling
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = "25%"
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    _template_defaults(spec)


def _deployment_strategy_causes(strategy: Mapping[str, Any]) -> list[Cause]:
    kind = strategy.get("type")
    path = "spec.strategy"
    if kind == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            return [
                errors.forbidden_field(
                    f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"
                )
            ]
        return []
    if kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            return [errors.required(f"{path}.rollingUpdate", "this should be defaulted and never be nil")]
        rpath = f"{path}.rollingUpdate"
        causes = positive_int_or_percent(rolling.get("maxUnavailable"), f"{rpath}.maxUnavailable")
        causes += positive_int_or_percent(rolling.get("maxSurge"), f"{rpath}.maxSurge")
        if (
            int_or_percent_value(rolling.get("maxUnavailable")) == 0
            and int_or_percent_value(rolling.get("maxSurge")) == 0
        ):
            causes.append(
                invalid_rendered(
                    f"{rpath}.maxUnavailable",
                    _render_intstr(rolling.get("maxUnavailable")),
                    "may not be 0 when `maxSurge` is 0",
                )
            )
        causes += not_more_than_100_percent(rolling.get("maxUnavailable"), f"{rpath}.maxUnavailable")
        return causes
    return [errors.unsupported_value(f"{path}.type", kind, ["Recreate", "RollingUpdate"])]


def _validate_deployment(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes = _common_causes(spec, "Deployment", "deployment")
    causes += _deployment_strategy_causes(spec.get("strategy") or {})
    deadline = spec.get("progressDeadlineSeconds")
    if is_int(deadline):
        causes += nonnegative(spec, "progressDeadlineSeconds", "spec")
        min_ready = spec.get("minReadySeconds") or 0
        if is_int(min_ready) and deadline <= min_ready:
            causes.append(
                errors.invalid_value(
                    "spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"
                )
            )
    return causes


def _validate_selector_update(old: Obj, new: Obj) -> list[Cause]:
    return immutable(
        old.get("spec") or {}, new.get("spec") or {}, "selector", "spec", render=go_label_selector
    )


register(
    Strategy(
        ("apps", "deployments"),
        defaults=_deployment_defaults,
        validate=_validate_deployment,
        validate_update=_validate_selector_update,
        status_metadata=("annotations",),
    )
)


# -- ReplicaSet ---------------------------------------------------------------------------------
def _replicaset_defaults(obj: Obj, ctx: Any) -> None:
    spec = _spec(obj)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _template_defaults(spec)


def _validate_replicaset(obj: Obj) -> list[Cause]:
    # the real validation says "deployment" here too
    return _common_causes(obj.get("spec") or {}, "ReplicaSet", "deployment")


register(
    Strategy(
        ("apps", "replicasets"),
        defaults=_replicaset_defaults,
        validate=_validate_replicaset,
        validate_update=_validate_selector_update,
    )
)


# -- StatefulSet --------------------------------------------------------------------------------
_STS_UPDATABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _statefulset_defaults(obj: Obj, ctx: Any) -> None:
    spec = _spec(obj)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if not spec.get("podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        strategy = {}
        spec["updateStrategy"] = strategy
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = {}
            strategy["rollingUpdate"] = rolling
        if rolling.get("partition") is None:
            rolling["partition"] = 0
        if rolling.get("maxUnavailable") is None:  # MaxUnavailableStatefulSet, on by default since 1.35
            rolling["maxUnavailable"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if not isinstance(retention, dict):
        retention = {}
        spec["persistentVolumeClaimRetentionPolicy"] = retention
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    _template_defaults(spec)
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            claim_spec = claim.setdefault("spec", {})
            if isinstance(claim_spec, dict):
                claim_spec.setdefault("volumeMode", "Filesystem")


def _statefulset_strategy_causes(spec: Mapping[str, Any]) -> list[Cause]:
    strategy = spec.get("updateStrategy") or {}
    kind = strategy.get("type")
    path = "spec.updateStrategy"
    if not kind:
        return [errors.required(path, "")]
    if kind == "OnDelete":
        if strategy.get("rollingUpdate") is not None:
            return [
                invalid_rendered(
                    f"{path}.rollingUpdate",
                    str(strategy.get("rollingUpdate")),
                    "only allowed for updateStrategy 'RollingUpdate'",
                )
            ]
        return []
    if kind != "RollingUpdate":
        return [invalid_rendered(path, str(strategy), "must be 'RollingUpdate' or 'OnDelete'")]
    rolling = strategy.get("rollingUpdate") or {}
    rpath = f"{path}.rollingUpdate"
    causes = nonnegative(rolling, "partition", rpath)
    max_unavailable = rolling.get("maxUnavailable")
    if max_unavailable is not None:
        causes += positive_int_or_percent(max_unavailable, f"{rpath}.maxUnavailable")
        if int_or_percent_value(max_unavailable) == 0:
            causes.append(
                invalid_rendered(
                    f"{rpath}.maxUnavailable", _render_intstr(max_unavailable), "must be greater than 0"
                )
            )
        causes += not_more_than_100_percent(max_unavailable, f"{rpath}.maxUnavailable")
    return causes


def _validate_statefulset(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    policy = spec.get("podManagementPolicy")
    if policy not in ("OrderedReady", "Parallel"):
        causes.append(
            errors.invalid_value("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'")
        )
    causes += _statefulset_strategy_causes(spec)
    ordinals = spec.get("ordinals")
    if isinstance(ordinals, dict):
        causes += nonnegative(ordinals, "start", "spec.ordinals")
    causes += _common_causes(spec, "StatefulSet", "statefulset")
    return causes


def _validate_statefulset_update(old: Obj, new: Obj) -> list[Cause]:
    o, n = old.get("spec") or {}, new.get("spec") or {}
    fixed_old = {k: v for k, v in o.items() if k not in _STS_UPDATABLE}
    fixed_new = {k: v for k, v in n.items() if k not in _STS_UPDATABLE}
    if fixed_old != fixed_new:
        return [
            errors.forbidden_field(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                "'minReadySeconds' are forbidden",
            )
        ]
    return []


register(
    Strategy(
        ("apps", "statefulsets"),
        defaults=_statefulset_defaults,
        validate=_validate_statefulset,
        validate_update=_validate_statefulset_update,
    )
)


# -- DaemonSet ----------------------------------------------------------------------------------
def _daemonset_defaults(obj: Obj, ctx: Any) -> None:
    spec = _spec(obj)
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        strategy = {}
        spec["updateStrategy"] = strategy
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = {}
            strategy["rollingUpdate"] = rolling
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = 1
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = 0
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    _template_defaults(spec)
    _template_generation(obj, ctx)


def _template_generation(obj: Obj, ctx: Any) -> None:
    """apps/v1 keeps the internal ``templateGeneration`` in an annotation: 1 on create, +1 per template change."""
    meta = obj.setdefault("metadata", {})
    store = getattr(ctx, "store", None)
    stored = (
        store.get(("apps", "daemonsets"), (meta.get("namespace", ""), meta.get("name", "")))
        if store
        else None
    )
    generation = 1
    if stored is not None:
        try:
            generation = int((stored["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION, 1))
        except ValueError:
            generation = 1
        if (stored.get("spec") or {}).get("template") != obj["spec"].get("template"):
            generation += 1
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
        meta["annotations"] = annotations
    annotations[TEMPLATE_GENERATION] = str(generation)


def _daemonset_strategy_causes(spec: Mapping[str, Any]) -> list[Cause]:
    strategy = spec.get("updateStrategy") or {}
    kind = strategy.get("type")
    path = "spec.updateStrategy"
    if kind == "OnDelete":
        return []
    if kind != "RollingUpdate":
        return [errors.unsupported_value(f"{path}.type", kind, ["OnDelete", "RollingUpdate"])]
    rolling = strategy.get("rollingUpdate")
    if not isinstance(rolling, dict):
        return [errors.required(f"{path}.rollingUpdate", "")]
    rpath = f"{path}.rollingUpdate"
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    causes = positive_int_or_percent(unavailable, f"{rpath}.maxUnavailable")
    causes += positive_int_or_percent(surge, f"{rpath}.maxSurge")
    u, s = int_or_percent_value(unavailable), int_or_percent_value(surge)
    if u == 0 and s == 0:
        causes.append(
            invalid_rendered(
                f"{rpath}.maxUnavailable", _render_intstr(unavailable), "may not be 0 when `maxSurge` is 0"
            )
        )
    if u not in (None, 0) and s not in (None, 0):
        causes.append(
            invalid_rendered(
                f"{rpath}.maxSurge", _render_intstr(surge), "may not be set when maxUnavailable is non-zero"
            )
        )
    causes += not_more_than_100_percent(unavailable, f"{rpath}.maxUnavailable")
    causes += not_more_than_100_percent(surge, f"{rpath}.maxSurge")
    return causes


def _validate_daemonset(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes = workload_selector_causes(spec, "daemonset")
    causes += workload_template_causes(spec, "DaemonSet")
    causes += nonnegative(spec, "minReadySeconds", "spec")
    if spec.get("revisionHistoryLimit") is not None:
        causes += nonnegative(spec, "revisionHistoryLimit", "spec")
    causes += _daemonset_strategy_causes(spec)
    return causes


register(
    Strategy(
        ("apps", "daemonsets"),
        defaults=_daemonset_defaults,
        validate=_validate_daemonset,
        validate_update=_validate_selector_update,
    )
)


# -- ControllerRevision -------------------------------------------------------------------------
def _validate_controller_revision(obj: Obj) -> list[Cause]:
    revision = obj.get("revision")
    if is_int(revision) and revision < 0:
        return [errors.invalid_value("revision", revision, "must be greater than or equal to 0")]
    return []


def _validate_controller_revision_update(old: Obj, new: Obj) -> list[Cause]:
    if old.get("data") != new.get("data"):
        return [invalid_rendered("data", "runtime.RawExtension{...}", "field is immutable")]
    return []


register(
    Strategy(
        ("apps", "controllerrevisions"),
        validate=_validate_controller_revision,
        validate_update=_validate_controller_revision_update,
    )
)
