"""kube.watch against the emulator over HTTP: sharing, resume, relist, bookmarks, errors, back-off."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator import errors as emu_errors
from airflow_k8s_workflows.emulator.api import CONTROLLER
from airflow_k8s_workflows.emulator.core import free_port
from airflow_k8s_workflows.kube import clients, watch
from airflow_k8s_workflows.kube.cluster import ClusterConfig, config_from_kubeconfig, load_kubeconfig_files
from airflow_k8s_workflows.kube.errors import Forbidden, Unauthorized, UnknownKind
from airflow_k8s_workflows.kube.resources import ResourceRef

CONFIGMAPS = ResourceRef("v1", "configmaps", kind="ConfigMap", namespace="default")


# -- fixtures and helpers ---------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fast_settings() -> Iterator[None]:
    saved = dataclasses.replace(watch.SETTINGS)
    watch.SETTINGS.linger = 0.05
    watch.SETTINGS.backoff_base = 0.05
    watch.SETTINGS.backoff_cap = 0.5
    yield
    for f in dataclasses.fields(saved):
        setattr(watch.SETTINGS, f.name, getattr(saved, f.name))


def start_emulator(tmp_path: Path, **kw: Any) -> KubeEmulator:
    return KubeEmulator(speed=20, controllers=False, kubelet=False, workdir=tmp_path / "emu", **kw).start()


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[KubeEmulator]:
    e = start_emulator(tmp_path)
    yield e
    e.stop()


def cluster_of(e: KubeEmulator) -> ClusterConfig:
    return config_from_kubeconfig(load_kubeconfig_files([e.kubeconfig]))


def rt(e: KubeEmulator) -> Any:
    return e.api.rt("", "configmaps")


def create_cm(e: KubeEmulator, name: str, labels: dict[str, str] | None = None, data: str = "0") -> None:
    body = {"metadata": {"name": name, "labels": labels or {}}, "data": {"v": data}}
    e.call(lambda: e.api.create(rt(e), "default", body, CONTROLLER))


def set_cm(e: KubeEmulator, name: str, data: str) -> None:
    e.call(lambda: e.api.mutate(rt(e), "default", name, lambda o: o.__setitem__("data", {"v": data})))


def delete_cm(e: KubeEmulator, name: str) -> None:
    e.call(lambda: e.api.delete(rt(e), "default", name, CONTROLLER))


def close_server_watches(e: KubeEmulator) -> None:
    e.call(lambda: [w.close() for w in list(e.http.active_watchers)])


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")


async def take(sub: watch.Subscription, n: int, timeout: float = 10.0) -> list[tuple[str, str, str]]:
    """The next ``n`` events as (type, name, data)."""
    out = []
    for _ in range(n):
        ev = await asyncio.wait_for(anext(sub), timeout)
        out.append((ev.type, ev.object["metadata"]["name"], (ev.object.get("data") or {}).get("v", "")))
    return out


async def nothing_more(sub: watch.Subscription) -> None:
    """No further event is queued once the stream has caught up (checked after a marker)."""
    assert sub.pending == 0, f"unexpected extra events pending: {sub.pending}"


def delta(before: watch.WatchMetrics) -> dict[str, int]:
    after = watch.watch_metrics()
    return {k: getattr(after, k) - v for k, v in vars(before).items()}


# -- snapshot, then changes ---------------------------------------------------------------------------
async def test_snapshot_then_changes_in_order(emu: KubeEmulator) -> None:
    create_cm(emu, "a", data="1")
    async with watch.shared_watch(cluster_of(emu), CONFIGMAPS) as sub:
        assert set(sub.snapshot) >= {("default", "a")}
        first = await take(sub, len(sub.snapshot))
        assert ("ADDED", "a", "1") in first
        create_cm(emu, "b", data="1")
        set_cm(emu, "a", "2")
        delete_cm(emu, "a")
        assert await take(sub, 3) == [("ADDED", "b", "1"), ("MODIFIED", "a", "2"), ("DELETED", "a", "2")]


async def test_wait_for_sees_a_state_reached_before_waiting(emu: KubeEmulator) -> None:
    create_cm(emu, "done", data="finished")
    got = await watch.wait_for(
        cluster_of(emu), CONFIGMAPS, lambda o: o is not None and o["data"]["v"] == "finished", name="done",
        timeout=5,
    )  # fmt: skip
    assert got is not None and got["kind"] == "ConfigMap" and got["apiVersion"] == "v1"


async def test_wait_for_a_future_state_and_for_deletion(emu: KubeEmulator) -> None:
    cfg = cluster_of(emu)
    create_cm(emu, "job", data="running")
    waiter = asyncio.create_task(
        watch.wait_for(
            cfg, CONFIGMAPS, lambda o: o is not None and o["data"]["v"] == "ok", name="job", timeout=10
        )
    )
    await until(lambda: watch.watch_metrics().subscribers > 0 and emu.http.counter.watches_open == 1)
    set_cm(emu, "job", "ok")
    assert (await waiter)["data"]["v"] == "ok"

    gone = asyncio.create_task(watch.wait_for(cfg, CONFIGMAPS, lambda o: o is None, name="job", timeout=10))
    await asyncio.sleep(0)
    delete_cm(emu, "job")
    assert await gone is None
    # absent from the start: satisfied at once
    assert await watch.wait_for(cfg, CONFIGMAPS, lambda o: o is None, name="never", timeout=5) is None


async def test_wait_for_times_out(emu: KubeEmulator) -> None:
    with pytest.raises(TimeoutError):
        await watch.wait_for(cluster_of(emu), CONFIGMAPS, lambda o: o is not None, name="nope", timeout=0.3)


# -- sharing -------------------------------------------------------------------------------------------
async def test_1000_waits_share_one_list_and_one_watch(emu: KubeEmulator) -> None:
    cfg = cluster_of(emu)
    before = watch.watch_metrics()
    names = [f"w{i}" for i in range(1000)]
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(
            watch.wait_for(
                cfg, CONFIGMAPS, lambda o: o is not None and o["data"]["v"] == "go", name=n, timeout=60
            )
        )
        for n in names
    ]
    await until(
        lambda: watch.watch_metrics().subscribers - before.subscribers == 1000, what="1000 subscribers"
    )
    await until(lambda: emu.http.counter.watches_open == 1, what="the watch")

    def create_all() -> None:
        for n in names:
            emu.api.create(rt(emu), "default", {"metadata": {"name": n}, "data": {"v": "go"}}, CONTROLLER)

    emu.call(create_all)
    results = await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    assert [r["metadata"]["name"] for r in results] == names
    counter = emu.http.counter
    assert counter.total(verb="LIST", resource="configmaps") == 1
    assert counter.watches_open == 1 and counter.total(verb="WATCH") == 0  # one watch, still open (linger)
    d = delta(before)
    assert d["list_requests"] == 1 and d["watch_requests"] == 1 and d["streams_started"] == 1
    await until(lambda: counter.watches_open == 0, what="the stream to stop after the linger")
    assert counter.total(verb="WATCH") == 1
    assert elapsed < 30


async def test_different_selectors_are_different_streams(emu: KubeEmulator) -> None:
    cfg = cluster_of(emu)
    async with (
        watch.shared_watch(cfg, CONFIGMAPS, label_selector="app=a") as a,
        watch.shared_watch(cfg, CONFIGMAPS, label_selector="app=b") as b,
        watch.shared_watch(cfg, CONFIGMAPS, label_selector="app=a") as a2,
    ):
        assert a.key == a2.key != b.key
        assert len(watch.active_streams()) == 2
        create_cm(emu, "x", labels={"app": "b"})
        assert await take(b, 1) == [("ADDED", "x", "0")]
        assert a.pending == 0 and a2.pending == 0


async def test_last_subscriber_leaving_closes_the_stream_after_the_linger(emu: KubeEmulator) -> None:
    cfg = cluster_of(emu)
    watch.SETTINGS.linger = 0.5
    async with watch.shared_watch(cfg, CONFIGMAPS):
        await until(lambda: emu.http.counter.watches_open == 1)
    # a burst right after reuses the lingering stream
    async with watch.shared_watch(cfg, CONFIGMAPS):
        pass
    assert emu.http.counter.total(verb="LIST", resource="configmaps") == 1
    await until(lambda: emu.http.counter.watches_open == 0, what="the server-side watch to close")
    assert watch.active_streams() == []
    assert emu.http.counter.total(verb="WATCH") == 1


# -- resume, relist, bookmarks ----------------------------------------------------------------------------
async def test_dropped_connection_resumes_without_loss_or_duplicate(emu: KubeEmulator) -> None:
    before = watch.watch_metrics()
    async with watch.shared_watch(cluster_of(emu), CONFIGMAPS, replay_snapshot=False) as sub:
        create_cm(emu, "a")
        assert await take(sub, 1) == [("ADDED", "a", "0")]

        def drop_then_write() -> None:
            for w in list(emu.http.active_watchers):
                w.close()
            # written while the client is disconnected
            emu.api.create(rt(emu), "default", {"metadata": {"name": "b"}, "data": {"v": "0"}}, CONTROLLER)
            emu.api.mutate(rt(emu), "default", "a", lambda o: o.__setitem__("data", {"v": "1"}))

        emu.call(drop_then_write)
        assert await take(sub, 2) == [("ADDED", "b", "0"), ("MODIFIED", "a", "1")]
        create_cm(emu, "marker")
        assert await take(sub, 1) == [("ADDED", "marker", "0")]
        await nothing_more(sub)
    d = delta(before)
    assert d["watch_requests"] == 2 and d["list_requests"] == 1 and d["relists"] == 0


async def test_410_relists_and_synthesizes_the_missed_changes(emu: KubeEmulator) -> None:
    create_cm(emu, "stays", data="1")
    create_cm(emu, "vanishes", data="1")
    before = watch.watch_metrics()
    async with watch.shared_watch(cluster_of(emu), CONFIGMAPS, replay_snapshot=False) as sub:
        await until(lambda: emu.http.counter.watches_open == 1)

        def missed_then_compacted() -> None:
            for w in list(emu.http.active_watchers):
                w.close()
            emu.api.delete(rt(emu), "default", "vanishes", CONTROLLER)
            emu.api.mutate(rt(emu), "default", "stays", lambda o: o.__setitem__("data", {"v": "2"}))
            emu.api.create(rt(emu), "default", {"metadata": {"name": "new"}, "data": {"v": "1"}}, CONTROLLER)
            emu.store.compact()

        emu.call(missed_then_compacted)
        got = await take(sub, 3)
        assert sorted(got) == [
            ("ADDED", "new", "1"),
            ("DELETED", "vanishes", "1"),
            ("MODIFIED", "stays", "2"),
        ]
        create_cm(emu, "after")
        assert await take(sub, 1) == [("ADDED", "after", "0")]
        await nothing_more(sub)
    d = delta(before)
    assert d["relists"] == 1 and d["list_requests"] == 2 and d["synthetic_events"] == 3


async def test_a_relist_emits_the_missed_changes_in_resource_version_order(emu: KubeEmulator) -> None:
    # a LIST is sorted by name; subscribers that keep a position (kube.cursor) would skip a
    # change shown after a newer one, so the synthesized events come in resourceVersion order
    create_cm(emu, "m", data="1")
    async with watch.shared_watch(cluster_of(emu), CONFIGMAPS, replay_snapshot=False) as sub:
        await until(lambda: emu.http.counter.watches_open == 1)

        def missed_then_compacted() -> None:
            for w in list(emu.http.active_watchers):
                w.close()
            for name in ("z", "b", "y"):
                emu.api.create(
                    rt(emu), "default", {"metadata": {"name": name}, "data": {"v": "1"}}, CONTROLLER
                )
            emu.api.mutate(rt(emu), "default", "m", lambda o: o.__setitem__("data", {"v": "2"}))
            emu.api.create(rt(emu), "default", {"metadata": {"name": "a"}, "data": {"v": "1"}}, CONTROLLER)
            emu.store.compact()

        emu.call(missed_then_compacted)
        got = [(t, n) for t, n, _ in await take(sub, 5)]
        assert got == [("ADDED", "z"), ("ADDED", "b"), ("ADDED", "y"), ("MODIFIED", "m"), ("ADDED", "a")]


@pytest.mark.parametrize("answer", ["410", "504-too-large"])
async def test_watch_request_refused_with_an_http_status_relists(emu: KubeEmulator, answer: str) -> None:
    refused: list[str] = []

    async def refuse_second_watch(request: web.Request) -> web.StreamResponse | None:
        if request.query.get("watch") == "true" and request.path.endswith("/configmaps"):
            refused.append(request.query.get("resourceVersion", ""))
            if len(refused) == 2:
                if answer == "410":
                    err = emu_errors.gone("too old resource version: 1 (2)")
                else:
                    err = emu_errors.ApiError(504, "Timeout", "Too large resource version", {
                        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}]})  # fmt: skip
                return web.json_response(err.status(), status=err.code)
        return None

    emu.http.before.append(refuse_second_watch)
    before = watch.watch_metrics()
    async with watch.shared_watch(cluster_of(emu), CONFIGMAPS, replay_snapshot=False) as sub:
        await until(lambda: emu.http.counter.watches_open == 1)

        def drop_and_create() -> None:
            for w in list(emu.http.active_watchers):
                w.close()
            emu.api.create(rt(emu), "default", {"metadata": {"name": "while-away"}}, CONTROLLER)

        emu.call(drop_and_create)
        # the missed object comes from the relist's diff; then watching resumes from the new list
        assert await take(sub, 1) == [("ADDED", "while-away", "")]
        await until(lambda: len(refused) == 3, what="a third watch")
        assert int(refused[0]) == int(refused[1]) < int(refused[2])
        create_cm(emu, "later")
        assert await take(sub, 1) == [("ADDED", "later", "0")]
    d = delta(before)
    assert d["list_requests"] == 2 and d["watch_requests"] == 2


async def test_bookmarks_advance_the_resume_point(tmp_path: Path) -> None:
    e = start_emulator(tmp_path, bookmark_interval=0.2)
    try:
        before = watch.watch_metrics()
        async with watch.shared_watch(cluster_of(e), CONFIGMAPS, label_selector="app=watched") as sub:
            for i in range(5):  # changes this watch never sees
                create_cm(e, f"other{i}", labels={"app": "other"})
            bookmarks = watch.watch_metrics().bookmarks
            await until(lambda: watch.watch_metrics().bookmarks >= bookmarks + 2, what="two more bookmarks")

            def compact_and_drop() -> None:
                e.store.compact()
                for w in list(e.http.active_watchers):
                    w.close()

            e.call(compact_and_drop)
            create_cm(e, "seen", labels={"app": "watched"})
            assert await take(sub, 1) == [("ADDED", "seen", "0")]
        d = delta(before)
        # resumed from the bookmark's resourceVersion, which compaction did not invalidate
        assert d["relists"] == 0 and d["list_requests"] == 1 and d["watch_requests"] == 2
        assert e.http.counter.total(verb="LIST", resource="configmaps") == 1
    finally:
        e.stop()


async def test_pagination_fills_the_snapshot(emu: KubeEmulator) -> None:
    watch.SETTINGS.page_size = 2
    for i in range(5):
        create_cm(emu, f"p{i}", labels={"page": "yes"})
    async with watch.shared_watch(cluster_of(emu), CONFIGMAPS, label_selector="page=yes") as sub:
        assert sorted(k[1] for k in sub.snapshot) == [f"p{i}" for i in range(5)]
    assert emu.http.counter.total(verb="LIST", resource="configmaps") == 3


async def test_a_slow_subscriber_is_coalesced_to_the_latest_state(emu: KubeEmulator) -> None:
    watch.SETTINGS.max_pending = 20
    for n in ("a", "b", "c"):
        create_cm(emu, n)
    async with watch.shared_watch(cluster_of(emu), CONFIGMAPS, replay_snapshot=False) as sub:

        def storm() -> None:
            for i in range(1, 201):
                for n in ("a", "b", "c"):
                    emu.api.mutate(rt(emu), "default", n, lambda o, i=i: o.__setitem__("data", {"v": str(i)}))

        emu.call(storm)
        await until(lambda: watch.watch_metrics().coalesced > 0, what="coalescing")
        create_cm(emu, "marker")
        events = []
        while True:
            ev = await asyncio.wait_for(anext(sub), 5)
            events.append(ev)
            if ev.object["metadata"]["name"] == "marker":
                break
        assert len(events) <= 2 * 20 + 4
        latest = {ev.object["metadata"]["name"]: ev.object["data"]["v"] for ev in events}
        assert latest == {"a": "200", "b": "200", "c": "200", "marker": "0"}


# -- errors and back-off ------------------------------------------------------------------------------
async def test_forbidden_is_fatal_with_a_clear_message(emu: KubeEmulator) -> None:
    def authorize(user: str, verb: str, rtype: Any, ns: str | None, name: str, sub: str) -> None:
        if rtype.resource == "configmaps" and verb in ("list", "watch"):
            raise emu_errors.forbidden(user, verb, rtype.group, rtype.resource, ns)

    emu.http.authorize = authorize
    with pytest.raises(Forbidden) as info:
        async with watch.shared_watch(cluster_of(emu), CONFIGMAPS):
            pass
    assert str(info.value).startswith('forbidden: cannot list configmaps in namespace "default"')
    assert watch.active_streams() == []


async def test_forbidden_after_a_reconnect_reaches_the_subscriber(emu: KubeEmulator) -> None:
    async with watch.shared_watch(cluster_of(emu), CONFIGMAPS, replay_snapshot=False) as sub:

        def authorize(user: str, verb: str, rtype: Any, ns: str | None, name: str, s: str) -> None:
            if rtype.resource == "configmaps":
                raise emu_errors.forbidden(user, verb, rtype.group, rtype.resource, ns)

        emu.http.authorize = authorize
        close_server_watches(emu)
        with pytest.raises(Forbidden, match='cannot watch configmaps in namespace "default"'):
            await asyncio.wait_for(anext(sub), 10)


async def test_unauthorized_is_fatal_with_a_clear_message(tmp_path: Path) -> None:
    e = start_emulator(tmp_path, tls=True)
    try:
        cfg = dataclasses.replace(cluster_of(e), token="not-the-token")
        with pytest.raises(Unauthorized) as info:
            await watch.wait_for(cfg, CONFIGMAPS, lambda o: True, timeout=10)
        assert "unauthorized" in str(info.value) and "list configmaps" in str(info.value)
        # and the right token over TLS works
        assert (
            await watch.wait_for(cluster_of(e), CONFIGMAPS, lambda o: o is None, name="x", timeout=10) is None
        )
    finally:
        e.stop()


async def test_connection_refused_backs_off_then_recovers(tmp_path: Path) -> None:
    port = free_port()
    cfg = ClusterConfig(server=f"http://127.0.0.1:{port}")
    before = watch.watch_metrics()
    waiter = asyncio.create_task(watch.wait_for(cfg, CONFIGMAPS, lambda o: o is None, name="x", timeout=30))
    await asyncio.sleep(2.0)  # the observation window: count attempts, not a wait for a state
    attempts = delta(before)["reconnects"]
    # full jitter from 0.05 s doubling to 0.5 s: about 6-8 attempts in 2 s; a tight loop makes thousands
    assert 2 <= attempts <= 25, attempts
    assert not waiter.done()
    server = await asyncio.to_thread(KubeEmulator(port=port, controllers=False, kubelet=False,
                                                  workdir=tmp_path / "late").start)  # fmt: skip
    try:
        assert await waiter is None
    finally:
        await asyncio.to_thread(server.stop)


async def test_429_retry_after_is_honoured(emu: KubeEmulator) -> None:
    hits: list[float] = []

    async def throttle(request: web.Request) -> web.StreamResponse | None:
        if request.path.endswith("/configmaps") and request.query.get("watch") != "true":
            hits.append(time.monotonic())
            if len(hits) == 1:
                err = emu_errors.too_many_requests(1)
                return web.json_response(err.status(), status=429, headers=err.headers)
        return None

    emu.http.before.append(throttle)
    async with watch.shared_watch(cluster_of(emu), CONFIGMAPS):
        pass
    assert len(hits) == 2 and hits[1] - hits[0] >= 0.95


async def test_server_errors_are_retried(emu: KubeEmulator) -> None:
    failures = 3

    async def flaky(request: web.Request) -> web.StreamResponse | None:
        nonlocal failures
        if request.path.endswith("/configmaps") and failures > 0:
            failures -= 1
            return web.json_response(emu_errors.service_unavailable().status(), status=503)
        return None

    emu.http.before.append(flaky)
    before = watch.watch_metrics()
    async with watch.shared_watch(cluster_of(emu), CONFIGMAPS) as sub:
        create_cm(emu, "ok")
        assert ("ADDED", "ok", "0") in await take(sub, len(sub.snapshot) + 1)
    assert delta(before)["reconnects"] == 3


# -- discovery and loops --------------------------------------------------------------------------------
async def test_resolve_resource_uses_discovery_plurals_and_crds(emu: KubeEmulator) -> None:
    cfg = cluster_of(emu)
    ref = await watch.resolve_resource(cfg, "v1", "Endpoints", "default")
    assert ref.plural == "endpoints" and ref.collection_path() == "/api/v1/namespaces/default/endpoints"
    hpa = await watch.resolve_resource(cfg, "autoscaling/v2", "hpa", "default")
    assert hpa.plural == "horizontalpodautoscalers" and hpa.kind == "HorizontalPodAutoscaler"
    ns = await watch.resolve_resource(cfg, "v1", "Namespace", "ignored")
    assert ns.namespace is None and not ns.namespaced
    with pytest.raises(
        UnknownKind, match=re.escape('no kind "Widget" is registered for version "example.com/v1"')
    ):
        await watch.resolve_resource(cfg, "example.com/v1", "Widget")
    crd = {
        "metadata": {"name": "widgetries.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgetries", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }  # fmt: skip
    emu.call(lambda: emu.api.create(emu.api.rt("apiextensions.k8s.io", "customresourcedefinitions"), None, crd,
                                    CONTROLLER))  # fmt: skip
    widget_ref = await until_resolved(cfg, "example.com/v1", "Widget")
    assert widget_ref.plural == "widgetries"  # not "widgets"
    rt_w = emu.api.rt("example.com", "widgetries")
    emu.call(lambda: emu.api.create(rt_w, "default", {"apiVersion": "example.com/v1", "kind": "Widget",
                                                      "metadata": {"name": "w1"}}, CONTROLLER))  # fmt: skip
    got = await watch.wait_for(
        cfg, widget_ref.in_namespace("default"), lambda o: o is not None, name="w1", timeout=5
    )
    assert got is not None and got["kind"] == "Widget"


async def until_resolved(cfg: ClusterConfig, api_version: str, kind: str) -> ResourceRef:
    deadline = time.monotonic() + 10
    while True:
        try:
            return await watch.resolve_resource(cfg, api_version, kind)
        except UnknownKind:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def test_sync_path_runs_on_fresh_loops_and_closes_its_clients(emu: KubeEmulator) -> None:
    """The operators' sync path: asyncio.run per wait, in any thread."""
    cfg = cluster_of(emu)
    create_cm(emu, "sync", data="x")
    closed_before = clients.stats().async_closed
    results: list[Any] = []

    def run() -> None:
        results.append(
            asyncio.run(watch.wait_for(cfg, CONFIGMAPS, lambda o: o is not None, name="sync", timeout=10))
        )

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r["data"]["v"] for r in results] == ["x", "x", "x"]
    assert clients.stats().async_closed - closed_before == 3


async def test_one_async_client_per_loop(emu: KubeEmulator) -> None:
    cfg = cluster_of(emu)
    assert await clients.async_client(cfg) is await clients.async_client(
        ClusterConfig.from_dict(cfg.to_dict())
    )
