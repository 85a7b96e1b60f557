"""What makes a KubernetesEventTrigger the same watcher across DAG parses, and the pure
NewEventDetector decisions behind it (no cluster)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset, AssetWatcher
from airflow.triggers.base import BaseEventTrigger

from airflow_k8s_workflows.kube.events import EventFilter
from airflow_k8s_workflows.kube.new_events import NewEventDetector
from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def ev(
    uid: str, rv: int, *, count: int = 1, reason: str = "BackOff", created: datetime = T0
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"uid": uid, "name": f"{uid}.x", "namespace": "ns", "resourceVersion": str(rv),
                     "creationTimestamp": stamp(created)},
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "ns"},
        "reason": reason,
        "type": "Warning",
        "count": count,
        "firstTimestamp": stamp(created),
        "lastTimestamp": stamp(created),
    }  # fmt: skip


# -- identity ------------------------------------------------------------------------------------------
def test_serialize_is_sorted_minimal_and_round_trips() -> None:
    trigger = KubernetesEventTrigger(
        reasons=["Failed", "BackOff", "BackOff"], event_type="warning", involved_kind="Pod", namespace="prod"
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_k8s_workflows.triggers.events.KubernetesEventTrigger"
    assert list(kwargs) == sorted(kwargs)
    assert kwargs == {
        "event_type": "Warning",
        "involved_kind": "Pod",
        "kubernetes_conn_id": "kubernetes_default",
        "namespace": "prod",
        "reasons": ["BackOff", "Failed"],
    }
    again = KubernetesEventTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    json.dumps(kwargs)  # JSON-native: no tuples, sets or datetimes


def test_the_watcher_identity_does_not_depend_on_argument_order_or_time() -> None:
    a = KubernetesEventTrigger(reasons=["BackOff", "Failed"], involved_kind="Pod", look_back_seconds=60)
    b = KubernetesEventTrigger(involved_kind="Pod", look_back_seconds=60, reasons=["Failed", "BackOff"])
    assert BaseEventTrigger.hash(*a.serialize()) == BaseEventTrigger.hash(*b.serialize())
    assert a.state_key() == b.state_key() and a.state_key().startswith("k8s-events:")
    c = KubernetesEventTrigger(reasons=["BackOff"], involved_kind="Pod", look_back_seconds=60)
    assert a.state_key() != c.state_key()


def test_no_sealed_config_or_timestamps_in_a_watcher() -> None:
    trigger = KubernetesEventTrigger(reasons=["BackOff"], kubernetes_conn_id="prod_k8s")
    _, kwargs = trigger.serialize()
    assert "cluster" not in kwargs and kwargs["kubernetes_conn_id"] == "prod_k8s"
    sealed = KubernetesEventTrigger(
        cluster={"kubernetes_conn_id": "c", "sealed_cluster_config": "gAAA"}, once=True
    )
    assert sealed.serialize()[1]["cluster"] == {"kubernetes_conn_id": "c", "sealed_cluster_config": "gAAA"}


def test_usable_in_an_asset_watcher() -> None:
    trigger = KubernetesEventTrigger(reasons=["BackOff"], event_type="Warning", involved_kind="Pod")
    asset = Asset("k8s-backoffs", watchers=[AssetWatcher(name="backoffs", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger


HEAVY = ("kubernetes", "kubernetes_asyncio", "aiohttp", "jsonpath_ng", "requests", "airflow.providers.cncf")


def _top_level_imports(module: str) -> set[str]:
    """Modules imported when ``module`` is imported (not inside functions or TYPE_CHECKING)."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    found: set[str] = set()
    package = module.rsplit(".", 1)[0]
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        for item in ast.walk(node) if isinstance(node, ast.If | ast.Try) else [node]:
            if isinstance(item, ast.Import):
                found.update(alias.name for alias in item.names)
            elif isinstance(item, ast.ImportFrom) and item.module is not None:
                base = (
                    item.module
                    if item.level == 0
                    else f"{package.rsplit('.', item.level - 1)[0]}.{item.module}"
                )
                found.add(base)
    return found


def test_importing_these_modules_stays_cheap() -> None:
    """What a DAG file parse pays: no Kubernetes client, HTTP library or cncf hook at import."""
    todo = [
        "airflow_k8s_workflows.triggers.events",
        "airflow_k8s_workflows.triggers.resource_change",
        "airflow_k8s_workflows.sensors.events",
        "airflow_k8s_workflows.operators.health",
    ]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for imported in _top_level_imports(module):
            assert not imported.startswith(HEAVY), f"{module} imports {imported} at module level"
            if imported.startswith("airflow_k8s_workflows"):
                todo.append(imported)


