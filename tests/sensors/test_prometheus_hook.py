"""PrometheusHook and the connection → endpoint rules it shares with the Alertmanager hook."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.hooks.prometheus import PrometheusHook
from airflow_k8s_workflows.monitoring.endpoint import (
    ServiceError,
    ServiceUnreachable,
    endpoint_from_fields,
    parse_retry_after,
)
from airflow_k8s_workflows.monitoring.promql import PromQLError

if TYPE_CHECKING:
    from pathlib import Path

    from tests.monitoring_servers import Prometheus, ScriptedServer

pytest_plugins = ["tests.monitoring_servers"]

OK = {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "1"]}}


def endpoint(extra: dict[str, Any] | None = None, **fields: Any) -> Any:
    base: dict[str, Any] = {"host": None, "schema": None, "port": None, "login": None, "password": None}
    return endpoint_from_fields("c", "prometheus", extra=extra or {}, **{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "url"),
    [({"host": "prom.monitoring", "port": 9090}, "http://prom.monitoring:9090"),
     ({"host": "prom", "schema": "https"}, "https://prom"),
     ({"host": "https://example.com/prometheus/", "port": 8443}, "https://example.com:8443/prometheus"),
     ({"host": "http://prom:9090", "port": 1234}, "http://prom:9090"),
     ({"host": "ignored", "extra": {"url": "https://thanos.example/q"}}, "https://thanos.example/q"),
     ({"host": "ignored", "extra": {"extra__prometheus__url": "http://legacy:1"}}, "http://legacy:1")],
)  # fmt: skip
def test_url_from_host_schema_port_or_extra(fields: dict[str, Any], url: str) -> None:
    assert endpoint(**fields).base_url == url


def test_auth_bearer_from_token_or_password_basic_from_login() -> None:
    assert endpoint(host="p", password="pw", extra={"token": "tok"}).authorization == "Bearer tok"
    assert endpoint(host="p", password="tok2").authorization == "Bearer tok2"
    basic = endpoint(host="p", login="u", password="pw").authorization
    assert basic == "Basic " + base64.b64encode(b"u:pw").decode()
    assert endpoint(host="p").authorization is None
    assert "tok" not in repr(endpoint(host="p", extra={"token": "tok"}))


def test_tls_verified_unless_turned_off_and_other_extras() -> None:
    assert endpoint(host="p").verify is True
    assert endpoint(host="p", extra={"verify_tls": "false"}).verify is False
    assert endpoint(host="p", extra={"ca_bundle": "/etc/ca.pem"}).verify == "/etc/ca.pem"
    e = endpoint(host="p", extra={"timeout": "2.5", "max_retries": 0, "headers": {"X-Scope-OrgID": "a"}})
    assert (e.timeout, e.max_retries, e.request_headers()["X-Scope-OrgID"]) == (2.5, 0, "a")


@pytest.mark.parametrize(
    ("fields", "message"),
    [({}, "connection 'c' names no server: set its host"),
     ({"host": "p", "schema": "ftp"}, "connection 'c': schema must be http or https, got 'ftp'"),
     ({"host": "p", "extra": {"timeout": "soon"}}, "connection 'c': extra 'timeout' must be a number >= 0.001"),
     ({"host": "p", "extra": {"max_retries": 1.5}}, "connection 'c': extra 'max_retries' must be an integer"),
     ({"host": "p", "extra": {"verify_tls": "maybe"}}, "connection 'c': extra 'verify_tls' must be true or false"),
     ({"host": "p", "extra": {"url": "prom:9090"}}, "extra 'url' must start with http:// or https://")],
)  # fmt: skip
def test_bad_connection_fields_are_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        endpoint(**fields)


def test_retry_after_seconds_or_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None


def test_query_and_connection_test_against_prometheus(prometheus: Prometheus, prometheus_conn: str) -> None:
    hook = PrometheusHook()
    assert hook.query("vector(2)")["result"][0]["value"][1] == "2"
    assert asyncio.run(PrometheusHook().aquery("scalar(vector(3))"))["result"][1] == "3"
    ok, message = hook.test_connection()
    assert ok and message.startswith("Prometheus 2.") and prometheus.url in message


def test_prometheus_errors_keep_their_type_and_text(prometheus_conn: str) -> None:
    with pytest.raises(PromQLError) as e:
        PrometheusHook().query("sum by (")
    assert e.value.error_type == "bad_data" and e.value.bad_query
    assert "sum by (" in str(e.value)


def test_auth_header_and_extra_headers_are_sent(
    scripted_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_server.script = [(200, {}, OK)]
    conn = {"conn_type": "prometheus", "host": scripted_server.url, "login": "u", "password": "p",
            "extra": {"headers": {"X-Scope-OrgID": "team-a"}}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_PROMETHEUS_DEFAULT", json.dumps(conn))
    PrometheusHook().query("up")
    asyncio.run(PrometheusHook().aquery("up"))
    for request in scripted_server.requests:
        assert request["method"] == "POST" and request["path"] == "/api/v1/query"
        assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
        assert request["headers"]["X-Scope-OrgID"] == "team-a"
        assert request["body"] == b"query=up"


@pytest.mark.parametrize("use_async", [False, True])
def test_retry_after_is_honoured(scripted_server: ScriptedServer, use_async: bool) -> None:
    scripted_server.script = [(429, {"Retry-After": "1"}, {}), (200, {}, OK)]
    hook = PrometheusHook("scripted", endpoint=endpoint(host=scripted_server.url), retry_base=0.01)
    started = time.monotonic()
    data = asyncio.run(hook.aquery("up")) if use_async else hook.query("up")
    assert data["resultType"] == "scalar"
    first, second = scripted_server.requests
    assert second["at"] - first["at"] >= 1.0, "the second attempt waited what Retry-After asked"
    assert time.monotonic() - started < 5


def test_a_server_asking_for_a_long_pause_is_not_waited_for(scripted_server: ScriptedServer) -> None:
    unavailable = {"status": "error", "errorType": "unavailable", "error": "too many queries"}
    scripted_server.script = [(503, {"Retry-After": "120"}, unavailable)]
    hook = PrometheusHook("scripted", endpoint=endpoint(host=scripted_server.url), retry_cap=30)
    started = time.monotonic()
    with pytest.raises(PromQLError, match=r"query failed \(unavailable\): too many queries"):
        hook.query("up")
    assert len(scripted_server.requests) == 1 and time.monotonic() - started < 5


def test_not_a_prometheus_api_is_said_so(scripted_server: ScriptedServer) -> None:
    scripted_server.script = [(404, {}, "404 page not found")]
    hook = PrometheusHook("scripted", endpoint=endpoint(host=scripted_server.url + "/wrong"))
    with pytest.raises(
        ServiceError, match=r"answered HTTP 404 at http://127.0.0.1:\d+/wrong/api/v1/query, not a"
    ):
        hook.query("up")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # verify_tls=False
@pytest.mark.parametrize("use_async", [False, True])
def test_tls_is_verified_by_default(tmp_path: Path, use_async: bool) -> None:
    with KubeEmulator(tls=True, workdir=tmp_path / "emu", controllers=False, kubelet=False) as emu:
        url = emu.url

        def query(**extra: Any) -> Any:
            hook = PrometheusHook("tls", endpoint=endpoint(host=url, extra=extra))
            return asyncio.run(hook.aquery("up")) if use_async else hook.query("up")

        with pytest.raises(ServiceUnreachable, match=r"TLS failed: \[SSL: CERTIFICATE_VERIFY_FAILED\]"):
            query()
        # trusting the server's CA gets through TLS to an answer (the emulator is no Prometheus)
        with pytest.raises(ServiceError, match=r"answered HTTP 401"):
            query(ca_bundle=emu.ca_file)
        with pytest.raises(ServiceError, match=r"answered HTTP 401"):
            query(verify_tls=False)
