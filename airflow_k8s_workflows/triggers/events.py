"""Kubernetes Events as Airflow trigger events: start DAGs from ``BackOff``, ``FailedScheduling``,
``OOMKilling`` ... or wait for one inside a run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from airflow.triggers.base import TriggerEvent

from airflow_k8s_workflows.kube.events import EventFilter, event_payload, field_selector_for
from airflow_k8s_workflows.kube.new_events import NewEventDetector
from airflow_k8s_workflows.kube.pods import parse_time
from airflow_k8s_workflows.kube.resources import ResourceRef
from airflow_k8s_workflows.triggers.base import DEFAULT_CONN_ID
from airflow_k8s_workflows.triggers.watcher import WatcherTrigger

__all__ = ["KubernetesEventTrigger"]


def _normalize_reasons(reasons: str | Iterable[str] | None) -> list[str] | None:
    if reasons is None:
        return None
    items = [reasons] if isinstance(reasons, str) else list(reasons)
    if any(not isinstance(r, str) or not r for r in items):
        raise ValueError(f"reasons: must be non-empty strings, got {items!r}")
    return sorted(set(items)) or None


def _since_text(since: str | datetime | None) -> str | None:
    if since is None or since == "":
        return None
    if isinstance(since, datetime):
        value = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    parsed = parse_time(str(since))
    if parsed is None:
        raise ValueError(f"since: not an ISO 8601 / RFC 3339 time: {since!r}")
    return parsed.astimezone(timezone.utc).isoformat()


class KubernetesEventTrigger(WatcherTrigger):
    """Fires once per **new** core/v1 Event that matches, with the Event's summary as payload.

    Matching: ``reasons`` (any of), ``event_type`` (``Normal`` / ``Warning``), the involved
    object's ``involved_kind`` and ``involved_name`` (exact, ``prefix*``, or ``re:<regex>`` over
    the whole name) and ``min_count`` (the Event happened at least that often). What the API
    server can filter (kind, exact name, a single reason, type) is sent as a field selector when
    the trigger watches on its own; triggers sharing a namespace's stream in the triggerer
    filter locally.

    New only: Events that existed when the trigger first started never fire (unless
    ``look_back_seconds`` or ``since`` reaches back to their last occurrence), nor does the same
    Event twice across watch reconnects, 410 relists and triggerer restarts. A repeat of an
    Event (the producer bumped its ``count``) fires again only with ``fire_on_repeat=True``. In
    an ``AssetWatcher`` the position is kept in the asset's state store; elsewhere in memory.

    Payload (``kube.events.event_payload``): ``uid``, ``name``, ``namespace``, ``reason``,
    ``message``, ``type``, ``involvedObject`` {kind, name, namespace, uid, apiVersion,
    fieldPath}, ``count``, ``firstTimestamp``, ``lastTimestamp``, ``eventTime``,
    ``reportingComponent``, ``cluster`` (the connection id).

    Example::

        from airflow.sdk import Asset, AssetWatcher

        crashing = Asset("k8s-prod-crashloops", watchers=[AssetWatcher(
            name="prod-backoff",
            trigger=KubernetesEventTrigger(namespace="prod", reasons=["BackOff"],
                                           event_type="Warning", involved_kind="Pod"),
        )])

    :param all_namespaces: watch every namespace (``namespace`` must then be None).
    :param look_back_seconds: on the very first start, also fire for Events that last happened
        this many seconds ago or later.
    :param since: the same as an absolute time (ISO 8601); used by ``KubernetesEventSensor``.
    :param once: stop after the first event (a task deferring to the trigger); a watcher never stops.
    """

    state_prefix: ClassVar[str] = "k8s-events"
    stream_name: ClassVar[str] = "airflow-k8s-workflows/events"

    def __init__(
        self,
        *,
        reasons: str | Sequence[str] | None = None,
        event_type: str | None = None,
        involved_kind: str | None = None,
        involved_name: str | None = None,
        min_count: int = 1,
        fire_on_repeat: bool = False,
        look_back_seconds: float | None = None,
        since: str | datetime | None = None,
        namespace: str | None = None,
        all_namespaces: bool = False,
        once: bool = False,
        kubernetes_conn_id: str = DEFAULT_CONN_ID,
        cluster: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(kubernetes_conn_id=kubernetes_conn_id, namespace=namespace,
                         all_namespaces=all_namespaces, once=once, cluster=cluster)  # fmt: skip
        self.reasons = _normalize_reasons(reasons)
        self.event_filter = EventFilter(
            reasons=self.reasons,
            event_type=event_type,
            involved_kind=involved_kind,
            involved_name=involved_name,
            min_count=min_count,
        )
        self.event_type = self.event_filter.event_type
        self.involved_kind = self.event_filter.involved_kind
        self.involved_name = self.event_filter.involved_name
        self.min_count = min_count
        self.fire_on_repeat = bool(fire_on_repeat)
        if look_back_seconds is not None and (
            isinstance(look_back_seconds, bool)
            or not isinstance(look_back_seconds, int | float)
            or look_back_seconds < 0
        ):
            raise ValueError(f"look_back_seconds: must be a number >= 0, got {look_back_seconds!r}")
        if look_back_seconds is not None and since is not None:
            raise ValueError("give look_back_seconds or since, not both")
        self.look_back_seconds = look_back_seconds
        self.since = _since_text(since)

    def _own_kwargs(self) -> dict[str, Any]:
        given = {
            "reasons": self.reasons,
            "event_type": self.event_type,
            "involved_kind": self.involved_kind,
            "involved_name": self.involved_name,
            "min_count": self.min_count if self.min_count != 1 else None,
            "fire_on_repeat": True if self.fire_on_repeat else None,
            "look_back_seconds": self.look_back_seconds,
            "since": self.since,
        }
        return {k: v for k, v in given.items() if v is not None}

    def _describe(self) -> str:
        return f"KubernetesEventTrigger({self.event_filter.describe()})"

    async def _resource(self, hook: Any) -> ResourceRef:
        if self.all_namespaces:
            namespace = None
        else:
            namespace = await hook.aget_namespace(self.namespace)
        ref: ResourceRef = await hook.resource("v1", "Event", namespace, all_namespaces=self.all_namespaces)
        return ref

    def _selectors(self, *, shared: bool) -> tuple[str | None, str | None]:
        return None, None if shared else (field_selector_for(self.event_filter) or None)

    def _detector(self) -> NewEventDetector:
        since: datetime | None = None
        if self.since is not None:
            since = parse_time(self.since)
        elif self.look_back_seconds is not None:
            since = datetime.now(timezone.utc) - timedelta(seconds=self.look_back_seconds)
        return NewEventDetector(self.event_filter, fire_on_repeat=self.fire_on_repeat, since=since)

    def _payload(self, event: dict[str, Any]) -> TriggerEvent:
        return TriggerEvent(event_payload(event, cluster=self.kubernetes_conn_id))

    def _initial_events(
        self, detector: NewEventDetector, snapshot: Iterable[dict[str, Any]]
    ) -> list[TriggerEvent]:
        return [self._payload(dict(event)) for event in detector.start(snapshot)]

    def _event_for(
        self, detector: NewEventDetector, event_type: str, obj: dict[str, Any]
    ) -> TriggerEvent | None:
        if detector.feed(event_type, obj):
            return self._payload(obj)
        return None
