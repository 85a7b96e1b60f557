"""Server-side printing (``meta.k8s.io/v1`` Table) so ``kubectl get`` shows the usual columns.

Columns and cell logic follow the API server's printers for the kinds users look at most;
other kinds get Name and Age (custom resources also their ``additionalPrinterColumns``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .clock import parse_time
from .registry import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority (1 = only with -o wide)
Row = Callable[[Obj], list[Any]]


def human_duration(seconds: float) -> str:
    """kubectl's ``duration.HumanDuration``: 45s, 3m20s, 5h, 3d4h, 2y..."""
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _age(obj: Obj) -> str:
    created = parse_time(obj.get("metadata", {}).get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    return human_duration((datetime.now(timezone.utc) - created).total_seconds())


def _since(ts: str | None) -> str:
    t = parse_time(ts)
    return human_duration((datetime.now(timezone.utc) - t).total_seconds()) if t else "<unknown>"


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _selector(sel: Obj | None) -> str:
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op = e.get("operator")
        if op in ("In", "NotIn"):
            parts.append(f"{e['key']} {op.lower()} ({','.join(e.get('values') or [])})")
        elif op == "Exists":
            parts.append(e["key"])
        else:
            parts.append("!" + e["key"])
    return ",".join(parts) or "<none>"


def _containers(spec: Obj) -> tuple[str, str]:
    cs = spec.get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def pod_status_reason(pod: Obj) -> str:
    """The STATUS column of ``kubectl get pods`` (printers.go printPod)."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    init_statuses = status.get("initContainerStatuses") or []
    n_init = len((pod.get("spec") or {}).get("initContainers") or [])
    initializing = False
    for i, cs in enumerate(init_statuses):
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + (
                term.get("reason")
                or (f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode')}")
            )
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{n_init}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
            elif state.get("terminated"):
                t = state["terminated"]
                reason = f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode')}"
            elif state.get("running") and cs.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
            )
            reason = "Running" if ready else "NotReady"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_row(pod: Obj) -> list[Any]:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    restarts_text = str(restarts)
    last: list[str] = []
    for cs in statuses:
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if finished:
            last.append(str(finished))
    if restarts and last:
        restarts_text = f"{restarts} ({_since(max(last))} ago)"
    spec = pod.get("spec") or {}
    return [_name(pod), f"{ready}/{total}", pod_status_reason(pod), restarts_text, _age(pod),
            status.get("podIP") or "<none>", spec.get("nodeName") or "<none>", "<none>", "<none>"]  # fmt: skip


def _deployment_row(d: Obj) -> list[Any]:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    names, images = _containers((spec.get("template") or {}).get("spec") or {})
    return [_name(d), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0), _age(d), names, images, _selector(spec.get("selector"))]  # fmt: skip


def _replicaset_row(rs: Obj) -> list[Any]:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    names, images = _containers((spec.get("template") or {}).get("spec") or {})
    return [_name(rs), spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0), _age(rs),
            names, images, _selector(spec.get("selector"))]  # fmt: skip


def _statefulset_row(s: Obj) -> list[Any]:
    spec, status = s.get("spec") or {}, s.get("status") or {}
    names, images = _containers((spec.get("template") or {}).get("spec") or {})
    return [_name(s), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", _age(s), names, images]


def _daemonset_row(ds: Obj) -> list[Any]:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    names, images = _containers((spec.get("template") or {}).get("spec") or {})
    node_selector = ",".join(
        f"{k}={v}"
        for k, v in sorted(
            (((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}).items()
        )
    )
    return [_name(ds), status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            node_selector or "<none>", _age(ds), names, images, _selector(spec.get("selector"))]  # fmt: skip


def _job_status(job: Obj) -> str:
    # kubectl's printer checks the condition types in this order, whatever their order in the list
    true = {
        c.get("type") for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"
    }
    if "Complete" in true:
        return "Complete"
    if "Failed" in true:
        return "Failed"
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if kind in true:
            return kind
    return "Running"


def _job_row(job: Obj) -> list[Any]:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    completions = spec.get("completions")
    succeeded = status.get("succeeded", 0)
    text = (
        f"{succeeded}/{completions}"
        if completions is not None
        else f"{succeeded}/1 of {spec.get('parallelism', 1)}"
    )
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = ""
    if start:
        duration = human_duration(((end or datetime.now(timezone.utc)) - start).total_seconds())
    names, images = _containers((spec.get("template") or {}).get("spec") or {})
    return [
        _name(job),
        _job_status(job),
        text,
        duration,
        _age(job),
        names,
        images,
        _selector(spec.get("selector")),
    ]


def _cronjob_row(cj: Obj) -> list[Any]:
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    last = status.get("lastScheduleTime")
    return [_name(cj), spec.get("schedule", ""), spec.get("timeZone") or "<none>", str(bool(spec.get("suspend"))),
            len(status.get("active") or []), _since(last) if last else "<none>", _age(cj)]  # fmt: skip


def _service_row(svc: Obj) -> list[Any]:
    spec = svc.get("spec") or {}
    ports = ",".join(
        f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    )
    external = ",".join(spec.get("externalIPs") or []) or "<none>"
    sel = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [_name(svc), spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), external, ports or "<none>",
            _age(svc), sel]  # fmt: skip


def _node_row(node: Obj) -> list[Any]:
    status = node.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(
        k.split("/", 1)[1]
        for k in (node.get("metadata") or {}).get("labels", {})
        if k.startswith("node-role.kubernetes.io/")
    )
    return [_name(node), state, ",".join(roles) or "<none>", _age(node),
            (status.get("nodeInfo") or {}).get("kubeletVersion", "")]  # fmt: skip


def _event_row(ev: Obj) -> list[Any]:
    involved = ev.get("involvedObject") or ev.get("regarding") or {}
    last = (
        ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp")
    )
    return [_since(last), ev.get("type", ""), ev.get("reason", ""),
            f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}", ev.get("message") or ev.get("note", "")]  # fmt: skip


def _hpa_row(hpa: Obj) -> list[Any]:
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    targets = []
    current = status.get("currentMetrics") or []
    for i, m in enumerate(spec.get("metrics") or []):
        res = m.get("resource") or {}
        target = (res.get("target") or {}).get("averageUtilization")
        cur = (
            ((current[i].get("resource") or {}).get("current") or {}).get("averageUtilization")
            if i < len(current)
            else None
        )
        targets.append(f"{res.get('name', '?')}: {'<unknown>' if cur is None else str(cur) + '%'}/{target}%")
    return [_name(hpa), f"{ref.get('kind', '')}/{ref.get('name', '')}", ", ".join(targets) or "<none>",
            spec.get("minReplicas", 1), spec.get("maxReplicas", 0), status.get("currentReplicas", 0), _age(hpa)]  # fmt: skip


def _generic_row(obj: Obj) -> list[Any]:
    return [_name(obj), _age(obj)]


_S, _I = "string", "integer"
TABLES: dict[tuple[str, str], tuple[list[Column], Row]] = {
    ("", "pods"): ([("Name", _S, 0), ("Ready", _S, 0), ("Status", _S, 0), ("Restarts", _S, 0), ("Age", _S, 0),
                    ("IP", _S, 1), ("Node", _S, 1), ("Nominated Node", _S, 1), ("Readiness Gates", _S, 1)], _pod_row),
    ("apps", "deployments"): ([("Name", _S, 0), ("Ready", _S, 0), ("Up-to-date", _I, 0), ("Available", _I, 0),
                               ("Age", _S, 0), ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)], _deployment_row),
    ("apps", "replicasets"): ([("Name", _S, 0), ("Desired", _I, 0), ("Current", _I, 0), ("Ready", _I, 0), ("Age", _S, 0),
                               ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)], _replicaset_row),
    ("apps", "statefulsets"): ([("Name", _S, 0), ("Ready", _S, 0), ("Age", _S, 0), ("Containers", _S, 1),
                                ("Images", _S, 1)], _statefulset_row),
    ("apps", "daemonsets"): ([("Name", _S, 0), ("Desired", _I, 0), ("Current", _I, 0), ("Ready", _I, 0),
                              ("Up-to-date", _I, 0), ("Available", _I, 0), ("Node Selector", _S, 0), ("Age", _S, 0),
                              ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)], _daemonset_row),
    ("batch", "jobs"): ([("Name", _S, 0), ("Status", _S, 0), ("Completions", _S, 0), ("Duration", _S, 0), ("Age", _S, 0),
                         ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)], _job_row),
    ("batch", "cronjobs"): ([("Name", _S, 0), ("Schedule", _S, 0), ("Timezone", _S, 0), ("Suspend", _S, 0),
                             ("Active", _I, 0), ("Last Schedule", _S, 0), ("Age", _S, 0)], _cronjob_row),
    ("", "services"): ([("Name", _S, 0), ("Type", _S, 0), ("Cluster-IP", _S, 0), ("External-IP", _S, 0),
                        ("Port(s)", _S, 0), ("Age", _S, 0), ("Selector", _S, 1)], _service_row),
    ("", "configmaps"): ([("Name", _S, 0), ("Data", _I, 0), ("Age", _S, 0)],
                         lambda o: [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o)]),
    ("", "secrets"): ([("Name", _S, 0), ("Type", _S, 0), ("Data", _I, 0), ("Age", _S, 0)],
                      lambda o: [_name(o), o.get("type", "Opaque"), len(o.get("data") or {}), _age(o)]),
    ("", "namespaces"): ([("Name", _S, 0), ("Status", _S, 0), ("Age", _S, 0)],
                         lambda o: [_name(o), (o.get("status") or {}).get("phase", "Active"), _age(o)]),
    ("", "nodes"): ([("Name", _S, 0), ("Status", _S, 0), ("Roles", _S, 0), ("Age", _S, 0), ("Version", _S, 0)], _node_row),
    ("", "events"): ([("Last Seen", _S, 0), ("Type", _S, 0), ("Reason", _S, 0), ("Object", _S, 0), ("Message", _S, 0)], _event_row),
    ("", "serviceaccounts"): ([("Name", _S, 0), ("Secrets", _I, 0), ("Age", _S, 0)],
                              lambda o: [_name(o), len(o.get("secrets") or []), _age(o)]),
    ("autoscaling", "horizontalpodautoscalers"): ([("Name", _S, 0), ("Reference", _S, 0), ("Targets", _S, 0),
                                                   ("MinPods", _I, 0), ("MaxPods", _I, 0), ("Replicas", _I, 0),
                                                   ("Age", _S, 0)], _hpa_row),
}  # fmt: skip


def _partial_metadata(obj: Obj) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def _jsonpath_cell(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _custom_columns(crd_columns: list[Obj]) -> tuple[list[Column], Row]:
    cols: list[Column] = [("Name", _S, 0)]
    for c in crd_columns:
        cols.append((c.get("name", ""), c.get("type", _S), int(c.get("priority", 0))))
    if not any(c.get("name", "").lower() == "age" for c in crd_columns):
        cols.append(("Age", _S, 0))

    def row(obj: Obj) -> list[Any]:
        cells: list[Any] = [_name(obj)]
        for c in crd_columns:
            value = _jsonpath_cell(obj, c.get("jsonPath", ""))
            if c.get("type") == "date" and value:
                value = _since(str(value))
            cells.append(value if value is not None else "<none>")
        if not any(c.get("name", "").lower() == "age" for c in crd_columns):
            cells.append(_age(obj))
        return cells

    return cols, row


def table(rt: ResourceType, objects: list[Obj], include_object: bool = False,
          printer_columns: list[Obj] | None = None) -> Obj:  # fmt: skip
    """A ``Table`` for ``objects`` of type ``rt`` (rows carry PartialObjectMetadata unless asked)."""
    if printer_columns:
        columns, row = _custom_columns(printer_columns)
    else:
        columns, row = TABLES.get(rt.key, ([("Name", _S, 0), ("Age", _S, 0)], _generic_row))
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [
            {
                "name": name,
                "type": typ,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": prio,
            }
            for name, typ, prio in columns
        ],
        "rows": [
            {"cells": row(obj), "object": obj if include_object else _partial_metadata(obj)}
            for obj in objects
        ],
    }
