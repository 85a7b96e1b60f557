"""What this provider's sensors share: poke with the same judgement functions the triggers use,
or defer to the trigger (watch-based) when ``deferrable``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_k8s_workflows.operators.base import (
    ClusterAccess,
    KubernetesTaskFailed,
    check_static_namespace,
    default_deferrable,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class KubernetesSensor(ClusterAccess, BaseSensorOperator):
    """Base of this provider's sensors (not used directly).

    Subclasses implement ``poke(context)`` and ``trigger()``. ``timeout`` (seconds) bounds the
    wait in both modes; ``soft_fail`` skips instead of failing on timeout.
    """

    template_fields: Sequence[str] = ("namespace", "kubernetes_conn_id")
    ui_color = "#e3f0ff"

    def __init__(
        self,
        *,
        kubernetes_conn_id: str = "kubernetes_default",
        namespace: str | None = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kubernetes_conn_id = kubernetes_conn_id
        self.namespace = namespace
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        check_static_namespace(namespace)

    def trigger(self) -> BaseTrigger:
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return self.poke_result(context)
        self.defer(
            trigger=self.trigger(),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def poke_result(self, context: Context) -> Any:
        """What the task returns (XCom) when the condition holds; default nothing."""
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        status = event.get("status")
        if status == "success":
            return event.get("result")
        if status == "timeout":
            raise AirflowSensorTimeout(str(event.get("message")))
        raise KubernetesTaskFailed(str(event.get("message") or event))
