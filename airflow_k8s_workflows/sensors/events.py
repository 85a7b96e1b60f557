"""Wait inside a run for a Kubernetes Event (``FailedScheduling``, ``BackOff``, ``Completed`` ...)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.sensor import PokeReturnValue

from airflow_k8s_workflows.kube.events import EventFilter, event_payload, field_selector_for
from airflow_k8s_workflows.kube.new_events import event_last_seen
from airflow_k8s_workflows.kube.pods import parse_time
from airflow_k8s_workflows.sensors.base import KubernetesSensor

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger

__all__ = ["KubernetesEventSensor"]


class KubernetesEventSensor(KubernetesSensor):
    """Wait for a matching core/v1 Event that happens after the task started (or after ``since``).

    Matching as for :class:`~airflow_k8s_workflows.triggers.events.KubernetesEventTrigger`:
    ``reasons`` (any of), ``event_type``, ``involved_kind``, ``involved_name`` (exact,
    ``prefix*`` or ``re:<regex>``), ``min_count``. An Event counts when it last happened at or
    after the start (timestamps have whole seconds, so the start's second counts) — a repeat
    of an older Event counts too. Poke mode lists and filters; deferrable mode waits on the
    watch. Returns the Event's payload (``kube.events.event_payload``) as XCom.

    Example::

        KubernetesEventSensor(task_id="wait_scheduled", namespace="batch", reasons=["Scheduled"],
                              involved_kind="Pod", involved_name="etl-*", deferrable=True,
                              timeout=600)

    :param since: templated; ISO 8601 time from which Events count (default: the task's start).
    :param all_namespaces: look in every namespace.
    """

    template_fields: Sequence[str] = (
        "namespace",
        "kubernetes_conn_id",
        "reasons",
        "event_type",
        "involved_kind",
        "involved_name",
        "since",
    )

    def __init__(
        self,
        *,
        reasons: str | Sequence[str] | None = None,
        event_type: str | None = None,
        involved_kind: str | None = None,
        involved_name: str | None = None,
        min_count: int = 1,
        since: str | datetime | None = None,
        all_namespaces: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.reasons = reasons
        self.event_type = event_type
        self.involved_kind = involved_kind
        self.involved_name = involved_name
        self.min_count = min_count
        self.since = since
        self.all_namespaces = all_namespaces
        if all_namespaces and self.namespace:
            raise ValueError("namespace: give a namespace or all_namespaces=True, not both")
        if not _templated(reasons, event_type, involved_name):
            self._filter()  # fail at parse time on bad arguments
        self._found: dict[str, Any] | None = None
        self._since_time: datetime | None = None

    def _filter(self) -> EventFilter:
        return EventFilter(
            reasons=self.reasons,
            event_type=self.event_type,
            involved_kind=self.involved_kind,
            involved_name=self.involved_name,
            min_count=self.min_count,
        )

    def _start_time(self, context: Context) -> datetime:
        if self._since_time is None:
            if self.since not in (None, ""):
                parsed = (
                    self.since if isinstance(self.since, datetime) else parse_time(str(self.since).strip())
                )
                if parsed is None:
                    raise ValueError(f"since: not an ISO 8601 time: {self.since!r}")
                since = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
            else:
                ti = context.get("ti")
                start = getattr(ti, "start_date", None) if ti is not None else None
                since = start if isinstance(start, datetime) else datetime.now(timezone.utc)
                # Event timestamps have whole seconds: count the start's own second
                since = since.replace(microsecond=0)
            self._since_time = since.astimezone(timezone.utc)
        return self._since_time

    def _namespace(self) -> str | None:
        return None if self.all_namespaces else self.resolved_namespace

    def poke(self, context: Context) -> PokeReturnValue | bool:
        event_filter = self._filter()
        since = self._start_time(context)
        events = self.hook.list(
            "v1",
            "Event",
            self._namespace(),
            field_selector=field_selector_for(event_filter) or None,
            all_namespaces=self.all_namespaces,
        )
        found = []
        for event in events:
            last = event_last_seen(event)
            if last is not None and last >= since and event_filter.matches(event):
                found.append((last, event))
        if not found:
            where = "all namespaces" if self.all_namespaces else f"namespace {self._namespace()}"
            self.log.info("No %s in %s since %s yet", event_filter.describe(), where, since.isoformat())
            return False
        found.sort(key=lambda item: item[0])
        payload = event_payload(found[0][1], cluster=self.kubernetes_conn_id)
        self.log.info("Found %s %s on %s %s: %s", payload["type"], payload["reason"],
                      payload["involvedObject"]["kind"], payload["involvedObject"]["name"], payload["message"])  # fmt: skip
        self._found = payload
        return PokeReturnValue(True, payload)

    def poke_result(self, context: Context) -> Any:
        return self._found

    def trigger(self) -> KubernetesEventTrigger:
        from airflow_k8s_workflows.triggers.events import KubernetesEventTrigger

        since = self._since_time or datetime.now(timezone.utc).replace(microsecond=0)
        return KubernetesEventTrigger(
            reasons=self.reasons,
            event_type=self.event_type,
            involved_kind=self.involved_kind,
            involved_name=self.involved_name,
            min_count=self.min_count,
            since=since,
            fire_on_repeat=True,
            once=True,
            namespace=self._namespace(),
            all_namespaces=self.all_namespaces,
            cluster=self.trigger_cluster(),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """The trigger's payload is the Event's summary."""
        self.log.info("Event %s %s on %s %s: %s", event.get("type"), event.get("reason"),
                      (event.get("involvedObject") or {}).get("kind"),
                      (event.get("involvedObject") or {}).get("name"), event.get("message"))  # fmt: skip
        return event


def _templated(*values: Any) -> bool:
    items: list[Any] = []
    for value in values:
        items.extend(value if isinstance(value, list | tuple) else [value])
    return any(isinstance(v, str) and "{{" in v for v in items)
