"""Apply and delete any Kubernetes objects: server-side apply with checks first, waits after."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_k8s_workflows.kube.diff import manifest_diff
from airflow_k8s_workflows.kube.manifests import ManifestError
from airflow_k8s_workflows.kube.ordering import apply_order, delete_order
from airflow_k8s_workflows.kube.readiness import watched_kind
from airflow_k8s_workflows.operators._manifests import (
    MANIFEST_EXT,
    Item,
    ManifestTemplating,
    load_checked,
    mask_manifest_secrets,
    resolve_items,
)
from airflow_k8s_workflows.operators.base import KubernetesOperator, KubernetesTaskFailed, raise_for_event
from airflow_k8s_workflows.triggers.condition import ResourceConditionTrigger
from airflow_k8s_workflows.triggers.ready import ResourcesReadyTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_k8s_workflows.kube.errors import KubeApiError

FIELD_MANAGER = "airflow-k8s-workflows"
PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")
CRD_API_VERSION = "apiextensions.k8s.io/v1"
_MANAGER_RE = re.compile(r'conflict with "([^"]+)"')


def describe_failure(item: Item, err: KubeApiError) -> str:
    """``Deployment/web (document 3): ...`` with a server-side apply conflict spelled out."""
    from airflow_k8s_workflows.kube.errors import Conflict

    if isinstance(err, Conflict):
        fields = []
        for cause in err.causes:
            if cause.get("reason") == "FieldManagerConflict":
                found = _MANAGER_RE.search(str(cause.get("message") or ""))
                manager = found.group(1) if found else "another field manager"
                fields.append(f'{cause.get("field")} (managed by "{manager}")')
        if fields:
            return (
                f"{item.where}: apply conflict on {', '.join(fields)}; another field manager owns these "
                "fields: set force=True to take them over"
            )
    return f"{item.where}: {err.describe()}"


class ApplyManifestsOperator(ManifestTemplating, KubernetesOperator):
    """Apply Kubernetes objects with server-side apply, like ``kubectl apply --server-side``.

    ``manifests``: a dict, a list of dicts, YAML text (several ``---`` documents) or a path
    relative to the DAG folder (a ``.yaml``/``.yml``/``.json`` file is rendered with Jinja; the
    files of a folder, ``"k8s/"``, are read in name order without Jinja). Every document is validated, and checked by a server-side
    dry run, before anything is written: a broken document, an uninstalled custom kind or a
    field conflict fails the task with the cluster unchanged. Objects are applied
    Namespaces first, then CRDs (waited for until Established when their custom resources
    follow in the same batch), configuration, Services, workloads. Re-running changes nothing.

    ``force`` takes over fields another field manager owns. ``dry_run`` changes nothing and
    logs a diff of each live object against the server's dry-run result. ``wait_for_ready``
    waits until Deployments/StatefulSets/DaemonSets are rolled out, Jobs complete, Pods ready,
    CRDs established (and Services have a ready endpoint with ``wait_for_endpoints``), in one
    wait (deferred when ``deferrable``). Secret values are masked in logs and rendered
    templates. Returns ``[{"apiVersion", "kind", "namespace", "name", "uid"}]`` in document
    order::

        ApplyManifestsOperator(task_id="deploy", manifests="k8s/app.yaml", namespace="prod",
                               wait_for_ready=True, timeout=600)
    """

    template_fields: Sequence[str] = (*KubernetesOperator.template_fields, "manifests")
    template_ext: Sequence[str] = MANIFEST_EXT
    template_fields_renderers = {"manifests": "yaml"}
    ui_color = "#c7ddff"

    def __init__(
        self,
        *,
        manifests: Any,
        dry_run: bool = False,
        force: bool = False,
        wait_for_ready: bool = False,
        wait_for_endpoints: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if manifests is None or manifests == "" or manifests == []:
            raise ValueError("manifests: required (a dict, a list of dicts, YAML text or a path)")
        self.manifests = manifests
        self.dry_run_mode = dry_run
        self.force = force
        self.wait_for_ready = wait_for_ready
        self.wait_for_endpoints = wait_for_endpoints
        self._ready_trigger: ResourcesReadyTrigger | None = None

    # -- execute --------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        try:
            docs, checks = load_checked(self.manifests, self.manifest_base_dir())
            items, _ = resolve_items(self.hook, docs, checks, self.namespace)
        except ManifestError as e:
            raise e.in_parameter("manifests") from None
        ordered = [items[i] for i in apply_order([item.doc for item in items])]
        self._check(ordered)
        if self.dry_run_mode:
            self._log_diffs(ordered)
            return [item.ref(item.live) for item in items]
        self._apply(ordered)
        refs = [item.ref(item.result) for item in items]
        waits = [
            item.ref(item.result)
            for item in ordered
            if watched_kind(item.doc, wait_for_endpoints=self.wait_for_endpoints) is not None
        ]
        if not self.wait_for_ready or not waits:
            return refs
        self.log.info("Waiting for %d object(s) to become ready", len(waits))
        self._ready_trigger = ResourcesReadyTrigger(
            objects=waits, result=refs, cluster=self.trigger_cluster(), namespace=self.namespace
        )
        return self.wait(context, self._ready_trigger)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        raise_for_event(event)
        self.log.info("%s", event.get("message"))
        return event.get("result")

    def on_wait_timeout(self, context: Context, message: str) -> Any:
        pending = self._ready_trigger.pending if self._ready_trigger is not None else {}
        still = "; ".join(pending.values())
        raise KubernetesTaskFailed(
            f"{self.task_id}: {message} waiting for readiness" + (f" ({still})" if still else "")
        )

    # -- steps ----------------------------------------------------------------------------------
    def _check(self, ordered: list[Item]) -> None:
        """Read each live object and dry-run each apply: every failure reported, nothing written."""
        from airflow_k8s_workflows.kube.errors import KubeApiError

        new_namespaces = set()
        problems: list[str] = []
        for item in ordered:
            if item.crd is None:
                item.live = self.hook.get_or_none(item.api_version, item.kind, item.name, item.namespace)
            if item.kind == "Namespace" and item.api_version == "v1" and item.live is None:
                new_namespaces.add(item.name)
            if item.crd is not None:
                item.notes.append("its CustomResourceDefinition is created in this batch")
                continue
            if item.namespace in new_namespaces:
                item.notes.append(f"its namespace {item.namespace} is created in this batch")
                continue
            try:
                item.result = self.hook.apply(
                    item.body, field_manager=FIELD_MANAGER, force=self.force, dry_run=True
                )
            except KubeApiError as e:
                problems.append(describe_failure(item, e))
        if problems:
            lead = "dry run: the cluster would refuse" if self.dry_run_mode else "the cluster refused"
            raise KubernetesTaskFailed(f"nothing was applied; {lead}:\n  " + "\n  ".join(problems))

    def _log_diffs(self, ordered: list[Item]) -> None:
        counts = {"create": 0, "change": 0, "unchanged": 0}
        for item in ordered:
            proposed = item.result if item.result is not None else item.body
            source = "dry-run" if item.result is not None else "manifest"
            diff = manifest_diff(item.live, proposed, label=item.label, source=source)
            note = f" (not checked by the server: {'; '.join(item.notes)})" if item.notes else ""
            if item.live is None:
                counts["create"] += 1
                self.log.info("%s would be created%s:\n%s", item.label, note, diff)
            elif diff:
                counts["change"] += 1
                self.log.info("%s would change%s:\n%s", item.label, note, diff)
            else:
                counts["unchanged"] += 1
                self.log.info("%s unchanged", item.label)
        self.log.info(
            "Dry run: %d to create, %d to change, %d unchanged; nothing was changed in the cluster",
            counts["create"], counts["change"], counts["unchanged"],
        )  # fmt: skip

    def _apply(self, ordered: list[Item]) -> None:
        from airflow_k8s_workflows.kube.errors import KubeApiError

        established: set[str] = set()
        for done, item in enumerate(ordered):
            if item.crd is not None:
                self._await_crd(item, established)
            try:
                result = self.hook.apply(item.body, field_manager=FIELD_MANAGER, force=self.force)
            except KubeApiError as e:
                applied = ", ".join(i.label for i in ordered[:done]) or "nothing"
                raise KubernetesTaskFailed(
                    f"{describe_failure(item, e)} (applied before it: {applied})"
                ) from None
            before = (item.live or {}).get("metadata", {}).get("resourceVersion")
            after = result.get("metadata", {}).get("resourceVersion")
            action = "created" if item.live is None else "unchanged" if before == after else "configured"
            item.result = result
            self.log.info("%s %s", item.label, action)

    def _await_crd(self, item: Item, established: set[str]) -> None:
        """Before the first custom resource of a CRD applied in this batch: wait until the CRD
        is Established and discovery serves the kind."""
        from airflow_k8s_workflows.kube.discovery import clear_cache
        from airflow_k8s_workflows.kube.errors import UnknownKind
        from airflow_k8s_workflows.triggers.base import WaitTimeout, run_trigger_inline

        assert item.crd is not None
        crd_name = str((item.crd.get("metadata") or {}).get("name"))
        if crd_name not in established:
            self.log.info("Waiting for CustomResourceDefinition %s to be established", crd_name)
            trigger = ResourceConditionTrigger(
                kind="CustomResourceDefinition", name=crd_name, api_version=CRD_API_VERSION,
                condition="Established", cluster=self.trigger_cluster(),
            )  # fmt: skip
            limit = self.timeout or 120
            try:
                event = run_trigger_inline(trigger, timeout=limit)
            except WaitTimeout:
                raise KubernetesTaskFailed(
                    f"CustomResourceDefinition {crd_name} was not established within {limit:g}s; "
                    f"{item.where} and what follows it were not applied"
                ) from None
            raise_for_event(event)
            established.add(crd_name)
        deadline = time.monotonic() + 30
        while True:
            clear_cache(self.hook.cluster_config.identity)
            try:
                self.hook.discover(item.api_version, item.kind)
                return
            except UnknownKind:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # discovery has no watch: the API server publishes new kinds shortly


class DeleteResourcesOperator(ManifestTemplating, KubernetesOperator):
    """Delete Kubernetes objects and (by default) wait until they are gone.

    Give either ``manifests`` (as for :class:`ApplyManifestsOperator`; deleted in reverse apply
    order) or ``kind`` + ``name`` (``api_version`` optional: the kind's preferred version is
    looked up). ``propagation_policy``: ``Background`` (default), ``Foreground`` (the object
    goes after its dependents) or ``Orphan``. A missing object is skipped with
    ``ignore_missing=True``; with ``False`` the task fails naming it, before anything is
    deleted. ``wait`` waits until every object is gone (deferred when ``deferrable``).
    Returns the deleted objects' refs::

        DeleteResourcesOperator(task_id="cleanup", kind="Deployment", name="web",
                                namespace="prod", propagation_policy="Foreground")
    """

    template_fields: Sequence[str] = (
        *KubernetesOperator.template_fields,
        "manifests",
        "kind",
        "name",
        "api_version",
    )
    template_ext: Sequence[str] = MANIFEST_EXT
    template_fields_renderers = {"manifests": "yaml"}
    ui_color = "#ffd6d6"

    def __init__(
        self,
        *,
        manifests: Any = None,
        kind: str | None = None,
        name: str | None = None,
        api_version: str | None = None,
        propagation_policy: str = "Background",
        ignore_missing: bool = True,
        wait: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if manifests is not None and (kind or name or api_version):
            raise ValueError("give either manifests or kind and name, not both")
        if manifests is None and not (kind and name):
            raise ValueError("kind and name: both required when no manifests are given")
        if propagation_policy not in PROPAGATION_POLICIES:
            raise ValueError(
                f"propagation_policy: must be one of {', '.join(PROPAGATION_POLICIES)}, got {propagation_policy!r}"
            )
        self.manifests = manifests
        self.kind = kind
        self.name = name
        self.api_version = api_version
        self.propagation_policy = propagation_policy
        self.ignore_missing = ignore_missing
        self.wait_until_gone = wait

    def _items(self) -> tuple[list[Item], list[Item]]:
        if self.manifests is not None:
            try:
                docs, checks = load_checked(self.manifests, self.manifest_base_dir())
                return resolve_items(self.hook, docs, checks, self.namespace, missing_kind_ok=True)
            except ManifestError as e:
                raise e.in_parameter("manifests") from None
        from airflow_k8s_workflows.kube.errors import UnknownKind
        from airflow_k8s_workflows.kube.kinds import KindNotServed, resolve_api_version

        assert self.kind and self.name
        try:
            if self.api_version:
                api_version, kind = self.api_version, self.hook.discover(self.api_version, self.kind).kind
            else:
                api_version, kind = resolve_api_version(
                    self.hook.request, self.hook.cluster_config.identity, self.kind
                )
            namespaced = self.hook.discover(api_version, kind).namespaced
        except (UnknownKind, KindNotServed):
            ns = self.namespace or self.hook.get_namespace()
            note = "no API of the cluster serves this kind"
            return [], [Item(0, {}, self.api_version or "", self.kind, self.name, ns, notes=[note])]
        doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": self.name}}
        where = (self.namespace or self.hook.get_namespace()) if namespaced else None
        return [Item(0, doc, api_version, kind, self.name, where)], []

    def execute(self, context: Context) -> Any:
        items, unserved = self._items()
        for item in items:
            item.live = self.hook.get_or_none(item.api_version, item.kind, item.name, item.namespace)
        missing = unserved + [item for item in items if item.live is None]
        if missing and not self.ignore_missing:
            raise KubernetesTaskFailed(
                "not found (nothing was deleted; ignore_missing=True skips these): "
                + ", ".join(item.label + "".join(f" ({n})" for n in item.notes) for item in missing)
            )
        for item in missing:
            self.log.info("%s not found; nothing to delete", item.label)
        present = [item for item in items if item.live is not None]
        deleted: list[Item] = []
        for index in delete_order([item.doc for item in present]):
            item = present[index]
            answer = self.hook.delete(
                item.api_version, item.kind, item.name, item.namespace,
                propagation_policy=self.propagation_policy, ignore_missing=True,
            )  # fmt: skip
            self.log.info(
                "%s %s (propagation %s)", item.label, "deleted" if answer is not None else "already gone",
                self.propagation_policy,
            )  # fmt: skip
            deleted.append(item)
        refs = [item.ref(item.live) for item in deleted]
        if not self.wait_until_gone or not refs:
            return refs
        self.log.info("Waiting for %d object(s) to be gone", len(refs))
        trigger = ResourceConditionTrigger(
            objects=refs, deleted=True, cluster=self.trigger_cluster(), namespace=self.namespace
        )
        return self.wait(context, trigger)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        raise_for_event(event)
        self.log.info("%s", event.get("message"))
        return event.get("result")


__all__ = ["ApplyManifestsOperator", "DeleteResourcesOperator", "mask_manifest_secrets"]
