"""The default scheduler's decisions as plain functions: which nodes fit a pod, which fits best,
and the ``FitError`` message the real scheduler writes when none does.

Filters run in the default profile's order (NodeUnschedulable, TaintToleration, NodeAffinity,
NodeResourcesFit) and a node is rejected by the first that fails, as in the real framework.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from airflow_k8s_workflows.kube.quantities import QuantityError, parse_quantity, pod_requests

Obj = dict[str, Any]

# kube-scheduler's non-zero defaults, used for scoring only (GetNonzeroRequests)
_DEFAULT_CPU = Decimal("0.1")
_DEFAULT_MEMORY = Decimal(200 * 1024 * 1024)
UNRESOLVABLE = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _quantities(values: dict[str, Any] | None) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for name, value in (values or {}).items():
        try:
            out[name] = parse_quantity(value)
        except QuantityError:
            continue
    return out


def requests_of(pod: Obj) -> dict[str, Decimal]:
    """What NodeResourcesFit reserves for ``pod``, plus one ``pods`` slot."""
    try:
        requests = pod_requests(pod.get("spec") or {})
    except QuantityError:
        requests = {}
    requests = {k: v for k, v in requests.items() if v}
    requests["pods"] = Decimal(1)
    return requests


def scoring_requests(pod: Obj) -> tuple[Decimal, Decimal]:
    """(cpu, memory) with kube-scheduler's defaults for containers that request nothing."""
    cpu = memory = Decimal(0)
    for container in (pod.get("spec") or {}).get("containers") or []:
        requests = _quantities((container.get("resources") or {}).get("requests"))
        cpu += requests.get("cpu") or _DEFAULT_CPU
        memory += requests.get("memory") or _DEFAULT_MEMORY
    return cpu, memory


@dataclass
class _Placed:
    node: str
    uid: str
    requests: dict[str, Decimal]
    scoring: tuple[Decimal, Decimal]


@dataclass
class NodeUsage:
    """Requests of the non-terminal pods bound to each node, kept up to date from pod changes."""

    _pods: dict[tuple[str, str], _Placed] = field(default_factory=dict)
    _totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    _scores: dict[str, list[Decimal]] = field(default_factory=dict)

    def observe(self, pod: Obj, deleted: bool = False) -> bool:
        """Account for ``pod``'s latest state; True when it released what it held on a node."""
        meta = pod.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        node = (pod.get("spec") or {}).get("nodeName")
        held = self._pods.get(key)
        if deleted or not node or is_terminal(pod):
            if held is None or (not deleted and held.uid != meta.get("uid")):
                return False
            self._release(key, held)
            return True
        if held is not None:
            if held.uid == meta.get("uid") and held.node == node:
                return False
            self._release(key, held)
        placed = _Placed(node, meta.get("uid", ""), requests_of(pod), scoring_requests(pod))
        self._pods[key] = placed
        totals = self._totals.setdefault(node, {})
        for name, amount in placed.requests.items():
            totals[name] = totals.get(name, Decimal(0)) + amount
        score = self._scores.setdefault(node, [Decimal(0), Decimal(0)])
        score[0] += placed.scoring[0]
        score[1] += placed.scoring[1]
        return held is not None

    def _release(self, key: tuple[str, str], held: _Placed) -> None:
        del self._pods[key]
        totals = self._totals.get(held.node, {})
        for name, amount in held.requests.items():
            totals[name] = totals.get(name, Decimal(0)) - amount
        score = self._scores.get(held.node)
        if score is not None:
            score[0] -= held.scoring[0]
            score[1] -= held.scoring[1]

    def requested(self, node: str) -> dict[str, Decimal]:
        return self._totals.get(node, {})

    def scored(self, node: str) -> tuple[Decimal, Decimal]:
        score = self._scores.get(node, [Decimal(0), Decimal(0)])
        return score[0], score[1]


# -- filters: each returns (reasons, unresolvable) or None when the node passes ------------------

Rejection = tuple[list[str], bool]


def _tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        operator = t.get("operator") or "Equal"
        if operator == "Exists":
            if not t.get("key") or t.get("key") == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _node_unschedulable(pod: Obj, node: Obj) -> Rejection | None:
    if not (node.get("spec") or {}).get("unschedulable"):
        return None
    taint = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    if _tolerates((pod.get("spec") or {}).get("tolerations") or [], taint):
        return None
    return ["node(s) were unschedulable"], True


def _taints(pod: Obj, node: Obj) -> Rejection | None:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not _tolerates(tolerations, taint):
            return [
                f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"
            ], True
    return None


