"""``AlertmanagerHook``: post and list alerts through Alertmanager's API v2, over an Airflow
connection of type ``alertmanager`` (same fields as the Prometheus connection: host URL or
schema + host + port or extra ``url``; extra ``token`` or password → bearer, login → basic;
extra ``verify_tls``, ``ca_bundle``, ``timeout``, ``max_retries``, ``headers``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow_k8s_workflows.hooks.http_service import HttpResponse, HttpServiceHook
from airflow_k8s_workflows.monitoring.endpoint import ServiceError

__all__ = ["AlertmanagerHook"]

ALERTS_PATH = "/api/v2/alerts"


class AlertmanagerHook(HttpServiceHook):
    """Alerts in, alerts out (``/api/v2/alerts``).

    Example::

        hook = AlertmanagerHook("alertmanager_default")
        hook.post_alerts([{"labels": {"alertname": "NightlyLoadFailed", "severity": "critical"},
                           "annotations": {"summary": "load failed"},
                           "startsAt": "2026-01-01T00:00:00Z"}])
        active = hook.get_alerts(filters=['alertname="NightlyLoadFailed"'])

    Posting the same labels again updates that alert; an ``endsAt`` in the past resolves it.
    A refusal (HTTP 400 for an invalid label set, ...) raises ``ServiceError`` with
    Alertmanager's own message; no answer raises ``ServiceUnreachable``.
    """

    conn_name_attr: ClassVar[str] = "alertmanager_conn_id"
    default_conn_name: ClassVar[str] = "alertmanager_default"
    conn_type: ClassVar[str] = "alertmanager"
    hook_name: ClassVar[str] = "Alertmanager"
    service_name: ClassVar[str] = "Alertmanager"

    def __init__(self, alertmanager_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(alertmanager_conn_id, **kwargs)
        self.alertmanager_conn_id = self.conn_id

    def _check(self, response: HttpResponse, what: str) -> Any:
        if response.ok:
            return response.json()
        body = response.json()
        reason = body if isinstance(body, str) else " ".join(response.text.split())[:300]
        raise ServiceError(
            f"{self.service_name} (connection {self.conn_id!r}) refused to {what}: HTTP {response.status}: {reason}",
            status=response.status,
        )

    @staticmethod
    def _params(
        filters: Sequence[str] | None, active: bool, silenced: bool, inhibited: bool, receiver: str | None
    ) -> list[tuple[str, str]]:
        params = [("active", str(active).lower()), ("silenced", str(silenced).lower()),
                  ("inhibited", str(inhibited).lower())]  # fmt: skip
        params += [("filter", f) for f in filters or ()]
        if receiver:
            params.append(("receiver", receiver))
        return params

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Send ``alerts`` (``labels``, ``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``)."""
        self._check(self.request("POST", ALERTS_PATH, json_body=list(alerts)), "take the alerts")

    async def apost_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        self._check(await self.arequest("POST", ALERTS_PATH, json_body=list(alerts)), "take the alerts")

    def get_alerts(
        self,
        *,
        filters: Sequence[str] | None = None,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        receiver: str | None = None,
    ) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds and has not seen resolved; ``filters`` are matchers (``team="data"``)."""
        response = self.request(
            "GET", ALERTS_PATH, params=self._params(filters, active, silenced, inhibited, receiver)
        )
        return list(self._check(response, "list alerts") or [])

    async def aget_alerts(
        self,
        *,
        filters: Sequence[str] | None = None,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        receiver: str | None = None,
    ) -> list[dict[str, Any]]:
        response = await self.arequest(
            "GET", ALERTS_PATH, params=self._params(filters, active, silenced, inhibited, receiver)
        )
        return list(self._check(response, "list alerts") or [])

    def test_connection(self) -> tuple[bool, str]:
        """For the UI's *Test* button: ask for the status."""
        try:
            response = self.request("GET", "/api/v2/status")
        except Exception as e:
            return False, str(e)
        if response.ok:
            version = ((response.json() or {}).get("versionInfo") or {}).get("version", "?")
            return True, f"Alertmanager {version} at {self.get_endpoint().base_url}"
        return False, f"HTTP {response.status} from {response.url}"
