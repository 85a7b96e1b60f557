"""Fault injection beyond the basics in test_rbac_and_faults.py: random watch drops with a seed,
error bursts that last a time, injected answers counted in /metrics, and the admin endpoint's
validation. Observed through real clients."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.emulator.metrics import RequestCounter
from tests.helpers import wait_for


def _admin(emu: KubeEmulator, method: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{emu.url}/_emulator/faults", data=data, method=method)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _metric(emu: KubeEmulator, verb: str, resource: str, code: int) -> int:
    return RequestCounter.scrape(emu.url).total(verb, resource, code)


def _watch_names(v1: client.CoreV1Api, rv: str, timeout: int = 5) -> list[str]:
    stream = watch.Watch().stream(v1.list_namespaced_config_map, "default", resource_version=rv,
                                  timeout_seconds=timeout)  # fmt: skip
    return [e["object"].metadata.name for e in stream]


def test_random_watch_drops_are_drawn_per_stream_from_the_seed(
    emulator: KubeEmulator, k8s: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(k8s)
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    for i in range(30):
        v1.create_namespaced_config_map("default", {"metadata": {"name": f"c{i:02d}"}})
    emulator.faults.set(drop_watch_every=(3, 9), seed=42)
    lengths = [len(_watch_names(v1, rv)) for _ in range(6)]
    assert all(3 <= n <= 9 for n in lengths), lengths
    assert len(set(lengths)) > 1, f"a range draws different counts: {lengths}"
    assert emulator.faults.injected["watch-drop"] == 6
    emulator.faults.set(seed=42)  # the same seed draws the same counts again
    assert [len(_watch_names(v1, rv)) for _ in range(6)] == lengths
    emulator.faults.set(drop_watch_every=0)  # off: the whole history in one stream
    assert len(_watch_names(v1, rv, timeout=1)) == 30


def test_turning_drops_on_counts_from_that_moment_on_open_streams(
    emulator: KubeEmulator, k8s: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(k8s)
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    seen: list[str] = []
    stream = watch.Watch().stream(
        v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=10
    )
    v1.create_namespaced_config_map("default", {"metadata": {"name": "before"}})
    seen.append(next(stream)["object"].metadata.name)
    emulator.faults.set(drop_watch_every=2)
    for name in ("one", "two", "three"):
        v1.create_namespaced_config_map("default", {"metadata": {"name": name}})
    seen += [e["object"].metadata.name for e in stream]
    assert seen == ["before", "one", "two"], "two more events after the setting changed, then closed"


def test_an_error_burst_can_last_a_time_and_is_counted_in_metrics(
    emulator: KubeEmulator, k8s: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(k8s)
    emulator.faults.set(errors=[{"code": 503, "duration": 1.0, "resources": ["configmaps"]}])
    started = time.monotonic()
    failures = wait_out_503s(lambda: v1.list_namespaced_config_map("default"), interval=0.1)
    assert time.monotonic() - started >= 1.0
    assert failures >= 5 and emulator.faults.injected["http-503"] == failures
    # injected answers are in apiserver_request_total like served ones
    assert _metric(emulator, "LIST", "configmaps", 503) == failures
    assert _metric(emulator, "LIST", "configmaps", 200) == 1
    assert emulator.http.counter.total(verb="LIST", resource="configmaps") == failures + 1
    assert _admin(emulator, "GET")[1]["errors"] == [], "an ended burst is gone"


def test_a_timed_burst_can_start_at_its_first_matching_request(
    emulator: KubeEmulator, k8s: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(k8s)
    emulator.faults.set(
        errors=[{"code": 503, "duration": 0.5, "from_first_match": True, "resources": ["secrets"]}]
    )
    time.sleep(0.8)  # longer than the burst: its clock has not started, no request matched it yet
    v1.list_namespaced_config_map("default")  # another resource: not a match
    assert _admin(emulator, "GET")[1]["errors"][0]["duration"] == 0.5
    with pytest.raises(ApiException) as first:
        v1.list_namespaced_secret("default")
    hit = time.monotonic()
    assert first.value.status == 503
    wait_out_503s(lambda: v1.list_namespaced_secret("default"), interval=0.05)
    assert time.monotonic() - hit >= 0.45


def wait_out_503s(call: Callable[[], Any], interval: float) -> int:
    """Repeat ``call`` until it is served; returns how many times it was answered 503."""
    failures = 0

    def served() -> bool:
        nonlocal failures
        try:
            call()
            return True
        except ApiException as e:
            if e.status != 503:
                raise
            failures += 1
            return False

    wait_for(served, timeout=10, interval=interval, message="the burst to end")
    return failures


def test_admin_endpoint_round_trip_and_validation(emulator: KubeEmulator) -> None:
    status, doc = _admin(emulator, "POST", {
        "drop_watch_every": [10, 50], "seed": 3, "expire_watch_resumes": 2, "latency": 0.01,
        "errors": [{"code": 429, "count": 4, "retry_after": 2, "verbs": ["get"], "resources": ["jobs"]},
                   {"code": 500, "duration": 30}],
    })  # fmt: skip
    assert status == 200
    assert doc["drop_watch_every"] == [10, 50] and doc["seed"] == 3 and doc["expire_watch_resumes"] == 2
    assert doc["errors"][0] == {"code": 429, "count": 4, "duration": None, "from_first_match": False,
                                "retry_after": 2, "verbs": ["GET"], "resources": ["jobs"]}  # fmt: skip
    assert doc["errors"][1]["count"] is None and 29 < doc["errors"][1]["duration"] <= 30
    for bad in ({"drop_watch_every": "often"}, {"drop_watch_every": [5, 2]}, {"errors": [{"code": 200}]},
                {"errors": [{"code": 503, "when": "now"}]}, {"errors": [{"code": 503, "from_first_match": True}]},
                {"errors": [{"code": 503, "duration": 1, "from_first_match": "yes"}]}, {"nonsense": 1}):  # fmt: skip
        status, err = _admin(emulator, "POST", bad)
        assert status == 400 and err["message"].startswith("invalid fault specification"), (bad, err)
    assert _admin(emulator, "POST", {"latency": 5, "errors": [{"code": 503}, {"code": 1}]})[0] == 400
    assert _admin(emulator, "GET")[1]["latency"] == 0.01, "a bad specification changes nothing"
    status, doc = _admin(emulator, "DELETE")
    assert (status, doc["drop_watch_every"], doc["errors"], doc["latency"]) == (200, None, [], 0.0)


def test_every_injected_code_is_a_status_object(emulator: KubeEmulator) -> None:
    url = f"{emulator.url}/api/v1/namespaces/default/pods"
    expected = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
    for code, reason in expected.items():
        emulator.faults.set(errors=[{"code": code, "count": 1, "retry_after": 2}])
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url)
        body = json.loads(err.value.read())
        assert (err.value.code, body["kind"], body["code"], body["reason"]) == (code, "Status", code, reason)
        assert err.value.headers["Retry-After"] == "2"
    emulator.faults.set(errors=[{"code": 429}, {"code": 429, "retry_after": 0}])
    for retry_after in ("1", "0"):  # a 429's default, and 0 when asked for
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url)
        assert err.value.headers["Retry-After"] == retry_after


def test_a_watch_whose_connection_is_gone_before_the_headers_leaves_no_watcher(
    emulator: KubeEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # what happens to a watch request that arrives while the API server is being stopped
    from aiohttp import web

    prepare = web.StreamResponse.prepare

    async def closing(self: web.StreamResponse, request: web.BaseRequest) -> Any:
        if request.query.get("watch") == "true":
            raise ConnectionResetError("Cannot write to closing transport")
        return await prepare(self, request)

    monkeypatch.setattr(web.StreamResponse, "prepare", closing)
    with pytest.raises(OSError):  # the server closes the connection without an answer
        urllib.request.urlopen(
            f"{emulator.url}/api/v1/namespaces/default/configmaps?watch=true", timeout=5
        ).read()
    rs = emulator.store.resource(("", "configmaps"))
    assert emulator.call(lambda: len(rs.watchers)) == 0, "no watcher left registered to fill forever"
    assert "emulator error" not in caplog.text and "failed" not in caplog.text