def _expression_matches(expr: Obj, values: dict[str, str]) -> bool:
    key, operator = expr.get("key", ""), expr.get("operator")
    wanted = [str(v) for v in expr.get("values") or []]
    present = key in values
    if operator == "In":
        return present and values[key] in wanted
    if operator == "NotIn":
        return not present or values[key] not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            have, bound = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def _term_matches(term: Obj, node: Obj) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    fields = {"metadata.name": (node.get("metadata") or {}).get("name", "")}
    exprs = term.get("matchExpressions") or []
    field_exprs = term.get("matchFields") or []
    if not exprs and not field_exprs:
        return False  # an empty term matches no objects
    return all(_expression_matches(e, labels) for e in exprs) and all(
        _expression_matches(e, fields) for e in field_exprs
    )


def _node_affinity(pod: Obj, node: Obj) -> Rejection | None:
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    selector = spec.get("nodeSelector") or {}
    matches = all(labels.get(k) == v for k, v in selector.items())
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))  # fmt: skip
    if matches and required is not None:
        matches = any(_term_matches(t, node) for t in required.get("nodeSelectorTerms") or [])
    return None if matches else (["node(s) didn't match Pod's node affinity/selector"], True)


def _resources(pod: Obj, node: Obj, usage: NodeUsage) -> Rejection | None:
    allocatable = _quantities((node.get("status") or {}).get("allocatable"))
    used = usage.requested((node.get("metadata") or {}).get("name", ""))
    reasons = []
    requests = requests_of(pod)
    if used.get("pods", Decimal(0)) + 1 > allocatable.get("pods", Decimal(0)):
        reasons.append("Too many pods")
    order = ["cpu", "memory", "ephemeral-storage"]
    for name in order + sorted(set(requests) - set(order) - {"pods"}):
        wanted = requests.get(name)
        if wanted and used.get(name, Decimal(0)) + wanted > allocatable.get(name, Decimal(0)):
            reasons.append(f"Insufficient {name}")
    return (reasons, False) if reasons else None


def filter_node(pod: Obj, node: Obj, usage: NodeUsage) -> Rejection | None:
    """Why ``node`` cannot run ``pod`` (the first failing filter), or None."""
    for check in (_node_unschedulable, _taints, _node_affinity):
        rejection = check(pod, node)
        if rejection is not None:
            return rejection
    return _resources(pod, node, usage)


def score(node: Obj, pod: Obj, usage: NodeUsage) -> Decimal:
    """NodeResourcesLeastAllocated: the mean free fraction of cpu and memory after placing the pod."""
    allocatable = _quantities((node.get("status") or {}).get("allocatable"))
    cpu, memory = usage.scored((node.get("metadata") or {}).get("name", ""))
    want_cpu, want_memory = scoring_requests(pod)
    total = Decimal(0)
    for have, used in ((allocatable.get("cpu", Decimal(0)), cpu + want_cpu),
                       (allocatable.get("memory", Decimal(0)), memory + want_memory)):  # fmt: skip
        total += (have - used) / have if have > 0 and used <= have else Decimal(0)
    return total / 2


@dataclass
class Decision:
    node: str | None
    message: str = ""


def fit_error(pod: Obj, rejections: list[Rejection], node_count: int) -> str:
    """The ``FitError`` text: ``0/1 nodes are available: 1 Insufficient cpu. preemption: ...``."""
    if node_count == 0:
        return "no nodes available to schedule pods"
    reasons: Counter[str] = Counter(r for reasons, _ in rejections for r in reasons)
    filtered = ", ".join(sorted(f"{n} {r}" for r, n in reasons.items()))
    message = f"0/{node_count} nodes are available: {filtered}."
    if (pod.get("spec") or {}).get("preemptionPolicy") == "Never":
        return f"{message} preemption: not eligible due to preemptionPolicy=Never."
    preemption: Counter[str] = Counter(
        UNRESOLVABLE if unresolvable else NO_VICTIMS for _, unresolvable in rejections
    )
    listed = ", ".join(sorted(f"{n} {r}" for r, n in preemption.items()))
    return f"{message} preemption: 0/{node_count} nodes are available: {listed}."


def schedule(pod: Obj, nodes: list[Obj], usage: NodeUsage, *, forced_unschedulable: bool = False) -> Decision:
    """Pick the least requested feasible node (ties: first by name), or explain why none fits."""
    if forced_unschedulable:
        rejections: list[Rejection] = [(["node(s) were unschedulable"], True)] * len(nodes)
        return Decision(None, fit_error(pod, rejections, len(nodes)))
    rejections = []
    best: tuple[Decimal, str] | None = None
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        rejection = filter_node(pod, node, usage)
        if rejection is not None:
            rejections.append(rejection)
            continue
        node_score = score(node, pod, usage)
        if best is None or node_score > best[0]:
            best = (node_score, node["metadata"]["name"])
    if best is not None:
        return Decision(best[1])
    return Decision(None, fit_error(pod, rejections, len(nodes)))
