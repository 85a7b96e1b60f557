"""``PrometheusHook``: PromQL instant queries over an Airflow connection of type ``prometheus``.

Connection fields: host (a URL, e.g. ``http://prometheus.monitoring:9090``, a path prefix is
kept), or schema + host + port, or extra ``url``; bearer auth with extra ``token`` (or the
password alone), basic auth with login + password; extra ``verify_tls`` (default true),
``ca_bundle``, ``timeout``, ``max_retries``, ``headers``. See
:mod:`airflow_k8s_workflows.monitoring.endpoint`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from airflow_k8s_workflows.hooks.http_service import HttpResponse, HttpServiceHook
from airflow_k8s_workflows.monitoring.endpoint import ServiceError
from airflow_k8s_workflows.monitoring.promql import PromQLError

__all__ = ["PrometheusHook"]

QUERY_PATH = "/api/v1/query"


class PrometheusHook(HttpServiceHook):
    """Instant queries against Prometheus (or anything serving its HTTP API: Thanos, Mimir, VictoriaMetrics).

    Example::

        hook = PrometheusHook("prometheus_default")
        data = hook.query('kube_deployment_status_replicas_available{deployment="web"}')
        data["resultType"], data["result"]            # "vector", [{"metric": {...}, "value": [ts, "2"]}]
        data = await hook.aquery("up")                # in a trigger

    Prometheus' own errors raise :class:`~airflow_k8s_workflows.monitoring.promql.PromQLError`
    with its ``errorType`` (``bad_data`` for invalid PromQL) and message; no answer raises
    ``ServiceUnreachable``; any other HTTP failure ``ServiceError``.
    """

    conn_name_attr: ClassVar[str] = "prometheus_conn_id"
    default_conn_name: ClassVar[str] = "prometheus_default"
    conn_type: ClassVar[str] = "prometheus"
    hook_name: ClassVar[str] = "Prometheus"
    service_name: ClassVar[str] = "Prometheus"

    def __init__(self, prometheus_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(prometheus_conn_id, **kwargs)
        self.prometheus_conn_id = self.conn_id

    @staticmethod
    def _form(promql: str, at: datetime | float | None) -> dict[str, str]:
        form = {"query": promql}
        if at is not None:
            form["time"] = str(at.timestamp() if isinstance(at, datetime) else float(at))
        return form

    def _data(self, response: HttpResponse, promql: str) -> dict[str, Any]:
        body = response.json()
        if isinstance(body, dict) and body.get("status") == "error":
            raise PromQLError(str(body.get("errorType") or "error"), str(body.get("error") or ""), promql)
        if not response.ok or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            snippet = " ".join(response.text.split())[:300]
            raise ServiceError(
                f"{self.service_name} (connection {self.conn_id!r}) answered HTTP {response.status} at "
                f"{response.url}, not a Prometheus API reply: {snippet!r} — does the connection point "
                "at the Prometheus server (its base URL, without /api/v1)?",
                status=response.status,
            )
        for warning in body.get("warnings") or []:
            self.log.warning("Prometheus warns about %r: %s", promql, warning)
        data: dict[str, Any] = body["data"]
        return data

    def query(self, promql: str, *, at: datetime | float | None = None) -> dict[str, Any]:
        """Evaluate ``promql`` at ``at`` (default: now); the answer's ``data`` member."""
        response = self.request("POST", QUERY_PATH, form=self._form(promql, at))
        return self._data(response, promql)

    async def aquery(self, promql: str, *, at: datetime | float | None = None) -> dict[str, Any]:
        """:meth:`query` on the running event loop."""
        response = await self.arequest("POST", QUERY_PATH, form=self._form(promql, at))
        return self._data(response, promql)

    def test_connection(self) -> tuple[bool, str]:
        """For the UI's *Test* button: ask for the build info."""
        try:
            response = self.request("GET", "/api/v1/status/buildinfo")
        except Exception as e:
            return False, str(e)
        body = response.json()
        if response.ok and isinstance(body, dict) and body.get("status") == "success":
            return True, f"Prometheus {body['data'].get('version', '?')} at {self.get_endpoint().base_url}"
        return False, f"HTTP {response.status} from {response.url}"