# -- decisions ----------------------------------------------------------------------------------------
def test_pre_existing_events_never_fire_new_ones_once() -> None:
    d = NewEventDetector(EventFilter(reasons=["BackOff"]))
    assert d.start([ev("old", 5)], now=T0) == []
    assert d.feed("ADDED", ev("new", 6))
    assert not d.feed("ADDED", ev("new", 6))  # the same version again (relist)
    assert not d.feed("MODIFIED", ev("old", 5))  # at or below the position
    assert not d.feed("ADDED", ev("other", 7, reason="Pulled"))


def test_restart_neither_repeats_nor_loses() -> None:
    d = NewEventDetector(EventFilter(reasons=["BackOff"]))
    d.start([ev("old", 5)], now=T0)
    assert d.feed("ADDED", ev("a", 6, created=T0 + timedelta(seconds=1)))
    saved = json.loads(json.dumps(d.state()))

    again = NewEventDetector(EventFilter(reasons=["BackOff"]))
    assert again.restore(saved)
    later = T0 + timedelta(seconds=5)
    snapshot = [
        ev("old", 9, count=2),  # pre-existing, repeated while down: not new
        ev("a", 10, count=2, created=T0 + timedelta(seconds=1)),  # fired already
        ev("b", 8, created=later),  # happened while down
    ]
    assert [e["metadata"]["uid"] for e in again.start(snapshot, now=later)] == ["b"]
    assert not again.feed("MODIFIED", ev("b", 11, count=2))


def test_min_count_crossing_while_down_with_unknown_history() -> None:
    d = NewEventDetector(EventFilter(min_count=3))
    d.start([], now=T0)
    saved = d.state()
    again = NewEventDetector(EventFilter(min_count=3))
    again.restore(saved)
    # created after the first start, reached 5 while down: its first matching occurrence is new
    assert len(again.start([ev("x", 3, count=5, created=T0 + timedelta(seconds=1))])) == 1
    # created before the first start, now at exactly min_count: this version is the crossing
    assert again.feed("MODIFIED", ev("y", 4, count=3, created=T0 - timedelta(hours=1)))
    # created before, beyond min_count, history unknown: it matched before we started
    assert not again.feed("MODIFIED", ev("z", 5, count=9, created=T0 - timedelta(hours=1)))


def test_fire_on_repeat_counts_every_occurrence_once() -> None:
    d = NewEventDetector(EventFilter(), fire_on_repeat=True)
    d.start([ev("p", 1, count=4)], now=T0)
    assert d.feed("MODIFIED", ev("p", 2, count=5))
    assert not d.feed("MODIFIED", ev("p", 2, count=5))
    assert d.feed("MODIFIED", ev("p", 3, count=6))


def test_since_reaches_back_on_the_first_start_only() -> None:
    recent = ev("r", 2, created=T0 - timedelta(seconds=30))
    old = ev("o", 1, created=T0 - timedelta(hours=2))
    d = NewEventDetector(EventFilter(), since=T0 - timedelta(minutes=1))
    assert [e["metadata"]["uid"] for e in d.start([old, recent], now=T0)] == ["r"]
    again = NewEventDetector(EventFilter(), since=T0 - timedelta(minutes=1))
    again.restore(d.state())
    assert again.start([old, recent], now=T0) == []


def test_the_persisted_window_is_bounded() -> None:
    d = NewEventDetector(EventFilter(), window=50)
    d.start([], now=T0)
    for i in range(1, 1001):
        assert d.feed("ADDED", ev(f"u{i}", i))
    state = d.state()
    assert len(state["recent"]) == 50 and state["rv"] == "1000"
    assert len(json.dumps(state)) < 4000


def test_a_forgotten_event_does_not_fire_again_when_repeated() -> None:
    d = NewEventDetector(EventFilter(), window=2, memory=2)
    d.start([], now=T0)
    later = T0 + timedelta(seconds=5)
    assert d.feed("ADDED", ev("first", 2, created=later))
    for i in range(3, 10):  # pushes "first" out of both the match memory and the fired window
        assert d.feed("ADDED", ev(f"other-{i}", i, created=later))
    assert not d.feed("MODIFIED", ev("first", 10, count=2, created=later))


@pytest.mark.parametrize("event_type", ["ADDED", "MODIFIED"])
def test_deleted_events_are_forgotten(event_type: str) -> None:
    d = NewEventDetector(EventFilter())
    d.start([], now=T0)
    assert d.feed(event_type, ev("g", 2, created=T0 + timedelta(seconds=1)))
    assert not d.feed("DELETED", ev("g", 3))
