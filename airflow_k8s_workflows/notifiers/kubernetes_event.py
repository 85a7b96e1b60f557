"""``KubernetesEventNotifier``: record a Kubernetes Event on an object from a task or DAG callback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_k8s_workflows.kube.events import EVENT_TYPES
from airflow_k8s_workflows.notifiers.base import CallbackNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_k8s_workflows.hooks.kubernetes import ClusterHook

__all__ = ["COMPONENT", "REPORTING_CONTROLLER", "KubernetesEventNotifier"]

COMPONENT = "airflow"
REPORTING_CONTROLLER = "airflow-k8s-workflows"
_ATTEMPTS = 5


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


class KubernetesEventNotifier(CallbackNotifier):
    """Record a core/v1 Event on a Kubernetes object, so the cluster's own tools show what the
    pipeline did to it (``kubectl describe deploy web``, ``kubectl events``, event exporters).

    Example::

        note = KubernetesEventNotifier(
            kind="Deployment", name="web", namespace="prod",
            reason="NightlyLoadFailed",
            message="{{ ti.dag_id }}.{{ ti.task_id }} failed in {{ run_id }}: {{ exception }}",
        )
        RunJobOperator(task_id="load", ..., on_failure_callback=note)

    The object is read first to fill ``involvedObject`` (uid, apiVersion, resourceVersion). The
    event's source component is ``airflow``, its reportingComponent ``airflow-k8s-workflows``
    and its reportingInstance ``<dag_id>.<task_id>``. A repeat of the same event (same object,
    type, reason, message and task) bumps ``count`` and ``lastTimestamp`` like Kubernetes' own
    recorder, so ``kubectl describe`` shows ``(x3 over 2h)``.

    :param kind: the object's kind, plural or short name (``Deployment``, ``deploy``) (templated).
    :param name: the object's name (templated).
    :param reason: short UpperCamelCase reason (templated).
    :param message: human-readable message, rendered against the callback context; cut to 1 kB
        (templated).
    :param event_type: ``Warning`` or ``Normal``.
    :param api_version: the kind's API version; looked up on the cluster when omitted (templated).
    :param namespace: the object's namespace; default the connection's, then ``default`` (templated).
    :param kubernetes_conn_id: connection of type ``kubernetes`` (templated).

    A failure to record (object missing, cluster unreachable, forbidden) is logged and never
    raised into the task's callback.
    """

    template_fields: Sequence[str] = ("kind", "name", "reason", "message", "namespace", "api_version",
                                      "kubernetes_conn_id")  # fmt: skip

    def __init__(
        self,
        kind: str,
        name: str,
        reason: str,
        message: str,
        event_type: str = "Warning",
        *,
        api_version: str | None = None,
        namespace: str | None = None,
        kubernetes_conn_id: str = "kubernetes_default",
    ) -> None:
        super().__init__()
        errors = [f"{field}: must be a non-empty string, got {value!r}"
                  for field, value in (("kind", kind), ("name", name), ("reason", reason), ("message", message))
                  if not isinstance(value, str) or not value.strip()]  # fmt: skip
        canonical_type = {t.lower(): t for t in EVENT_TYPES}.get(str(event_type).lower())
        if canonical_type is None:
            errors.append(f"event_type: must be Warning or Normal, got {event_type!r}")
        if (
            isinstance(reason, str)
            and not _templated(reason)
            and (len(reason) > 128 or any(c.isspace() for c in reason))
        ):
            errors.append(
                f"reason: must be a short UpperCamelCase word (at most 128 characters), got {reason!r}"
            )
        if errors:
            raise ValueError("; ".join(errors))
        self.kind = kind
        self.name = name
        self.reason = reason
        self.message = message
        self.event_type = canonical_type or "Warning"
        self.api_version = api_version
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id

    def _update_context(self, context: Context) -> Context:
        # BaseNotifier would merge our template fields into the shared callback context; "reason"
        # would then shadow a DAG callback's own reason for every notifier after this one.
        return context

    @staticmethod
    def reporting_instance(context: Mapping[str, Any]) -> str:
        ti = context.get("ti") or context.get("task_instance")
        dag = context.get("dag")
        dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or "airflow"
        task_id = getattr(ti, "task_id", None)
        return f"{dag_id}.{task_id}" if task_id and "reason" not in context else str(dag_id)

    def _resolve_kind(self, hook: ClusterHook) -> tuple[str, str]:
        if self.api_version:
            return self.api_version, self.kind
        from airflow_k8s_workflows.kube.kinds import resolve_api_version

        return resolve_api_version(hook.request, hook.cluster_config.identity, self.kind)

    def record(self, context: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """Create the Event or bump its count; the Event as stored. Raises on failure."""
        from airflow_k8s_workflows.hooks.kubernetes import ClusterHook
        from airflow_k8s_workflows.kube.errors import AlreadyExists, Conflict
        from airflow_k8s_workflows.kube.recorder import (
            event_namespace,
            new_event,
            object_reference,
            repeat_patch,
        )

        hook = ClusterHook(kubernetes_conn_id=self.kubernetes_conn_id)
        api_version, kind = self._resolve_kind(hook)
        obj = hook.get(api_version, kind, self.name, self.namespace)
        obj.setdefault("kind", kind)
        obj.setdefault("apiVersion", api_version)
        ref = object_reference(obj)
        message = str(self.message)
        try:
            from airflow.sdk.log import redact

            message = str(redact(message))
        except ImportError:  # pragma: no cover - older task SDKs
            pass
        event = new_event(ref, event_type=self.event_type, reason=str(self.reason), message=message,
                          component=COMPONENT, reporting_controller=REPORTING_CONTROLLER,
                          reporting_instance=self.reporting_instance(context),
                          now=now or datetime.now(timezone.utc))  # fmt: skip
        event_ns, event_name = event_namespace(ref), event["metadata"]["name"]
        for _ in range(_ATTEMPTS):
            try:
                return hook.create(event)
            except AlreadyExists:
                pass
            existing = hook.get_or_none("v1", "Event", event_name, event_ns)
            if existing is None:
                continue  # expired between the create and the read: create again
            try:
                return hook.patch("v1", "Event", event_name, repeat_patch(existing, now or datetime.now(timezone.utc)),
                                  event_ns)  # fmt: skip
            except Conflict:
                continue  # another process bumped it first: read again
        raise RuntimeError(f"event {event_ns}/{event_name} kept changing under us ({_ATTEMPTS} attempts)")

    def notify(self, context: Context) -> None:
        try:
            stored = self.record(context)
        except Exception as e:
            self.log.error(
                "Could not record the %s event %s on %s %s (connection %r); the task's outcome is unchanged: %s",
                self.event_type, self.reason, self.kind, self.name, self.kubernetes_conn_id, e,
            )  # fmt: skip
            return
        ref = stored.get("involvedObject") or {}
        self.log.info(
            "Recorded %s event %s on %s %s/%s (count %s)",
            stored.get("type"), stored.get("reason"), ref.get("kind"), ref.get("namespace", ""),
            ref.get("name"), stored.get("count"),
        )  # fmt: skip
