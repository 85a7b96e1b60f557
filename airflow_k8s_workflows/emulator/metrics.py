"""/metrics in the Prometheus text format: request counts (so benchmarks can count API calls)
and kube-state-metrics style gauges over the stored objects."""

from __future__ import annotations

import re
import urllib.request
from collections import Counter
from collections.abc import Iterable

from .store import Store

RequestKey = tuple[str, str, str, str, str]  # verb, group, resource, subresource, code


class RequestCounter:
    """Requests a server answered, per verb, group, resource, subresource and code (what
    ``/metrics`` serves as ``apiserver_request_total``).

    Example::

        emu.http.counter.total("LIST", "configmaps", 200)  # in-process
        RequestCounter.scrape(emu.url).by_request()  # from another process
    """

    def __init__(self) -> None:
        self.counts: Counter[RequestKey] = Counter()
        self.watches_open = 0

    def add(self, verb: str, group: str, resource: str, subresource: str, code: int) -> None:
        self.counts[(verb, group, resource, subresource, str(code))] += 1

    def total(self, verb: str | None = None, resource: str | None = None, code: int | None = None) -> int:
        """Requests counted, narrowed to a verb (``GET``, ``LIST``, ``WATCH``...), a resource and
        a response code when given."""
        return sum(
            n
            for (v, _g, r, _s, c), n in self.counts.items()
            if (verb is None or v == verb)
            and (resource is None or r == resource)
            and (code is None or c == str(code))
        )

    def by_request(self) -> Counter[str]:
        """Counts per ``"VERB resource[/subresource]"``, over all groups and codes."""
        counts: Counter[str] = Counter()
        for (verb, _group, resource, sub, _code), n in self.counts.items():
            counts[f"{verb} {resource}{'/' + sub if sub else ''}"] += n
        return counts

    @classmethod
    def scrape(cls, url: str, timeout: float = 30) -> RequestCounter:
        """The counts an emulator at ``url`` serves in ``/metrics`` (for a client in another
        process, and for tests of the endpoint itself)."""
        text = urllib.request.urlopen(f"{url}/metrics", timeout=timeout).read().decode()
        counter = cls()
        for labels, value in _REQUEST_TOTAL.findall(text):
            got = dict(_LABEL.findall(labels))
            key = (got["verb"], got["group"], got["resource"], got["subresource"], got["code"])
            counter.counts[key] += int(float(value))
        return counter


_REQUEST_TOTAL = re.compile(r"^apiserver_request_total\{(.*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _gauge(name: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    lines += [f"{name}{_labels(**labels)} {value:g}" for labels, value in samples]
    return lines


def render(counter: RequestCounter, store: Store) -> str:
    lines = [
        "# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, group, resource, subresource and HTTP response code.",
        "# TYPE apiserver_request_total counter",
    ]
    for (verb, group, resource, sub, code), n in sorted(counter.counts.items()):
        lines.append(
            f"apiserver_request_total{_labels(verb=verb, group=group, resource=resource, subresource=sub, code=code)} {n}"
        )
    lines += _gauge(
        "apiserver_longrunning_requests", "Open watch streams.", [({"verb": "WATCH"}, counter.watches_open)]
    )
    lines += _gauge(
        "etcd_object_counts", "Stored objects per resource.",
        [({"resource": f"{r}.{g}" if g else r}, len(store.resource((g, r)).objects)) for g, r in sorted(store.types())],
    )  # fmt: skip
    lines += _deployment_gauges(store) + _pod_gauges(store) + _job_gauges(store)
    return "\n".join(lines) + "\n"


def _deployment_gauges(store: Store) -> list[str]:
    desired, available, unavailable, updated = [], [], [], []
    for s in store.items(("apps", "deployments")):
        meta, spec, status = s.obj["metadata"], s.obj.get("spec", {}), s.obj.get("status", {})
        labels = {"namespace": meta.get("namespace", ""), "deployment": meta["name"]}
        desired.append((labels, spec.get("replicas", 1)))
        available.append((labels, status.get("availableReplicas", 0)))
        unavailable.append((labels, status.get("unavailableReplicas", 0)))
        updated.append((labels, status.get("updatedReplicas", 0)))
    return (
        _gauge("kube_deployment_spec_replicas", "Number of desired pods for a deployment.", desired)
        + _gauge("kube_deployment_status_replicas_available", "The number of available replicas per deployment.", available)
        + _gauge("kube_deployment_status_replicas_unavailable", "The number of unavailable replicas per deployment.", unavailable)
        + _gauge("kube_deployment_status_replicas_updated", "The number of updated replicas per deployment.", updated)
    )  # fmt: skip


_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")


def _pod_gauges(store: Store) -> list[str]:
    phase_samples, restart_samples, waiting_samples = [], [], []
    for s in store.items(("", "pods")):
        meta, status = s.obj["metadata"], s.obj.get("status", {})
        base = {"namespace": meta.get("namespace", ""), "pod": meta["name"]}
        current = status.get("phase", "Pending")
        for phase in _PHASES:
            phase_samples.append(({**base, "phase": phase}, 1.0 if phase == current else 0.0))
        for cs in status.get("containerStatuses") or []:
            cl = {**base, "container": cs.get("name", "")}
            restart_samples.append((cl, cs.get("restartCount", 0)))
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting:
                waiting_samples.append(({**cl, "reason": waiting.get("reason", "")}, 1.0))
    return (
        _gauge("kube_pod_status_phase", "The pods current phase.", phase_samples)
        + _gauge("kube_pod_container_status_restarts_total", "The number of container restarts per container.", restart_samples)
        + _gauge("kube_pod_container_status_waiting_reason", "Describes the reason the container is currently in waiting state.", waiting_samples)
    )  # fmt: skip


def _job_gauges(store: Store) -> list[str]:
    active, succeeded, failed, complete = [], [], [], []
    for s in store.items(("batch", "jobs")):
        meta, status = s.obj["metadata"], s.obj.get("status", {})
        labels = {"namespace": meta.get("namespace", ""), "job_name": meta["name"]}
        active.append((labels, status.get("active", 0)))
        succeeded.append((labels, status.get("succeeded", 0)))
        failed.append((labels, status.get("failed", 0)))
        done = any(
            c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        complete.append((labels, 1.0 if done else 0.0))
    return (
        _gauge("kube_job_status_active", "The number of actively running pods.", active)
        + _gauge("kube_job_status_succeeded", "The number of pods which reached Phase Succeeded.", succeeded)
        + _gauge("kube_job_status_failed", "The number of pods which reached Phase Failed.", failed)
        + _gauge("kube_job_complete", "The job has completed its execution.", complete)
    )
